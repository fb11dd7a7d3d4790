// Compile and instantiate time of the worker's wasm in Node 22 (V8, the engine workerd embeds),
// outside any runtime: `node instantiate.mjs <file.wasm> [runs]` prints JSON, min/median/max in ms.
//
// Each measurement runs in a fresh Node process: V8 keeps compiled modules in a per-process cache
// keyed by the wire bytes, so compiling the same bytes twice in one process measures a cache hit.
// Two V8 settings, each in its own processes:
//   lazy   V8's default: compile decodes and validates; each function is compiled on first call.
//   eager  --no-wasm-lazy-compilation: every function compiled (Liftoff) before instantiation,
//          the most a cold isolate could pay up front.
// The imports are the ones the module declares (what the generated JS glue hands it), each a stub
// of the right kind: instantiation only links them. wasm-bindgen's start function is an export the
// glue calls afterwards, so it is not in these figures; the workerd cold start covers everything.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const [path, runsArg, mode] = process.argv.slice(2);

function stubImports(module) {
  const imports = {};
  for (const { module: from, name, kind } of WebAssembly.Module.imports(module)) {
    imports[from] ??= {};
    imports[from][name] =
      kind === "function"
        ? () => {
            throw new Error(`stub import ${from}.${name} called`);
          }
        : kind === "tag"
          ? // wasm-bindgen imports the JS exception tag.
            (WebAssembly.JSTag ?? new WebAssembly.Tag({ parameters: ["externref"] }))
          : kind === "memory"
            ? new WebAssembly.Memory({ initial: 17 })
            : kind === "table"
              ? new WebAssembly.Table({ initial: 0, element: "externref" })
              : new WebAssembly.Global({ value: "i32", mutable: true }, 0);
  }
  return imports;
}

if (mode === "--once") {
  const bytes = readFileSync(path);
  const t0 = performance.now();
  const module = await WebAssembly.compile(bytes);
  const t1 = performance.now();
  await WebAssembly.instantiate(module, stubImports(module));
  const t2 = performance.now();
  console.log(JSON.stringify({ compile: t1 - t0, instantiate: t2 - t1 }));
} else {
  const runs = Number(runsArg ?? 11);
  const self = fileURLToPath(import.meta.url);
  const stats = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return { min: s[0], median: s[Math.floor(s.length / 2)], max: s[s.length - 1] };
  };
  const measure = (flags) => {
    const samples = Array.from({ length: runs }, () =>
      JSON.parse(execFileSync(process.execPath, [...flags, self, path, "1", "--once"], { encoding: "utf8" })),
    );
    return {
      compile_ms: stats(samples.map((s) => s.compile)),
      instantiate_ms: stats(samples.map((s) => s.instantiate)),
      total_ms: stats(samples.map((s) => s.compile + s.instantiate)),
    };
  };
  console.log(
    JSON.stringify({
      file: path,
      runs,
      node: process.version,
      lazy: measure([]),
      eager: measure(["--no-wasm-lazy-compilation"]),
    }),
  );
}
