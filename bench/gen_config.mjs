// Writes the workerd configs (Cap'n Proto text) the bench runs under bare workerd, one process per
// variant so each is measured alone:
//   mlink.capnp     the `wrangler deploy --dry-run` bundle, with what wrangler would bind
//   fake.capnp      bench/js/fake_api.js, the upstream every outbound request of mlink reaches
//   const302.capnp  bench/js/const302.js
//   kv302.capnp     bench/js/kv302.js + a local KV service
//   do_write.capnp  bench/js/do_write.js (one SQLite Durable Object)
//   do_write_grouped.capnp  bench/js/do_write_grouped.js (the same, commits grouped)
//
// Why hand-written configs and not Miniflare's: Miniflare wraps every worker in its own entry and
// proxies bindings through extra services, which is exactly the overhead the bench must keep out;
// here the request goes from the socket straight to the bundle, as on Cloudflare.
//
// Usage: node gen_config.mjs <settings.json>   (written by bench/run; see `settings` below)
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { basename, join, relative } from "node:path";

const settings = JSON.parse(readFileSync(process.argv[2], "utf8"));
const { out, root, ports, secrets, overrides } = settings;
const jsDir = join(root, "bench", "js");

// ---------------------------------------------------------------------------------------------
// What wrangler.toml says. Only the parts the bench needs: a tiny reader for top-level keys and
// the [vars] table, enough for this file's flat `KEY = "value"` style. Fails loudly on anything
// else rather than guessing.

const toml = readFileSync(settings.wranglerToml, "utf8");

function topLevel(key) {
  const head = toml.split(/^\s*\[/m)[0];
  const m = head.match(new RegExp(`^\\s*${key}\\s*=\\s*(.+?)\\s*(#.*)?$`, "m"));
  return m ? m[1] : undefined;
}

function tableLines(name) {
  const lines = [];
  let inside = false;
  for (const line of toml.split("\n")) {
    const header = line.match(/^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$/);
    if (header) {
      inside = header[1] === name;
      continue;
    }
    if (inside && line.trim() !== "" && !line.trim().startsWith("#")) lines.push(line);
  }
  return lines;
}

function stringValue(raw, what) {
  const m = raw?.match(/^"((?:[^"\\]|\\.)*)"$/);
  if (!m) throw new Error(`wrangler.toml: ${what} is not a plain string: ${raw}`);
  return JSON.parse(`"${m[1]}"`);
}

const compatibilityDate = stringValue(topLevel("compatibility_date"), "compatibility_date");
const flagsRaw = topLevel("compatibility_flags");
const compatibilityFlags = flagsRaw ? JSON.parse(flagsRaw) : [];
const vars = {};
for (const line of tableLines("vars")) {
  const m = line.match(/^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.+?)\s*(#.*)?$/);
  if (!m) throw new Error(`wrangler.toml [vars]: cannot read ${JSON.stringify(line)}`);
  vars[m[1]] = stringValue(m[2], m[1]);
}

// The bindings below are written for these names; if wrangler.toml renames one, stop here
// instead of benchmarking a worker that cannot start.
for (const needle of ['name = "PROJECTS"', 'class_name = "ProjectObject"', 'binding = "EDGE"', 'binding = "ASSETS"']) {
  if (!toml.includes(needle)) throw new Error(`wrangler.toml no longer has ${needle}: update bench/gen_config.mjs`);
}

// ---------------------------------------------------------------------------------------------
// The bundle: every file wrangler wrote, by its name, since the entry imports the wasm (and any
// other module) by the relative name wrangler gave it. The entry is the JS file named after
// `main`; it goes first, as workerd requires.

const bundleDir = settings.bundleDir;
const mainJs = basename(settings.main).replace(/\.(ts|mjs|cjs|mts|js)$/, ".js");
const bundleFiles = readdirSync(bundleDir).filter((f) => !f.endsWith(".map") && f !== "README.md");
if (!bundleFiles.includes(mainJs)) {
  throw new Error(`the bundle in ${bundleDir} has no ${mainJs} (files: ${bundleFiles.join(", ")})`);
}
bundleFiles.sort((a, b) => (a === mainJs ? -1 : b === mainJs ? 1 : a.localeCompare(b)));

function moduleOf(file) {
  const path = embedPath(join(bundleDir, file));
  if (file.endsWith(".js") || file.endsWith(".mjs")) return `(name = ${str(file)}, esModule = embed ${str(path)})`;
  if (file.endsWith(".wasm")) return `(name = ${str(file)}, wasm = embed ${str(path)})`;
  if (file.endsWith(".txt") || file.endsWith(".html")) return `(name = ${str(file)}, text = embed ${str(path)})`;
  return `(name = ${str(file)}, data = embed ${str(path)})`;
}

// ---------------------------------------------------------------------------------------------
// Cap'n Proto text helpers. `embed` paths are relative to the config file, which lives in `out`.

function str(s) {
  if (!/^[\x20-\x7e]*$/.test(s)) throw new Error(`not printable ASCII: ${JSON.stringify(s)}`);
  return JSON.stringify(s);
}

function embedPath(path) {
  return relative(out, path);
}

function worker({ modules, bindings = [], extra = "" }) {
  const flags = compatibilityFlags.map(str).join(", ");
  return `(
    modules = [
      ${modules.join(",\n      ")}
    ],
    compatibilityDate = ${str(compatibilityDate)},
    compatibilityFlags = [${flags}],
    bindings = [
      ${bindings.join(",\n      ")}
    ],${extra}
  )`;
}

function jsWorker(file, opts = {}) {
  return worker({
    modules: [`(name = ${str(file)}, esModule = embed ${str(embedPath(join(jsDir, file)))})`],
    ...opts,
  });
}

function socket(name, port, service) {
  return `(name = ${str(name)}, address = ${str(`127.0.0.1:${port}`)}, http = (), service = ${str(service)})`;
}

// BENCH_V8_FLAGS (comma-separated), e.g. "--perf-basic-prof" so that `perf report` names the
// JS and wasm functions (see README.md, "Profiling").
const v8Flags = (process.env.BENCH_V8_FLAGS ?? "").split(",").filter((flag) => flag !== "");

function config(services, sockets) {
  const flags = v8Flags.length ? `\n  v8Flags = [${v8Flags.map(str).join(", ")}],` : "";
  return `# Generated by bench/gen_config.mjs for bench/run; do not edit.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (${flags}
  services = [
    ${services.join(",\n    ")}
  ],
  sockets = [
    ${sockets.join(",\n    ")}
  ],
);
`;
}

const text = (name, value) => `(name = ${str(name)}, text = ${str(String(value))})`;
const disk = (name, path, writable) =>
  `(name = ${str(name)}, disk = (path = ${str(path)}, writable = ${writable}))`;

// ---------------------------------------------------------------------------------------------
// mlink: as wrangler would bind it, with every outbound request sent to the local fake
// (globalOutbound), so sendMessage and callbacks cost what a fast upstream costs and no more.
// The fake runs in its own process, reached over TCP as Telegram or the owner's backend would
// be: its work is not mlink's, and does not take turns with mlink in mlink's process.

const fakeBase = `http://127.0.0.1:${ports.fake}`;
const mlinkVars = {
  ...vars,
  PUBLIC_BASE_URL: `http://127.0.0.1:${ports.mlink}`,
  TELEGRAM_API_BASE: fakeBase,
  VIBER_API_BASE: fakeBase,
  GRAPH_API_BASE: `${fakeBase}/v21.0`,
  INSTAGRAM_API_BASE: `${fakeBase}/v21.0`,
  ...overrides,
  ...secrets,
};

const mlink = worker({
  modules: bundleFiles.map(moduleOf),
  bindings: [
    ...Object.entries(mlinkVars).map(([k, v]) => text(k, v)),
    `(name = "PROJECTS", durableObjectNamespace = "ProjectObject")`,
    `(name = "EDGE", kvNamespace = "kv")`,
    `(name = "ASSETS", service = "assets")`,
  ],
  extra: `
    durableObjectNamespaces = [
      (className = "ProjectObject", uniqueKey = "mlink-bench-ProjectObject", enableSql = true),
    ],
    durableObjectStorage = (localDisk = "do-disk"),
    globalOutbound = "upstream",`,
});

writeFileSync(
  join(out, "mlink.capnp"),
  config(
    [
      `(name = "mlink", worker = ${mlink})`,
      `(name = "kv", worker = ${jsWorker("kv_service.js")})`,
      `(name = "upstream", external = (address = ${str(`127.0.0.1:${ports.fake}`)}, http = ()))`,
      // Bare files; on Cloudflare the asset router also answers before the worker runs. Not on
      // the measured paths, which are all worker routes.
      disk("assets", join(root, "www"), false),
      disk("do-disk", join(out, "state", "mlink"), true),
    ],
    [socket("http", ports.mlink, "mlink")],
  ),
);

writeFileSync(
  join(out, "fake.capnp"),
  config([`(name = "fake", worker = ${jsWorker("fake_api.js")})`], [socket("http", ports.fake, "fake")]),
);

writeFileSync(
  join(out, "const302.capnp"),
  config([`(name = "const302", worker = ${jsWorker("const302.js")})`], [socket("http", ports.const302, "const302")]),
);

writeFileSync(
  join(out, "kv302.capnp"),
  config(
    [
      `(name = "kv302", worker = ${jsWorker("kv302.js", { bindings: [`(name = "LINKS", kvNamespace = "kv")`] })})`,
      `(name = "kv", worker = ${jsWorker("kv_service.js")})`,
    ],
    [socket("http", ports.kv302, "kv302"), socket("kv", ports.kv302kv, "kv")],
  ),
);

// The one-insert objects: each insert committed alone, and grouped as mlink groups webhooks.
for (const name of ["do_write", "do_write_grouped"]) {
  writeFileSync(
    join(out, `${name}.capnp`),
    config(
      [
        `(name = "${name}", worker = ${jsWorker(`${name}.js`, {
          bindings: [`(name = "WRITER", durableObjectNamespace = "Writer")`],
          extra: `
    durableObjectNamespaces = [(className = "Writer", uniqueKey = "bench-Writer", enableSql = true)],
    durableObjectStorage = (localDisk = "do-disk"),`,
        })})`,
        disk("do-disk", join(out, "state", name), true),
      ],
      [socket("http", ports[name], name)],
    ),
  );
}

console.log(JSON.stringify({ compatibilityDate, compatibilityFlags, modules: bundleFiles, vars: Object.keys(mlinkVars) }));
