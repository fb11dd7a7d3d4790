// Writes the workerd configs for bench/entry_variants: mlink's bundle (as bench/run left it in
// bench/out) with its default export replaced by a variant that answers GET /mlink/<token> with
// the same constant 302 as const302 after doing part of mlink's work:
//   floor  nothing (mlink's process, both wasm modules loaded: the floor of that process)
//   url    reads the URL and method and checks the path, as the entry does
//   glue   and calls the edge module with the URL (a trivial export with a string back)
//   click  and asks the edge module for the click's answer (a slot, unused)
// and `full`, the bundle as built. Every other request goes to the bundle's own handler.
//
// Usage: node entry_variants.mjs <bench/out> <dir to write> <first port> (absolute paths); prints
// one line per variant: `<name> <config> <port>`.
import { copyFileSync, cpSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";

const [benchOut, dir, firstPort] = process.argv.slice(2);
const bundle = readFileSync(join(benchOut, "mlink", "entry.js"), "utf8");
const config = readFileSync(join(benchOut, "mlink.capnp"), "utf8");
const location = JSON.parse(readFileSync(join(benchOut, "mlink-state.json"), "utf8")).location;

// The bundler renames functions whose names collide (the entry's `click` and the edge module's):
// find each by its parameters, and fail loudly if the bundle no longer has it.
function named(signature) {
  const found = bundle.match(new RegExp(`function (\\w+)\\(${signature}\\)`));
  if (!found) throw new Error(`the bundle has no function (${signature}): update entry_variants.mjs`);
  return found[1];
}
const clickToken = named("url, method");
const configure = named("env");
const edgeClick = named("tail, now_ms");
const webhookProject = named("method, url, content_length");
const EXPORT = "entry_default as default";
if (!bundle.includes(EXPORT)) throw new Error("the bundle's default export moved");

const redirect = `new Response(null, { status: 302, headers: { location: ${JSON.stringify(location)}, "cache-control": "no-store" } })`;
const steps = {
  floor: "",
  url: "",
  glue: `if (${configure}(env) !== "" || ${webhookProject}("GET", url, void 0) !== "") throw new Error("glue");`,
  click: `if (${configure}(env) !== "" || ${edgeClick}(url.substring(${clickToken}(url, request.method)), Date.now()) < 0) throw new Error("click");`,
};

function variant(name) {
  if (name === "full") return bundle;
  const check = name === "floor" ? "true" : `${clickToken}(url, request.method) >= 0`;
  const handler = `
const variant_default = {
  fetch(request, env, ctx) {
    const url = ${name === "floor" ? '""' : "request.url"};
    if (${check}) { ${steps[name]} return ${redirect}; }
    return entry_default.fetch(request, env, ctx);
  },
};`;
  return bundle.replace(EXPORT, "variant_default as default") + handler;
}

let port = Number(firstPort);
for (const name of ["full", "floor", "url", "glue", "click"]) {
  const modules = join(dir, name);
  mkdirSync(modules, { recursive: true });
  for (const file of readdirSync(join(benchOut, "mlink"))) {
    if (file.endsWith(".wasm")) copyFileSync(join(benchOut, "mlink", file), join(modules, file));
  }
  writeFileSync(join(modules, "entry.js"), variant(name));
  const state = join(dir, `state-${name}`);
  cpSync(join(benchOut, "state", "mlink"), state, { recursive: true });
  // Embedded paths are relative to the config (capnp reads an absolute one from its import path).
  const capnp = config
    .replaceAll('embed "mlink/', `embed "${name}/`)
    .replaceAll('embed "../js/', `embed "${relative(dir, join(benchOut, "..", "js"))}/`)
    .replace(/path = "[^"]*\/state\/mlink"/, `path = "${state}"`)
    .replace(/address = "127\.0\.0\.1:\d+", http = \(\), service = "mlink"/,
      `address = "127.0.0.1:${port}", http = (), service = "mlink"`);
  writeFileSync(join(dir, `${name}.capnp`), capnp);
  console.log(`${name} ${join(dir, `${name}.capnp`)} ${port}`);
  port += 1;
}
