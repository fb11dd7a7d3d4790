//! End-to-end: the built worker under `wrangler dev`, a fake Telegram and a callback receiver.
//! Needs `scripts/build` to have run. Each test starts its own worker (a few seconds each).

use std::collections::HashSet;
use std::time::Duration;

use mlink_e2e::{
    id_text, telegram_bot, text_update, CallbackReceiver, FakeTelegram, Method, PageResponse,
    Project, ReceivedCallback, TelegramCall, Worker, WorkerOptions,
};
use serde_json::{json, Value};
use tokio::time::{sleep, Instant};

/// How long asynchronous deliveries (outbox: sendMessage, callbacks) may take.
const DELIVERY: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread")]
async fn full_story() {
    let env = TestEnv::start(&[]).await;
    let (worker, telegram, callbacks) = (&env.worker, &env.telegram, &env.callbacks);
    let project = worker.create_project("shop", &callbacks.url()).await;

    // Connecting bots registers their webhooks with Telegram.
    let bot_a = env
        .connect_bot(&project, "bota", "MlinkBotA", "111:AAA")
        .await;
    let set_webhook = telegram.calls_to("setWebhook");
    assert_eq!(set_webhook.len(), 1, "{set_webhook:?}");
    assert_eq!(set_webhook[0].token, bot_a.token);
    assert_eq!(set_webhook[0].body["url"], bot_a.webhook_url);
    assert_eq!(set_webhook[0].body["secret_token"], bot_a.secret);
    let bot_b = env
        .connect_bot(&project, "botb", "MlinkBotB", "222:BBB")
        .await;
    assert_eq!(telegram.calls_to("setWebhook").len(), 2);

    // The client writes to bot A first: a card is made for them.
    env.send_text(&project, &bot_a, 1001, 555, "hello").await;
    let first = callbacks.wait_for_kind("message", 1, DELIVERY).await;
    assert_eq!(
        first.len(),
        1,
        "no message callback: {:?}",
        callbacks.received()
    );
    let message = first[0].json();
    assert_eq!(message["data"]["text"], "hello", "{message}");
    assert_contact(&message["data"]["contact"], "bota", 555);
    assert_signed(&first[0], &project);
    let client_x = message["data"]["client_id"].clone();
    let card = env.contact_card_ok(&project, "bota", 555).await;
    assert_eq!(card["client_id"], client_x, "{card}");
    assert_eq!(
        contact_keys(&card),
        [("bota".to_string(), "555".to_string())]
    );

    // A merge link to bot B redirects to Telegram with a start payload.
    let tag = "Welcome to B";
    let link = env
        .merge_link(&project, &client_x, 1, Some("botb"), tag)
        .await;
    let payload = env.start_payload(&link, &bot_b).await;
    // Clicked again (answered from the token and the isolate's memory alone, without building
    // a string in the edge module), or with a query string a mailer added: the same deep link.
    let url = link["link"].as_str().expect("link url");
    let deep_link = format!("https://t.me/{}?start={payload}", bot_b.username);
    for again in [url.to_string(), format!("{url}?utm_source=news")] {
        let page = worker.get_page(&again).await;
        assert_eq!(page.status, 302, "{again}: {page:?}");
        assert_eq!(
            page.location.as_deref(),
            Some(deep_link.as_str()),
            "{again}"
        );
    }

    // /start with that payload in bot B merges the new dialog into card X.
    let start = text_update(2001, 555, &format!("/start {payload}"));
    env.post_update_ok(&project, &bot_b, &start).await;
    let sent = telegram.wait_for_method("sendMessage", 1, DELIVERY).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_message(&sent[0], &bot_b, 555);
    assert_eq!(sent[0].body["text"], tag);
    let switches = callbacks
        .wait_for_kind("switch_to_telegram", 1, DELIVERY)
        .await;
    assert_eq!(switches.len(), 1, "{:?}", callbacks.received());
    let switch = switches[0].json();
    assert_eq!(switch["data"]["client_id"], client_x, "{switch}");
    assert_contact(&switch["data"]["contact"], "botb", 555);
    assert_contact(&switch["data"]["from"], "bota", 555);
    assert_eq!(switch["data"]["note"], tag, "{switch}");
    assert!(switch["timestamp"].is_number() || switch["timestamp"].is_string());
    assert_signed(&switches[0], &project);
    let merged = env.client_card_ok(&project, &client_x).await;
    let both_dialogs = [
        ("bota".to_string(), "555".to_string()),
        ("botb".to_string(), "555".to_string()),
    ];
    assert_eq!(contact_keys(&merged), both_dialogs, "{merged}");
    assert_linked_at(&merged);
    let card_b = env.contact_card_ok(&project, "botb", 555).await;
    assert_eq!(card_b["client_id"], client_x, "{card_b}");

    // The same update delivered again changes nothing.
    env.post_update_ok(&project, &bot_b, &start).await;
    env.settle(&project, &bot_a, 1002, 555, "still here").await;
    assert_eq!(telegram.calls_to("sendMessage").len(), 1);
    assert_eq!(callbacks.of_kind("switch_to_telegram").len(), 1);
    let after_duplicate = env.client_card_ok(&project, &client_x).await;
    assert_eq!(contact_rows(&after_duplicate), contact_rows(&merged));

    // The link works once: a new /start with it gets a reply, not a merge.
    let reused = text_update(2002, 555, &format!("/start {payload}"));
    env.post_update_ok(&project, &bot_b, &reused).await;
    let sent = telegram.wait_for_method("sendMessage", 2, DELIVERY).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_message(&sent[1], &bot_b, 555);
    assert_ne!(
        sent[1].body["text"], tag,
        "a used link must not greet again"
    );
    env.settle(&project, &bot_a, 1003, 555, "after reuse").await;
    assert_eq!(telegram.calls_to("sendMessage").len(), 2);
    assert_eq!(callbacks.of_kind("switch_to_telegram").len(), 1);
    let after_reuse = env.client_card_ok(&project, &client_x).await;
    assert_eq!(contact_rows(&after_reuse), contact_rows(&merged));

    // Webhooks need their secret.
    let update = text_update(3001, 556, "intruder");
    let wrong = worker
        .post_update(&project.name, "botb", Some("not-the-secret"), &update)
        .await;
    assert_eq!(wrong, 401);
    let missing = worker
        .post_update(&project.name, "botb", None, &update)
        .await;
    assert_eq!(missing, 401);

    // The isolate learned from the webhook's answer that the link is used, so a click on it
    // now gets the "used" page instead of a trip into the bot.
    let used = worker
        .get_page(link["link"].as_str().expect("link url"))
        .await;
    assert_eq!(used.status, 410, "{used:?}");
    assert_html(&used);
    assert!(used.body.contains("already been used"), "{}", used.body);

    // Unknown and tampered links show an HTML 404 page; "/mlink/" in a query is no click.
    assert_html_page(worker, &worker.url("/mlink/AAAA"), 404).await;
    let not_a_click = worker
        .get_page(&worker.url("/health?next=/mlink/AAAA"))
        .await;
    assert_eq!(not_a_click.status, 200, "{not_a_click:?}");
    let token = link["token"].as_str().expect("link token");
    assert_html_page(
        worker,
        &worker.url(&format!("/mlink/{}", tampered(token))),
        404,
    )
    .await;

    // Unmerging moves the bot B dialog to a card of its own.
    let (status, unmerged) = worker.unmerge(&project, "botb", 555).await;
    assert_eq!(status, 200, "{unmerged}");
    assert_eq!(unmerged["changed"], true, "{unmerged}");
    assert_eq!(unmerged["previous_client_id"], client_x, "{unmerged}");
    let client_y = unmerged["client_id"].clone();
    assert_ne!(client_y, client_x, "{unmerged}");
    let card_x = env.client_card_ok(&project, &client_x).await;
    assert_eq!(
        contact_keys(&card_x),
        [("bota".to_string(), "555".to_string())]
    );
    let card_y = env.client_card_ok(&project, &client_y).await;
    assert_eq!(
        contact_keys(&card_y),
        [("botb".to_string(), "555".to_string())]
    );
    assert!(history_mentions(&card_x, "unmerge"), "{card_x}");
    assert!(history_mentions(&card_y, "unmerge"), "{card_y}");
    let (status, again) = worker.unmerge(&project, "botb", 555).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["changed"], false, "{again}");

    // Every callback was signed, each with its own id.
    let received = callbacks.received();
    for callback in &received {
        assert_signed(callback, &project);
    }
    let ids: HashSet<_> = received.iter().map(|cb| cb.webhook_id.clone()).collect();
    assert_eq!(
        ids.len(),
        received.len(),
        "webhook-ids repeat: {received:?}"
    );

    env.assert_no_panics().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_link_page_and_bot_reply() {
    let env = TestEnv::start(&[("LINK_TTL_SECONDS", "3")]).await;
    let (worker, telegram, callbacks) = (&env.worker, &env.telegram, &env.callbacks);
    let project = worker.create_project("late", &callbacks.url()).await;
    let bot = env
        .connect_bot(&project, "botb", "MlinkLateBot", "333:CCC")
        .await;
    env.send_text(&project, &bot, 1, 701, "hi").await;
    let client_x = env.client_of_message(&project, "hi").await;

    let tag = "Too late";
    let link = env
        .merge_link(&project, &client_x, 1, Some("botb"), tag)
        .await;
    let payload = env.start_payload(&link, &bot).await;
    let token_url = link["link"].as_str().expect("link url").to_string();
    let expired = wait_for_status_change(worker, &token_url, 302, Duration::from_secs(10)).await;
    assert_eq!(expired.status, 410, "{expired:?}");
    assert_html(&expired);

    // Another Telegram user follows the expired link: a friendly reply and no merge.
    let start = text_update(2, 702, &format!("/start {payload}"));
    env.post_update_ok(&project, &bot, &start).await;
    let sent = telegram.wait_for_method("sendMessage", 1, DELIVERY).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_message(&sent[0], &bot, 702);
    assert_ne!(sent[0].body["text"], tag);
    assert!(!sent[0].body["text"].as_str().unwrap_or_default().is_empty());
    env.settle(&project, &bot, 3, 701, "ping").await;
    assert_eq!(telegram.calls_to("sendMessage").len(), 1);
    assert!(callbacks.of_kind("switch_to_telegram").is_empty());
    let card = env.client_card_ok(&project, &client_x).await;
    assert_eq!(
        contact_keys(&card),
        [("botb".to_string(), "701".to_string())]
    );
    let (status, other) = worker.contact_card(&project, "botb", 702).await;
    assert!(
        status == 404 || other["client_id"] != client_x,
        "{status} {other}"
    );

    env.assert_no_panics().await;
}

/// Without a link secret no click can be checked: the click gets the API's internal-error JSON
/// (not a page, not a crash), and the rest of the worker keeps answering.
#[tokio::test(flavor = "multi_thread")]
async fn clicks_without_a_link_secret_are_internal_errors() {
    let env = TestEnv::start(&[("LINK_SECRET", "")]).await;
    let click = env.worker.get_page(&env.worker.url("/mlink/AAAA")).await;
    assert_eq!(click.status, 500, "{click:?}");
    let body: Value = serde_json::from_str(&click.body).expect("a JSON body");
    assert_eq!(body["error"]["code"], "internal", "{body}");
    let health = env.worker.get_page(&env.worker.url("/health")).await;
    assert_eq!(health.status, 200, "{health:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn data_survives_restart() {
    let mut env = TestEnv::start(&[]).await;
    let project = env
        .worker
        .create_project("durable", &env.callbacks.url())
        .await;
    let bot = env
        .connect_bot(&project, "bota", "MlinkDurableBot", "444:DDD")
        .await;
    env.send_text(&project, &bot, 1, 901, "before restart")
        .await;
    let client_x = env.client_of_message(&project, "before restart").await;
    let tag = "Back again";
    let link = env
        .merge_link(&project, &client_x, 1, Some("bota"), tag)
        .await;

    env.worker.restart().await;

    let (status, bots) = env.worker.list_bots(&project).await;
    assert_eq!(status, 200, "the api key must survive: {bots}");
    assert_eq!(bot_groups(&bots), ["bota"]);
    let card = env.contact_card_ok(&project, "bota", 901).await;
    assert_eq!(card["client_id"], client_x, "{card}");
    assert_eq!(
        contact_keys(&card),
        [("bota".to_string(), "901".to_string())]
    );

    let payload = env.start_payload(&link, &bot).await;
    let start = text_update(2, 902, &format!("/start {payload}"));
    env.post_update_ok(&project, &bot, &start).await;
    let sent = env
        .telegram
        .wait_for_method("sendMessage", 1, DELIVERY)
        .await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_message(&sent[0], &bot, 902);
    assert_eq!(sent[0].body["text"], tag);
    let switches = env
        .callbacks
        .wait_for_kind("switch_to_telegram", 1, DELIVERY)
        .await;
    assert_eq!(switches.len(), 1, "{:?}", env.callbacks.received());
    let switch = switches[0].json();
    assert_eq!(switch["data"]["client_id"], client_x, "{switch}");
    assert_contact(&switch["data"]["contact"], "bota", 902);
    assert_signed(&switches[0], &project);
    let merged = env.client_card_ok(&project, &client_x).await;
    let expected = [
        ("bota".to_string(), "901".to_string()),
        ("bota".to_string(), "902".to_string()),
    ];
    assert_eq!(contact_keys(&merged), expected, "{merged}");

    env.assert_no_panics().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bot_connection_errors() {
    let env = TestEnv::start(&[]).await;
    let (worker, telegram, callbacks) = (&env.worker, &env.telegram, &env.callbacks);

    // Projects: admin token required; a second PUT updates without new secrets.
    let project = worker.create_project("errs", &callbacks.url()).await;
    let (status, updated) = worker.admin_put_project("errs", &callbacks.url()).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["created"], false, "{updated}");
    assert!(updated.get("api_key").is_none(), "{updated}");
    assert!(updated.get("callback_secret").is_none(), "{updated}");
    let body = json!({"callback_url": callbacks.url()});
    for key in [Some("not-the-admin-token"), None] {
        let (status, error) = worker
            .api(Method::PUT, "/api/v1/projects/other", key, Some(&body))
            .await;
        assert_eq!(status, 401, "{error}");
        assert_error_shape(&error);
    }

    // A failing setWebhook fails the connection, and the bot is not saved.
    telegram.fail_method("setWebhook");
    let (status, error) = worker
        .connect_bot(&project, "bota", &telegram_bot("MlinkA", "111:AAA", true))
        .await;
    assert_eq!(status, 502, "{error}");
    assert_error(&error, "webhook_registration_failed");
    assert_eq!(telegram.calls_to("setWebhook").len(), 1);
    let (status, bots) = worker.list_bots(&project).await;
    assert_eq!(status, 200, "{bots}");
    assert!(bot_groups(&bots).is_empty(), "{bots}");
    telegram.succeed_method("setWebhook");

    // Without register_webhook, Telegram is not called.
    let (status, bot_b) = worker
        .connect_bot(&project, "botb", &telegram_bot("MlinkB", "222:BBB", false))
        .await;
    assert_eq!(status, 201, "{bot_b}");
    assert_eq!(bot_b["webhook_registered"], false, "{bot_b}");
    assert_eq!(telegram.calls_to("setWebhook").len(), 1);

    // The failed bot was not saved: connecting it now creates it; again, replaces it.
    let bot_a_body = telegram_bot("MlinkA", "111:AAA", true);
    let (status, bot_a) = worker.connect_bot(&project, "bota", &bot_a_body).await;
    assert_eq!(status, 201, "{bot_a}");
    assert_eq!(bot_a["webhook_registered"], true, "{bot_a}");
    let (status, replaced) = worker.connect_bot(&project, "bota", &bot_a_body).await;
    assert_eq!(status, 200, "{replaced}");

    // The listing shows both bots and none of their secrets.
    let (status, bots) = worker.list_bots(&project).await;
    assert_eq!(status, 200, "{bots}");
    assert_eq!(bot_groups(&bots), ["bota", "botb"]);
    assert_no_secrets(&bots, &[&bot_a, &replaced, &bot_b]);

    // Project API calls need this project's key.
    let other = worker.create_project("other-errs", &callbacks.url()).await;
    for key in [Some("not-a-key"), Some(other.api_key.as_str()), None] {
        let (status, error) = worker
            .api(Method::GET, &project.path("/bots"), key, None)
            .await;
        assert_eq!(status, 401, "key {key:?}: {error}");
        assert_error_shape(&error);
    }

    // Merge links: unconnected messenger, unknown client type, unknown client.
    let secret = bot_b["webhook_secret"].as_str().expect("webhook_secret");
    let status = worker
        .post_update(
            &project.name,
            "botb",
            Some(secret),
            &text_update(1, 301, "hi"),
        )
        .await;
    assert_eq!(status, 200);
    let client = env.client_of_message(&project, "hi").await;
    let cases = [
        (client.clone(), 2, 422, Some("messenger_not_connected")),
        (client.clone(), 5, 422, None),
        (unknown_client(&client), 1, 404, Some("client_not_found")),
    ];
    for (client_id, client_type, expected_status, code) in cases {
        let body = json!({"client_type": client_type});
        let (status, error) = worker.create_merge_link(&project, &client_id, &body).await;
        assert_eq!(
            status, expected_status,
            "client_type {client_type}: {error}"
        );
        match code {
            Some(code) => assert_error(&error, code),
            None => assert_error_shape(&error),
        }
    }
    let (status, error) = worker.contact_card(&project, "botb", 999).await;
    assert_eq!(status, 404, "{error}");
    assert_error(&error, "contact_not_found");

    env.assert_no_panics().await;
}

// ---------------------------------------------------------------------------------------------
// Test environment

/// One worker with its own fake Telegram and callback receiver.
struct TestEnv {
    worker: Worker,
    telegram: FakeTelegram,
    callbacks: CallbackReceiver,
}

/// A connected bot, as the API described it.
struct Bot {
    group: String,
    username: String,
    token: String,
    secret: String,
    webhook_url: String,
}

impl TestEnv {
    async fn start(extra_vars: &[(&str, &str)]) -> Self {
        let telegram = FakeTelegram::start().await;
        let callbacks = CallbackReceiver::start().await;
        let options = extra_vars.iter().fold(
            WorkerOptions::new(telegram.base_url()),
            |options, (name, value)| options.var(name, value),
        );
        let worker = Worker::start(options).await;
        Self {
            worker,
            telegram,
            callbacks,
        }
    }

    /// Connects a Telegram bot with webhook registration; asserts the 201 answer.
    async fn connect_bot(
        &self,
        project: &Project,
        group: &str,
        username: &str,
        token: &str,
    ) -> Bot {
        let body = telegram_bot(username, token, true);
        let (status, bot) = self.worker.connect_bot(project, group, &body).await;
        assert_eq!(status, 201, "connect {group}: {bot}");
        assert_eq!(bot["group"], group, "{bot}");
        assert_eq!(bot["client_type"], 1, "{bot}");
        assert_eq!(bot["messenger"], "telegram", "{bot}");
        assert_eq!(bot["username"], username, "{bot}");
        assert_eq!(bot["webhook_registered"], true, "{bot}");
        let webhook_url = self
            .worker
            .url(&format!("/webhooks/{}/{group}", project.name));
        assert_eq!(bot["webhook_url"], webhook_url, "{bot}");
        let secret = bot["webhook_secret"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(!secret.is_empty(), "no webhook_secret: {bot}");
        Bot {
            group: group.to_string(),
            username: username.to_string(),
            token: token.to_string(),
            secret,
            webhook_url,
        }
    }

    /// Delivers an update to `bot`'s webhook with its secret; asserts 200.
    async fn post_update_ok(&self, project: &Project, bot: &Bot, update: &Value) {
        let status = self
            .worker
            .post_update(&project.name, &bot.group, Some(&bot.secret), update)
            .await;
        assert_eq!(status, 200, "update {update}");
    }

    /// `user_id` writes `text` to `bot`.
    async fn send_text(
        &self,
        project: &Project,
        bot: &Bot,
        update_id: i64,
        user_id: i64,
        text: &str,
    ) {
        self.post_update_ok(project, bot, &text_update(update_id, user_id, text))
            .await;
    }

    /// Waits for the `message` callback of `text` and returns its client id.
    async fn client_of_message(&self, project: &Project, text: &str) -> Value {
        let callback = self.message_callback(text).await;
        assert_signed(&callback, project);
        callback.json()["data"]["client_id"].clone()
    }

    /// Sends an ordinary message and waits for its `message` callback. Callbacks are delivered
    /// in order, so afterwards everything caused by earlier updates has been delivered too:
    /// this is how a test waits for "nothing else happened" without sleeping.
    async fn settle(&self, project: &Project, bot: &Bot, update_id: i64, user_id: i64, text: &str) {
        self.send_text(project, bot, update_id, user_id, text).await;
        self.message_callback(text).await;
    }

    async fn message_callback(&self, text: &str) -> ReceivedCallback {
        let is_it = |cb: &ReceivedCallback| {
            let body = cb.json();
            body["type"] == "message" && body["data"]["text"] == text
        };
        let received = self.callbacks.wait_until(DELIVERY, is_it).await;
        let matching: Vec<_> = received.into_iter().filter(is_it).collect();
        assert_eq!(
            matching.len(),
            1,
            "message callbacks for {text:?}: {matching:?}"
        );
        matching.into_iter().next().expect("one callback")
    }

    /// Creates a merge link; asserts the 201 answer's shape.
    async fn merge_link(
        &self,
        project: &Project,
        client_id: &Value,
        client_type: i64,
        group: Option<&str>,
        tag: &str,
    ) -> Value {
        let mut body = json!({"client_type": client_type, "tag": tag});
        if let Some(group) = group {
            body["group"] = json!(group);
        }
        let (status, link) = self
            .worker
            .create_merge_link(project, client_id, &body)
            .await;
        assert_eq!(status, 201, "merge link: {link}");
        let token = link["token"].as_str().expect("token in merge link answer");
        assert_eq!(
            link["link"],
            self.worker.url(&format!("/mlink/{token}")),
            "{link}"
        );
        assert_eq!(link["client_type"], client_type, "{link}");
        if let Some(group) = group {
            assert_eq!(link["group"], group, "{link}");
        }
        let expires_at = link["expires_at"].as_str().unwrap_or_default();
        assert!(looks_like_rfc3339(expires_at), "expires_at: {link}");
        link
    }

    /// Follows a merge link: asserts the 302 to `https://t.me/<bot>?start=<payload>` and
    /// returns the payload.
    async fn start_payload(&self, link: &Value, bot: &Bot) -> String {
        let url = link["link"].as_str().expect("link url");
        let page = self.worker.get_page(url).await;
        assert_eq!(page.status, 302, "{page:?}");
        let location = page.location.unwrap_or_default();
        let prefix = format!("https://t.me/{}?start=", bot.username);
        let payload = location
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("redirect to {location:?}, expected {prefix}<payload>"));
        assert!(is_start_payload(payload), "bad start payload {payload:?}");
        payload.to_string()
    }

    async fn client_card_ok(&self, project: &Project, client_id: &Value) -> Value {
        let (status, card) = self.worker.client_card(project, client_id).await;
        assert_eq!(status, 200, "card {}: {card}", id_text(client_id));
        assert_eq!(&card["client_id"], client_id, "{card}");
        card
    }

    async fn contact_card_ok(&self, project: &Project, group: &str, user_id: i64) -> Value {
        let (status, card) = self.worker.contact_card(project, group, user_id).await;
        assert_eq!(status, 200, "contact {group}/{user_id}: {card}");
        card
    }

    async fn assert_no_panics(&self) {
        let log = self.worker.settled_log().await;
        assert!(!log.contains("panicked"), "the worker panicked:\n{log}");
    }
}

// ---------------------------------------------------------------------------------------------
// Assertions and small helpers

fn assert_signed(callback: &ReceivedCallback, project: &Project) {
    if let Err(err) = callback.verify(&project.callback_secret) {
        panic!("callback not signed with the project's secret: {err}\n{callback:?}");
    }
}

fn assert_contact(contact: &Value, group: &str, user_id: i64) {
    assert_eq!(contact["messenger"], "telegram", "{contact}");
    assert_eq!(contact["client_type"], 1, "{contact}");
    assert_eq!(contact["group"], group, "{contact}");
    assert_eq!(contact["user_id"], user_id.to_string(), "{contact}");
}

fn assert_message(call: &TelegramCall, bot: &Bot, chat_id: i64) {
    assert_eq!(call.token, bot.token, "{call:?}");
    assert_eq!(call.body["chat_id"], chat_id, "{call:?}");
}

fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_error_shape(body);
}

fn assert_error_shape(body: &Value) {
    assert!(
        body["error"]["code"].is_string(),
        "not an error body: {body}"
    );
    assert!(
        body["error"]["message"].is_string(),
        "not an error body: {body}"
    );
}

fn assert_html(page: &PageResponse) {
    let content_type = page.content_type.as_deref().unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "{page:?}");
}

async fn assert_html_page(worker: &Worker, url: &str, status: u16) {
    let page = worker.get_page(url).await;
    assert_eq!(page.status, status, "{url}: {page:?}");
    assert_html(&page);
}

fn assert_linked_at(card: &Value) {
    for contact in card["contacts"].as_array().into_iter().flatten() {
        assert!(contact["linked_at"].is_string(), "no linked_at: {contact}");
    }
}

/// None of the bots' tokens or webhook secrets appear in a listing.
fn assert_no_secrets(listing: &Value, connected: &[&Value]) {
    for bot in listing["bots"].as_array().into_iter().flatten() {
        assert!(bot.get("token").is_none(), "{bot}");
        assert!(bot.get("webhook_secret").is_none(), "{bot}");
    }
    let text = listing.to_string();
    for bot in connected {
        let secret = bot["webhook_secret"].as_str().expect("webhook_secret");
        assert!(!text.contains(secret), "a webhook secret is listed: {text}");
    }
    for token in ["111:AAA", "222:BBB"] {
        assert!(!text.contains(token), "a bot token is listed: {text}");
    }
}

/// The (group, user_id) of each contact of a card, sorted.
fn contact_keys(card: &Value) -> Vec<(String, String)> {
    let mut keys: Vec<_> = contacts(card)
        .iter()
        .map(|contact| (text(&contact["group"]), text(&contact["user_id"])))
        .collect();
    keys.sort();
    keys
}

/// What must not change while nothing happens to a card: its contacts and when they were linked.
fn contact_rows(card: &Value) -> Vec<(String, String, String)> {
    let mut rows: Vec<_> = contacts(card)
        .iter()
        .map(|c| {
            (
                text(&c["group"]),
                text(&c["user_id"]),
                text(&c["linked_at"]),
            )
        })
        .collect();
    rows.sort();
    rows
}

fn contacts(card: &Value) -> Vec<Value> {
    card["contacts"]
        .as_array()
        .unwrap_or_else(|| panic!("no contacts in {card}"))
        .clone()
}

fn history_mentions(card: &Value, word: &str) -> bool {
    card["history"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|entry| entry.to_string().contains(word))
}

fn bot_groups(listing: &Value) -> Vec<String> {
    let mut groups: Vec<_> = listing["bots"]
        .as_array()
        .unwrap_or_else(|| panic!("no bots in {listing}"))
        .iter()
        .map(|bot| text(&bot["group"]))
        .collect();
    groups.sort();
    groups
}

fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Telegram's deep-link rule for `start` parameters.
fn is_start_payload(payload: &str) -> bool {
    (1..=64).contains(&payload.len())
        && payload
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `2025-11-24T12:00:00Z`-like: a date, a `T`, a time.
fn looks_like_rfc3339(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() >= 20
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[10] == b'T'
        && bytes[13] == b':'
        && bytes[16] == b':'
}

/// The token with one character near its middle replaced by another of the same alphabet (a
/// middle character carries full bits, so the decoded bytes change too).
fn tampered(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let middle = chars.len() / 2;
    let index = (middle..chars.len())
        .chain(0..middle)
        .find(|&i| chars[i].is_ascii_alphanumeric())
        .expect("a token with letters or digits");
    chars[index] = if chars[index] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// A client id that does not exist, of the same kind as `known`.
fn unknown_client(known: &Value) -> Value {
    match known {
        Value::Number(n) => json!(n.as_i64().expect("integer client id") + 1_000_000),
        other => json!(format!("{}9", text(other))),
    }
}

/// Polls `url` every 100 ms until its status is no longer `from` (bounded by `limit`).
async fn wait_for_status_change(
    worker: &Worker,
    url: &str,
    from: u16,
    limit: Duration,
) -> PageResponse {
    let deadline = Instant::now() + limit;
    loop {
        let page = worker.get_page(url).await;
        if page.status != from || Instant::now() >= deadline {
            return page;
        }
        sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn helpers_behave() {
    assert_eq!(tampered("abcdef"), "abcAef");
    assert_eq!(tampered("abcAef"), "abcBef");
    assert_eq!(tampered("ab.-_"), "Ab.-_");
    assert!(is_start_payload("aZ09_-"));
    assert!(!is_start_payload(""));
    assert!(!is_start_payload("a b"));
    assert!(!is_start_payload(&"a".repeat(65)));
    assert!(looks_like_rfc3339("2025-11-24T12:00:00Z"));
    assert!(!looks_like_rfc3339("1764000000"));
    assert_eq!(unknown_client(&json!(7)), json!(1_000_007));
    assert_eq!(unknown_client(&json!("c7")), json!("c79"));
}
