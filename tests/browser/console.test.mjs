// The owner's console (www/console/) in a real browser against the real worker.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { eventually, screenshot, startEnv, textUpdate } from "./harness.mjs";

let env;

before(async () => {
  // Failed callbacks wait an hour: a pending delivery stays pending until re-sent.
  env = await startEnv({ vars: { CALLBACK_RETRY_SCHEDULE: "3600" } });
});

after(async () => {
  const log = await env?.close();
  assert.ok(!/panicked/.test(log || ""), "the worker panicked:\n" + log);
});

/// A browser page that records script errors and CSP violations.
async function newPage(viewport = { width: 1280, height: 900 }) {
  const context = await env.browser.newContext({ viewport });
  const page = await context.newPage();
  page.problems = [];
  page.on("pageerror", (e) => page.problems.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error") page.problems.push(m.text());
  });
  return { context, page };
}

async function signIn(page, project) {
  await page.goto(env.worker.url("/console"));
  assert.equal(new URL(page.url()).pathname, "/console/", "/console leads to /console/");
  await page.getByLabel("Project name").fill(project.name);
  await page.getByLabel("API key").fill(project.key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#who").waitFor({ state: "visible" });
  assert.equal(await page.locator("#who-project").textContent(), project.name);
}

/// A project with Telegram bots A and B (the answers, with webhook secrets) and a client who
/// wrote to A: {project, a, b, clientId}.
async function projectWithClient(name, userId) {
  const { worker, callbacks } = env;
  const project = await worker.createProject(name, `${callbacks.url}/${name}`);
  const a = await worker.connectTelegramBot(project, "bota", "MlinkBotA", "111:AAA");
  const b = await worker.connectTelegramBot(project, "botb", "MlinkBotB", "222:BBB");
  await worker.postTelegramUpdate(project, "bota", a.webhook_secret, textUpdate(userId, "hello"));
  const card = await worker.contactCard(project, "bota", userId);
  return { project, a, b, clientId: card.client_id };
}

test("console: find a merged client, unmerge a dialog behind a confirmation, see the card split", { timeout: 120_000 }, async () => {
  const { worker } = env;
  // User 555 writes in bot A (card X) and in bot B (card Y); a link from X into B merges Y into X.
  const { project, b, clientId } = await projectWithClient("console-merge", 555);
  await worker.postTelegramUpdate(project, "botb", b.webhook_secret, textUpdate(555, "hi B"));
  const cardY = (await worker.contactCard(project, "botb", 555)).client_id;
  assert.notEqual(cardY, clientId);
  const link = await worker.mergeLink(project, clientId, { client_type: 1, group: "botb", tag: "Welcome to B" });
  const payload = await worker.startPayload(link.link);
  await worker.postTelegramUpdate(project, "botb", b.webhook_secret, textUpdate(555, `/start ${payload}`));
  assert.equal((await worker.contactCard(project, "botb", 555)).client_id, clientId);

  const { context, page } = await newPage({ width: 390, height: 844 });
  try {
    await signIn(page, project);
    const stored = await page.evaluate(() => ({
      session: { ...sessionStorage },
      local: localStorage.length,
      cookies: document.cookie,
    }));
    assert.deepEqual(stored.session, { "mlink.project": project.name, "mlink.key": project.key });
    assert.equal(stored.local, 0);
    assert.equal(stored.cookies, "");

    // The old card Y says where its dialogs went, with a link to the live card.
    const heading = page.locator("#card-h");
    const dialogs = page.locator("#card-dialogs > li");
    await page.getByLabel("Client id").fill(String(cardY));
    await page.getByRole("button", { name: "Show card" }).click();
    await heading.filter({ hasText: `Client ${cardY}` }).waitFor();
    const merged = page.locator("#card-merged");
    assert.match(await merged.textContent(), new RegExp(`merged into client ${clientId}`));
    assert.deepEqual(await dialogs.allTextContents(), ["No dialogs."], "Y's dialogs left with the merge");
    assert.match(await page.locator("#card-history tbody").textContent(), /Merged into another card/);
    await merged.getByRole("link", { name: `client ${clientId}` }).click();
    await heading.filter({ hasText: `Client ${clientId}` }).waitFor();
    assert.equal(new URL(page.url()).hash, `#client/${clientId}`);

    // Find the live card by the messenger contact (bot A, user 555).
    await page.getByLabel("Bot", { exact: true }).first().selectOption("bota");
    await page.getByLabel("User id in that messenger").fill("555");
    await page.getByRole("button", { name: "Find card" }).click();
    await heading.filter({ hasText: `Client ${clientId}` }).waitFor();
    await eventually(async () => (await dialogs.count()) === 2, { limit: 5000 });
    assert.deepEqual(await dialogs.evaluateAll((els) => els.map((e) => e.dataset.group).sort()), ["bota", "botb"]);
    assert.ok(await merged.isHidden());
    const history = await page.locator("#card-history tbody").textContent();
    assert.match(history, /Merge link created/);
    assert.match(history, new RegExp(`Card merged in\\s*client ${cardY} joined this card with Telegram user 555 in bot botb`));
    const noOverflow = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    assert.ok(noOverflow, "the console fits a phone's width");
    await screenshot(page, "console-card-merged", "#card");

    // Cancel first: nothing changes.
    const unmergeB = page.getByRole("button", { name: "Unmerge the dialog of Telegram user 555 in bot botb" });
    const confirm = page.locator("#unmerge-dialog");
    await unmergeB.click();
    await confirm.waitFor({ state: "visible" });
    assert.match(await confirm.textContent(), /Telegram user 555 in bot botb leaves client/);
    await confirm.getByRole("button", { name: "Cancel" }).click();
    await confirm.waitFor({ state: "hidden" });
    assert.equal(await dialogs.count(), 2);
    assert.equal((await worker.contactCard(project, "botb", 555)).client_id, clientId);

    // Unmerge for real: the dialog goes back to card Y, where it was born.
    await unmergeB.click();
    await confirm.waitFor({ state: "visible" });
    await screenshot(page, "console-unmerge-confirm", "dialog[open]");
    await confirm.getByRole("button", { name: "Unmerge", exact: true }).click();
    const notice = page.locator("#card-notice");
    await notice.filter({ hasText: "left this card" }).waitFor();
    assert.match(await notice.textContent(), new RegExp(`it is now client ${cardY}\\.`));
    await eventually(async () => (await dialogs.count()) === 1, { limit: 5000 });
    assert.equal(await dialogs.first().getAttribute("data-group"), "bota");
    assert.match(await heading.textContent(), new RegExp(`Client ${clientId}$`));
    assert.equal((await worker.contactCard(project, "botb", 555)).client_id, cardY);
    await screenshot(page, "console-after-unmerge", "#card");

    // The dialog that left lives in card Y again, one click away; Y is live again.
    await notice.getByRole("link", { name: `client ${cardY}` }).click();
    await heading.filter({ hasText: `Client ${cardY}` }).waitFor();
    await eventually(async () => (await dialogs.count()) === 1 && (await dialogs.first().getAttribute("data-group")) === "botb", { limit: 5000 });
    assert.equal(await dialogs.first().getAttribute("data-group"), "botb");
    assert.ok(await merged.isHidden(), "Y is no longer merged away");
    assert.match(await page.locator("#card-history tbody").textContent(), /Dialog arrived by unmerge/);

    // Signing out forgets the key.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.locator("#signin").waitFor({ state: "visible" });
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    assert.ok(await page.locator("#app").isHidden());
    assert.deepEqual(page.problems, []);
  } finally {
    await context.close();
  }
});

test("console: merge link with its QR code for a chosen messenger and bot", { timeout: 120_000 }, async () => {
  const { project, clientId } = await projectWithClient("console-link", 556);
  const { context, page } = await newPage();
  try {
    await signIn(page, project);
    await page.getByLabel("Client id").fill(String(clientId));
    await page.getByRole("button", { name: "Show card" }).click();
    await page.locator("#card-h").filter({ hasText: `Client ${clientId}` }).waitFor();
    await page.getByLabel("Messenger", { exact: true }).selectOption("1");
    const bots = await page.locator("#link-bot option").evaluateAll((os) => os.map((o) => o.value));
    assert.deepEqual(bots, ["", "bota", "botb"]);
    await page.locator("#link-bot").selectOption("botb");
    await page.getByLabel(/Welcome text/).fill("Hello from B");
    await page.getByRole("button", { name: "Create link" }).click();
    const url = page.locator("#link-url");
    await page.locator("#link-result").waitFor({ state: "visible" });
    const link = await url.inputValue();
    assert.match(link, new RegExp(`^${env.worker.base}/mlink/[A-Za-z0-9_-]+$`));
    const opened = await env.worker.open(link);
    assert.equal(opened.status, 302);
    assert.match(opened.location, /^https:\/\/t\.me\/MlinkBotB\?start=/);
    // The QR code is drawn in the page: its modules are the link's.
    const qr = await page.evaluate((text) => {
      const svg = document.querySelector("#link-qr svg");
      const code = window.MlinkQR.encode(text, "L");
      return { viewBox: svg.getAttribute("viewBox"), label: svg.getAttribute("aria-label"), size: code.size, path: svg.querySelector("path").getAttribute("d").length };
    }, link);
    assert.equal(qr.viewBox, `0 0 ${qr.size + 8} ${qr.size + 8}`);
    assert.equal(qr.label, "QR code of the link");
    assert.ok(qr.path > 100);
    assert.match(await page.locator("#card-history tbody").textContent(), /Merge link created/);
    await screenshot(page, "console-merge-link", "#card");

    // A messenger without a bot: the API's error, shown plainly.
    await page.getByLabel("Messenger", { exact: true }).selectOption("6");
    assert.deepEqual(await page.locator("#link-bot option").evaluateAll((os) => os.map((o) => o.textContent)), ["No WhatsApp bot connected"]);
    await page.getByRole("button", { name: "Create link" }).click();
    await page.locator("#link-error").filter({ hasText: "messenger_not_connected" }).waitFor();
    assert.match(await page.locator("#link-error").textContent(), /no whatsapp bot is connected.*HTTP 422/i);
    assert.deepEqual(page.problems.filter((p) => !/status of 422/.test(p)), []);
  } finally {
    await context.close();
  }
});

test("console: the funnel chart shows created, opened and completed per messenger", { timeout: 120_000 }, async () => {
  const { worker } = env;
  const { project, b, clientId } = await projectWithClient("console-funnel", 601);
  const links = [];
  for (let i = 0; i < 3; i++) {
    links.push(await worker.mergeLink(project, clientId, { client_type: 1, group: "botb" }));
  }
  const payload = await worker.startPayload(links[0].link); // opened, then completed
  await worker.open(links[1].link); // opened only
  await worker.postTelegramUpdate(project, "botb", b.webhook_secret, textUpdate(601, `/start ${payload}`));
  const telegram = (s) => s.messengers.find((m) => m.client_type === 1);
  const stats = await eventually(async () => {
    const s = await worker.project(project, "/stats");
    return telegram(s).opened === 2 && telegram(s).completed === 1 ? s : null;
  });
  assert.ok(stats, "the worker counted 2 opens and 1 completion");

  const { context, page } = await newPage();
  try {
    await signIn(page, project);
    const row = (type) => page.locator(`#funnel-table tbody tr[data-client-type="${type}"]`);
    await row(1).waitFor();
    const numbers = async (type) =>
      Object.fromEntries(await row(type).locator("td").evaluateAll((tds) => tds.map((td) => [td.dataset.series, td.textContent])));
    assert.deepEqual(await numbers(1), { created: "3", opened: "2", completed: "1", completion_rate: "33%" });
    for (const type of [2, 3, 6, 10]) {
      assert.deepEqual(await numbers(type), { created: "0", opened: "0", completed: "0", completion_rate: "0%" }, `client_type ${type}`);
    }
    // The chart says the same, to eyes (bar labels) and to screen readers (its description).
    const desc = await page.locator("#funnel-chart svg desc").textContent();
    assert.match(desc, /Telegram: 3 created, 2 opened, 1 completed \(33%\)\./);
    assert.match(desc, /Viber: 0 created, 0 opened, 0 completed \(0%\)\./);
    const bars = await page.locator('#funnel-chart g[data-client-type="1"] text[data-series]').evaluateAll((ts) =>
      Object.fromEntries(ts.map((t) => [t.dataset.series, t.textContent])));
    assert.deepEqual(bars, { created: "3", opened: "2", completed: "1" });
    assert.match(await page.locator('#funnel-chart g[data-client-type="1"] text.name').textContent(), /Telegram · 33% completed/);
    const labelled = await page.locator("#funnel-chart svg").getAttribute("aria-labelledby");
    assert.equal(labelled, "funnel-svg-title funnel-svg-desc");

    // A period without links: zeros everywhere.
    await page.getByLabel("From").fill("2020-01-01");
    await page.getByLabel("To (inclusive)").fill("2020-01-31");
    await page.getByRole("button", { name: "Show funnel" }).click();
    await page.locator("#funnel-caption").filter({ hasText: "Jan 1, 2020" }).waitFor();
    assert.deepEqual(await numbers(1), { created: "0", opened: "0", completed: "0", completion_rate: "0%" });
    // And back to the last week, for the picture.
    const today = new Date();
    const iso = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
    await page.getByLabel("From").fill(iso(new Date(today.getFullYear(), today.getMonth(), today.getDate() - 6)));
    await page.getByLabel("To (inclusive)").fill(iso(today));
    await page.getByRole("button", { name: "Show funnel" }).click();
    await row(1).locator('td[data-series="created"]', { hasText: "3" }).waitFor();
    await screenshot(page, "console-funnel", "#funnel");
    assert.deepEqual(page.problems, []);
  } finally {
    await context.close();
  }
});

test("console: a pending delivery shows up and re-send delivers it", { timeout: 120_000 }, async () => {
  const { worker, callbacks } = env;
  const name = "console-health";
  callbacks.setStatus(`/${name}`, 500);
  const project = await worker.createProject(name, `${callbacks.url}/${name}`);
  const bot = await worker.connectTelegramBot(project, "bota", "MlinkHealthBot", "333:CCC");
  await worker.postTelegramUpdate(project, "bota", bot.webhook_secret, textUpdate(777, "is anyone there?"));
  const failedOnce = await eventually(async () => {
    const { deliveries } = await worker.project(project, "/deliveries?status=pending");
    return deliveries.length === 1 && deliveries[0].attempts >= 1 ? deliveries[0] : null;
  });
  assert.ok(failedOnce, "the message callback failed once and waits");
  assert.match(failedOnce.last_error, /500/);

  const { context, page } = await newPage();
  try {
    await signIn(page, project);
    const item = page.locator(`#health-list li[data-id="${failedOnce.id}"]`);
    await item.waitFor();
    assert.equal(await item.getAttribute("data-status"), "pending");
    assert.match(await item.textContent(), /Callback message/);
    assert.match(await item.textContent(), /callback receiver answered 500/);
    assert.equal(await page.locator("#health-pending").textContent(), "1");
    assert.equal(await page.locator("#health-endpoint").textContent(), "Active");
    await screenshot(page, "console-delivery-pending", "#health");

    callbacks.setStatus(`/${name}`, 200);
    await item.getByRole("button", { name: /^Re-send delivery/ }).click();
    await page.locator("#health-notice").filter({ hasText: `Delivery ${failedOnce.id} is due again now.` }).waitFor();
    const gone = await eventually(async () => {
      await page.getByRole("button", { name: "Refresh" }).click();
      await page.waitForTimeout(300);
      return (await item.count()) === 0 && (await page.locator("#health-empty").isVisible());
    }, { limit: 20_000, every: 500 });
    assert.ok(gone, "the delivery left the list");
    assert.equal(await page.locator("#health-pending").textContent(), "0");
    const delivered = callbacks.received.filter((r) => r.path === `/${name}` && r.status === 200);
    assert.equal(delivered.length, 1);
    assert.equal(delivered[0].headers["webhook-id"], failedOnce.webhook_id, "a re-send keeps the webhook-id");
    assert.equal(JSON.parse(delivered[0].body).type, "message");
    await screenshot(page, "console-delivery-resent", "#health");
    assert.deepEqual(page.problems, []);
  } finally {
    await context.close();
  }
});

test("console: a wrong API key is refused plainly and nothing is kept", { timeout: 60_000 }, async () => {
  const project = await env.worker.createProject("console-auth", `${env.callbacks.url}/console-auth`);
  const { context, page } = await newPage();
  try {
    await page.goto(env.worker.url("/console/"));
    const basics = await page.evaluate(() => ({
      lang: document.documentElement.lang,
      unlabelled: [...document.querySelectorAll("input, select, textarea")].filter((e) => !e.labels.length).map((e) => e.id),
      inlineHandlers: [...document.querySelectorAll("*")].filter((e) => [...e.attributes].some((a) => a.name.startsWith("on"))).length,
      inlineStyles: document.querySelectorAll("[style], style").length,
      landmarks: ["header", "nav", "main"].map((t) => document.querySelectorAll(t).length),
    }));
    assert.deepEqual(basics, { lang: "en", unlabelled: [], inlineHandlers: 0, inlineStyles: 0, landmarks: [1, 1, 1] });
    await page.getByLabel("Project name").fill(project.name);
    await page.getByLabel("API key").fill("mlk_wrong");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#signin-error").filter({ hasText: "HTTP 401" }).waitFor();
    assert.match(await page.locator("#signin-error").textContent(), /wrong/);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    assert.ok(await page.locator("#app").isHidden());
    // A reload with a stored session signs in again without the form.
    await page.getByLabel("API key").fill(project.key);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#who").waitFor({ state: "visible" });
    await page.reload();
    await page.locator("#who").waitFor({ state: "visible" });
    assert.equal(await page.locator("#who-project").textContent(), project.name);
    assert.deepEqual(page.problems.filter((p) => !/status of 401/.test(p)), []);
  } finally {
    await context.close();
  }
});
