//! End-to-end: reliability. Callbacks come from a transactional outbox delivered by the project's
//! Durable Object alarm: in order, retried with a stable `webhook-id`, only 2xx counting, `410
//! Gone` disabling the endpoint until the owner sets the URL again; failed deliveries can be
//! listed and resent; webhook replays and races merge once; merge links are rate limited; and no
//! input (fuzzed over every route) makes the worker answer 5xx, panic or write anything.
//!
//! Needs `scripts/build` to have run. Each test starts its own worker (a few seconds each).
//!
//! Waiting: never a fixed sleep as synchronization. Tests wait on recorded requests and poll the
//! API with deadlines. Showing that something does NOT happen needs a window of time: those
//! checks watch for a few retry periods and return early (failing) as soon as it happens.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant as StdInstant, SystemTime, UNIX_EPOCH};

use mlink_e2e::messengers::telegram_text;
use mlink_e2e::{
    id_text, BotSpec, CallbackAnswer, CallbackReceiver, ConnectedBot, Delivery, Fakes, Project,
    RawRequest, RawResponse, ReceivedCallback, WebhookAnswer, Worker,
};
use serde_json::{json, Value};
use tokio::time::{sleep, Instant};

/// How long asynchronous deliveries (outbox: sends, callbacks, retries) may take.
const DELIVERY: Duration = Duration::from_secs(30);
/// How often the API is polled while waiting for a state.
const POLL: Duration = Duration::from_millis(100);
/// How long a "nothing more is POSTed" check watches (several 1 s retry periods).
const QUIET: Duration = Duration::from_secs(4);

/// What the bot says when a link cannot merge: the texts of `core/src/service/webhook.rs`,
/// `replies` (copied, so a change of wording shows here).
mod replies {
    pub const LINK_USED: &str =
        "This link has already been used. If you asked for it, you are connected already.";
    pub const ALREADY_CONNECTED: &str = "You are already connected here. Nothing else to do.";
}

/// `CALLBACK_RETRY_SCHEDULE` of `retries` steps of `seconds` each.
fn retry_schedule(retries: usize, seconds: u64) -> String {
    vec![seconds.to_string(); retries].join(",")
}

// ---------------------------------------------------------------------------------------------
// 1. Down, then failing, then fine: every event arrives once, in order

#[tokio::test(flavor = "multi_thread")]
async fn callbacks_survive_a_down_then_failing_receiver() {
    let receiver = CallbackReceiver::start_down();
    let schedule = retry_schedule(40, 1);
    let env = Env::start(&[("CALLBACK_RETRY_SCHEDULE", &schedule)]).await;
    let project = env.worker.create_project("downtime", &receiver.url()).await;
    let bot_a = env
        .connect(&project, "bota", telegram("DownBotA", "111:AAA"))
        .await;
    let bot_b = env
        .connect(&project, "botb", telegram("DownBotB", "222:BBB"))
        .await;

    // While the receiver is down (connections refused): three messages and a merge.
    for text in ["first", "second", "third"] {
        env.say(&bot_a, "555", text).await;
    }
    let client = env.client_of(&project, "bota", "555").await;
    let tag = "Welcome to B";
    let link = env.merge_link(&project, &client, &bot_b, tag).await;
    let payload = env.start_payload(&link, "DownBotB").await;
    let start = telegram_text(env.next(), "555", &format!("/start {payload}"));
    env.deliver_ok(&bot_b, &bot_b.signed(&start)).await;
    // Sends do not wait for callbacks: the tag goes out while the receiver is down.
    let sent = env
        .fakes
        .telegram
        .wait_for_method("sendMessage", 1, DELIVERY)
        .await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].body["text"], tag, "{sent:?}");

    // The outbox holds the four callbacks; only the first has been tried (and keeps failing),
    // the others wait behind it.
    let pending = env
        .wait_deliveries(
            &project,
            Some("pending"),
            "the first callback tried twice",
            |items| {
                let callbacks = callbacks_only(items);
                callbacks.len() == 4 && callbacks.iter().any(|d| int(&d["attempts"]) >= 2)
            },
        )
        .await;
    let pending = callbacks_only(&pending);
    let mut types: Vec<String> = pending.iter().map(|d| text(&d["type"])).collect();
    types.sort();
    assert_eq!(
        types,
        ["message", "message", "message", "switch_to_telegram"],
        "{pending:?}"
    );
    let tried: Vec<&Value> = pending.iter().filter(|d| int(&d["attempts"]) > 0).collect();
    assert_eq!(tried.len(), 1, "only the head is tried: {pending:?}");
    let head = tried[0].clone();
    assert!(
        head["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "a refused connection leaves an error: {head}"
    );
    let listed_ids: HashSet<String> = pending.iter().map(|d| text(&d["webhook_id"])).collect();
    assert_eq!(listed_ids.len(), 4, "webhook ids repeat: {pending:?}");

    // The receiver comes up failing: 500, 503 with Retry-After: 3, 500; then 200.
    receiver.answer_next([
        CallbackAnswer::status(500),
        CallbackAnswer::status(503).retry_after(3),
        CallbackAnswer::status(500),
    ]);
    receiver.come_up().await;
    receiver.wait_for_accepted(4, Duration::from_secs(60)).await;
    env.wait_no_deliveries(&project).await;
    let received = receiver.received();
    let log = describe_callbacks(&received);
    assert!(
        received.len() >= 7,
        "3 failures and 4 deliveries expected:\n{log}"
    );

    // The three failures were retries of the first event: same webhook-id, same body.
    let accepted = receiver.accepted();
    assert_eq!(accepted.len(), 4, "each event accepted once:\n{log}");
    let statuses: Vec<u16> = received[..3].iter().map(|cb| cb.status).collect();
    assert_eq!(statuses, [500, 503, 500], "{log}");
    for retry in &received[..4] {
        assert_eq!(retry.webhook_id, accepted[0].webhook_id, "{log}");
        assert_eq!(retry.body, accepted[0].body, "{log}");
    }
    assert_eq!(
        Some(text(&head["webhook_id"])),
        accepted[0].webhook_id,
        "the head of the outbox is the first event"
    );
    // Retry-After: 3 was honoured (the schedule alone would retry after ~1 s).
    let waited = received[2].received_at - received[1].received_at;
    assert!(
        waited >= Duration::from_millis(2_500),
        "Retry-After: 3 not honoured: the next attempt came {waited:?} later\n{log}"
    );

    // Accepted in the order the events happened, each webhook-id exactly once.
    assert_eq!(
        event_labels(&accepted),
        [
            "message:first",
            "message:second",
            "message:third",
            "switch_to_telegram"
        ],
        "{log}"
    );
    assert_accepted_once(&received);
    let accepted_ids: HashSet<String> = accepted
        .iter()
        .map(|cb| cb.webhook_id.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        accepted_ids, listed_ids,
        "the ids delivered are the ids listed"
    );
    for callback in &received {
        assert_signed(callback, &project);
    }
    let switch = accepted[3].json();
    assert_eq!(switch["data"]["client_id"], client, "{switch}");
    assert_eq!(switch["data"]["note"], tag, "{switch}");
    assert_eq!(env.fakes.telegram.calls_to("sendMessage").len(), 1);
    env.assert_clean_log().await;
}

// ---------------------------------------------------------------------------------------------
// 2. 410 Gone disables the endpoint until the owner sets the URL again

#[tokio::test(flavor = "multi_thread")]
async fn gone_disables_the_endpoint() {
    let receiver = CallbackReceiver::start().await;
    receiver.answer_from_now_on(410);
    let env = Env::start(&[("CALLBACK_RETRY_SCHEDULE", "1,1,1,1,1,1,1,1")]).await;
    let project = env.worker.create_project("gone", &receiver.url()).await;
    let bot = env
        .connect(&project, "bot", telegram("GoneBot", "333:CCC"))
        .await;

    let info = env.project_info_ok(&project).await;
    assert_eq!(info["project"], "gone", "{info}");
    assert_eq!(info["callback_url"], receiver.url(), "{info}");
    assert_eq!(info["endpoint"]["status"], "active", "{info}");
    assert_eq!(
        info["deliveries"],
        json!({"pending": 0, "failed": 0}),
        "{info}"
    );

    // The receiver answers the first event with 410: the endpoint is disabled.
    env.say(&bot, "601", "one").await;
    let received = receiver.wait_for(1, DELIVERY).await;
    assert_eq!(received.len(), 1, "{}", describe_callbacks(&received));
    assert_eq!(received[0].status, 410);
    let gone_id = received[0].webhook_id.clone();
    let info = env
        .wait_project(&project, "the endpoint disabled", |info| {
            info["endpoint"]["status"] == "disabled"
        })
        .await;
    let endpoint = &info["endpoint"];
    assert!(
        endpoint["disabled_at"]
            .as_str()
            .is_some_and(looks_like_rfc3339),
        "{info}"
    );
    assert!(
        endpoint["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{info}"
    );

    // Later events are kept, not POSTed.
    env.say(&bot, "601", "two").await;
    env.say(&bot, "602", "three").await;
    let pending = env.deliveries(&project, Some("pending")).await;
    assert_eq!(pending.len(), 3, "none lost: {pending:?}");
    for item in &pending {
        assert_eq!(item["kind"], "callback", "{item}");
        assert_eq!(item["type"], "message", "{item}");
        assert_eq!(item["status"], "pending", "{item}");
    }
    let pending_ids: Vec<Option<String>> = pending
        .iter()
        .map(|d| d["webhook_id"].as_str().map(str::to_string))
        .collect();
    assert!(pending_ids.contains(&gone_id), "{pending:?}");
    assert!(env.deliveries(&project, Some("failed")).await.is_empty());
    let info = env.project_info_ok(&project).await;
    assert_eq!(info["endpoint"]["status"], "disabled", "{info}");
    assert_eq!(
        info["deliveries"],
        json!({"pending": 3, "failed": 0}),
        "{info}"
    );
    let watched = receiver.more_than_within(1, QUIET).await;
    assert_eq!(
        watched.len(),
        1,
        "a disabled endpoint got POSTs:\n{}",
        describe_callbacks(&watched)
    );

    // The owner sets the URL again (the receiver is fine now): everything arrives, in order.
    receiver.answer_from_now_on(200);
    let (status, updated) = env.worker.admin_put_project("gone", &receiver.url()).await;
    assert_eq!(status, 200, "{updated}");
    let received = receiver.wait_for_accepted(3, DELIVERY).await;
    env.wait_no_deliveries(&project).await;
    let log = describe_callbacks(&received);
    let accepted = receiver.accepted();
    assert_eq!(
        event_labels(&accepted),
        ["message:one", "message:two", "message:three"],
        "{log}"
    );
    assert_eq!(accepted[0].webhook_id, gone_id, "{log}");
    assert_eq!(receiver.received().len(), 4, "{log}");
    assert_accepted_once(&receiver.received());
    let info = env.project_info_ok(&project).await;
    assert_eq!(info["endpoint"]["status"], "active", "{info}");
    assert_eq!(
        info["deliveries"],
        json!({"pending": 0, "failed": 0}),
        "{info}"
    );
    for callback in &receiver.received() {
        assert_signed(callback, &project);
    }
    env.assert_clean_log().await;
}

// ---------------------------------------------------------------------------------------------
// 3. A callback that ran out of retries is listed as failed and can be resent

#[tokio::test(flavor = "multi_thread")]
async fn resend_a_failed_delivery() {
    let receiver = CallbackReceiver::start().await;
    receiver.answer_from_now_on(500);
    let env = Env::start(&[("CALLBACK_RETRY_SCHEDULE", "1")]).await;
    let project = env.worker.create_project("resend", &receiver.url()).await;
    let bot = env
        .connect(&project, "bot", telegram("ResendBot", "444:DDD"))
        .await;

    env.say(&bot, "701", "lost").await;
    let failed = env
        .wait_deliveries(&project, Some("failed"), "the callback failed", |items| {
            items.len() == 1
        })
        .await;
    let item = failed[0].clone();
    assert_eq!(item["kind"], "callback", "{item}");
    assert_eq!(item["type"], "message", "{item}");
    assert_eq!(item["status"], "failed", "{item}");
    assert_eq!(int(&item["attempts"]), 2, "one try and one retry: {item}");
    let last_error = item["last_error"].as_str().unwrap_or_default();
    assert!(last_error.contains("500"), "{item}");
    let webhook_id = item["webhook_id"].as_str().map(str::to_string);
    let received = receiver.received();
    let log = describe_callbacks(&received);
    assert_eq!(received.len(), 2, "{log}");
    for attempt in &received {
        assert_eq!(attempt.status, 500, "{log}");
        assert_eq!(attempt.webhook_id, webhook_id, "{log}");
    }
    assert!(env.deliveries(&project, Some("pending")).await.is_empty());
    let info = env.project_info_ok(&project).await;
    assert_eq!(
        info["deliveries"],
        json!({"pending": 0, "failed": 1}),
        "{info}"
    );
    assert_eq!(info["endpoint"]["status"], "active", "{info}");

    // Resent once the receiver is fine: it arrives with the same webhook-id.
    receiver.answer_from_now_on(200);
    let (status, resent) = env.worker.resend(&project, &item["id"]).await;
    assert_eq!(status, 200, "{resent}");
    let resent = resent.get("delivery").cloned().unwrap_or(resent);
    assert_eq!(resent["id"], item["id"], "{resent}");
    assert_eq!(resent["status"], "pending", "{resent}");
    assert_eq!(resent["webhook_id"], item["webhook_id"], "{resent}");
    let received = receiver.wait_for_accepted(1, DELIVERY).await;
    env.wait_no_deliveries(&project).await;
    let log = describe_callbacks(&received);
    let accepted = receiver.accepted();
    assert_eq!(accepted.len(), 1, "{log}");
    assert_eq!(accepted[0].webhook_id, webhook_id, "{log}");
    assert_eq!(accepted[0].body, received[0].body, "{log}");
    assert_eq!(event_labels(&accepted), ["message:lost"], "{log}");
    assert_signed(&accepted[0], &project);

    // Delivered items are gone; unknown ids are 404.
    for id in [item["id"].clone(), json!(987_654_321)] {
        let (status, error) = env.worker.resend(&project, &id).await;
        assert_eq!(status, 404, "resend {id}: {error}");
        assert_error_shape(&error);
    }
    env.assert_clean_log().await;
}

// ---------------------------------------------------------------------------------------------
// 3b. A receiver too slow to answer is cut off at the timeout, and the attempt counts as failed

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_that_does_not_answer_in_time_is_cut_off() {
    let receiver = CallbackReceiver::start().await;
    receiver.answer_every_request(CallbackAnswer::status(200).after(Duration::from_secs(5)));
    let env = Env::start(&[
        ("CALLBACK_RETRY_SCHEDULE", "1"),
        ("OUTBOUND_TIMEOUT_MS", "500"),
    ])
    .await;
    let project = env.worker.create_project("slow", &receiver.url()).await;
    let bot = env
        .connect(&project, "bot", telegram("SlowBot", "445:DDE"))
        .await;

    env.say(&bot, "702", "slow").await;
    // Both attempts are given up after 500 ms each: the item fails well before the receiver
    // would have answered the first one.
    let failed = env
        .wait_deliveries(
            &project,
            Some("failed"),
            "the callback timed out",
            |items| items.len() == 1,
        )
        .await;
    let item = failed[0].clone();
    assert_eq!(int(&item["attempts"]), 2, "one try and one retry: {item}");
    assert_eq!(item["last_error"], "no answer within 500 ms", "{item}");
    assert_eq!(receiver.received().len(), 2, "{item}");

    // A receiver that answers in time again gets it on a resend.
    receiver.answer_from_now_on(200);
    let (status, resent) = env.worker.resend(&project, &item["id"]).await;
    assert_eq!(status, 200, "{resent}");
    let received = receiver.wait_for(3, DELIVERY).await;
    env.wait_no_deliveries(&project).await;
    assert_eq!(received.len(), 3, "{}", describe_callbacks(&received));
    assert_eq!(event_labels(&received[2..]), ["message:slow"]);
}

// ---------------------------------------------------------------------------------------------
// 3c. A project may let several callbacks out at once: as many as it asked for, never more; by
// default one at a time, in order

#[tokio::test(flavor = "multi_thread")]
async fn callbacks_go_out_as_many_at_once_as_the_project_allows() {
    let strict = CallbackReceiver::start().await;
    let parallel = CallbackReceiver::start().await;
    for receiver in [&strict, &parallel] {
        receiver
            .answer_every_request(CallbackAnswer::status(200).after(Duration::from_millis(400)));
        // The first callback is held long enough for all the others to queue up behind it.
        receiver.answer_next([CallbackAnswer::status(200).after(Duration::from_secs(2))]);
    }
    let env = Env::start(&[]).await;
    let one = env.worker.create_project("strict", &strict.url()).await;
    let four = env.worker.create_project("parallel", &parallel.url()).await;
    let asked = json!({"callback_url": parallel.url(), "callback_concurrency": 4});
    let (status, body) = env.worker.admin_put_project_body("parallel", &asked).await;
    assert_eq!(
        (status, &body["callback_concurrency"]),
        (200, &json!(4)),
        "{body}"
    );
    let (_, info) = env.worker.project_info(&four).await;
    assert_eq!(info["callback_concurrency"], 4, "{info}");
    let (_, info) = env.worker.project_info(&one).await;
    assert_eq!(info["callback_concurrency"], 1, "the default: {info}");
    let bot_one = env
        .connect(&one, "bot", telegram("StrictBot", "446:AAA"))
        .await;
    let bot_four = env
        .connect(&four, "bot", telegram("ParallelBot", "447:BBB"))
        .await;

    let texts: Vec<String> = (1..=9).map(|n| format!("m{n}")).collect();
    for text in &texts {
        env.say(&bot_one, "801", text).await;
        env.say(&bot_four, "802", text).await;
    }
    let expected: Vec<String> = texts.iter().map(|t| format!("message:{t}")).collect();
    let got_one = strict.wait_for_accepted(9, DELIVERY).await;
    let got_four = parallel.wait_for_accepted(9, DELIVERY).await;
    env.wait_no_deliveries(&one).await;
    env.wait_no_deliveries(&four).await;

    let log = describe_callbacks(&got_one);
    assert_eq!(strict.most_in_flight(), 1, "{log}");
    assert_eq!(event_labels(&got_one), expected, "strictly in order: {log}");
    let log = describe_callbacks(&got_four);
    assert_eq!(parallel.most_in_flight(), 4, "{log}");
    let mut labels = event_labels(&got_four);
    labels.sort();
    assert_eq!(labels, expected, "each event once: {log}");
    let ids: HashSet<_> = got_four.iter().map(|cb| cb.webhook_id.clone()).collect();
    assert_eq!(ids.len(), 9, "{log}");
    for callback in got_one.iter().chain(&got_four) {
        let project = if got_one.contains(callback) {
            &one
        } else {
            &four
        };
        assert_signed(callback, project);
    }
    env.assert_clean_log().await;
}

// ---------------------------------------------------------------------------------------------
// 4. Replays and races merge once

#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_duplicate_starts_merge_once() {
    let (receiver, env, project, bot_a, bot_b) = two_telegram_bots("race", "Race").await;
    let client = env.worker.client();

    // One /start update, delivered 50 times at once (the same update_id).
    env.say(&bot_a, "801", "hello").await;
    let client_x = env.client_of(&project, "bota", "801").await;
    let tag = "Welcome to B";
    let link = env.merge_link(&project, &client_x, &bot_b, tag).await;
    let payload = env.start_payload(&link, "RaceBotB").await;
    let start = bot_b.signed(&telegram_text(
        env.next(),
        "801",
        &format!("/start {payload}"),
    ));
    let requests = vec![webhook_request(&bot_b, &start); 50];
    let answers = client.send_all(requests, 50).await;
    assert_all_ok(&answers);
    let sent = env
        .fakes
        .telegram
        .wait_for_method("sendMessage", 1, DELIVERY)
        .await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    receiver
        .wait_for_kind("switch_to_telegram", 1, DELIVERY)
        .await;
    env.settle(&receiver, &bot_a, "801").await;
    let sends = env.fakes.telegram.calls_to("sendMessage");
    let texts: Vec<&Value> = sends.iter().map(|call| &call.body["text"]).collect();
    assert_eq!(texts, [tag], "one greeting for 50 deliveries");
    assert_eq!(receiver.of_kind("switch_to_telegram").len(), 1);
    let card = env.card(&project, &client_x).await;
    assert_eq!(
        dialogs(&card),
        [("bota", "801"), ("botb", "801")].map(|(g, u)| (g.to_string(), u.to_string())),
        "{card}"
    );

    // Two people race for one link, 20 deliveries each (all different update ids).
    env.say(&bot_a, "802", "hello from y").await;
    let client_y = env.client_of(&project, "bota", "802").await;
    let tag_y = "Welcome, Y";
    let link = env.merge_link(&project, &client_y, &bot_b, tag_y).await;
    let payload = env.start_payload(&link, "RaceBotB").await;
    let mut requests = Vec::new();
    for _ in 0..20 {
        for user in ["901", "902"] {
            let update = telegram_text(env.next(), user, &format!("/start {payload}"));
            requests.push(webhook_request(&bot_b, &bot_b.signed(&update)));
        }
    }
    let answers = client.send_all(requests, 40).await;
    assert_all_ok(&answers);
    let sent = env
        .fakes
        .telegram
        .wait_for_method("sendMessage", 41, DELIVERY)
        .await;
    assert_eq!(sent.len(), 41, "one reply per delivery");
    env.settle(&receiver, &bot_a, "802").await;
    let card = env.card(&project, &client_y).await;
    let joined: Vec<String> = dialogs(&card)
        .into_iter()
        .filter(|(group, _)| group == "botb")
        .map(|(_, user)| user)
        .collect();
    assert_eq!(joined.len(), 1, "exactly one of them merged: {card}");
    let winner = joined[0].clone();
    let loser = if winner == "901" { "902" } else { "901" };
    let sends = env.fakes.telegram.calls_to("sendMessage");
    let texts_to = |user: &str| -> Vec<String> {
        sends[1..]
            .iter()
            .filter(|call| text(&call.body["chat_id"]) == user)
            .map(|call| text(&call.body["text"]))
            .collect()
    };
    let to_winner = texts_to(&winner);
    assert_eq!(to_winner.len(), 20, "{to_winner:?}");
    assert_eq!(
        to_winner.iter().filter(|t| *t == tag_y).count(),
        1,
        "{to_winner:?}"
    );
    assert!(
        to_winner
            .iter()
            .all(|t| t == tag_y || t == replies::ALREADY_CONNECTED),
        "{to_winner:?}"
    );
    assert_eq!(texts_to(loser), vec![replies::LINK_USED.to_string(); 20]);
    let switches = receiver.of_kind("switch_to_telegram");
    assert_eq!(switches.len(), 2, "{}", describe_callbacks(&switches));
    let switch = switches[1].json();
    assert_eq!(switch["data"]["client_id"], client_y, "{switch}");
    assert_eq!(switch["data"]["contact"]["user_id"], winner, "{switch}");
    let (status, other) = env.worker.contact_card(&project, "botb", loser).await;
    assert_eq!(status, 200, "{other}");
    assert_ne!(
        other["client_id"], client_y,
        "the loser stays apart: {other}"
    );
    assert_accepted_once(&receiver.received());
    env.assert_clean_log().await;
}

/// The object handles webhooks that arrive together as one group sharing a commit: each is still
/// answered for itself, and one that fails (a wrong secret, a body that is not an update)
/// changes nothing and takes nothing from the others.
#[tokio::test(flavor = "multi_thread")]
async fn webhooks_handled_together_are_answered_and_fail_alone() {
    let (_receiver, env, project, bot_a, bot_b) = two_telegram_bots("group", "Group").await;
    let mut clients = Vec::new();
    let mut requests = Vec::new();
    let mut expected = Vec::new();
    for i in 0..12u64 {
        let user_a = (3000 + i).to_string();
        env.say(&bot_a, &user_a, "hello").await;
        let client = env.client_of(&project, "bota", &user_a).await;
        let tag = format!("Welcome, {i}");
        let link = env.merge_link(&project, &client, &bot_b, &tag).await;
        let payload = env.start_payload(&link, "GroupBotB").await;
        let start = telegram_text(
            env.next(),
            &(4000 + i).to_string(),
            &format!("/start {payload}"),
        );
        requests.push(webhook_request(&bot_b, &bot_b.signed(&start)));
        expected.push(200);
        // Next to each merge, a failing webhook: a stranger's /start for the same link with a
        // wrong secret, or a body with the right secret that is no update.
        let failing = if i % 2 == 0 {
            let stranger = telegram_text(env.next(), "4999", &format!("/start {payload}"));
            expected.push(401);
            bot_b.signed_wrongly(&stranger)
        } else {
            let body = "{\"update_id\": \"not a number\"".to_string();
            let proof = bot_b.proof(body.as_bytes());
            expected.push(400);
            Delivery {
                body,
                headers: vec![proof],
            }
        };
        requests.push(webhook_request(&bot_b, &failing));
        clients.push((client, (4000 + i).to_string(), tag));
    }
    let count = requests.len();
    let answers = env.worker.client().send_all(requests, count).await;
    let statuses: Vec<u16> = answers
        .iter()
        .map(|answer| answer.as_ref().map_or(0, |response| response.status))
        .collect();
    let described: Vec<String> = answers
        .iter()
        .map(|answer| match answer {
            Ok(response) => format!("{} {}", response.status, response.text()),
            Err(err) => err.clone(),
        })
        .collect();
    assert_eq!(statuses, expected, "{described:#?}");
    let sent = env
        .fakes
        .telegram
        .wait_for_method("sendMessage", clients.len(), DELIVERY)
        .await;
    let mut greeted: Vec<(String, String)> = sent
        .iter()
        .map(|call| (text(&call.body["chat_id"]), text(&call.body["text"])))
        .collect();
    greeted.sort();
    let mut welcomes: Vec<(String, String)> = clients
        .iter()
        .map(|(_, user, tag)| (user.clone(), tag.clone()))
        .collect();
    welcomes.sort();
    assert_eq!(greeted, welcomes, "each merge greeted its own user, once");
    for (client, user_b, _) in &clients {
        let card = env.card(&project, client).await;
        let joined: Vec<(String, String)> = dialogs(&card)
            .into_iter()
            .filter(|(group, _)| group == "botb")
            .collect();
        assert_eq!(joined, [("botb".to_string(), user_b.clone())], "{card}");
    }
    let (status, stranger) = env.worker.contact_card(&project, "botb", "4999").await;
    assert_eq!(
        status, 404,
        "the refused stranger left no trace: {stranger}"
    );
    env.assert_clean_log().await;
}

// ---------------------------------------------------------------------------------------------
// 5. Pending deliveries survive a restart of the worker

#[tokio::test(flavor = "multi_thread")]
async fn pending_deliveries_survive_a_restart() {
    let receiver = CallbackReceiver::start_down();
    let schedule = retry_schedule(60, 1);
    let mut env = Env::start(&[("CALLBACK_RETRY_SCHEDULE", &schedule)]).await;
    let project = env.worker.create_project("restart", &receiver.url()).await;
    let bot = env
        .connect(&project, "bot", telegram("RestartBot", "777:GGG"))
        .await;

    for text in ["r1", "r2", "r3"] {
        env.say(&bot, "1001", text).await;
    }
    let pending = env
        .wait_deliveries(
            &project,
            Some("pending"),
            "three pending, one tried",
            |items| items.len() == 3 && items.iter().any(|d| int(&d["attempts"]) >= 1),
        )
        .await;
    let ids_before: HashSet<String> = pending.iter().map(|d| text(&d["webhook_id"])).collect();
    assert_eq!(ids_before.len(), 3, "{pending:?}");

    env.worker.restart().await;
    receiver.come_up().await;

    // The alarm should carry on by itself; if it does not, one API call wakes the project.
    let received = receiver.wait_for_accepted(3, Duration::from_secs(15)).await;
    if received.is_empty() {
        eprintln!(
            "NOTE pending_deliveries_survive_a_restart: nothing delivered within 15 s of the \
             restart without a request to the project; waking it with GET /api/v1/projects/restart"
        );
        let info = env.project_info_ok(&project).await;
        eprintln!("NOTE project after restart: {info}");
        receiver.wait_for_accepted(3, DELIVERY).await;
    } else {
        eprintln!("NOTE pending_deliveries_survive_a_restart: delivered without a wake-up call");
    }
    env.wait_no_deliveries(&project).await;
    let all = receiver.received();
    let log = describe_callbacks(&all);
    let accepted = receiver.accepted();
    assert_eq!(
        event_labels(&accepted),
        ["message:r1", "message:r2", "message:r3"],
        "{log}"
    );
    let ids_after: HashSet<String> = accepted
        .iter()
        .map(|cb| cb.webhook_id.clone().unwrap_or_default())
        .collect();
    assert_eq!(ids_after, ids_before, "webhook ids survive the restart");
    assert_accepted_once(&all);
    for callback in &all {
        assert_signed(callback, &project);
    }
    env.assert_clean_log().await;
}

// ---------------------------------------------------------------------------------------------
// 6. Merge links are rate limited per project

#[tokio::test(flavor = "multi_thread")]
async fn link_creation_is_rate_limited() {
    let (_receiver, env, project, client_x) = one_client_under_a_link_limit("limits").await;
    let client = env.worker.client();
    let path = project.path(&format!("/clients/{}/merge-links", id_text(&client_x)));
    let body = json!({"client_type": 1, "tag": "limited", "group": "bot"});
    let mut answers = Vec::new();
    for _ in 0..7 {
        let request = RawRequest::new("POST", &path)
            .bearer(&project.api_key)
            .json(&body);
        answers.push(client.send(&request).await.expect("an answer"));
    }
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [201, 201, 201, 201, 201, 429, 429], "{answers:?}");
    for limited in &answers[5..] {
        let error = limited.json().unwrap_or(Value::Null);
        assert_eq!(error["error"]["code"], "rate_limited", "{error}");
        assert_error_shape(&error);
        let retry_after = limited.header("retry-after").unwrap_or_default();
        let seconds: u64 = retry_after
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("Retry-After {retry_after:?} is not whole seconds"));
        assert!((1..=60).contains(&seconds), "Retry-After {seconds}");
    }
    let card = env.card(&project, &client_x).await;
    assert_eq!(
        links_created(&card),
        5,
        "a refused link writes nothing: {card}"
    );
    env.assert_clean_log().await;
}

/// Link creations sent at once run in one group of the project's object (one commit): each
/// still counts against the limit as if alone, and a wrong key is refused without a write.
#[tokio::test(flavor = "multi_thread")]
async fn link_creations_sent_at_once_keep_the_rate_limit() {
    let (_receiver, env, project, client_x) = one_client_under_a_link_limit("burst").await;
    let path = project.path(&format!("/clients/{}/merge-links", id_text(&client_x)));
    let body = json!({"client_type": 1, "tag": "burst", "group": "bot"});
    let requests: Vec<RawRequest> = (0..10)
        .map(|i| {
            let key = if i % 4 == 3 {
                "not-the-key"
            } else {
                project.api_key.as_str()
            };
            RawRequest::new("POST", &path).bearer(key).json(&body)
        })
        .collect();
    let answers = env.worker.client().send_all(requests, 10).await;
    let mut statuses: Vec<u16> = answers
        .iter()
        .map(|answer| answer.as_ref().map_or(0, |response| response.status))
        .collect();
    for (i, status) in statuses.iter().enumerate() {
        if i % 4 == 3 {
            assert_eq!(*status, 401, "a wrong key, answer {i}: {answers:?}");
        }
    }
    statuses.sort();
    assert_eq!(statuses, [201, 201, 201, 201, 201, 401, 401, 429, 429, 429]);
    let links: HashSet<String> = answers
        .iter()
        .flatten()
        .filter(|response| response.status == 201)
        .map(|response| text(&response.json().unwrap_or(Value::Null)["link"]))
        .collect();
    assert_eq!(links.len(), 5, "five distinct links: {links:?}");
    let card = env.card(&project, &client_x).await;
    assert_eq!(
        links_created(&card),
        5,
        "refused links write nothing: {card}"
    );
    env.assert_clean_log().await;
}

// ---------------------------------------------------------------------------------------------
// Test environment

/// One worker with its fake messenger APIs.
struct Env {
    worker: Worker,
    fakes: Fakes,
    /// Makes delivery ids (update ids, message tokens, mids, wamids) unique within the worker.
    counter: AtomicU64,
    /// How many settle messages were sent.
    settled: AtomicU64,
}

impl Env {
    async fn start(vars: &[(&str, &str)]) -> Self {
        let fakes = Fakes::start().await;
        let options = vars
            .iter()
            .fold(fakes.worker_options(), |options, (name, value)| {
                options.var(name, value)
            });
        let worker = Worker::start(options).await;
        Self {
            worker,
            fakes,
            counter: AtomicU64::new(100),
            settled: AtomicU64::new(0),
        }
    }

    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// Connects `spec` as `group`; asserts 201.
    async fn connect(&self, project: &Project, group: &str, spec: BotSpec) -> ConnectedBot {
        let (status, bot) = self
            .worker
            .connect_bot(project, group, &spec.connect_body())
            .await;
        assert_eq!(status, 201, "connect {group}: {bot}");
        ConnectedBot {
            spec,
            project: project.name.clone(),
            group: group.to_string(),
            webhook_url: text(&bot["webhook_url"]),
            webhook_secret: bot["webhook_secret"]
                .as_str()
                .unwrap_or_else(|| panic!("no webhook_secret: {bot}"))
                .to_string(),
        }
    }

    /// Delivers to `bot`'s webhook; asserts 200.
    async fn deliver_ok(&self, bot: &ConnectedBot, delivery: &Delivery) -> WebhookAnswer {
        let answer = self
            .worker
            .post_webhook(&bot.project, &bot.group, delivery)
            .await;
        assert_eq!(answer.status, 200, "{} answered {answer:?}", bot.group);
        answer
    }

    /// `user` writes `text` to `bot`.
    async fn say(&self, bot: &ConnectedBot, user: &str, text: &str) {
        self.deliver_ok(bot, &bot.text(user, text, self.next()))
            .await;
    }

    /// Two ordinary messages, each waited for at the receiver: callbacks are delivered in order
    /// and sends in the run that delivers them, so afterwards everything earlier has happened.
    async fn settle(&self, receiver: &CallbackReceiver, bot: &ConnectedBot, user: &str) {
        for _ in 0..2 {
            let n = self.settled.fetch_add(1, Ordering::Relaxed) + 1;
            let text = format!("settle {n}");
            self.say(bot, user, &text).await;
            let is_it = |cb: &ReceivedCallback| {
                let body = cb.json();
                body["type"] == "message" && body["data"]["text"] == text.as_str()
            };
            let received = receiver.wait_until(DELIVERY, is_it).await;
            assert!(
                received.iter().any(is_it),
                "no callback for {text:?}:\n{}",
                describe_callbacks(&received)
            );
        }
    }

    /// The card id of a contact.
    async fn client_of(&self, project: &Project, group: &str, user: &str) -> Value {
        let (status, card) = self.worker.contact_card(project, group, user).await;
        assert_eq!(status, 200, "contact {group}/{user}: {card}");
        card["client_id"].clone()
    }

    async fn card(&self, project: &Project, client_id: &Value) -> Value {
        let (status, card) = self.worker.client_card(project, client_id).await;
        assert_eq!(status, 200, "card {}: {card}", id_text(client_id));
        card
    }

    /// A merge link into `target`; asserts 201.
    async fn merge_link(
        &self,
        project: &Project,
        client_id: &Value,
        target: &ConnectedBot,
        tag: &str,
    ) -> Value {
        let body = json!({
            "client_type": target.messenger().client_type(),
            "tag": tag,
            "group": target.group,
        });
        let (status, link) = self
            .worker
            .create_merge_link(project, client_id, &body)
            .await;
        assert_eq!(status, 201, "merge link: {link}");
        link
    }

    /// Follows a Telegram merge link: the payload of its `t.me/<username>?start=` redirect.
    async fn start_payload(&self, link: &Value, username: &str) -> String {
        let page = self.worker.get_page(&text(&link["link"])).await;
        assert_eq!(page.status, 302, "{page:?}");
        let location = page.location.unwrap_or_default();
        let prefix = format!("https://t.me/{username}?start=");
        location
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("redirect to {location:?}, expected {prefix}<payload>"))
            .to_string()
    }

    /// `GET /api/v1/projects/<p>`; asserts 200.
    async fn project_info_ok(&self, project: &Project) -> Value {
        let (status, info) = self.worker.project_info(project).await;
        assert_eq!(status, 200, "GET project: {info}");
        info
    }

    /// Polls `GET /api/v1/projects/<p>` until `done` holds (or panics at the deadline).
    async fn wait_project(
        &self,
        project: &Project,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + DELIVERY;
        loop {
            let info = self.project_info_ok(project).await;
            if done(&info) {
                return info;
            }
            assert!(
                Instant::now() < deadline,
                "waited {DELIVERY:?} for {what}: {info}"
            );
            sleep(POLL).await;
        }
    }

    /// `GET .../deliveries[?status=]`: asserts 200 and the shape of every item.
    async fn deliveries(&self, project: &Project, status: Option<&str>) -> Vec<Value> {
        let (code, body) = self.worker.deliveries(project, status).await;
        assert_eq!(code, 200, "GET deliveries {status:?}: {body}");
        let items = body["deliveries"]
            .as_array()
            .unwrap_or_else(|| panic!("no deliveries list: {body}"))
            .clone();
        for item in &items {
            assert_delivery_shape(item);
            if let Some(status) = status.filter(|s| *s != "all") {
                assert_eq!(item["status"], status, "{body}");
            }
        }
        items
    }

    /// Polls the deliveries list until `done` holds (or panics at the deadline).
    async fn wait_deliveries(
        &self,
        project: &Project,
        status: Option<&str>,
        what: &str,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + DELIVERY;
        loop {
            let items = self.deliveries(project, status).await;
            if done(&items) {
                return items;
            }
            assert!(
                Instant::now() < deadline,
                "waited {DELIVERY:?} for {what}: {items:#?}"
            );
            sleep(POLL).await;
        }
    }

    /// Waits until the outbox is empty: everything was delivered.
    async fn wait_no_deliveries(&self, project: &Project) {
        self.wait_deliveries(project, None, "an empty outbox", <[Value]>::is_empty)
            .await;
    }

    /// The worker's log shows no panic or wasm trap.
    async fn assert_clean_log(&self) {
        let log = self.worker.settled_log().await;
        for needle in ["panicked", "RuntimeError", "unreachable"] {
            assert!(
                !log.contains(needle),
                "the worker log shows {needle:?}:\n{log}"
            );
        }
    }
}

fn telegram(username: &str, token: &str) -> BotSpec {
    BotSpec::telegram(username, token)
}

/// A worker whose projects may make 5 merge links a minute, a project `name` with one Telegram
/// bot and one client; returns when the minute has at least 10 s left (the limit's window is a
/// calendar minute, and a test's requests must share one).
async fn one_client_under_a_link_limit(name: &str) -> (CallbackReceiver, Env, Project, Value) {
    let receiver = CallbackReceiver::start().await;
    let env = Env::start(&[("LINK_RATE_PER_MINUTE", "5")]).await;
    let project = env.worker.create_project(name, &receiver.url()).await;
    let bot = env
        .connect(&project, "bot", telegram("LimitBot", "888:HHH"))
        .await;
    env.say(&bot, "1101", "hello").await;
    let client_x = env.client_of(&project, "bot", "1101").await;
    let into_minute = unix_seconds() % 60.0;
    if into_minute > 50.0 {
        sleep(Duration::from_secs_f64(61.0 - into_minute)).await;
    }
    (receiver, env, project, client_x)
}

/// How many merge links the card's history says were made.
fn links_created(card: &Value) -> usize {
    card["history"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["event"] == "merge_link_created")
        .count()
}

/// A worker and a project `name` with two Telegram bots, `bota` (`<prefix>BotA`) and `botb`
/// (`<prefix>BotB`).
async fn two_telegram_bots(
    name: &str,
    prefix: &str,
) -> (CallbackReceiver, Env, Project, ConnectedBot, ConnectedBot) {
    let receiver = CallbackReceiver::start().await;
    let env = Env::start(&[]).await;
    let project = env.worker.create_project(name, &receiver.url()).await;
    let bot_a = env
        .connect(
            &project,
            "bota",
            telegram(&format!("{prefix}BotA"), "555:EEE"),
        )
        .await;
    let bot_b = env
        .connect(
            &project,
            "botb",
            telegram(&format!("{prefix}BotB"), "666:FFF"),
        )
        .await;
    (receiver, env, project, bot_a, bot_b)
}

/// `delivery` as a raw request to `bot`'s webhook (for concurrent sending).
fn webhook_request(bot: &ConnectedBot, delivery: &Delivery) -> RawRequest {
    let path = format!("/webhooks/{}/{}", bot.project, bot.group);
    let request = RawRequest::new("POST", path)
        .header("content-type", "application/json")
        .body(delivery.body.clone());
    delivery
        .headers
        .iter()
        .fold(request, |request, (name, value)| {
            request.header(name, value.as_str())
        })
}

// ---------------------------------------------------------------------------------------------
// Assertions and small helpers

fn assert_signed(callback: &ReceivedCallback, project: &Project) {
    if let Err(err) = callback.verify(&project.callback_secret) {
        panic!("callback not signed with the project's secret: {err}\n{callback:?}");
    }
}

fn assert_error_shape(body: &Value) {
    assert!(
        body["error"]["code"].is_string() && body["error"]["message"].is_string(),
        "not an error body: {body}"
    );
}

/// `{"id", "kind", "webhook_id", "type", "status", "attempts", "next_attempt_at", "last_error",
/// "created_at"}`.
fn assert_delivery_shape(item: &Value) {
    let id_ok = item["id"].is_number() || item["id"].as_str().is_some_and(|s| !s.is_empty());
    assert!(id_ok, "delivery id: {item}");
    match item["kind"].as_str() {
        Some("callback") => {
            assert!(
                item["webhook_id"].as_str().is_some_and(|s| !s.is_empty()),
                "{item}"
            );
            assert!(item["type"].is_string(), "{item}");
        }
        Some("send") => {}
        _ => panic!("delivery kind: {item}"),
    }
    assert!(
        matches!(item["status"].as_str(), Some("pending" | "failed")),
        "{item}"
    );
    assert!(item["attempts"].as_i64().is_some_and(|n| n >= 0), "{item}");
    let next = &item["next_attempt_at"];
    assert!(
        next.is_null() || next.as_str().is_some_and(looks_like_rfc3339),
        "{item}"
    );
    assert!(
        item["last_error"].is_null() || item["last_error"].is_string(),
        "{item}"
    );
    assert!(
        item["created_at"].as_str().is_some_and(looks_like_rfc3339),
        "{item}"
    );
    for field in ["webhook_id", "type", "next_attempt_at", "last_error"] {
        assert!(item.get(field).is_some(), "no {field}: {item}");
    }
}

/// Every webhook-id that arrived was accepted (answered 2xx) exactly once.
fn assert_accepted_once(received: &[ReceivedCallback]) {
    let mut accepted: HashMap<Option<String>, usize> = HashMap::new();
    for callback in received {
        let count = accepted.entry(callback.webhook_id.clone()).or_default();
        if callback.accepted() {
            *count += 1;
        }
    }
    for (id, count) in &accepted {
        assert!(id.is_some(), "a callback without webhook-id");
        assert_eq!(
            *count,
            1,
            "webhook-id {id:?} accepted {count} times:\n{}",
            describe_callbacks(received)
        );
    }
}

fn assert_all_ok(answers: &[Result<RawResponse, String>]) {
    for answer in answers {
        match answer {
            Ok(response) => assert_eq!(response.status, 200, "{}", response.text()),
            Err(err) => panic!("{err}"),
        }
    }
}

/// `message:<text>` for messages, the type for other events.
fn event_labels(callbacks: &[ReceivedCallback]) -> Vec<String> {
    callbacks
        .iter()
        .map(|cb| {
            let body = cb.json();
            match body["type"].as_str() {
                Some("message") => format!("message:{}", text(&body["data"]["text"])),
                _ => text(&body["type"]),
            }
        })
        .collect()
}

/// One line per request the receiver got, for failure messages.
fn describe_callbacks(received: &[ReceivedCallback]) -> String {
    let start = received.first().map(|cb| cb.received_at);
    received
        .iter()
        .zip(event_labels(received))
        .map(|(cb, label)| {
            let at = start.map(|s| cb.received_at - s).unwrap_or_default();
            format!(
                "  +{:>6} ms  {}  {}  {label}",
                at.as_millis(),
                cb.status,
                cb.webhook_id.as_deref().unwrap_or("<no webhook-id>")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn callbacks_only(items: &[Value]) -> Vec<Value> {
    items
        .iter()
        .filter(|d| d["kind"] == "callback")
        .cloned()
        .collect()
}

/// The (group, user id) of each dialog of a card, sorted.
fn dialogs(card: &Value) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = card["contacts"]
        .as_array()
        .unwrap_or_else(|| panic!("no contacts in {card}"))
        .iter()
        .map(|c| (text(&c["group"]), text(&c["user_id"])))
        .collect();
    keys.sort();
    keys
}

fn int(value: &Value) -> i64 {
    value.as_i64().unwrap_or(-1)
}

fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
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

fn unix_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

// ---------------------------------------------------------------------------------------------
// 7. Fuzz: junk at every route answers 4xx (never 5xx), writes nothing, panics nothing

/// Requests per run (at least 2,000), and how many run at once.
const FUZZ_REQUESTS: usize = 2_400;
const FUZZ_CONCURRENCY: usize = 16;
/// The seed of the run; `MLINK_FUZZ_SEED` (decimal or 0x-hex) replays another.
const DEFAULT_FUZZ_SEED: u64 = 0x6d6c_696e_6b5f_0007;
/// The largest body the worker accepts (256 KB).
const MAX_BODY: usize = 256 * 1024;

/// The dialog that exists before the fuzz (a Telegram user of bot `tg`).
const KNOWN_USER: &str = "4242";
/// The users the fuzz's (broken) webhook deliveries come from, per bot group: they must not
/// exist afterwards.
const FUZZ_USERS: [(&str, &str); 5] = [
    ("tg", "9001001"),
    ("vb", "FuzzViberUser0000001="),
    ("fb", "6100000000009001"),
    ("wa", "15550009001"),
    ("ig", "17841400000009001"),
];

/// The rotation of routes: request `i` goes to `ROUTES[i % len]` (webhooks get ten slots, two
/// per bot), so every route gets its share whatever the seed.
const ROUTES: [&str; 24] = [
    "webhook",
    "webhook",
    "webhook",
    "webhook",
    "webhook",
    "webhook",
    "webhook",
    "webhook",
    "webhook",
    "webhook",
    "webhook handshake",
    "PUT project",
    "PUT bot",
    "GET bots",
    "GET project",
    "POST merge-links",
    "GET client",
    "GET contact",
    "POST unmerge",
    "GET deliveries",
    "POST resend",
    "/mlink",
    "odd method",
    "odd path",
];

#[tokio::test(flavor = "multi_thread")]
async fn fuzz_every_route() {
    let seed = fuzz_seed();
    eprintln!("fuzz seed {seed:#x} (MLINK_FUZZ_SEED replays another)");
    let receiver = CallbackReceiver::start().await;
    let env = Env::start(&[]).await;
    let project = env.worker.create_project("fuzz", &receiver.url()).await;
    let specs = [
        ("tg", BotSpec::telegram("FuzzTgBot", "999:FUZZ")),
        (
            "vb",
            BotSpec::viber("fuzzviber", "fuzz-viber-token-0001", "Fuzz"),
        ),
        (
            "fb",
            BotSpec::facebook("fuzzpage", "4441", "EAAfuzzpage0", "fb-fuzz-secret"),
        ),
        (
            "wa",
            BotSpec::whatsapp("+1 555 010 0900", "4442", "EAAfuzzwa0", "wa-fuzz-secret"),
        ),
        (
            "ig",
            BotSpec::instagram("fuzz.shop", "4443", "IGQfuzz0", "ig-fuzz-secret"),
        ),
    ];
    let mut bots = Vec::new();
    for (group, spec) in specs {
        bots.push(env.connect(&project, group, spec).await);
    }
    // State to keep: a card with a dialog, a WhatsApp link (a code in its variables), history.
    env.say(&bots[0], KNOWN_USER, "hello").await;
    let client_id = env.client_of(&project, "tg", KNOWN_USER).await;
    let link = env
        .merge_link(&project, &client_id, &bots[3], "Welcome to WhatsApp")
        .await;
    env.wait_no_deliveries(&project).await;
    let target = Target {
        project,
        bots,
        client_id,
        link_token: text(&link["token"]),
    };
    let before = snapshot(&env, &receiver, &target).await;

    let mut rng = Rng::new(seed);
    let cases: Vec<Case> = (0..FUZZ_REQUESTS)
        .map(|i| generate(&mut rng, &target, i))
        .collect();
    let requests = cases.iter().map(|case| case.request.clone()).collect();
    let started = StdInstant::now();
    let client = env.worker.client();
    let mut answers = client.send_all(requests, FUZZ_CONCURRENCY).await;
    eprintln!("fuzz: {} requests in {:?}", cases.len(), started.elapsed());
    // The worker answers 413 without reading an oversized body; the connection is then closed
    // under the client, which sometimes loses the answer while still sending. Those are sent
    // again (up to three times) and counted.
    let mut resent = 0;
    for (case, answer) in cases.iter().zip(answers.iter_mut()) {
        for _ in 0..3 {
            if answer.is_ok() || case.request.body.len() <= MAX_BODY {
                break;
            }
            resent += 1;
            *answer = client.send(&case.request).await;
        }
    }
    if resent > 0 {
        eprintln!("fuzz: {resent} oversized requests lost their answer and were sent again");
    }

    let mut violations = Vec::new();
    let mut stats: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for (case, answer) in cases.iter().zip(&answers) {
        violations.extend(check(case, answer));
        let status = match answer {
            Ok(response) => response.status.to_string(),
            Err(_) => "error".to_string(),
        };
        *stats
            .entry(case.route.clone())
            .or_default()
            .entry(status)
            .or_default() += 1;
    }
    for (route, statuses) in &stats {
        let total: usize = statuses.values().sum();
        eprintln!("fuzz: {route:<22} {total:>4} requests, statuses {statuses:?}");
    }
    let count = |predicate: &dyn Fn(&Case) -> bool| cases.iter().filter(|c| predicate(c)).count();
    let oversize = count(&|c| c.request.body.len() > MAX_BODY);
    let at_limit = count(&|c| c.request.body.len() == MAX_BODY);
    eprintln!("fuzz: {oversize} bodies over 256 KB, {at_limit} of exactly 256 KB");

    let after = snapshot(&env, &receiver, &target).await;
    let log = env.worker.settled_log().await;
    let notable: Vec<&str> = log
        .lines()
        .filter(|line| {
            let lower = line.to_ascii_lowercase();
            ["error", "restart", "reload", "exceeded", "uncaught"]
                .iter()
                .any(|word| lower.contains(word))
        })
        .take(30)
        .collect();
    if !notable.is_empty() {
        eprintln!("fuzz: notable worker log lines:\n{}", notable.join("\n"));
    }
    for needle in ["panicked", "RuntimeError", "unreachable"] {
        if let Some(at) = log.find(needle) {
            let from = at.saturating_sub(600);
            let to = (at + 600).min(log.len());
            let excerpt = log.get(from..to).unwrap_or(&log[at..]);
            violations.push(format!("the worker log shows {needle:?}:\n{excerpt}"));
        }
    }
    let changed: Vec<String> = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b != a)
        .map(|((what, b), (_, a))| format!("{what} changed:\n  before: {b}\n  after:  {a}"))
        .collect();
    if !changed.is_empty() {
        violations.push(format!(
            "state changed during the fuzz:\n{}",
            changed.join("\n")
        ));
    }
    if !violations.is_empty() {
        for violation in &violations {
            eprintln!("fuzz violation: {violation}\n");
        }
        let shown: Vec<&String> = violations.iter().take(40).collect();
        panic!(
            "{} violations (seed {seed:#x}); the first {}:\n\n{}",
            violations.len(),
            shown.len(),
            shown
                .iter()
                .map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join("\n\n")
        );
    }

    // Coverage: every route and every bot got its share, and some bodies were at the limit.
    assert!(cases.len() >= 2_000);
    for route in ROUTES {
        let n = count(&|c| c.route == route || c.route.starts_with(&format!("{route} ")));
        assert!(n >= 80, "only {n} requests to {route}");
    }
    for (group, _) in FUZZ_USERS {
        let route = format!("webhook {group}");
        let n = count(&|c| c.route == route);
        assert!(n >= 150, "only {n} requests to {route}");
    }
    assert!(oversize >= 3, "only {oversize} oversized bodies");
    assert!(at_limit >= 2, "only {at_limit} bodies at the limit");
}

fn fuzz_seed() -> u64 {
    let Ok(text) = std::env::var("MLINK_FUZZ_SEED") else {
        return DEFAULT_FUZZ_SEED;
    };
    let text = text.trim();
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.unwrap_or_else(|_| panic!("MLINK_FUZZ_SEED={text:?} is not a number"))
}

/// What the fuzz aims at.
struct Target {
    project: Project,
    /// tg, vb, fb, wa, ig (the groups of `FUZZ_USERS`, in that order).
    bots: Vec<ConnectedBot>,
    client_id: Value,
    link_token: String,
}

/// Everything the API shows of the project, and how many requests left the worker.
async fn snapshot(env: &Env, receiver: &CallbackReceiver, t: &Target) -> Vec<(String, String)> {
    let p = &t.project;
    let mut paths = vec![
        p.path(""),
        p.path("/bots"),
        p.path(&format!("/clients/{}", id_text(&t.client_id))),
        p.path("/deliveries?status=all"),
        p.path(&format!("/contacts/tg/{KNOWN_USER}")),
        p.path("/contacts/tg/1"),
        p.path("/contacts/nope/1"),
    ];
    for (group, user) in FUZZ_USERS {
        paths.push(p.path(&format!("/contacts/{group}/{}", pct(user.as_bytes()))));
    }
    let client = env.worker.client();
    let mut shot = Vec::new();
    for path in paths {
        let request = RawRequest::new("GET", &path).bearer(&p.api_key);
        let answer = client.send(&request).await.expect("a snapshot answer");
        shot.push((path, format!("{} {}", answer.status, answer.text())));
    }
    shot.push((
        "callbacks received".into(),
        receiver.received().len().to_string(),
    ));
    shot.push((
        "Telegram API calls".into(),
        env.fakes.telegram.calls().len().to_string(),
    ));
    shot.push((
        "Viber/Graph/Instagram API calls".into(),
        env.fakes.apis.calls().len().to_string(),
    ));
    shot
}

/// One fuzz request and what its answer may be.
struct Case {
    /// `webhook tg`, `PUT bot`, ...
    route: String,
    /// What was done to it.
    variant: String,
    request: RawRequest,
    /// The statuses its answer may have (`None`: any below 500).
    allowed: Option<Vec<u16>>,
}

fn case(route: &str, variant: String, request: RawRequest, allowed: &[u16]) -> Case {
    Case {
        route: route.to_string(),
        variant,
        request,
        allowed: (!allowed.is_empty()).then(|| allowed.to_vec()),
    }
}

/// The problems with one answer: a 5xx or no answer, a status outside the case's, an API or
/// webhook error without the error shape, a junk PUT/POST to the API accepted.
fn check(case: &Case, answer: &Result<RawResponse, String>) -> Vec<String> {
    let describe = |problem: String, response: Option<&RawResponse>| {
        let answer = response
            .map(|r| {
                let body: String = r.text().chars().take(300).collect();
                format!("{} {body}", r.status)
            })
            .unwrap_or_default();
        format!(
            "[{}] {}\n  request: {}\n  answer: {answer}\n  problem: {problem}",
            case.route,
            case.variant,
            case.request.describe()
        )
    };
    let response = match answer {
        Ok(response) => response,
        Err(err) => return vec![describe(format!("no answer: {err}"), None)],
    };
    let status = response.status;
    let mut problems = Vec::new();
    if status >= 500 {
        problems.push(format!("status {status}"));
    }
    // `%2e%2e` in a path is `..` to the URL parser: the request went elsewhere.
    let rerouted = case.request.path.to_ascii_lowercase().contains("%2e");
    if let Some(allowed) = case.allowed.as_ref().filter(|_| !rerouted) {
        if !allowed.contains(&status) {
            problems.push(format!("status {status}, expected one of {allowed:?}"));
        }
    }
    let first = response
        .url_path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    if matches!(first, "api" | "webhooks") && status >= 400 && case.request.method != "HEAD" {
        let shaped = response.json().is_some_and(|body| {
            body["error"]["code"].is_string() && body["error"]["message"].is_string()
        });
        if !shaped {
            problems.push(r#"the error is not {"error":{"code","message"}}"#.to_string());
        }
    }
    let writes = matches!(case.request.method.as_str(), "PUT" | "POST");
    if first == "api" && writes && (200..300).contains(&status) {
        problems.push("a junk request was accepted".to_string());
    }
    problems
        .into_iter()
        .map(|problem| describe(problem, Some(response)))
        .collect()
}

fn generate(rng: &mut Rng, t: &Target, i: usize) -> Case {
    let slot = i % ROUTES.len();
    match ROUTES[slot] {
        "webhook" => webhook_case(rng, t, slot % t.bots.len()),
        "webhook handshake" => handshake_case(rng, t),
        "PUT project" => put_project_case(rng, t),
        "PUT bot" => put_bot_case(rng, t),
        "GET bots" => get_case(rng, t, "GET bots", "/bots".into(), &[200]),
        "GET project" => get_case(rng, t, "GET project", String::new(), &[200]),
        "POST merge-links" => merge_link_case(rng, t),
        "GET client" => get_client_case(rng, t),
        "GET contact" => get_contact_case(rng, t),
        "POST unmerge" => unmerge_case(rng, t),
        "GET deliveries" => deliveries_case(rng, t),
        "POST resend" => resend_case(rng, t),
        "/mlink" => mlink_case(rng, t),
        "odd method" => odd_method_case(rng, t),
        _ => odd_path_case(rng, t),
    }
}

// --- bodies -------------------------------------------------------------------------------

/// How big a body is: as generated, exactly at the limit, or over it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Size {
    Normal,
    AtLimit,
    Over,
}

fn pick_size(rng: &mut Rng) -> Size {
    match rng.below(120) {
        0 | 1 => Size::Over,
        2 => Size::AtLimit,
        _ => Size::Normal,
    }
}

/// `{"entry":"xxx..."}` of exactly `size` bytes: JSON, but no route's request (nor any
/// messenger's delivery) in that shape.
fn sized_body(size: usize) -> Vec<u8> {
    let overhead = r#"{"entry":""}"#.len();
    format!(r#"{{"entry":"{}"}}"#, "x".repeat(size - overhead)).into_bytes()
}

fn oversized(rng: &mut Rng) -> Vec<u8> {
    sized_body(MAX_BODY + 1 + rng.below(150_000))
}

/// A body that is not valid JSON (or not an object), whatever the route: always a 400 where a
/// JSON object is expected.
fn malformed_body(rng: &mut Rng, valid: &Value) -> (Vec<u8>, String) {
    let valid_text = valid.to_string();
    match rng.below(16) {
        0 => (Vec::new(), "empty body".into()),
        1 => (b" \n\t ".to_vec(), "whitespace".into()),
        2 => {
            let cut = rng.below(valid_text.len().max(1));
            (
                valid_text.as_bytes()[..cut].to_vec(),
                format!("truncated at {cut}"),
            )
        }
        3 => {
            let len = rng.below(3_000);
            (rng.bytes(len), format!("{len} random bytes"))
        }
        4 => (
            format!("{valid_text} x").into_bytes(),
            "a valid body and trailing junk".into(),
        ),
        5 => {
            // Invalid UTF-8 inside a string of an otherwise valid body.
            let junk: &[&[u8]] = &[b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf0\x28\x8c\x28"];
            let piece = *rng.choose::<&[u8]>(junk);
            let bytes = invalid_utf8_in_strings(valid_text.as_bytes(), piece, true);
            (bytes, "invalid UTF-8 in a string".into())
        }
        6 => {
            let bytes = invalid_utf8_in_strings(valid_text.as_bytes(), b"\x00", true);
            (bytes, "a raw control character in a string".into())
        }
        7 => {
            let shapes = [
                "null", "[]", "[1,2]", "\"text\"", "42", "true", "1e999", "{}x",
            ];
            let shape = *rng.choose(&shapes);
            (shape.as_bytes().to_vec(), format!("not an object: {shape}"))
        }
        8 => {
            let depth = 200 + rng.below(5_000);
            let body = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            (body.into_bytes(), format!("arrays nested {depth} deep"))
        }
        9 => {
            let depth = 200 + rng.below(2_000);
            let body = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
            (body.into_bytes(), format!("objects nested {depth} deep"))
        }
        10 => (
            valid_text.replacen(':', ":NaN,\"x\":", 1).into_bytes(),
            "NaN".into(),
        ),
        11 => (
            format!("{},}}", valid_text.trim_end_matches('}')).into_bytes(),
            "trailing comma".into(),
        ),
        12 => (
            valid_text.replace('"', "'").into_bytes(),
            "single quotes".into(),
        ),
        13 => (
            format!("\u{feff}{valid_text}").into_bytes(),
            "a byte order mark".into(),
        ),
        14 => (
            valid_text.replacen('{', "{/* comment */", 1).into_bytes(),
            "a comment".into(),
        ),
        _ => {
            let dup = valid_text.replacen('{', "{\"\u{0}\":", 1);
            (dup.into_bytes(), "a key that is not JSON".into())
        }
    }
}

/// `body` with `junk` inserted at the start of its last string value (with keys in order, a
/// field every route and messenger reads: `text`, `object`, `tag`, `callback_url`...), or of
/// its first one.
fn invalid_utf8_in_strings(body: &[u8], junk: &[u8], last: bool) -> Vec<u8> {
    let mut starts = body
        .windows(3)
        .enumerate()
        .filter(|(_, w)| *w == b"\":\"")
        .map(|(p, _)| p + 3);
    let at = if last {
        starts.next_back()
    } else {
        starts.next()
    }
    .unwrap_or(body.len() / 2);
    let mut bytes = body[..at].to_vec();
    bytes.extend_from_slice(junk);
    bytes.extend_from_slice(&body[at..]);
    bytes
}

/// A long string of letters, spaces, quotes, backslashes, control and non-ASCII characters
/// (no digits): invalid as any id, name, token or URL.
fn huge_text(rng: &mut Rng, min: usize, max: usize) -> String {
    const PIECES: [&str; 10] = ["a", "ж", " ", "\"", "\\", "\u{7}", "\u{0}", "💩", "%", "<"];
    let len = min + rng.below(max - min + 1);
    let mut text = String::with_capacity(len * 2);
    while text.len() < len {
        let piece = *rng.choose(&PIECES);
        text.push_str(piece);
    }
    text
}

/// Percent-encodes every byte that is not an RFC 3986 unreserved character.
fn pct(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&byte| {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

/// A junk path segment for an id: malformed percent escapes, encoded bytes, signs, overflow...
fn junk_segment(rng: &mut Rng) -> (String, String) {
    const FIXED: [&str; 30] = [
        "%",
        "%%",
        "%G1",
        "%FF",
        "%FF%FE",
        "%00",
        "%2F",
        "%2e%2e",
        "%E2%82",
        "%C3%28",
        "a%20b",
        "%0A",
        "%7B%7D",
        "%25",
        "%F0%9F%92%A9",
        "%uD800",
        "+1",
        "-1",
        "0",
        "1.5",
        "1e3",
        "0x10",
        "99999999999999999999999",
        "%31",
        "%20",
        "~",
        "%3F",
        "%23",
        "ü",
        "1%00",
    ];
    match rng.below(4) {
        0 | 1 => {
            let segment = *rng.choose(&FIXED);
            (segment.to_string(), format!("id {segment:?}"))
        }
        2 => {
            let len = 1 + rng.below(12);
            let bytes = rng.bytes(len);
            (pct(&bytes), format!("{len} random encoded bytes"))
        }
        _ => {
            let len = 200 + rng.below(4_000);
            (
                pct(huge_text(rng, len, len).as_bytes()),
                format!("a {len}-byte id"),
            )
        }
    }
}

// --- auth ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    Valid,
    /// Certainly refused (401).
    Invalid,
    /// A spelling some servers accept: never paired with a body that could write.
    Unsure,
}

/// An `Authorization` header: `valid` (a Bearer token) most of the time, else a wrong one.
fn pick_auth(rng: &mut Rng, valid: &str, other: &str) -> (Option<Vec<u8>>, Auth, String) {
    if rng.percent(70) {
        return (
            Some(format!("Bearer {valid}").into_bytes()),
            Auth::Valid,
            "valid auth".into(),
        );
    }
    let bearer = |token: &str| Some(format!("Bearer {token}").into_bytes());
    let (header, auth, what) = match rng.below(11) {
        0 => (None, Auth::Invalid, "no auth"),
        1 => (Some(b"Bearer".to_vec()), Auth::Invalid, "Bearer alone"),
        2 => (bearer("mlk_wrong_key"), Auth::Invalid, "a wrong key"),
        3 => (
            Some(b"Basic Zm9vOmJhcg==".to_vec()),
            Auth::Invalid,
            "Basic auth",
        ),
        4 => (
            bearer(&format!("{valid}x")),
            Auth::Invalid,
            "the key and more",
        ),
        5 => (bearer(other), Auth::Invalid, "the other credential"),
        6 => (
            bearer(&"k".repeat(10_000)),
            Auth::Invalid,
            "a 10,000-character key",
        ),
        7 => (
            Some(b"Bearer \xff\xfe\x80".to_vec()),
            Auth::Invalid,
            "non-ASCII bytes",
        ),
        8 => (
            Some(valid.as_bytes().to_vec()),
            Auth::Unsure,
            "the key without Bearer",
        ),
        9 => (
            Some(format!("bearer {valid}").into_bytes()),
            Auth::Unsure,
            "lowercase bearer",
        ),
        _ => (
            bearer(&valid[..valid.len() / 2]),
            Auth::Invalid,
            "half the key",
        ),
    };
    (header, auth, what.to_string())
}

fn with_auth(request: RawRequest, header: Option<Vec<u8>>) -> RawRequest {
    match header {
        Some(value) => request.header("authorization", value),
        None => request,
    }
}

/// A body for an API route whose valid body is `valid`: malformed (see [`malformed_body`]),
/// junk of exactly 256 KB, or over 256 KB; and which of those it is.
fn api_junk_body(rng: &mut Rng, valid: &Value) -> (Vec<u8>, String, Size) {
    match pick_size(rng) {
        Size::Over => (oversized(rng), "a body over 256 KB".into(), Size::Over),
        Size::AtLimit => (
            sized_body(MAX_BODY),
            "a junk body of exactly 256 KB".into(),
            Size::AtLimit,
        ),
        Size::Normal => {
            let (body, what) = malformed_body(rng, valid);
            (body, what, Size::Normal)
        }
    }
}

// --- webhooks -----------------------------------------------------------------------------

/// How a required field of a delivery is typed, which decides the values that break it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Number,
    /// A user id (a string): a string over 128 characters breaks it too.
    UserId,
    /// Another required string.
    Text,
    Object,
    Array,
}

/// A value of the wrong type for `field` (`None`: the field removed). None of them can make a
/// delivery name a valid user.
fn breaking_value(rng: &mut Rng, field: Field) -> (Option<Value>, String) {
    let huge_id = |rng: &mut Rng| {
        let len = 129 + rng.below(60_000);
        (
            Some(json!("Z".repeat(len))),
            format!("a {len}-character id"),
        )
    };
    let pick = rng.below(7);
    let common = |pick: usize| -> (Option<Value>, String) {
        match pick {
            0 => (Some(json!({"x": 1})), "an object".into()),
            1 => (Some(json!([1, 2])), "an array".into()),
            2 => (Some(json!(true)), "a boolean".into()),
            3 => (Some(Value::Null), "null".into()),
            _ => (None, "removed".into()),
        }
    };
    match (field, pick) {
        (Field::Number, 5) => (Some(json!(1.5)), "a fraction".into()),
        (Field::Number, 6) => (Some(json!("x1")), "a string".into()),
        (Field::Number, 4) => (Some(json!(1e300)), "1e300".into()),
        (Field::UserId, 5) => huge_id(rng),
        (Field::UserId | Field::Text, 6) => (Some(json!(12_345)), "a number".into()),
        (Field::Object | Field::Array, 5) => (Some(json!("x")), "a string".into()),
        (Field::Object, 6) => (Some(json!([])), "an array".into()),
        (Field::Array, 6) => (Some(json!({})), "an object".into()),
        (_, pick) => common(pick),
    }
}

/// Sets (or removes) the field at `path` (object keys; array indices as numbers).
fn set_path(value: &mut Value, path: &[&str], replacement: Option<Value>) {
    let (last, parents) = path.split_last().expect("a non-empty path");
    let mut node = value;
    for segment in parents {
        node = match node {
            Value::Array(items) => &mut items[segment.parse::<usize>().expect("an index")],
            other => other
                .get_mut(*segment)
                .unwrap_or_else(|| panic!("no {segment} in the sample")),
        };
    }
    let map = node.as_object_mut().expect("the parent is an object");
    match replacement {
        Some(value) => {
            map.insert(last.to_string(), value);
        }
        None => {
            map.remove(*last);
        }
    }
}

/// A well-formed delivery of an ordinary message from the bot's fuzz user, and its required
/// fields.
fn sample(rng: &mut Rng, bot: &ConnectedBot) -> (Value, Vec<(Vec<&'static str>, Field)>) {
    use mlink_e2e::messengers::{
        meta_delivery, meta_text, viber_conversation_started, viber_message, whatsapp_delivery,
        whatsapp_text,
    };
    let user = FUZZ_USERS
        .iter()
        .find(|(group, _)| *group == bot.group)
        .map(|(_, user)| *user)
        .expect("a fuzz user for the bot");
    let n = 777_000 + rng.below(1_000) as u64;
    let meta_fields = || {
        vec![
            (vec!["object"], Field::Text),
            (vec!["entry"], Field::Array),
            (vec!["entry", "0", "messaging"], Field::Array),
            (
                vec!["entry", "0", "messaging", "0", "sender", "id"],
                Field::UserId,
            ),
            (
                vec!["entry", "0", "messaging", "0", "message"],
                Field::Object,
            ),
            (
                vec!["entry", "0", "messaging", "0", "message", "mid"],
                Field::Text,
            ),
        ]
    };
    match &bot.spec {
        BotSpec::Telegram { .. } => (
            telegram_text(n, user, "fuzz"),
            vec![
                (vec!["update_id"], Field::Number),
                (vec!["message"], Field::Object),
                (vec!["message", "message_id"], Field::Number),
                (vec!["message", "from"], Field::Object),
                (vec!["message", "from", "id"], Field::Number),
            ],
        ),
        BotSpec::Viber { .. } if rng.percent(50) => (
            viber_message(n, user, "Fuzz", "fuzz"),
            vec![
                (vec!["event"], Field::Text),
                (vec!["message_token"], Field::Number),
                (vec!["sender"], Field::Object),
                (vec!["sender", "id"], Field::UserId),
                (vec!["message"], Field::Object),
                (vec!["message", "type"], Field::Text),
            ],
        ),
        BotSpec::Viber { .. } => (
            viber_conversation_started(n, user, "Fuzz", "fuzzcontext", false),
            vec![
                (vec!["event"], Field::Text),
                (vec!["message_token"], Field::Number),
                (vec!["user"], Field::Object),
                (vec!["user", "id"], Field::UserId),
            ],
        ),
        BotSpec::Facebook { page_id, .. } => (
            meta_delivery("page", page_id, vec![meta_text(page_id, user, n, "fuzz")]),
            meta_fields(),
        ),
        BotSpec::Instagram { account_id, .. } => (
            meta_delivery(
                "instagram",
                account_id,
                vec![meta_text(account_id, user, n, "fuzz")],
            ),
            meta_fields(),
        ),
        BotSpec::WhatsApp { .. } => {
            let value = ["entry", "0", "changes", "0", "value"];
            let at = |rest: &[&'static str]| value.iter().chain(rest).copied().collect();
            (
                whatsapp_delivery(&bot.spec, &[whatsapp_text(user, n, "fuzz")]),
                vec![
                    (vec!["object"], Field::Text),
                    (vec!["entry"], Field::Array),
                    (vec!["entry", "0", "changes"], Field::Array),
                    (vec!["entry", "0", "changes", "0", "field"], Field::Text),
                    (at(&["metadata"]), Field::Object),
                    (at(&["metadata", "phone_number_id"]), Field::Text),
                    (at(&["messages"]), Field::Array),
                    (at(&["messages", "0", "from"]), Field::UserId),
                    (at(&["messages", "0", "id"]), Field::Text),
                ],
            )
        }
    }
}

/// How sure the fuzz is of a junk delivery's answer (with a valid proof).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Junk {
    /// Not a JSON object of the messenger's shape at all: 400.
    Malformed,
    /// A messenger's shape with a required field broken: 400, or 200 where the messenger's
    /// format lets the event be skipped (never a write).
    Broken,
}

fn webhook_junk_body(rng: &mut Rng, t: &Target, bot_index: usize) -> (Vec<u8>, String, Junk) {
    let bot = &t.bots[bot_index];
    let (valid, fields) = sample(rng, bot);
    match rng.below(11) {
        0..=3 => {
            let (body, what) = malformed_body(rng, &valid);
            (body, what, Junk::Malformed)
        }
        4..=7 => {
            let mut broken = valid;
            let (path, field) = rng.choose(&fields).clone();
            let (value, what) = breaking_value(rng, field);
            set_path(&mut broken, &path, value);
            let mut what = format!("{} {what}", path.join("."));
            if rng.percent(10) {
                // Big, but under the limit once JSON-escaped.
                let mut len = 100_000 + rng.below(150_000);
                loop {
                    broken["fuzz_padding"] = json!(huge_text(rng, len, len));
                    if broken.to_string().len() < MAX_BODY {
                        break;
                    }
                    len /= 2;
                }
                what.push_str(&format!(" and a {len}-byte padding field"));
            }
            (broken.to_string().into_bytes(), what, Junk::Broken)
        }
        8 => {
            let other = (bot_index + 1 + rng.below(t.bots.len() - 1)) % t.bots.len();
            let (body, _) = sample(rng, &t.bots[other]);
            let what = format!("a {} delivery", t.bots[other].messenger());
            (body.to_string().into_bytes(), what, Junk::Malformed)
        }
        9 if !matches!(bot.spec, BotSpec::Viber { .. }) => {
            // The top-level fields in an array, in the order the messenger's format lists them
            // (a JSON array where an object is expected).
            let keys: &[&str] = match &bot.spec {
                BotSpec::Telegram { .. } => &["update_id", "message"],
                _ => &["object", "entry"],
            };
            let fields: Vec<Value> = keys.iter().map(|key| valid[*key].clone()).collect();
            (
                Value::Array(fields).to_string().into_bytes(),
                format!("the delivery's {keys:?} in an array"),
                Junk::Malformed,
            )
        }
        10 if matches!(bot.spec, BotSpec::Telegram { .. }) => {
            // Invalid UTF-8 in a string mlink does not read (the chat's type): still not JSON.
            let bytes = invalid_utf8_in_strings(valid.to_string().as_bytes(), b"\xff", false);
            (
                bytes,
                "invalid UTF-8 in a field mlink does not read".into(),
                Junk::Malformed,
            )
        }
        _ => {
            let (body, what) = malformed_body(rng, &valid);
            (body, what, Junk::Malformed)
        }
    }
}

/// The proof header of a delivery: valid, or wrong in some way.
fn webhook_proof(
    rng: &mut Rng,
    t: &Target,
    bot_index: usize,
    body: &[u8],
) -> (Option<(String, Vec<u8>)>, bool, String) {
    let bot = &t.bots[bot_index];
    let (name, valid) = bot.proof(body);
    let r = rng.below(100);
    if r < 55 {
        return (Some((name, valid.into_bytes())), true, "valid proof".into());
    }
    if r < 67 {
        let wrong = ConnectedBot {
            spec: match &bot.spec {
                BotSpec::Telegram { .. } => bot.spec.clone(),
                BotSpec::Viber {
                    uri, sender_name, ..
                } => BotSpec::viber(uri, "not-the-token", sender_name),
                _ => BotSpec::facebook("x", "1", "x", "not-the-app-secret"),
            },
            webhook_secret: "not-the-secret".into(),
            ..bot.clone()
        };
        let (name, value) = wrong.proof(body);
        return (Some((name, value.into_bytes())), false, "wrong key".into());
    }
    if r < 77 {
        return (None, false, "no proof".into());
    }
    if r < 87 {
        let other = &t.bots[(bot_index + 1 + rng.below(4)) % t.bots.len()];
        let (name, value) = other.proof(body);
        return (
            Some((name, value.into_bytes())),
            false,
            format!("the proof of bot {}", other.group),
        );
    }
    let garbage: Vec<Vec<u8>> = match &bot.spec {
        BotSpec::Telegram { .. } => vec![
            format!("{valid}x").into_bytes(),
            Vec::new(),
            vec![b'a'; 10_000],
            b"\xff\xfe".to_vec(),
        ],
        BotSpec::Viber { .. } => vec![
            Vec::new(),
            b"zz".to_vec(),
            b"0".to_vec(),
            vec![b'f'; 5_000],
            valid.as_bytes()[..valid.len() - 2].to_vec(),
        ],
        _ => vec![
            b"sha256=".to_vec(),
            b"sha256=zz".to_vec(),
            format!("sha1={}", &valid[7..]).into_bytes(),
            valid.as_bytes()[7..].to_vec(),
            format!("{valid}00").into_bytes(),
            format!("sha256={}", "a".repeat(9_000)).into_bytes(),
        ],
    };
    let value = rng.choose(&garbage).clone();
    let what = format!(
        "a garbage proof {:?}",
        String::from_utf8_lossy(&value[..value.len().min(24)])
    );
    (Some((name, value)), false, what)
}

fn webhook_case(rng: &mut Rng, t: &Target, bot_index: usize) -> Case {
    let bot = &t.bots[bot_index];
    let route = format!("webhook {}", bot.group);
    let (path, known) = if rng.percent(92) {
        (format!("/webhooks/fuzz/{}", bot.group), true)
    } else {
        let (junk, _) = junk_segment(rng);
        let paths = [
            "/webhooks/fuzz/nosuchbot".to_string(),
            format!("/webhooks/nosuchproject/{}", bot.group),
            format!("/webhooks/FUZZ/{}", bot.group),
            format!("/webhooks/fuzz/{junk}"),
            format!("/webhooks/{junk}/{}", bot.group),
        ];
        (rng.choose(&paths).clone(), false)
    };
    let size = pick_size(rng);
    let (body, body_what, junk) = match size {
        Size::Over => (oversized(rng), "a body over 256 KB".into(), Junk::Malformed),
        Size::AtLimit => (
            sized_body(MAX_BODY),
            "a junk body of exactly 256 KB".into(),
            Junk::Malformed,
        ),
        Size::Normal => webhook_junk_body(rng, t, bot_index),
    };
    let (proof, proof_valid, proof_what) = webhook_proof(rng, t, bot_index, &body);
    let content_types: [&[u8]; 4] = [
        b"application/json",
        b"text/plain",
        b"multipart/form-data; boundary=x",
        b"application/json; charset=latin1",
    ];
    let mut request = RawRequest::new("POST", path.clone());
    if rng.percent(90) {
        request = request.header("content-type", *rng.choose(&content_types));
    }
    if let Some((name, value)) = proof {
        request = request.header(&name, value);
    }
    let request = request.body(body);
    let allowed: &[u16] = match (known, size, proof_valid, junk) {
        (false, _, _, _) => &[400, 404, 413],
        (true, Size::Over, true, _) => &[413],
        (true, Size::Over, false, _) => &[401, 413],
        (true, _, false, _) => &[401],
        (true, _, true, Junk::Malformed) => &[400],
        (true, _, true, Junk::Broken) => &[200, 400],
    };
    let variant = format!("{path}: {proof_what}, {body_what}");
    case(&route, variant, request, allowed)
}

fn handshake_case(rng: &mut Rng, t: &Target) -> Case {
    let bot = rng.choose(&t.bots).clone();
    let other = rng.choose(&t.bots).webhook_secret.clone();
    let modes = [
        "subscribe",
        "unsubscribe",
        "",
        "SUBSCRIBE",
        "%FF",
        "subscribe%00",
    ];
    let tokens = [
        pct(bot.webhook_secret.as_bytes()),
        "wrong".into(),
        String::new(),
        pct(other.as_bytes()),
        "%ZZ".into(),
        "%FF%FE".into(),
        "t".repeat(5_000),
    ];
    let challenges = [
        "1158201444".to_string(),
        String::new(),
        "c".repeat(5_000),
        "%E2%82".into(),
        "%3Cscript%3E".into(),
        "a%00b".into(),
    ];
    let mut params = Vec::new();
    if rng.percent(80) {
        params.push(format!("hub.mode={}", rng.choose(&modes)));
    }
    if rng.percent(80) {
        params.push(format!("hub.verify_token={}", rng.choose(&tokens)));
    }
    if rng.percent(80) {
        params.push(format!("hub.challenge={}", rng.choose(&challenges)));
    }
    let extras = [
        "&&&",
        "==",
        "hub.mode",
        "x=%",
        ";",
        "hub.challenge=1&hub.challenge=2",
    ];
    if rng.percent(30) {
        params.push(rng.choose(&extras).to_string());
    }
    if rng.percent(10) {
        params.reverse();
    }
    let query = params.join("&");
    let path = if rng.percent(90) {
        format!("/webhooks/fuzz/{}?{query}", bot.group)
    } else {
        format!("/webhooks/fuzz/{}?{query}", junk_segment(rng).0)
    };
    let variant = format!("query {:?}", query.chars().take(120).collect::<String>());
    case(
        &format!("webhook handshake {}", bot.group),
        variant,
        RawRequest::new("GET", path),
        &[],
    )
}

// --- owner API ----------------------------------------------------------------------------

fn put_project_case(rng: &mut Rng, t: &Target) -> Case {
    let admin = mlink_e2e::ADMIN_TOKEN;
    let (auth_header, auth, auth_what) = pick_auth(rng, admin, &t.project.api_key);
    let junk_names = [
        "FUZZ",
        "fu zz",
        "%66uzz",
        "",
        "-fuzz",
        "fuzz%00",
        "fuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzz1",
        "füzz",
        "fuzz.",
        "%2e%2e",
    ];
    let (name, name_ok) = if rng.percent(85) {
        ("fuzz".to_string(), true)
    } else {
        (rng.choose(&junk_names).to_string(), false)
    };
    let valid = json!({"callback_url": "http://evil.example/cb"});
    let (body, body_what, allowed): (Vec<u8>, String, Vec<u16>) =
        if auth == Auth::Invalid && rng.percent(50) {
            (
                valid.to_string().into_bytes(),
                "a valid body".into(),
                vec![401],
            )
        } else {
            match rng.below(3) {
                0 => {
                    let (body, what, size) = api_junk_body(rng, &valid);
                    let allowed = match size {
                        Size::Over => vec![413],
                        _ => vec![400],
                    };
                    (body, what, allowed)
                }
                1 => {
                    let bodies = [
                        json!({"callback_url": 5}),
                        json!({"callback_url": {"url": "http://x"}}),
                        json!({"callback_url": ["http://x"]}),
                        json!({"callback_url": null}),
                        json!({"callback_url": true}),
                        json!({}),
                        json!({"url": "http://evil.example/cb"}),
                        json!(["http://evil.example/cb"]),
                    ];
                    let body = rng.choose(&bodies).clone();
                    (
                        body.to_string().into_bytes(),
                        format!("wrong type or missing: {body}"),
                        vec![400],
                    )
                }
                _ => {
                    let urls = [
                        "ftp://evil.example/cb".to_string(),
                        String::new(),
                        "javascript:alert(1)".into(),
                        "http://a b".into(),
                        "http://x\u{0}y".into(),
                        format!("http://{}", "a".repeat(3_000)),
                        "evil.example/cb".into(),
                        huge_text(rng, 100, 20_000),
                    ];
                    let url = rng.choose(&urls).clone();
                    let body = json!({ "callback_url": url });
                    let shown: String = url.chars().take(40).collect();
                    (
                        body.to_string().into_bytes(),
                        format!("callback_url {shown:?}"),
                        vec![400, 422],
                    )
                }
            }
        };
    let oversize = body.len() > MAX_BODY;
    // (Junk names never reach a project: 400, or 404 where the URL normalizes `%2e%2e`.)
    let allowed = match (name_ok, auth) {
        (false, _) if oversize => vec![400, 404, 413],
        (false, _) => vec![400, 404],
        (true, Auth::Valid) => allowed,
        (true, Auth::Invalid) if oversize => vec![401, 413],
        (true, Auth::Invalid) => vec![401],
        (true, Auth::Unsure) => vec![],
    };
    let request = with_auth(
        RawRequest::new("PUT", format!("/api/v1/projects/{name}")),
        auth_header,
    )
    .header("content-type", "application/json")
    .body(body);
    case(
        "PUT project",
        format!("name {name:?}, {auth_what}, {body_what}"),
        request,
        &allowed,
    )
}

/// A request to `/api/v1/projects/fuzz<rest>` with an auth header picked by [`pick_auth`].
fn api_request(rng: &mut Rng, t: &Target, method: &str, rest: &str) -> (RawRequest, Auth, String) {
    let (header, auth, what) = pick_auth(rng, &t.project.api_key, mlink_e2e::ADMIN_TOKEN);
    let request = with_auth(RawRequest::new(method, t.project.path(rest)), header);
    (request, auth, what)
}

/// The statuses of an answer when auth decides (invalid: 401), else `valid`.
fn by_auth(auth: Auth, valid: &[u16]) -> Vec<u16> {
    match auth {
        Auth::Valid => valid.to_vec(),
        Auth::Invalid => vec![401],
        Auth::Unsure => vec![],
    }
}

fn put_bot_case(rng: &mut Rng, t: &Target) -> Case {
    let groups_ok = ["fznew", "fz-new_2", "tg", "vb", "fb", "wa", "ig"];
    let (group, group_ok) = if rng.percent(85) {
        (rng.choose(&groups_ok).to_string(), true)
    } else {
        let (junk, _) = junk_segment(rng);
        (junk, false)
    };
    let (request, auth, auth_what) = api_request(rng, t, "PUT", &format!("/bots/{group}"));
    let spec = rng.choose(&t.bots).spec.clone();
    let mut valid = spec.connect_body();
    valid["register_webhook"] = json!(rng.percent(50));
    let (body, body_what, allowed): (Vec<u8>, String, Vec<u16>) =
        if auth == Auth::Invalid && rng.percent(50) {
            (
                valid.to_string().into_bytes(),
                "a valid body".into(),
                vec![401],
            )
        } else {
            broken_bot_body(rng, &spec, valid)
        };
    let oversize = body.len() > MAX_BODY;
    let allowed = match (group_ok, auth) {
        // Some junk is a valid group name after all ("0x10"): then the body decides.
        (false, Auth::Unsure) => vec![],
        (false, _) => {
            let mut allowed = by_auth(auth, &allowed);
            allowed.extend([400, 413]);
            allowed
        }
        (true, Auth::Invalid) if oversize => vec![401, 413],
        (true, _) => by_auth(auth, &allowed),
    };
    let request = request
        .header("content-type", "application/json")
        .body(body);
    case(
        "PUT bot",
        format!("group {group:?}, {auth_what}, {body_what}"),
        request,
        &allowed,
    )
}

/// A bot connection body with one thing wrong, and the statuses that may answer it.
fn broken_bot_body(rng: &mut Rng, spec: &BotSpec, valid: Value) -> (Vec<u8>, String, Vec<u16>) {
    let required: Vec<&str> = match spec {
        BotSpec::Telegram { .. } => vec!["username", "token"],
        BotSpec::Viber { .. } => vec!["uri", "token", "sender_name"],
        BotSpec::Facebook { .. } => vec!["page", "page_id", "access_token", "app_secret"],
        BotSpec::WhatsApp { .. } => {
            vec![
                "phone_number",
                "phone_number_id",
                "access_token",
                "app_secret",
            ]
        }
        BotSpec::Instagram { .. } => vec!["username", "account_id", "access_token", "app_secret"],
    };
    let messenger = spec.messenger();
    let mut body = valid.clone();
    let (what, allowed): (String, Vec<u16>) = match rng.below(8) {
        0 => {
            let (body, what, size) = api_junk_body(rng, &valid);
            let allowed = if size == Size::Over {
                vec![413]
            } else {
                vec![400]
            };
            return (body, what, allowed);
        }
        1 => {
            body.as_object_mut()
                .expect("an object")
                .remove("client_type");
            ("no client_type".into(), vec![400])
        }
        2 => {
            let wrong = [
                json!("1"),
                json!(1.5),
                Value::Null,
                json!({}),
                json!([1]),
                json!(true),
            ];
            let value = rng.choose(&wrong).clone();
            body["client_type"] = value.clone();
            (format!("client_type {value}"), vec![400])
        }
        3 => {
            let invalid = [0, 4, 5, 7, 11, -1, i64::MAX];
            let value = *rng.choose(&invalid);
            body["client_type"] = json!(value);
            (format!("client_type {value}"), vec![400, 422])
        }
        4 => {
            let wrong = [json!("yes"), json!(1), json!({}), Value::Null];
            let value = rng.choose(&wrong).clone();
            body["register_webhook"] = value.clone();
            (format!("register_webhook {value}"), vec![400])
        }
        5 => {
            let field = *rng.choose(&required);
            body.as_object_mut().expect("an object").remove(field);
            (format!("{messenger} without {field}"), vec![400, 422])
        }
        6 => {
            let field = *rng.choose(&required);
            let wrong = [json!({}), json!([]), json!(12_345), json!(true)];
            let value = rng.choose(&wrong).clone();
            body[field] = value.clone();
            (format!("{messenger} {field} {value}"), vec![400, 422])
        }
        _ => {
            let field = *rng.choose(&required);
            let len = 300 + rng.below(30_000);
            body[field] = json!(huge_text(rng, len, len));
            (
                format!("{messenger} {field} of {len} bytes with spaces"),
                vec![400, 422],
            )
        }
    };
    (body.to_string().into_bytes(), what, allowed)
}

fn get_case(rng: &mut Rng, t: &Target, route: &str, rest: String, valid: &[u16]) -> Case {
    let queries = ["", "?x=%FF", "?%", "?a=1&a=2", "?status=failed"];
    let query = if rng.percent(20) {
        rng.choose(&queries).to_string()
    } else {
        String::new()
    };
    let (request, auth, auth_what) = api_request(rng, t, "GET", &format!("{rest}{query}"));
    case(
        route,
        format!("{auth_what}, query {query:?}"),
        request,
        &by_auth(auth, valid),
    )
}

fn merge_link_case(rng: &mut Rng, t: &Target) -> Case {
    enum Client {
        Known,
        Unknown,
        Junk,
    }
    let (id, client, id_what) = match rng.below(10) {
        0..=3 => (id_text(&t.client_id), Client::Known, "the known client"),
        4..=5 => ("987654".to_string(), Client::Unknown, "an unknown client"),
        _ => (junk_segment(rng).0, Client::Junk, "a junk client id"),
    };
    let (request, auth, auth_what) =
        api_request(rng, t, "POST", &format!("/clients/{id}/merge-links"));
    let valid = json!({"client_type": 1, "tag": "fuzz", "group": "tg"});
    let (body, body_what, allowed): (Vec<u8>, String, Vec<u16>) =
        if auth == Auth::Invalid && rng.percent(50) {
            (
                valid.to_string().into_bytes(),
                "a valid body".into(),
                vec![401],
            )
        } else if matches!(client, Client::Unknown) && rng.percent(40) {
            (
                valid.to_string().into_bytes(),
                "a valid body".into(),
                vec![404],
            )
        } else {
            broken_link_body(rng, &valid)
        };
    let oversize = body.len() > MAX_BODY;
    let allowed = match (client, auth) {
        (Client::Junk, _) if oversize => vec![400, 413],
        (Client::Junk, _) => vec![400],
        (_, Auth::Invalid) if oversize => vec![401, 413],
        (Client::Unknown, Auth::Valid) if !oversize => {
            let mut allowed = allowed;
            allowed.extend([400, 404, 422]);
            allowed
        }
        (_, auth) => by_auth(auth, &allowed),
    };
    let request = request
        .header("content-type", "application/json")
        .body(body);
    case(
        "POST merge-links",
        format!("{id_what} {id:?}, {auth_what}, {body_what}"),
        request,
        &allowed,
    )
}

/// A merge-link request with one thing wrong, and the statuses that may answer it.
fn broken_link_body(rng: &mut Rng, valid: &Value) -> (Vec<u8>, String, Vec<u16>) {
    let mut body = valid.clone();
    let (what, allowed): (String, Vec<u16>) = match rng.below(9) {
        0 => {
            let (body, what, size) = api_junk_body(rng, valid);
            let allowed = if size == Size::Over {
                vec![413]
            } else {
                vec![400]
            };
            return (body, what, allowed);
        }
        1 => {
            body.as_object_mut()
                .expect("an object")
                .remove("client_type");
            ("no client_type".into(), vec![400])
        }
        2 => {
            let wrong = [
                json!("1"),
                json!(1.5),
                Value::Null,
                json!({}),
                json!([1]),
                json!(true),
            ];
            let value = rng.choose(&wrong).clone();
            body["client_type"] = value.clone();
            (format!("client_type {value}"), vec![400])
        }
        3 => {
            let invalid = [0, 4, 5, 7, 11, -1, i64::MAX];
            let value = *rng.choose(&invalid);
            body["client_type"] = json!(value);
            (format!("client_type {value}"), vec![422])
        }
        4 => {
            let wrong = [json!(5), json!({}), json!(["fuzz"]), json!(true)];
            let value = rng.choose(&wrong).clone();
            body["tag"] = value.clone();
            (format!("tag {value}"), vec![400])
        }
        5 => {
            let wrong = [json!({}), json!(["tg"]), json!(true), json!(1.5)];
            let value = rng.choose(&wrong).clone();
            body["group"] = value.clone();
            (format!("group {value}"), vec![400])
        }
        6 => {
            let len = 4_097 + rng.below(20_000);
            body["tag"] = json!("t".repeat(len));
            (format!("a {len}-character tag"), vec![422])
        }
        7 => {
            let groups = [json!("nope"), json!(12_345), json!("wa"), json!("")];
            let value = rng.choose(&groups).clone();
            body["group"] = value.clone();
            (format!("group {value} (no such Telegram bot)"), vec![422])
        }
        _ => {
            let arrays = [
                json!([1]),
                json!([1, "fuzz", "tg"]),
                json!([6, "fuzz", "wa"]),
            ];
            let value = rng.choose(&arrays).clone();
            return (
                value.to_string().into_bytes(),
                format!("the fields in an array: {value}"),
                vec![400],
            );
        }
    };
    (body.to_string().into_bytes(), what, allowed)
}

fn get_client_case(rng: &mut Rng, t: &Target) -> Case {
    let (id, valid): (String, &[u16]) = match rng.below(3) {
        0 => (id_text(&t.client_id), &[200]),
        1 => ("987654".into(), &[404]),
        _ => (junk_segment(rng).0, &[400]),
    };
    let (request, auth, auth_what) = api_request(rng, t, "GET", &format!("/clients/{id}"));
    let allowed = if valid == [400] {
        vec![400]
    } else {
        by_auth(auth, valid)
    };
    case(
        "GET client",
        format!("id {id:?}, {auth_what}"),
        request,
        &allowed,
    )
}

/// A (group, user) path pair that names no existing dialog (junk in one or both).
fn unknown_contact(rng: &mut Rng) -> (String, String, String) {
    let groups = ["tg", "vb", "fb", "wa", "ig", "nope"];
    match rng.below(4) {
        0 => {
            let (group, user) = *rng.choose(&FUZZ_USERS);
            (
                group.into(),
                pct(user.as_bytes()),
                "a user who never wrote".into(),
            )
        }
        1 => {
            let (junk, what) = junk_segment(rng);
            (
                rng.choose(&groups).to_string(),
                junk,
                format!("user {what}"),
            )
        }
        2 => {
            let (junk, what) = junk_segment(rng);
            (junk, KNOWN_USER.into(), format!("group {what}"))
        }
        _ => {
            let (group, _) = junk_segment(rng);
            let (user, _) = junk_segment(rng);
            (group, user, "junk group and user".into())
        }
    }
}

fn get_contact_case(rng: &mut Rng, t: &Target) -> Case {
    let (group, user, what, valid): (String, String, String, &[u16]) = if rng.percent(15) {
        (
            "tg".into(),
            KNOWN_USER.into(),
            "the known dialog".into(),
            &[200],
        )
    } else {
        let (group, user, what) = unknown_contact(rng);
        (group, user, what, &[400, 404])
    };
    let (request, auth, auth_what) =
        api_request(rng, t, "GET", &format!("/contacts/{group}/{user}"));
    let mut allowed = by_auth(auth, valid);
    if auth == Auth::Invalid && valid != [200] {
        allowed.push(400);
    }
    case(
        "GET contact",
        format!("{what}, {auth_what}"),
        request,
        &allowed,
    )
}

fn unmerge_case(rng: &mut Rng, t: &Target) -> Case {
    let (group, user, what) = unknown_contact(rng);
    let (request, auth, auth_what) =
        api_request(rng, t, "POST", &format!("/contacts/{group}/{user}/unmerge"));
    let (body, body_what, size) = if rng.percent(30) {
        api_junk_body(rng, &json!({"x": 1}))
    } else {
        (Vec::new(), "no body".into(), Size::Normal)
    };
    let allowed = match (size, auth) {
        (Size::Over, _) => vec![400, 401, 404, 413],
        (_, Auth::Valid) => vec![400, 404],
        (_, Auth::Invalid) => vec![400, 401],
        (_, Auth::Unsure) => vec![],
    };
    case(
        "POST unmerge",
        format!("{what}, {auth_what}, {body_what}"),
        request.body(body),
        &allowed,
    )
}

fn deliveries_case(rng: &mut Rng, t: &Target) -> Case {
    let statuses: [(&str, &[u16]); 12] = [
        ("", &[200]),
        ("?status=pending", &[200]),
        ("?status=failed", &[200]),
        ("?status=all", &[200]),
        ("?status=PENDING", &[400]),
        ("?status=", &[400]),
        ("?status=%FF", &[400]),
        ("?status=pending%00", &[400]),
        ("?status=pending&status=failed", &[200, 400]),
        ("?status", &[200, 400]),
        ("?status=%", &[200, 400]),
        ("?other=1", &[200]),
    ];
    let (query, valid) = if rng.percent(5) {
        (format!("?status={}", "s".repeat(5_000)), &[400][..])
    } else {
        let (query, valid) = *rng.choose(&statuses);
        (query.to_string(), valid)
    };
    let (request, auth, auth_what) = api_request(rng, t, "GET", &format!("/deliveries{query}"));
    let shown: String = query.chars().take(40).collect();
    case(
        "GET deliveries",
        format!("query {shown:?}, {auth_what}"),
        request,
        &by_auth(auth, valid),
    )
}

fn resend_case(rng: &mut Rng, t: &Target) -> Case {
    let (id, valid): (String, &[u16]) = match rng.below(3) {
        0 => ((1 + rng.below(1_000)).to_string(), &[404]),
        1 => ("987654321".into(), &[404]),
        _ => (junk_segment(rng).0, &[400, 404]),
    };
    let (request, auth, auth_what) =
        api_request(rng, t, "POST", &format!("/deliveries/{id}/resend"));
    let (body, body_what, size) = if rng.percent(30) {
        api_junk_body(rng, &json!({"x": 1}))
    } else {
        (Vec::new(), "no body".into(), Size::Normal)
    };
    let mut allowed = by_auth(auth, valid);
    if !allowed.is_empty() {
        allowed.push(400);
        if size == Size::Over {
            allowed.push(413);
        }
    }
    case(
        "POST resend",
        format!("id {id:?}, {auth_what}, {body_what}"),
        request.body(body),
        &allowed,
    )
}

// --- the rest -----------------------------------------------------------------------------

fn mlink_case(rng: &mut Rng, t: &Target) -> Case {
    let token = &t.link_token;
    let tampered = {
        let mut chars: Vec<char> = token.chars().collect();
        let at = rng.below(chars.len());
        chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
        chars.into_iter().collect::<String>()
    };
    let random_len = 1 + rng.below(64);
    let random_bytes = rng.bytes(random_len);
    let tokens = [
        tampered,
        token[..token.len() / 2].to_string(),
        format!("{token}A"),
        pct(&random_bytes),
        "A".repeat(8_000),
        junk_segment(rng).0,
        String::new(),
    ];
    let junk = rng.choose(&tokens).clone();
    let method = if rng.percent(85) {
        *rng.choose(&["GET", "HEAD"])
    } else {
        *rng.choose(&["POST", "PUT", "DELETE"])
    };
    let user_agents: [&[u8]; 4] = [
        b"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile",
        b"",
        b"\xff\xfe junk agent",
        b"Mozilla/5.0 (X11; Linux x86_64)",
    ];
    let mut request = RawRequest::new(method, format!("/mlink/{junk}"));
    if rng.percent(70) {
        request = request.header("user-agent", *rng.choose(&user_agents));
    }
    if rng.percent(30) {
        let languages: [&[u8]; 3] = [b"ru-RU,ru;q=0.9", b"ru;q=abc,,;;=", b"\xff\xfe;q=1"];
        request = request.header("accept-language", *rng.choose(&languages));
    }
    let allowed: &[u16] = match method {
        "GET" | "HEAD" if junk.is_empty() => &[],
        "GET" | "HEAD" => &[404, 410],
        _ => &[405],
    };
    let shown: String = junk.chars().take(40).collect();
    case(
        "/mlink",
        format!("{method} token {shown:?}"),
        request,
        allowed,
    )
}

fn odd_method_case(rng: &mut Rng, t: &Target) -> Case {
    let paths = [
        t.project.path(""),
        t.project.path("/bots"),
        t.project.path("/bots/tg"),
        t.project
            .path(&format!("/clients/{}", id_text(&t.client_id))),
        t.project
            .path(&format!("/clients/{}/merge-links", id_text(&t.client_id))),
        t.project.path(&format!("/contacts/tg/{KNOWN_USER}")),
        t.project
            .path(&format!("/contacts/tg/{KNOWN_USER}/unmerge")),
        t.project.path("/deliveries"),
        t.project.path("/deliveries/1/resend"),
        "/webhooks/fuzz/tg".to_string(),
        "/webhooks/fuzz/fb".to_string(),
    ];
    // Methods the runtime knows (it answers 501 itself to unknown ones, before the worker).
    let methods = [
        "DELETE", "PATCH", "OPTIONS", "HEAD", "PROPFIND", "PURGE", "REPORT", "MKCOL",
    ];
    let method = *rng.choose(&methods);
    let path = rng.choose(&paths).clone();
    let (header, _, auth_what) = pick_auth(rng, &t.project.api_key, mlink_e2e::ADMIN_TOKEN);
    let body = if method == "HEAD" || rng.percent(50) {
        Vec::new()
    } else {
        json!({"client_type": 1, "callback_url": "http://evil.example/cb"})
            .to_string()
            .into_bytes()
    };
    let request = with_auth(RawRequest::new(method, path.clone()), header).body(body);
    case(
        "odd method",
        format!("{method} {path}, {auth_what}"),
        request,
        &[400, 401, 404, 405],
    )
}

fn odd_path_case(rng: &mut Rng, t: &Target) -> Case {
    let paths = [
        "/api",
        "/api/",
        "/api/v1",
        "/api/v1/projects",
        "/api/v1/projects/",
        "/api/v2/projects/fuzz",
        "/api/v1/projects/fuzz/",
        "/api/v1/projects/fuzz//bots",
        "//api/v1/projects/fuzz/bots",
        "/api/v1/projects/fuzz/bots/",
        "/api/v1/projects/fuzz/clients",
        "/api/v1/projects/fuzz/clients/1/merge-links/extra",
        "/api/v1/projects/fuzz/contacts/tg",
        "/api/v1/projects/fuzz/contacts/tg/4242/unmerge/x",
        "/api/v1/projects/fuzz/deliveries/1",
        "/api/v1/projects/fuzz/deliveries/1/resend/x",
        "/api/v1/projects/fuzz/nope",
        "/api/v1/projects/fuzz/bots%2F..%2Fx",
        "/api/v1/projects/fuzz/%2e%2e/bots",
        "/api/v1/projects/fuzz/bots?%%%",
        "/webhooks",
        "/webhooks/",
        "/webhooks/fuzz",
        "/webhooks/fuzz/",
        "/webhooks/fuzz/tg/x",
        "/webhooks//tg",
        "/API/v1/projects/fuzz/bots",
        "/mlink",
        "/mlink/",
        "/mlink/a/b",
        "/health/x",
        "/internal/public-bot/tg",
        "/%FF%FE",
        "/.env",
    ];
    let path = rng.choose(&paths).to_string();
    let method = *rng.choose(&["GET", "POST", "PUT", "DELETE"]);
    let (header, _, auth_what) = pick_auth(rng, &t.project.api_key, mlink_e2e::ADMIN_TOKEN);
    let body = if method == "GET" {
        Vec::new()
    } else {
        malformed_body(rng, &json!({"client_type": 1})).0
    };
    let request = with_auth(RawRequest::new(method, path.clone()), header).body(body);
    case(
        "odd path",
        format!("{method} {path}, {auth_what}"),
        request,
        &[],
    )
}

/// xorshift64* (Vigna): small, fast, reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // SplitMix64 once, so small or similar seeds give unrelated streams (and never 0).
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)).max(1))
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn percent(&mut self, p: u64) -> bool {
        self.next_u64() % 100 < p
    }

    fn choose<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

#[test]
fn fuzz_helpers_behave() {
    let mut a = Rng::new(7);
    let mut b = Rng::new(7);
    let first: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
    assert_eq!(first, (0..5).map(|_| b.next_u64()).collect::<Vec<_>>());
    assert_ne!(Rng::new(8).next_u64(), first[0]);
    assert!((0..1000).all(|_| a.below(7) < 7));

    assert_eq!(sized_body(MAX_BODY).len(), MAX_BODY);
    assert!(serde_json::from_slice::<Value>(&sized_body(100)).is_ok());
    assert_eq!(pct(b"a b/\xff"), "a%20b%2F%FF");
    assert_eq!(
        invalid_utf8_in_strings(br#"{"a":"b","c":"d"}"#, b"\xff", true),
        b"{\"a\":\"b\",\"c\":\"\xffd\"}".to_vec()
    );
    assert_eq!(
        invalid_utf8_in_strings(br#"{"a":"b","c":"d"}"#, b"\xff", false),
        b"{\"a\":\"\xffb\",\"c\":\"d\"}".to_vec()
    );

    let mut value = json!({"a": {"b": [{"c": 1}]}});
    set_path(&mut value, &["a", "b", "0", "c"], Some(json!("x")));
    assert_eq!(value, json!({"a": {"b": [{"c": "x"}]}}));
    set_path(&mut value, &["a", "b", "0", "c"], None);
    assert_eq!(value, json!({"a": {"b": [{}]}}));

    // Every malformed body is not a JSON object.
    let valid = json!({"client_type": 1, "tag": "x", "group": "tg"});
    let mut rng = Rng::new(1);
    for _ in 0..500 {
        let (body, what) = malformed_body(&mut rng, &valid);
        let parsed = serde_json::from_slice::<Value>(&body);
        assert!(
            !matches!(parsed, Ok(Value::Object(_))),
            "{what}: {:?}",
            String::from_utf8_lossy(&body)
        );
    }
}
