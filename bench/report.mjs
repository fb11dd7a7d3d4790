// Reads what bench/run left in <out> (raw wrk outputs, JSON fragments) and writes
// <out>/results.json and <out>/results.md, printing the markdown. Every figure carries
// min/median/max across rounds; ratios are taken per round (the variants of a round ran back to
// back) and then summarised the same way, which cancels most of the machine's drift.
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";

const out = process.argv[2];
const readJson = (name) => (existsSync(join(out, name)) ? JSON.parse(readFileSync(join(out, name), "utf8")) : null);
const params = readJson("params.json");

// --- wrk output ------------------------------------------------------------------------------

function ms(value, unit) {
  return Number(value) * { us: 0.001, ms: 1, s: 1000 }[unit];
}

function parseWrk(text) {
  const get = (re) => text.match(re);
  const rps = get(/Requests\/sec:\s+([\d.]+)/);
  const p50 = get(/^\s+50%\s+([\d.]+)(us|ms|s)\s*$/m);
  const p99 = get(/^\s+99%\s+([\d.]+)(us|ms|s)\s*$/m);
  const total = get(/(\d+) requests in/);
  const non2xx = get(/Non-2xx or 3xx responses: (\d+)/);
  const socket = get(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  if (!rps || !p50 || !p99 || !total) throw new Error(`cannot read wrk output:\n${text}`);
  // merge.lua reports what each thread sent, answered or still in flight when wrk stopped: the
  // requests the server worked on, the right divisor for its CPU when requests are slow.
  const sent = [...text.matchAll(/^bench-thread \d+ sent (\d+)/gm)].reduce((a, m) => a + Number(m[1]), 0);
  return {
    sent: sent || undefined,
    rps: Number(rps[1]),
    p50_ms: ms(p50[1], p50[2]),
    p99_ms: ms(p99[1], p99[2]),
    requests: Number(total[1]),
    errors: (non2xx ? Number(non2xx[1]) : 0) + (socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0),
  };
}

// runs[bench][variant] = [per round, in round order]
const runs = {};
for (const file of readdirSync(join(out, "wrk")).sort()) {
  const m = file.match(/^(\w+)__(\w+)__r(\d+)\.txt$/);
  if (!m) continue;
  const [, bench, variant, round] = m;
  const run = parseWrk(readFileSync(join(out, "wrk", file), "utf8"));
  // CPU the server process used during the run (bench/run reads it from /proc), per request.
  const cpuFile = join(out, "wrk", file.replace(/\.txt$/, ".cpu"));
  if (existsSync(cpuFile)) {
    const ticks = Number(readFileSync(cpuFile, "utf8"));
    run.cpu_us_per_request = (ticks * 1e6) / (params.clk_tck ?? 100) / (run.sent ?? run.requests);
  }
  // mlink's merges: milliseconds the outbox took to empty after the round ended.
  const drainFile = join(out, "wrk", file.replace(/\.txt$/, ".drain_ms"));
  if (existsSync(drainFile)) run.drain_ms = Number(readFileSync(drainFile, "utf8"));
  ((runs[bench] ??= {})[variant] ??= [])[Number(round) - 1] = run;
}

const summary = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return null;
  // The value at fraction q of the way through the sorted rounds (linear between neighbours).
  const at = (q) => {
    const i = q * (s.length - 1);
    return s[Math.floor(i)] + (s[Math.ceil(i)] - s[Math.floor(i)]) * (i - Math.floor(i));
  };
  return { min: s[0], q1: at(0.25), median: at(0.5), q3: at(0.75), max: s[s.length - 1] };
};

function variantSummary(bench, variant) {
  const rounds = runs[bench]?.[variant] ?? [];
  return {
    rounds: rounds.length,
    rps: summary(rounds.map((r) => r.rps)),
    p50_ms: summary(rounds.map((r) => r.p50_ms)),
    p99_ms: summary(rounds.map((r) => r.p99_ms)),
    cpu_us_per_request: summary(rounds.map((r) => r.cpu_us_per_request)),
    drain_ms: summary(rounds.map((r) => r.drain_ms)),
    requests: rounds.reduce((a, r) => a + r.requests, 0),
    errors: rounds.reduce((a, r) => a + r.errors, 0),
  };
}

// Per round: a's throughput over b's, and a's CPU per request over b's.
function ratio(bench, a, b) {
  const ra = runs[bench]?.[a] ?? [];
  const rb = runs[bench]?.[b] ?? [];
  return {
    rps: summary(ra.map((r, i) => (rb[i] ? r.rps / rb[i].rps : NaN))),
    cpu_per_request: summary(ra.map((r, i) => (rb[i] ? r.cpu_us_per_request / rb[i].cpu_us_per_request : NaN))),
  };
}

// --- results.json ----------------------------------------------------------------------------

const cpuModel = (readFileSync("/proc/cpuinfo", "utf8").match(/^model name\s*:\s*(.+)$/m) ?? [])[1] ?? cpus()[0]?.model;
const machine = {
  ...readJson("machine.json"),
  nproc: cpus().length,
  cpu_model: cpuModel,
  loadavg_at_report: loadavg(),
};

const results = {
  machine,
  params,
  redirect: {
    what: "GET /mlink/<token>: 302 into Telegram",
    variants: Object.fromEntries(["mlink", "kv302", "const302"].map((v) => [v, variantSummary("redirect", v)])),
    ratios: {
      mlink_over_const302: ratio("redirect", "mlink", "const302"),
      mlink_over_kv302: ratio("redirect", "mlink", "kv302"),
      kv302_over_const302: ratio("redirect", "kv302", "const302"),
    },
  },
  merge: {
    what: "POST /webhooks/<project>/<group>: Telegram /start <payload>, each a new client and link",
    variants: Object.fromEntries(
      ["mlink", "mlink_quiet", "do_write", "do_write_grouped"].map((v) => [v, variantSummary("merge", v)]),
    ),
    ratios: {
      mlink_over_do_write: ratio("merge", "mlink", "do_write"),
      mlink_quiet_over_do_write: ratio("merge", "mlink_quiet", "do_write"),
      mlink_over_do_write_grouped: ratio("merge", "mlink", "do_write_grouped"),
      mlink_quiet_over_do_write_grouped: ratio("merge", "mlink_quiet", "do_write_grouped"),
    },
    verified: readJson("verify.json"),
    verified_quiet: readJson("verify_quiet.json"),
    funnel: readJson("stats.json"),
    // Texts the fake upstream received: each completed merge of the main project sends one.
    upstream_counts: readJson("fake_count.json"),
    wrapped_rounds_retried: readJson("merge_retries.json"),
  },
  merge_link: {
    what: "POST /api/v1/projects/<project>/clients/<id>/merge-links: a new link per request",
    variants: Object.fromEntries(["mlink", "do_write"].map((v) => [v, variantSummary("link", v)])),
    ratios: { mlink_over_do_write: ratio("link", "mlink", "do_write") },
  },
  size: readJson("sizes.json"),
  instantiate_node: readJson("instantiate.json"),
  instantiate_edge_node: readJson("instantiate_edge.json"),
  edge_click_node: readJson("edge_click.json"),
  cold_start_ms: { mlink: readJson("coldstart_mlink.json"), const302: readJson("coldstart_const302.json") },
};
writeFileSync(join(out, "results.json"), JSON.stringify(results, null, 2) + "\n");

// --- markdown --------------------------------------------------------------------------------

const n0 = (s) => (s ? Math.round(s.median).toLocaleString("en-US") : "-");
const f2 = (s) => (s ? s.median.toFixed(2) : "-");
const range0 = (s) => (s ? `${Math.round(s.min).toLocaleString("en-US")}-${Math.round(s.max).toLocaleString("en-US")}` : "");
const range2 = (s) => (s ? `${s.min.toFixed(2)}-${s.max.toFixed(2)}` : "");
// KB of 1000 bytes, as the project README counts them.
const kb = (bytes) => `${(bytes / 1000).toFixed(0)} KB`;

const lines = [];
const p = (line = "") => lines.push(line);
p(`## mlink benchmark (${machine.date})`);
p();
p(`${machine.nproc} cores, ${machine.cpu_model}; workerd ${machine.workerd}; ${machine.wrk}.`);
p(`wrk -t${params.threads} -c${params.connections} -d${params.seconds}s, ${params.rounds} rounds, variants alternated; medians (min-max across rounds). Processes: ${params.pinning ?? "not pinned"}.`);
p(`Machine load (load average 1/5/15 min, CPU pressure avg10/avg60) before: ${machine.load_before}; after: ${machine.load_after}.`);
p();
p("### GET /mlink/<token>");
p();
const redirectRounds = params.redirect_rounds ?? params.rounds;
p(`wrk -d${params.redirect_seconds ?? params.seconds}s, ${redirectRounds} rounds (the redirect's rounds are more and shorter: see bench/README.md).`);
p();
p("| variant | requests/s | p50 ms | p99 ms | server CPU µs/request | errors |");
p("|---|---|---|---|---|---|");
const label = {
  mlink: "mlink (the bundle)",
  kv302: "kv302: JS, link read from KV per click",
  const302: "const302: JS, constant 302",
  do_write: "do_write: one SQLite DO insert",
  do_write_grouped: "do_write_grouped: the same, concurrent inserts committed together",
  mlink_quiet: "mlink merges, no deliveries (no tag, callbacks parked by a 410)",
};
for (const [v, s] of Object.entries(results.redirect.variants)) {
  p(`| ${label[v]} | ${n0(s.rps)} (${range0(s.rps)}) | ${f2(s.p50_ms)} (${range2(s.p50_ms)}) | ${f2(s.p99_ms)} | ${n0(s.cpu_us_per_request)} (${range0(s.cpu_us_per_request)}) | ${s.errors} |`);
}
p();
p("| ratio (per round) | requests/s | middle half | min-max | CPU per request | middle half | min-max |");
p("|---|---|---|---|---|---|---|");
const quartiles = (s) => (s ? `${s.q1.toFixed(2)}-${s.q3.toFixed(2)}` : "");
for (const [name, s] of Object.entries(results.redirect.ratios)) {
  p(`| ${name.replace("_over_", " / ")} | ${f2(s.rps)} | ${quartiles(s.rps)} | ${range2(s.rps)} | ${f2(s.cpu_per_request)} | ${quartiles(s.cpu_per_request)} | ${range2(s.cpu_per_request)} |`);
}
p();
p("### Telegram `/start` merge webhook (a new client and link per request)");
p();
p("| variant | requests/s | p50 ms | p99 ms | server CPU µs/request | errors |");
p("|---|---|---|---|---|---|");
for (const [v, s] of Object.entries(results.merge.variants)) {
  if (s.rounds === 0) continue; // a run from before the variant existed
  const name = v === "mlink" ? "mlink merges (CPU: outbox deliveries included)" : label[v];
  p(`| ${name} | ${n0(s.rps)} (${range0(s.rps)}) | ${f2(s.p50_ms)} (${range2(s.p50_ms)}) | ${f2(s.p99_ms)} | ${n0(s.cpu_us_per_request)} (${range0(s.cpu_us_per_request)}) | ${s.errors} |`);
}
p();
const drain = results.merge.variants.mlink?.drain_ms;
if (drain) {
  p(`mlink's outbox was empty ${(drain.median / 1000).toFixed(1)} s (${(drain.min / 1000).toFixed(1)}-${(drain.max / 1000).toFixed(1)}) after each round ended: the deliveries still owed then went out after the requests/s were counted (their CPU is counted).`);
}
for (const [name, mr] of Object.entries(results.merge.ratios)) {
  if (!mr.rps) continue;
  p(`${name.replace("_over_", " / ")} (per round): requests/s ${f2(mr.rps)} (${range2(mr.rps)}), CPU per request ${f2(mr.cpu_per_request)} (${range2(mr.cpu_per_request)}).`);
}
for (const [which, ver] of [["", results.merge.verified], [" (no deliveries, project benchq)", results.merge.verified_quiet]]) {
  if (!ver) continue;
  p(
    `Checked after the run${which}: ${ver.merged} of ${ver.sampled} sampled clients (of ${ver.used.toLocaleString("en-US")} whose link was posted) have their bot B dialog merged in.`,
  );
}
const funnelTotal = results.merge.funnel?.total;
if (funnelTotal) {
  p(`Funnel (stats API): ${JSON.stringify(funnelTotal)}.`);
}
const texts = results.merge.upstream_counts?.texts;
if (funnelTotal && texts !== undefined) {
  const verdict = texts >= funnelTotal.completed ? "none missing" : `${funnelTotal.completed - texts} MISSING`;
  p(`Welcome texts received by the fake upstream: ${texts.toLocaleString("en-US")} for ${funnelTotal.completed.toLocaleString("en-US")} completed merges (${verdict}).`);
}
p();
if (results.merge_link.variants.mlink.rounds > 0) {
  p("### Owner API: create a merge link (a new link per request)");
  p();
  p("| variant | requests/s | p50 ms | p99 ms | server CPU µs/request | errors |");
  p("|---|---|---|---|---|---|");
  for (const [v, s] of Object.entries(results.merge_link.variants)) {
    const name = v === "mlink" ? "mlink: POST .../merge-links" : label[v];
    p(`| ${name} | ${n0(s.rps)} (${range0(s.rps)}) | ${f2(s.p50_ms)} (${range2(s.p50_ms)}) | ${f2(s.p99_ms)} | ${n0(s.cpu_us_per_request)} (${range0(s.cpu_us_per_request)}) | ${s.errors} |`);
  }
  p();
  const lr = results.merge_link.ratios.mlink_over_do_write;
  p(`mlink / do_write (per round): requests/s ${f2(lr.rps)} (${range2(lr.rps)}), CPU per request ${f2(lr.cpu_per_request)} (${range2(lr.cpu_per_request)}).`);
  p();
}
p("### Size and start");
p();
const size = results.size;
const inst = results.instantiate_node;
const cold = results.cold_start_ms;
p("| what | value |");
p("|---|---|");
if (size) {
  p(`| wasm, worker's module (build/index_bg.wasm as bundled), raw / gzip -9 | ${kb(size.wasm_raw)} / ${kb(size.wasm_gzip)} |`);
  if (size.edge_wasm_raw !== undefined) {
    p(`| wasm, edge module (build/edge/mlink_edge_bg.wasm as bundled), raw / gzip -9 | ${kb(size.edge_wasm_raw)} / ${kb(size.edge_wasm_gzip)} |`);
    p(`| wasm, both modules, raw / gzip -9 | ${kb(size.wasm_raw + size.edge_wasm_raw)} / ${kb(size.wasm_gzip + size.edge_wasm_gzip)} |`);
  }
  p(`| bundled JS entry (${size.entry}), raw / gzip -9 | ${kb(size.entry_raw)} / ${kb(size.entry_gzip)} |`);
}
for (const [which, timing] of [["worker's module", inst], ["edge module", results.instantiate_edge_node]]) {
  if (!timing) continue;
  for (const mode of ["lazy", "eager"]) {
    const m = timing[mode];
    p(`| ${which}: compile + instantiate, Node ${timing.node}, ${mode === "lazy" ? "V8 default (lazy)" : "all functions up front"} (median of ${timing.runs} processes) | ${f2(m.compile_ms)} + ${f2(m.instantiate_ms)} ms |`);
  }
}
const click = results.edge_click_node;
if (click) {
  const us = (r) => `${f2(r)} µs (${range2(r)})`;
  p(`| edge module, one click in-process (Node ${click.node}, no HTTP): warm / caches flushed | ${us(click.warm_us)} / ${us(click.cold_us)} |`);
}
if (cold.mlink) {
  p(`| workerd cold start to first 200, mlink \`/health\` (median of ${cold.mlink.runs}) | ${f2(cold.mlink)} ms (${range2(cold.mlink)}) |`);
}
if (cold.const302) {
  p(`| workerd cold start to first 302, const302 (median of ${cold.const302.runs}) | ${f2(cold.const302)} ms (${range2(cold.const302)}) |`);
}
p();
p("p99 on a small shared machine is dominated by the machine's own stalls: compare p50 and throughput, and ratios measured in the same run.");

const md = lines.join("\n") + "\n";
writeFileSync(join(out, "results.md"), md);
process.stdout.write(md);
