// The edge module's cost per click, in-process in Node 22 (V8, as in workerd), without HTTP:
// `node edge_click.mjs <dir with mlink_edge.js> <link secret> <link url>` prints JSON.
//
// wrk's figures on a small shared machine swing by several µs per request between rounds; this
// one is steady, so it shows what a change to the click's Rust code does. "warm": clicks back to
// back; "cold": before each click, 8 MiB of memory is walked so the caches hold none of the
// module's code or data, as when a request arrives after the runtime's own work.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [dir, secret, url] = process.argv.slice(2);
const edge = await import(pathToFileURL(join(dir, "mlink_edge.js")).href);
edge.initSync({ module: new WebAssembly.Module(readFileSync(join(dir, "mlink_edge_bg.wasm"))) });
const problem = edge.configure(secret, new URL(url).origin);
if (problem) throw new Error(problem);

// As src/entry.js answers a click: a slot whose prefix is followed by the token's payload (the
// common click: the location), or an answer left in the module's memory.
const tail = url.slice(url.indexOf("/mlink/") + "/mlink/".length);
let memoryBytes = null;
const decoder = new TextDecoder();
const prefixes = [];
function click(tail, now) {
  const slot = edge.click(tail, now);
  if (slot >= 0) {
    prefixes[slot] ??= edge.redirect_prefix(slot);
    return prefixes[slot] + tail.substring(1, 23);
  }
  if (memoryBytes === null || memoryBytes.byteLength === 0) {
    memoryBytes = new Uint8Array(edge.module_memory().buffer);
  }
  const start = edge.answer_ptr();
  return decoder.decode(memoryBytes.subarray(start, start + (-1 - slot)));
}

const first = click(tail, Date.now());
if (first[0] === "B") {
  const [project, group] = first.slice(1).split(" ");
  edge.learn_bot(project, group, "telegram BenchBotB", Date.now());
}
click(tail, Date.now()); // the first open is reported once
const answer = click(tail, Date.now());
if (!answer.startsWith("https://t.me/")) throw new Error(`expected a redirect, got ${answer}`);

const junk = new Uint8Array(8 << 20);
const thrash = () => {
  for (let i = 0; i < junk.length; i += 64) junk[i]++;
};

function measure(cold) {
  const rounds = [];
  for (let r = 0; r < 7; r++) {
    const n = cold ? 2000 : 100000;
    let ns = 0;
    for (let i = 0; i < n; i++) {
      if (cold) thrash();
      const t = process.hrtime.bigint();
      click(tail, Date.now());
      ns += Number(process.hrtime.bigint() - t);
    }
    rounds.push(ns / n / 1000);
  }
  rounds.sort((a, b) => a - b);
  return { min: rounds[0], median: rounds[3], max: rounds[6] };
}

console.log(JSON.stringify({ node: process.version, warm_us: measure(false), cold_us: measure(true) }));
