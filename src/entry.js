// The worker's entry. A click on /mlink/<token> is answered by one synchronous call into Rust
// (src/fast.rs), and the 302 is built here: that skips the worker crate's per-request
// entrypoint object and its Request/Response conversions, which cost more than the click's
// own work (see README, "Measured"). Everything else, and any click the fast path cannot
// answer, goes to the Rust worker that worker-build generates.
import RustWorker, { ProjectObject } from "../build/index.js";

export { ProjectObject };

// worker-build 0.8.7 attaches extra #[wasm_bindgen] functions to the entrypoint's prototype.
// That is an internal of the pinned versions: fail at load time, not on the first click.
const fastRedirect = RustWorker.prototype.mlink_fast_redirect;
if (typeof fastRedirect !== "function") {
  throw new Error("build/index.js lacks mlink_fast_redirect: check the worker-build version");
}

const OPENED_PATH = "https://project.invalid/internal/opened/";

function found(location) {
  return new Response(null, {
    status: 302,
    headers: { location, "cache-control": "no-store" },
  });
}

// "R<location>", or "O<project> <link> <location>" when the project must hear of the open.
function answer(result, env, ctx) {
  if (result.charCodeAt(0) === 82 /* R */) return found(result.slice(1));
  const [project, link, location] = result.slice(1).split(" ");
  const stub = env.PROJECTS.get(env.PROJECTS.idFromName(project));
  ctx.waitUntil(stub.fetch(OPENED_PATH + link).catch((e) => console.error("open not counted", e)));
  return found(location);
}

export default {
  fetch(request, env, ctx) {
    // After a panic the generated entry re-initialises the wasm module; until it has, the
    // fast path must not touch it.
    if (request.url.includes("/mlink/") && !globalThis.__worker_init_state?.criticalError) {
      const result = fastRedirect(request.url, Date.now(), request.headers.get("user-agent"));
      if (result !== "") return answer(result, env, ctx);
    }
    return new RustWorker(ctx, env).fetch(request);
  },
};
