// The merge link pages in a real browser: Instagram's copy button, Telegram's redirect on a phone.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { IPHONE_UA, screenshot, startEnv, textUpdate } from "./harness.mjs";

let env;

before(async () => {
  env = await startEnv();
});

after(async () => {
  const log = await env?.close();
  assert.ok(!/panicked/.test(log || ""), "the worker panicked:\n" + log);
});

/// Answers every https://t.me/ request of `page` with a tiny stand-in page; the URLs it answered.
async function fulfillTelegram(context, page) {
  const urls = [];
  const cdp = await context.newCDPSession(page);
  cdp.on("Fetch.requestPaused", (event) => {
    urls.push(event.request.url);
    const body = "<!doctype html><title>Telegram</title><h1>t.me stand-in</h1>";
    cdp.send("Fetch.fulfillRequest", {
      requestId: event.requestId,
      responseCode: 200,
      responseHeaders: [{ name: "content-type", value: "text/html; charset=utf-8" }],
      body: Buffer.from(body).toString("base64"),
    }).catch(() => {});
  });
  await cdp.send("Fetch.enable", { patterns: [{ urlPattern: "https://t.me/*" }] });
  return urls;
}

/// A project with one Telegram bot and a client who wrote to it: {project, bot, clientId}.
async function clientInTelegram(name, userId) {
  const { worker, callbacks } = env;
  const project = await worker.createProject(name, `${callbacks.url}/${name}`);
  const bot = await worker.connectTelegramBot(project, "tg", "MlinkPagesBot", "111:AAA");
  await worker.postTelegramUpdate(project, "tg", bot.webhook_secret, textUpdate(userId, "hello"));
  const card = await worker.contactCard(project, "tg", userId);
  return { project, bot, clientId: card.client_id };
}

test("Instagram link page: the code is shown and Copy code puts it on the clipboard", { timeout: 120_000 }, async () => {
  const { worker, browser } = env;
  const { project, clientId } = await clientInTelegram("pages-ig", 701);
  await worker.connectBot(project, "ig", {
    client_type: 10,
    username: "acme.shop",
    account_id: "3333",
    access_token: "IGQ",
    app_secret: "s",
  });
  const link = await worker.mergeLink(project, clientId, { client_type: 10, group: "ig", tag: "Welcome to Instagram" });
  assert.match(link.code, /^cli[0-9a-z]{10}$/i, JSON.stringify(link));

  const context = await browser.newContext({ permissions: ["clipboard-read", "clipboard-write"] });
  try {
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    const response = await page.goto(link.link);
    assert.equal(response.status(), 200);
    assert.equal(page.url(), link.link, "an Instagram link shows its page, no redirect");
    const code = page.locator("#code");
    assert.equal((await code.textContent()).trim(), link.code);
    const deep = await page.locator("a.btn").getAttribute("href");
    assert.match(deep, /^https:\/\/ig\.me\/m\/acme\.shop\?ref=/, deep);
    assert.equal(await page.locator("svg[role=img]").count(), 1, "the QR code is on the page");

    const button = page.getByRole("button", { name: "Copy code" });
    await button.waitFor({ state: "visible" });
    await button.click();
    await page.locator("#status", { hasText: "Copied" }).waitFor({ timeout: 5000 });
    const clipboard = await page.evaluate(() => navigator.clipboard.readText());
    assert.equal(clipboard, link.code);
    assert.deepEqual(errors, []);
    await screenshot(page, "instagram-link-page");
  } finally {
    await context.close();
  }
});

test("Telegram link on a phone lands in t.me with the start payload, which merges", { timeout: 120_000 }, async () => {
  const { worker, browser } = env;
  const { project, clientId } = await clientInTelegram("pages-tg", 702);
  const botB = await worker.connectTelegramBot(project, "tgb", "MlinkSupportBot", "222:BBB");
  const link = await worker.mergeLink(project, clientId, { client_type: 1, group: "tgb", tag: "Hi in B" });

  const context = await browser.newContext({
    userAgent: IPHONE_UA,
    viewport: { width: 390, height: 844 },
    isMobile: true,
    hasTouch: true,
  });
  try {
    const page = await context.newPage();
    // page.route() never sees a redirect's next hop (Playwright calls route handlers for the
    // first URL of a redirect chain only), so t.me is intercepted with Chromium's Fetch domain.
    const telegramRequests = await fulfillTelegram(context, page);
    await page.goto(link.link);
    const landed = new URL(page.url());
    assert.equal(landed.origin, "https://t.me");
    assert.equal(landed.pathname, "/MlinkSupportBot");
    const payload = landed.searchParams.get("start");
    assert.match(payload || "", /^[A-Za-z0-9_-]{1,64}$/, "Telegram accepts 1-64 of A-Z a-z 0-9 _ -");
    assert.equal(telegramRequests[0], page.url(), telegramRequests.join("\n"));
    assert.equal(await page.title(), "Telegram");
    await screenshot(page, "telegram-link-phone");

    // The payload is the one the bot understands: /start with it merges the dialog.
    await worker.postTelegramUpdate(project, "tgb", botB.webhook_secret, textUpdate(702, `/start ${payload}`));
    const card = await worker.contactCard(project, "tgb", 702);
    assert.equal(card.client_id, clientId, JSON.stringify(card));
    assert.equal(card.contacts.length, 2, JSON.stringify(card));
  } finally {
    await context.close();
  }
});
