//! The outbox's duties (Standard Webhooks): 410 Gone switches callbacks off until the owner
//! re-enables them, deliveries can be listed and re-sent, and merge links are rate limited.

mod support;

use mlink_core::service::delivery::{self, Attempt};
use mlink_core::service::{owner, ApiError};
use mlink_core::store::OutboxKind;
use serde_json::json;
use support::world::{World, T0};

fn first_callback(w: &World) -> mlink_core::store::OutboxItem {
    w.outbox()
        .into_iter()
        .find(|i| i.kind == OutboxKind::Callback)
        .expect("a callback in the outbox")
}

/// The card made when Telegram user `who` first writes to bot A.
fn new_card(w: &World, who: i64) -> mlink_core::domain::ClientId {
    w.say("A", who, "hello", T0);
    w.card_of("A", &who.to_string())
}

#[test]
fn gone_disables_callbacks_until_the_url_is_set_again() {
    let w = World::with_bots_a_b();
    w.say("A", 555, "hello", T0);
    w.say("A", 555, "again", T0);
    let item = first_callback(&w);
    assert_eq!(delivery::judge(410, None, "", &item), Attempt::Gone);
    delivery::record(&w.store, &w.config, &item, Attempt::Gone, T0 + 1).unwrap();

    let project = w.store.project().unwrap().unwrap();
    let shown = owner::get_project(&w.store, &project).unwrap().body;
    assert_eq!(shown["endpoint"]["status"], "disabled", "{shown}");
    assert_eq!(shown["deliveries"]["pending"], 2, "both events wait");
    assert_eq!(
        delivery::next_wakeup(&w.store).unwrap(),
        None,
        "no busy alarm"
    );
    assert!(!delivery::callbacks_enabled(&w.store).unwrap());

    let body = json!({"callback_url": "https://owner.example/new"}).to_string();
    owner::put_project(&w.store, &w.project, body.as_bytes(), T0 + 2).unwrap();
    let shown = owner::get_project(&w.store, &project).unwrap().body;
    assert_eq!(shown["endpoint"]["status"], "active", "{shown}");
    // Events go in order: the first (retried at T0 + 1) holds the second (due at T0) back.
    assert_eq!(delivery::next_wakeup(&w.store).unwrap(), Some(T0 + 1));
}

#[test]
fn a_410_from_a_messenger_is_an_ordinary_failure() {
    let w = World::with_bots_a_b();
    let payload = w.link_payload(new_card(&w, 555), "B", "Hi", T0);
    w.say("B", 777, &format!("/start {payload}"), T0);
    let send = w
        .outbox()
        .into_iter()
        .find(|i| i.kind == OutboxKind::Send)
        .unwrap();
    assert!(matches!(
        delivery::judge(410, None, "", &send),
        Attempt::Failed { .. }
    ));
}

#[test]
fn deliveries_are_listed_and_a_failed_one_resent() {
    let w = World::with_bots_a_b();
    w.say("A", 555, "hello", T0);
    let item = first_callback(&w);
    let failed = Attempt::Failed {
        error: "callback receiver answered 500: no".into(),
        retry_after_s: None,
    };
    // The test schedule has two steps: the third failure is final.
    for attempts in 0..3 {
        let current = w.store.outbox_item(item.id).unwrap().unwrap();
        assert_eq!(current.attempts, attempts);
        delivery::record(&w.store, &w.config, &current, failed.clone(), T0).unwrap();
    }
    let listed = owner::list_deliveries(&w.store, &[("status".into(), "failed".into())])
        .unwrap()
        .body;
    let failed_items = listed["deliveries"].as_array().unwrap();
    assert_eq!(failed_items.len(), 1, "{listed}");
    assert_eq!(failed_items[0]["type"], "message");
    assert_eq!(failed_items[0]["webhook_id"], json!(item.webhook_id));
    assert!(failed_items[0]["last_error"]
        .as_str()
        .unwrap()
        .contains("500"));
    let pending = owner::list_deliveries(&w.store, &[("status".into(), "pending".into())])
        .unwrap()
        .body;
    assert_eq!(pending["deliveries"], json!([]));

    let resent = owner::resend_delivery(&w.store, item.id, T0 + 5)
        .unwrap()
        .body;
    assert_eq!(resent["delivery"]["status"], "pending", "{resent}");
    assert_eq!(resent["delivery"]["webhook_id"], json!(item.webhook_id));
    assert_eq!(delivery::next_wakeup(&w.store).unwrap(), Some(T0 + 5));
    let missing = owner::resend_delivery(&w.store, 9999, T0).unwrap_err();
    assert_eq!(missing.status(), 404);
    let bad = owner::list_deliveries(&w.store, &[("status".into(), "odd".into())]).unwrap_err();
    assert_eq!(bad.status(), 400);
}

#[test]
fn merge_links_are_rate_limited_per_minute() {
    let mut w = World::with_bots_a_b();
    w.config.link_rate_per_minute = 3;
    let card = new_card(&w, 555);
    let body = json!({"client_type": 1, "group": "B"});
    let minute = T0 - T0 % 60_000;
    for i in 0..3 {
        w.merge_link(card, body.clone(), minute + i).unwrap();
    }
    let refused = w
        .merge_link(card, body.clone(), minute + 10_000)
        .unwrap_err();
    assert_eq!(refused, ApiError::RateLimited(50));
    assert_eq!(refused.status(), 429);
    let created = w
        .history_events(card)
        .iter()
        .filter(|e| *e == "merge_link_created")
        .count();
    assert_eq!(created, 3, "the refused link wrote nothing");
    // A new minute, a new allowance.
    assert!(w.merge_link(card, body, minute + 60_000).is_ok());
}

#[test]
fn the_funnel_counts_created_opened_and_completed_links_per_messenger() {
    let w = World::with_bots_a_b();
    let card = new_card(&w, 555);
    let payloads: Vec<String> = (0..3).map(|_| w.link_payload(card, "B", "", T0)).collect();
    w.store.record_open(&payloads[0], T0 + 1).unwrap();
    w.store.record_open(&payloads[0], T0 + 2).unwrap();
    w.store.record_open(&payloads[1], T0 + 3).unwrap();
    w.say("B", 555, &format!("/start {}", payloads[0]), T0 + 4);
    // A link completed without a reported click still counts as opened.
    let other = new_card(&w, 556);
    let direct = w.link_payload(other, "B", "", T0);
    w.say("B", 556, &format!("/start {direct}"), T0 + 5);

    let query = [("from".to_string(), (T0 / 1000 - 60).to_string())];
    let stats = owner::stats(&w.store, &query, T0 + 10).unwrap().body;
    let telegram = &stats["messengers"][0];
    assert_eq!(telegram["messenger"], "telegram", "{stats}");
    assert_eq!(
        (
            &telegram["created"],
            &telegram["opened"],
            &telegram["completed"]
        ),
        (&json!(4), &json!(3), &json!(2)),
        "{stats}"
    );
    assert_eq!(telegram["completion_rate"], 0.5);
    assert_eq!(stats["messengers"].as_array().unwrap().len(), 5);
    assert_eq!(stats["messengers"][4]["created"], 0);
    assert_eq!(stats["total"]["created"], 4);

    let later = [("from".to_string(), "2030-01-01T00:00:00Z".to_string())];
    let empty = owner::stats(&w.store, &later, T0 + 10).unwrap_err();
    assert_eq!(empty.status(), 400, "from after to");
    for junk in [
        "yesterday",
        "99999999999999",
        "-8334601228800",
        "10000-01-01T00:00:00Z",
    ] {
        let query = [("to".to_string(), junk.to_string())];
        assert_eq!(
            owner::stats(&w.store, &query, T0).unwrap_err().status(),
            400,
            "{junk}"
        );
    }
}

/// User 777 follows a merge link into bot B: a `message` callback (from making the card), the
/// `switch_to_telegram` callback and the welcome text wait in the outbox.
fn merge_with_welcome(w: &World) {
    let payload = w.link_payload(new_card(w, 555), "B", "Welcome", T0);
    w.say("B", 777, &format!("/start {payload}"), T0);
}

fn failure(error: &str) -> Attempt {
    Attempt::Failed {
        error: error.into(),
        retry_after_s: None,
    }
}

#[test]
fn a_round_takes_due_callbacks_in_order_and_every_due_send() {
    let w = World::with_bots_a_b();
    merge_with_welcome(&w);
    w.say("A", 555, "after the merge", T0);

    let round = delivery::next_round(&w.store, T0).unwrap();
    let ids: Vec<i64> = round.callbacks.iter().map(|i| i.id).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted, "callbacks in the order they happened");
    assert_eq!(
        round.callbacks.len(),
        3,
        "message, switch_to_telegram, message"
    );
    assert_eq!(round.sends.len(), 1, "the tag");
    assert!(round.sends[0].payload.contains("Welcome"));
    assert!(delivery::next_round(&w.store, T0 - 1).unwrap().is_empty());
}

#[test]
fn a_round_is_recorded_at_once_and_a_failed_callback_holds_the_ones_behind_it() {
    let w = World::with_bots_a_b();
    merge_with_welcome(&w);
    let round = delivery::next_round(&w.store, T0).unwrap();
    let (first, second) = (&round.callbacks[0], &round.callbacks[1]);
    let outcomes = [
        (first, Attempt::Delivered),
        (second, failure("callback receiver answered 500")),
        (&round.sends[0], Attempt::Delivered),
    ];
    delivery::record_round(&w.store, &w.config, outcomes, T0 + 1).unwrap();

    assert!(
        w.store.outbox_item(first.id).unwrap().is_none(),
        "delivered"
    );
    assert!(w.store.outbox_item(round.sends[0].id).unwrap().is_none());
    let held = w.store.outbox_item(second.id).unwrap().unwrap();
    assert_eq!((held.attempts, held.status.as_str()), (1, "pending"));
    assert!(held.next_attempt_at > T0 + 1);
    let later = delivery::next_round(&w.store, T0 + 2).unwrap();
    assert!(later.is_empty(), "nothing due until the retry: {later:?}");
    let retry = delivery::next_round(&w.store, held.next_attempt_at).unwrap();
    assert_eq!(retry.callbacks.len(), 1);
    assert_eq!(retry.callbacks[0].id, second.id);
}

#[test]
fn a_round_carries_the_projects_callback_concurrency() {
    let w = World::with_bots_a_b();
    merge_with_welcome(&w);
    assert_eq!(
        delivery::next_round(&w.store, T0)
            .unwrap()
            .callback_concurrency,
        1,
        "by default, one callback at a time"
    );
    let body = json!({"callback_url": "https://owner.example/cb", "callback_concurrency": 6});
    owner::put_project(&w.store, &w.project, body.to_string().as_bytes(), T0).unwrap();
    let round = delivery::next_round(&w.store, T0).unwrap();
    assert_eq!(round.callback_concurrency, 6);
    assert_eq!(round.callbacks.len(), 2, "the same callbacks, in order");
}

#[test]
fn a_round_takes_no_callback_while_the_endpoint_is_disabled() {
    let w = World::with_bots_a_b();
    merge_with_welcome(&w);
    let round = delivery::next_round(&w.store, T0).unwrap();
    let gone = [(&round.callbacks[0], Attempt::Gone)];
    delivery::record_round(&w.store, &w.config, gone, T0).unwrap();

    let round = delivery::next_round(&w.store, T0 + 1).unwrap();
    assert!(round.callbacks.is_empty());
    assert_eq!(round.sends.len(), 1, "texts to clients still go out");
}

#[test]
fn bots_and_the_project_read_from_memory_follow_every_write() {
    let w = World::with_bots_a_b();
    let b = support::world::group("B");
    merge_with_welcome(&w); // reads bot B into memory
    w.connect_telegram("B", "OtherBot", "999:ZZZ");
    let record = owner::public_bot(&w.store, &b)
        .unwrap()
        .unwrap()
        .to_record();
    assert!(record.ends_with("OtherBot"), "{record}");
    let send = delivery::next_round(&w.store, T0).unwrap().sends.remove(0);
    let request = delivery::request_for(&w.store, &w.config, &send, T0).unwrap();
    assert!(request.url.contains("999:ZZZ"), "sent with the new token");

    // A transaction that rolls back leaves nothing behind in memory either.
    let bot = w.store.bot(&b).unwrap().unwrap().bot;
    let mut renamed = bot.clone();
    renamed.group = support::world::group("C");
    let rolled_back: Result<(), ApiError> = w.store.transaction(|s| {
        s.save_bot(&renamed, T0)?;
        assert!(s.bot(&renamed.group)?.is_some(), "seen inside");
        Err(ApiError::BadRequest("no".into()))
    });
    assert!(rolled_back.is_err());
    assert!(w.store.bot(&renamed.group).unwrap().is_none());

    let before = w.store.project().unwrap().unwrap();
    let body = json!({"callback_url": "https://owner.example/other"}).to_string();
    owner::put_project(&w.store, &w.project, body.as_bytes(), T0).unwrap();
    let after = w.store.project().unwrap().unwrap();
    assert_eq!(after.callback_url, "https://owner.example/other");
    assert_ne!(before.callback_url, after.callback_url);
}

#[test]
fn the_outbox_is_read_through_its_partial_indexes() {
    use mlink_core::store::{Sql, Store, Value};
    let sql = support::sqlite::Sqlite::memory();
    Store::open(&sql).unwrap();
    let plan = |query: &str| -> String {
        sql.exec(&format!("EXPLAIN QUERY PLAN {query}"), &[])
            .unwrap()
            .into_iter()
            .filter_map(|row| match row.0.last() {
                Some(Value::Text(detail)) => Some(detail.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    // What the alarm and requests ask of the outbox (as the store words it), and the index each
    // must be answered from: never a walk over every row, parked callbacks included.
    let queries = [
        (
            "SELECT MIN(next_attempt_at) FROM outbox WHERE kind = 'send' AND status = 'pending'",
            "outbox_pending_sends",
        ),
        (
            "SELECT id FROM outbox WHERE kind = 'send' AND status = 'pending'
                AND next_attempt_at <= 5 ORDER BY next_attempt_at, id LIMIT 50",
            "outbox_pending_sends (next_attempt_at<?)",
        ),
        (
            "SELECT id FROM outbox WHERE kind = 'callback' AND status = 'pending'
                ORDER BY id LIMIT 50",
            "outbox_pending_callbacks",
        ),
        (
            "SELECT next_attempt_at FROM outbox WHERE kind = 'callback' AND status = 'pending'
                ORDER BY id LIMIT 1",
            "outbox_pending_callbacks",
        ),
    ];
    for (query, index) in queries {
        let plan = plan(query);
        let by_index = [
            format!("USING INDEX {index}"),
            format!("USING COVERING INDEX {index}"),
        ];
        assert!(by_index.iter().any(|i| plan.contains(i)), "{query}: {plan}");
    }
}
