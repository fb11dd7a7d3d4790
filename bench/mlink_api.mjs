// Talks to the mlink under test over HTTP, as a bot owner and as Telegram would: the setup before
// the measured runs and the checks after them. Run with the project's Node 22 by bench/run.
//
//   setup     <state.json> <base> <admin> <callback_url> [project] [tag]
//                       project (default "bench"), bots A and B, one client, one merge link
//                       (clicked once); prints its token. <tag> is the merge links' welcome text
//                       (default "Welcome to B"; "" for none: the merge then sends no text). The
//                       project and tag go into <state.json>, which the other commands read.
//   provision <state.json> <count> <first_user> <bodies> <clients>
//                       <count> new clients (a message each to bot A) with a merge link each to bot
//                       B; appends to <bodies> the `/start <payload>` update each will send to bot B
//                       (one JSON per line, for bench/merge.lua) and to <clients> its client id
//   drain     <state.json> <fake_base>   waits until the outbox has nothing pending
//   parked    <state.json>               waits until a 410 Gone has switched the project's
//                                        callbacks off (they stay pending, never sent)
//   verify    <state.json> <clients> <sample>  how many of a sample of clients have 2 dialogs
//   stats     <state.json>               the merge-link funnel, if this build has it
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";

const CONCURRENCY = 32;
const DEFAULT_TAG = "Welcome to B";
const [command, statePath, ...args] = process.argv.slice(2);

async function call(method, url, { token, secret, body } = {}) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  if (secret) headers["x-telegram-bot-api-secret-token"] = secret;
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    redirect: "manual",
  });
  const text = await response.text();
  return { status: response.status, location: response.headers.get("location"), text };
}

// `status`: the one expected, or a list of them.
async function expect(status, method, url, options) {
  const answer = await call(method, url, options);
  if (![status].flat().includes(answer.status)) {
    throw new Error(`${method} ${url}: expected ${status}, got ${answer.status}: ${answer.text.slice(0, 300)}`);
  }
  return answer;
}

const json = (answer) => JSON.parse(answer.text);

function textUpdate(updateId, userId, text) {
  return {
    update_id: updateId,
    message: {
      message_id: updateId,
      date: Math.floor(Date.now() / 1000),
      from: { id: userId, is_bot: false, first_name: "Bench" },
      chat: { id: userId, type: "private" },
      text,
    },
  };
}

// One client: writes to bot A (a card is made), gets a merge link to bot B, clicks it (the
// payload is only in the redirect). Returns the update that client's `/start` will be.
async function makeClient(state, userId) {
  const { base, apiKey, bots } = state;
  const api = `${base}/api/v1/projects/${state.project}`;
  await expect(200, "POST", `${base}/webhooks/${state.project}/bota`, {
    secret: bots.bota,
    body: textUpdate(userId, userId, "hello"),
  });
  const card = json(await expect(200, "GET", `${api}/contacts/bota/${userId}`, { token: apiKey }));
  const link = json(
    await expect(201, "POST", `${api}/clients/${card.client_id}/merge-links`, {
      token: apiKey,
      body: { client_type: 1, group: "botb", tag: state.tag ?? DEFAULT_TAG },
    }),
  );
  const click = await expect(302, "GET", `${base}/mlink/${link.token}`);
  const payload = new URL(click.location).searchParams.get("start");
  if (!payload) throw new Error(`no start payload in ${click.location}`);
  return { clientId: card.client_id, token: link.token, location: click.location, update: textUpdate(userId, userId, `/start ${payload}`) };
}

async function pool(count, job) {
  const results = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await job(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, count) }, worker));
  return results;
}

const readState = () => JSON.parse(readFileSync(statePath, "utf8"));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const commands = {
  async setup(base, admin, callbackUrl, project = "bench", tag = DEFAULT_TAG) {
    const created = json(
      await expect(201, "PUT", `${base}/api/v1/projects/${project}`, { token: admin, body: { callback_url: callbackUrl } }),
    );
    const bots = {};
    for (const [group, username, token] of [
      ["bota", "BenchBotA", "111:AAA"],
      ["botb", "BenchBotB", "222:BBB"],
    ]) {
      const bot = json(
        await expect([200, 201], "PUT", `${base}/api/v1/projects/${project}/bots/${group}`, {
          token: created.api_key,
          body: { client_type: 1, username, token, register_webhook: false },
        }),
      );
      bots[group] = bot.webhook_secret;
    }
    const state = { base, project, tag, apiKey: created.api_key, bots };
    // The link the redirect bench clicks; this first click also puts bot B in the isolate's memory.
    const first = await makeClient(state, 1);
    state.token = first.token;
    state.location = first.location;
    writeFileSync(statePath, JSON.stringify(state, null, 2));
    console.log(first.token);
  },

  async provision(count, firstUser, bodiesPath, clientsPath) {
    const state = readState();
    const made = await pool(Number(count), (i) => makeClient(state, Number(firstUser) + i));
    appendFileSync(bodiesPath, made.map((m) => JSON.stringify(m.update) + "\n").join(""));
    appendFileSync(clientsPath, made.map((m) => `${m.clientId}\n`).join(""));
  },

  // Waits for the outbox (sendMessage, callbacks) to empty, so one variant's background work does
  // not run into the next one's measurement. Reads the project's pending count; a build without
  // it falls back to the fake upstream's request counter standing still for a second.
  async drain(fakeBase) {
    const state = readState();
    const deadline = Date.now() + 180_000;
    let lastCount = -1;
    let stillSince = Date.now();
    while (Date.now() < deadline) {
      const project = json(await expect(200, "GET", `${state.base}/api/v1/projects/${state.project}`, { token: state.apiKey }));
      const pending = project.deliveries?.pending;
      if (pending === 0) return;
      if (pending === undefined) {
        const { received } = json(await expect(200, "GET", `${fakeBase}/__bench/count`));
        if (received !== lastCount) [lastCount, stillSince] = [received, Date.now()];
        else if (Date.now() - stillSince > 1000) return;
      }
      await sleep(200);
    }
    throw new Error("the outbox did not drain within 180 s");
  },

  // For a project whose callback URL answers 410 Gone: waits until its first callback has been
  // refused, so its endpoint is off and nothing of it is delivered any more.
  async parked() {
    const state = readState();
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const project = json(await expect(200, "GET", `${state.base}/api/v1/projects/${state.project}`, { token: state.apiKey }));
      if (project.endpoint?.status === "disabled") return;
      await sleep(100);
    }
    throw new Error(`the callbacks of ${state.project} were not switched off within 30 s`);
  },

  async verify(clientsPath, sample) {
    const state = readState();
    const ids = readFileSync(clientsPath, "utf8").split("\n").filter(Boolean);
    // An even spread over the used links, first and last included.
    const n = Math.min(Number(sample), ids.length);
    const picked = Array.from({ length: n }, (_, k) => ids[Math.floor((k * (ids.length - 1)) / Math.max(1, n - 1))]);
    const cards = await pool(n, async (i) =>
      json(await expect(200, "GET", `${state.base}/api/v1/projects/${state.project}/clients/${picked[i]}`, { token: state.apiKey })),
    );
    const merged = cards.filter((c) => c.contacts.length === 2 && c.contacts.some((d) => d.group === "botb")).length;
    console.log(JSON.stringify({ used: ids.length, sampled: n, merged }));
  },

  async stats() {
    const state = readState();
    const answer = await call("GET", `${state.base}/api/v1/projects/${state.project}/stats`, { token: state.apiKey });
    console.log(answer.status === 200 ? answer.text : "null");
  },
};

if (commands[command]) {
  await commands[command](...args);
} else {
  console.error(`unknown command ${command}`);
  process.exit(2);
}
