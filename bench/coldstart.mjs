// Cold start under bare workerd: from spawning the process to the first 200 on <path>, which
// includes reading the config, compiling the worker's modules and running its top level and first
// request. `node coldstart.mjs <runs> <path> <state_dir> -- <workerd> serve <config> ...` prints
// JSON {min, median, max} in ms. Each run gets a fresh port (socket `http`) and, for mlink, an
// empty Durable Object directory, so nothing is warm but the OS file cache.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";

const argv = process.argv.slice(2);
const sep = argv.indexOf("--");
const [runsArg, path, stateDir] = argv.slice(0, sep);
const [command, ...commandArgs] = argv.slice(sep + 1);
const runs = Number(runsArg);

const freePort = () =>
  new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

async function once() {
  const port = await freePort();
  const disk = mkdtempSync(join(stateDir, "cold-"));
  const args = [...commandArgs, "--socket-addr", `http=127.0.0.1:${port}`];
  if (commandArgs.some((a) => a.endsWith("mlink.capnp"))) {
    args.push("--directory-path", `do-disk=${disk}`);
  }
  const started = performance.now();
  const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`workerd exited: ${stderr}`);
      if (performance.now() - started > 30_000) throw new Error(`no 200 within 30 s: ${stderr}`);
      try {
        const response = await fetch(`http://127.0.0.1:${port}${path}`, { redirect: "manual" });
        await response.arrayBuffer();
        if (response.status < 400) return performance.now() - started;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 1));
    }
  } finally {
    child.kill();
    await new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)));
    rmSync(disk, { recursive: true, force: true });
  }
}

const times = [];
for (let i = 0; i < runs; i++) times.push(await once());
times.sort((a, b) => a - b);
console.log(JSON.stringify({ runs, min: times[0], median: times[Math.floor(runs / 2)], max: times[runs - 1] }));
