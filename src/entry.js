// The worker's entry. Two wasm modules sit behind it:
// - the edge module (edge/, built into build/edge/): everything GET /mlink/<token> decides,
//   synchronously, from the sealed token and this isolate's memory. Small and compiled for
//   speed; it does no I/O, so this file carries out what its answers ask for (look a bot up,
//   report a link's first open) and builds the Response;
// - the worker's module (src/, built by worker-build into build/): the owner API, messenger
//   webhooks, the Durable Object, static assets, and the rendering of link pages.
// README, "How it works" and "Measured", says why the click's path is split out.
import RustWorker, { ProjectObject } from "../build/index.js";
import * as edge from "../build/edge/mlink_edge.js";
import edgeModule from "../build/edge/mlink_edge_bg.wasm";

export { ProjectObject };

edge.initSync({ module: edgeModule });

// worker-build 0.8.7 attaches extra #[wasm_bindgen] functions to the entrypoint's prototype.
// That is an internal of the pinned versions: fail at load time, not on the first click.
const { mlink_page: renderPage, mlink_page_headers: pageHeaders } = RustWorker.prototype;
if (typeof renderPage !== "function" || typeof pageHeaders !== "function") {
  throw new Error("build/index.js lacks mlink_page: check the worker-build version");
}
// "name: value" lines (mlink_core::pages::RESPONSE_HEADERS).
const PAGE_HEADERS = pageHeaders()
  .split("\n")
  .filter((line) => line !== "")
  .map((line) => [line.slice(0, line.indexOf(": ")), line.slice(line.indexOf(": ") + 2)]);

// Must match mlink_core::service::edge::USED_LINKS_HEADER.
const USED_LINKS_HEADER = "x-mlink-used-links";

// Whether the edge module holds this isolate's link secret and base URL.
let configured = false;

export default {
  fetch(request, env, ctx) {
    const url = request.url;
    const tokenStart = clickToken(url, request.method);
    if (tokenStart < 0) return worker(request, env, ctx);
    return click(url.substring(tokenStart), request, env, ctx);
  },
};

// GET or HEAD /mlink/<token>: where the token starts, else -1. The path is checked, not a
// query string that happens to hold "/mlink/".
function clickToken(url, method) {
  const path = url.indexOf("/", url.indexOf("//") + 2);
  const isClick = url.startsWith("/mlink/", path) && (method === "GET" || method === "HEAD");
  return isClick ? path + "/mlink/".length : -1;
}

async function worker(request, env, ctx) {
  const response = await (directToProject(request, env) ?? new RustWorker(ctx, env).fetch(request));
  const used = response.headers.get(USED_LINKS_HEADER);
  if (used === null) return response;
  // A webhook used up links: the edge shows their "used" page from now on. The header is ours;
  // the messenger must not see it (and a Durable Object's response headers are immutable).
  if (configure(env) === "") edgeCall(() => edge.learn_used(used));
  // The answer is a small JSON: copied whole, it needs no stream pumped through this worker.
  const copy = new Response(await response.arrayBuffer(), response);
  copy.headers.delete(USED_LINKS_HEADER);
  return copy;
}

// A messenger's webhook goes straight to its project's object, which checks it all: the
// worker's module would only route it there, through the worker crate's entry and conversions.
// null: not such a request (the edge module decides, by the rules the worker's module routes by).
function directToProject(request, env) {
  if (request.method !== "POST" || configure(env) !== "") return null;
  const length = request.headers.get("content-length") ?? undefined;
  const project = edgeCall(() => edge.webhook_project("POST", request.url, length));
  if (!project) return null;
  return projectStub(env, project)
    .fetch(request)
    .catch((e) => {
      console.error(`project ${project} failed`, e);
      return internalError();
    });
}

// Each read of request.url or a header costs a call into the runtime: the URL is read once,
// the User-Agent only when the edge asks for it ("D": WhatsApp and Viber links).
// `tail`: what follows /mlink/ in the URL (the token, unless a query string follows it).
function click(tail, request, env, ctx) {
  const problem = configure(env);
  if (problem) {
    console.error(`internal error: ${problem}`);
    return internalError();
  }
  return answerClick(tail, request, env, ctx, false);
}

// `lookedUp`: the bot was just looked up, so the edge must know it now.
function answerClick(tail, request, env, ctx, lookedUp) {
  const now = Date.now();
  const slot = edgeCall(() => edge.click(tail, now), FAILED);
  if (slot >= 0) {
    // The common click: the bot's deep link is its prefix and the token's payload.
    const prefix = redirectPrefix(slot);
    if (prefix === "") return internalError();
    return redirect(prefix + tail.substring(PAYLOAD_START, PAYLOAD_END));
  }
  const answer = slot === FAILED ? "" : edgeCall(() => lastAnswer(-1 - slot));
  const decided = answer === "D" ? decideWithAgent(tail, now, request) : answer;
  if (decided.charCodeAt(0) !== 66 /* B */) return respond(decided, request, env, ctx);
  if (lookedUp) return respond(edgeCall(() => edge.unavailable()), request, env, ctx);
  return clickAfterLookUp(tail, request, env, ctx, decided);
}

// Where a version 3 token holds its payload: mlink_core::domain::token::PAYLOAD_CHARS.
const PAYLOAD_START = 1;
const PAYLOAD_END = 23;
// What edgeCall answers for a click when the edge module failed (edge.click's answers are
// slots, >= 0, or -1 - the length of an answer left in its memory).
const FAILED = -0x80000000;

// The deep-link prefixes by slot, as the edge module numbers them (until it is reset).
let prefixes = [];

// "" if the edge module has no such slot (or failed).
function redirectPrefix(slot) {
  const known = prefixes[slot];
  if (known !== undefined) return known;
  const prefix = edgeCall(() => edge.redirect_prefix(slot));
  if (prefix !== "") prefixes[slot] = prefix;
  return prefix;
}

// The answer edge.click left in the module's memory, `length` bytes at edge.answer_ptr().
let memoryBytes = null;
const decoder = new TextDecoder();

function lastAnswer(length) {
  // A memory that grew has a new buffer; the old view reads as empty.
  if (memoryBytes === null || memoryBytes.byteLength === 0) {
    memoryBytes = new Uint8Array(edge.module_memory().buffer);
  }
  const start = edge.answer_ptr();
  return decoder.decode(memoryBytes.subarray(start, start + length));
}

function decideWithAgent(tail, now, request) {
  const userAgent = request.headers.get("user-agent") ?? undefined;
  return edgeCall(() => edge.click_with_agent(tail, now, userAgent));
}

// "B<project> <group> <kv key> <object url>": the isolate does not know the link's bot (or
// knew it too long ago). KV first; if KV has not caught up yet, the project's object.
async function clickAfterLookUp(tail, request, env, ctx, answer) {
  const [project, group, kvKey, objectUrl] = answer.slice(1).split(" ");
  let record;
  try {
    record = await env.EDGE.get(kvKey);
    if (record === null) {
      const response = await projectStub(env, project).fetch(objectUrl);
      if (response.status !== 200 && response.status !== 404) {
        throw new Error(`the project answered ${response.status}`);
      }
      record = response.status === 200 ? await response.text() : undefined;
    }
  } catch (e) {
    console.error("could not look up a bot", e);
    return respond(edgeCall(() => edge.unavailable()), request, env, ctx);
  }
  const problem = edgeCall(() => edge.learn_bot(project, group, record, Date.now()));
  if (problem) console.error(`bad record for bot ${project}/${group}: ${problem}`);
  return answerClick(tail, request, env, ctx, true);
}

// An optional "O<project> <url>\n" line (report the link's first open here, after answering),
// then "R<location>" or "P<status><page spec>".
function respond(answer, request, env, ctx) {
  if (answer.charCodeAt(0) === 79 /* O */) {
    const newline = answer.indexOf("\n");
    const [project, url] = answer.slice(1, newline).split(" ");
    ctx.waitUntil(
      projectStub(env, project)
        .fetch(url)
        .catch((e) => console.error("open not counted", e)),
    );
    answer = answer.slice(newline + 1);
  }
  if (answer.charCodeAt(0) === 82 /* R */) return redirect(answer.slice(1));
  if (answer.charCodeAt(0) !== 80 /* P */) return internalError();
  const status = Number(answer.slice(1, 4));
  // After a panic in the worker's module, constructing its entrypoint re-initialises it (its
  // generated Proxy does); the page's render call would otherwise find it terminated.
  if (globalThis.__worker_init_state?.criticalError) new RustWorker(ctx, env);
  let page;
  try {
    page = renderPage(answer.slice(4), request.headers.get("accept-language") ?? undefined);
  } catch (e) {
    console.error("could not render a link page", e);
    return internalError();
  }
  return new Response(request.method === "HEAD" ? null : page, {
    status,
    headers: PAGE_HEADERS,
  });
}

function redirect(location) {
  return new Response(null, {
    status: 302,
    headers: { location, "cache-control": "no-store" },
  });
}

function projectStub(env, project) {
  return env.PROJECTS.get(env.PROJECTS.idFromName(project));
}

// "" once configured, else what is missing.
function configure(env) {
  if (configured) return "";
  const settings = () => edge.configure(env.LINK_SECRET ?? "", env.PUBLIC_BASE_URL ?? "");
  const problem = edgeCall(settings, "the edge module failed");
  configured = problem === "";
  return problem;
}

// A trap in the edge module (a Rust panic) leaves its state unusable: start it afresh, so the
// next click works, and answer this one with an internal error (`failed`; "" is no answer).
function edgeCall(call, failed = "") {
  try {
    return call();
  } catch (e) {
    console.error("the edge module failed; resetting it", e);
    edge.__wbg_reset_state();
    configured = false;
    memoryBytes = null;
    prefixes = [];
    return failed;
  }
}

// As the worker's module answers an internal error: the details go to the log only.
function internalError() {
  return Response.json(
    { error: { code: "internal", message: "internal error" } },
    { status: 500, headers: { "cache-control": "no-store" } },
  );
}
