//! The service layer against the real SQL (rusqlite, in memory): webhooks, merges, unmerges, the
//! owner API, transactions and outbox delivery.

mod support;

use mlink_core::domain::callback::SigningKey;
use mlink_core::domain::time::rfc3339;
use mlink_core::domain::token::{LinkId, LinkToken};
use mlink_core::domain::{ClientId, ClientType};
use mlink_core::service::delivery::{self, Attempt};
use mlink_core::service::webhook::replies;
use mlink_core::service::{owner, ApiError, DEFAULT_LINK_TTL_S};
use mlink_core::store::{NewOutboxItem, OutboxItem, OutboxKind, Store};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use support::sqlite::Sqlite;
use support::world::{
    group, send, telegram_ref, user, World, CALLBACK_URL, PROJECT, PUBLIC_BASE, T0, TELEGRAM_BASE,
};

const TTL_MS: i64 = DEFAULT_LINK_TTL_S * 1000;

fn start(payload: &str) -> String {
    format!("/start {payload}")
}

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn dialogs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(g, u)| (g.to_string(), u.to_string()))
        .collect()
}

fn link_id(payload: &str) -> LinkId {
    LinkId::from_payload(payload).unwrap()
}

/// Bots A and B; user 111 wrote to A (card X); a merge link for X into B tagged "Hi B" (made at
/// T0 + 1000); returns the world, X and the link's payload.
fn card_x_with_link_to_b() -> (World, ClientId, String) {
    let w = World::with_bots_a_b();
    w.say("A", 111, "hi", T0);
    let x = w.card_of("A", "111");
    let payload = w.link_payload(x, "B", "Hi B", T0 + 1000);
    (w, x, payload)
}

/// Card X (A:111, `city`=Paris) and card Y (B:777, `city`=Berlin, `only_y`=yes), then 777 follows
/// X's link into B (tag "Welcome") at T0 + 300, which merges Y into X.
fn merged_world() -> (World, ClientId, ClientId, String) {
    let w = World::with_bots_a_b();
    w.say("A", 111, "hi", T0);
    w.say("B", 777, "hello", T0 + 100);
    let (x, y) = (w.card_of("A", "111"), w.card_of("B", "777"));
    w.store.set_variable(x, "city", "Paris").unwrap();
    w.store.set_variable(y, "city", "Berlin").unwrap();
    w.store.set_variable(y, "only_y", "yes").unwrap();
    let payload = w.link_payload(x, "B", "Welcome", T0 + 200);
    let outcome = w.say("B", 777, &start(&payload), T0 + 300);
    assert_eq!(outcome.used_links, vec![link_id(&payload)]);
    (w, x, y, payload)
}

// 1. First contact and later messages.

#[test]
fn first_message_creates_a_card_a_contact_and_a_message_callback() {
    let w = World::with_bots_a_b();
    let outcome = w.say("A", 111, "hello", T0 + 10);
    assert_eq!(outcome.reply.status, 200);
    assert_eq!(outcome.reply.body, json!({"ok": true}));
    assert!(outcome.used_links.is_empty());

    let x = w.card_of("A", "111");
    assert_eq!(x, ClientId(1));
    let contact = w.contact("A", "111").unwrap();
    assert_eq!(contact.home_client_id, x);
    assert_eq!(contact.client_type, ClientType::Telegram);
    assert_eq!(contact.name.as_deref(), Some("User111"));
    assert_eq!(contact.linked_at, T0 + 10);
    assert_eq!(contact.last_inbound_at, Some(T0 + 10));

    let items = w.outbox();
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert_eq!(item.kind, OutboxKind::Callback);
    assert!(item.webhook_id.as_deref().unwrap().starts_with("msg_"));
    assert_eq!(
        (item.status.as_str(), item.attempts, item.next_attempt_at),
        ("pending", 0, T0 + 10)
    );
    let event: Value = serde_json::from_str(&item.payload).unwrap();
    assert_eq!(
        event,
        json!({
            "type": "message",
            "timestamp": rfc3339(T0 + 10),
            "data": {
                "client_id": x.0,
                "contact": telegram_ref("A", "111"),
                "text": "hello",
                "message_id": "1007",
            }
        })
    );

    let card = w.card(x);
    assert_eq!(card["client_id"], 1);
    assert!(card["merged_into"].is_null());
    assert_eq!(card["contacts"].as_array().unwrap().len(), 1);
    assert_eq!(card["contacts"][0]["user_id"], "111");
    assert_eq!(card["contacts"][0]["name"], "User111");
    assert_eq!(card["variables"], json!({}));
    assert_eq!(w.history_events(x), ["created"]);
}

#[test]
fn a_second_message_from_the_same_user_reuses_the_card() {
    let w = World::with_bots_a_b();
    w.say("A", 111, "hello", T0);
    let x = w.card_of("A", "111");
    w.say("A", 111, "again", T0 + 60_000);

    assert_eq!(w.card_of("A", "111"), x);
    assert_eq!(w.store.client(ClientId(2)).unwrap(), None);
    assert_eq!(w.dialogs(x), dialogs(&[("A", "111")]));
    assert_eq!(
        w.contact("A", "111").unwrap().last_inbound_at,
        Some(T0 + 60_000)
    );
    assert_eq!(w.history_events(x), ["created"]);

    let messages = w.callbacks_of("message");
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["data"]["client_id"], x.0);
    assert_eq!(messages[1]["data"]["client_id"], x.0);
    assert_eq!(messages[1]["data"]["text"], "again");
    let ids: Vec<_> = w.outbox().into_iter().map(|i| i.webhook_id).collect();
    assert_ne!(ids[0], ids[1], "each event has its own webhook-id");
}

// 2. Merge through a link, by a new contact.

#[test]
fn a_new_contact_following_a_link_joins_the_links_card() {
    let (w, x, payload) = card_x_with_link_to_b();
    let link = w.store.link(&payload).unwrap().unwrap();
    assert_eq!(link.client_id, x);
    assert_eq!(link.group, "B");
    assert_eq!(link.tag, "Hi B");
    assert_eq!(link.from, Some(("A".into(), "111".into())));
    assert_eq!(link.expires_at, T0 + 1000 + TTL_MS);
    assert_eq!(link.used_at, None);

    let outcome = w.say("B", 555, &start(&payload), T0 + 2000);
    assert_eq!(outcome.used_links, vec![link_id(&payload)]);

    assert_eq!(w.dialogs(x), dialogs(&[("A", "111"), ("B", "555")]));
    let joined = w.contact("B", "555").unwrap();
    assert_eq!((joined.client_id, joined.home_client_id), (x, x));
    assert_eq!(w.store.client(ClientId(2)).unwrap(), None, "no new card");

    let outbox = w.outbox();
    assert_eq!(outbox.len(), 3, "message, send, switch: {outbox:?}");
    assert_eq!(w.sends(), vec![send("B", "555", "Hi B")]);
    let switches = w.callbacks_of("switch_to_telegram");
    assert_eq!(switches.len(), 1);
    assert_eq!(switches[0]["timestamp"], rfc3339(T0 + 2000));
    assert_eq!(
        switches[0]["data"],
        json!({
            "client_id": x.0,
            "contact": telegram_ref("B", "555"),
            "from": telegram_ref("A", "111"),
            "note": "Hi B",
        })
    );
    assert_eq!(w.callbacks().len(), 2);

    let link = w.store.link(&payload).unwrap().unwrap();
    assert_eq!(link.used_at, Some(T0 + 2000));
    assert_eq!(link.used_by, Some(("B".into(), "555".into())));
    assert_eq!(
        w.history_events(x),
        ["created", "merge_link_created", "contact_linked"]
    );
}

// 3. Duplicate deliveries.

#[test]
fn a_duplicate_delivery_changes_nothing() {
    let w = World::with_bots_a_b();
    w.deliver("A", 42, 111, "hello", T0);
    let x = w.card_of("A", "111");
    let (outbox, card) = (w.outbox(), w.card(x));

    let again = w.deliver("A", 42, 111, "hello", T0 + 5000);
    assert_eq!(again.reply.status, 200);
    assert_eq!(w.outbox(), outbox);
    assert_eq!(w.card(x), card);

    // The same update id from another bot is another delivery.
    w.deliver("B", 42, 111, "hello", T0 + 6000);
    assert_eq!(w.outbox().len(), 2);
    assert_ne!(w.card_of("B", "111"), x);
}

#[test]
fn a_duplicate_merging_start_merges_and_sends_once() {
    let (w, x, payload) = card_x_with_link_to_b();
    let first = w.deliver("B", 77, 555, &start(&payload), T0 + 2000);
    assert_eq!(first.used_links.len(), 1);
    let (outbox, card) = (w.outbox(), w.card(x));

    let again = w.deliver("B", 77, 555, &start(&payload), T0 + 3000);
    assert!(again.used_links.is_empty());
    assert_eq!(w.outbox(), outbox);
    assert_eq!(w.card(x), card);
    assert_eq!(w.sends().len(), 1);
    assert_eq!(
        w.store.link(&payload).unwrap().unwrap().used_at,
        Some(T0 + 2000)
    );
}

// 4. Merge of an existing card.

#[test]
fn a_link_of_a_card_merged_away_since_leads_into_the_card_it_joined() {
    let w = World::with_bots_a_b();
    w.say("B", 777, "hello", T0);
    let y = w.card_of("B", "777");
    let ys_link = w.link_payload(y, "A", "Hi", T0 + 10);
    assert_eq!(
        w.store.link_with_live_card(&ys_link).unwrap().unwrap().1,
        Some(y),
        "before the merge: its own card"
    );
    w.say("A", 111, "hi", T0 + 20);
    let x = w.card_of("A", "111");
    let xs_link = w.link_payload(x, "B", "Welcome", T0 + 30);
    w.say("B", 777, &start(&xs_link), T0 + 40);
    assert_eq!(w.store.client(y).unwrap().unwrap().merged_into, Some(x));

    assert_eq!(
        w.store.link_with_live_card(&ys_link).unwrap().unwrap().1,
        Some(x)
    );
    let outcome = w.say("A", 333, &start(&ys_link), T0 + 50);
    assert_eq!(outcome.used_links, vec![link_id(&ys_link)]);
    assert_eq!(w.card_of("A", "333"), x);
}

#[test]
fn following_a_link_from_an_existing_card_merges_it() {
    let (w, x, y, payload) = merged_world();
    assert_ne!(x, y);

    assert_eq!(w.dialogs(x), dialogs(&[("A", "111"), ("B", "777")]));
    assert!(w.dialogs(y).is_empty());
    let moved = w.contact("B", "777").unwrap();
    assert_eq!((moved.client_id, moved.home_client_id), (x, y));

    assert_eq!(
        w.store.variables_of(x).unwrap(),
        vars(&[("city", "Paris"), ("only_y", "yes")])
    );
    assert_eq!(
        w.store.variables_of(y).unwrap(),
        vars(&[("city", "Berlin"), ("only_y", "yes")])
    );
    assert_eq!(w.store.client(y).unwrap().unwrap().merged_into, Some(x));
    assert_eq!(w.store.client(x).unwrap().unwrap().merged_into, None);
    assert_eq!(w.card(y)["merged_into"], x.0);
    assert_eq!(w.store.live_client(y).unwrap().unwrap().id, x);

    let cause = json!({"link": payload, "by": "client"});
    let history_x = w.store.history_of(x).unwrap();
    let merged = history_x.last().unwrap();
    assert_eq!((merged.event.as_str(), merged.at), ("merged", T0 + 300));
    assert_eq!(
        merged.detail,
        json!({"from_client_id": y.0, "contacts": [telegram_ref("B", "777")], "cause": cause})
    );
    let history_y = w.store.history_of(y).unwrap();
    let away = history_y.last().unwrap();
    assert_eq!((away.event.as_str(), away.at), ("merged_away", T0 + 300));
    assert_eq!(
        away.detail,
        json!({"into_client_id": x.0, "contacts": [telegram_ref("B", "777")], "cause": cause})
    );

    assert_eq!(w.sends(), vec![send("B", "777", "Welcome")]);
    let switches = w.callbacks_of("switch_to_telegram");
    assert_eq!(switches.len(), 1);
    assert_eq!(
        switches[0]["data"],
        json!({
            "client_id": x.0,
            "contact": telegram_ref("B", "777"),
            "from": telegram_ref("A", "111"),
            "note": "Welcome",
        })
    );
    let link = w.store.link(&payload).unwrap().unwrap();
    assert_eq!(link.used_by, Some(("B".into(), "777".into())));
}

#[test]
fn a_merge_moves_every_dialog_of_the_card_and_unmerges_bring_them_home() {
    let w = World::with_bots_a_b();
    w.connect_telegram("C", "BotC", "333:token-C");
    // Y: 777 in C, then 777 joins Y in B through an untagged link (no text is sent).
    w.say("C", 777, "hello", T0);
    let y = w.card_of("C", "777");
    let to_b = w.link_payload(y, "B", "", T0 + 10);
    w.say("B", 777, &start(&to_b), T0 + 20);
    assert_eq!(w.dialogs(y), dialogs(&[("C", "777"), ("B", "777")]));
    assert!(w.sends().is_empty(), "an empty tag sends nothing");
    assert_eq!(w.callbacks_of("switch_to_telegram")[0]["data"]["note"], "");
    // X: 111 in A. 777 follows X's link into C: all of Y moves.
    w.say("A", 111, "hi", T0 + 30);
    let x = w.card_of("A", "111");
    let to_c = w.link_payload(x, "C", "", T0 + 40);
    w.say("C", 777, &start(&to_c), T0 + 50);
    assert_eq!(
        w.dialogs(x),
        dialogs(&[("C", "777"), ("B", "777"), ("A", "111")])
    );
    assert!(w.dialogs(y).is_empty());
    let merged = w.store.history_of(x).unwrap().pop().unwrap();
    assert_eq!(
        merged.detail["contacts"],
        json!([telegram_ref("C", "777"), telegram_ref("B", "777")])
    );

    owner::unmerge(&w.store, &group("B"), &user("777"), T0 + 60).unwrap();
    assert_eq!(w.store.client(y).unwrap().unwrap().merged_into, None);
    assert_eq!(w.dialogs(y), dialogs(&[("B", "777")]));
    owner::unmerge(&w.store, &group("C"), &user("777"), T0 + 70).unwrap();
    assert_eq!(w.dialogs(y), dialogs(&[("C", "777"), ("B", "777")]));
    assert_eq!(w.dialogs(x), dialogs(&[("A", "111")]));
}

// 5. Unmerge.

#[test]
fn unmerge_sends_a_dialog_back_to_its_home_card() {
    let (w, x, y, _) = merged_world();
    let before = w.outbox().len();

    let reply = owner::unmerge(&w.store, &group("B"), &user("777"), T0 + 1000).unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        json!({"changed": true, "client_id": y.0, "previous_client_id": x.0})
    );
    assert_eq!(w.dialogs(x), dialogs(&[("A", "111")]));
    assert_eq!(w.dialogs(y), dialogs(&[("B", "777")]));
    let back = w.contact("B", "777").unwrap();
    assert_eq!((back.client_id, back.home_client_id), (y, y));
    let card_y = w.store.client(y).unwrap().unwrap();
    assert_eq!(card_y.merged_into, None);
    assert_eq!(card_y.updated_at, T0 + 1000);
    assert_eq!(
        w.store.variables_of(y).unwrap(),
        vars(&[("city", "Berlin"), ("only_y", "yes")])
    );
    assert_eq!(
        w.store.variables_of(x).unwrap(),
        vars(&[("city", "Paris"), ("only_y", "yes")])
    );

    let outbox = w.outbox();
    assert_eq!(outbox.len(), before + 1);
    let last = outbox.last().unwrap();
    assert_eq!(last.kind, OutboxKind::Callback);
    let event: Value = serde_json::from_str(&last.payload).unwrap();
    assert_eq!(
        event,
        json!({
            "type": "unmerged",
            "timestamp": rfc3339(T0 + 1000),
            "data": {"client_id": y.0, "previous_client_id": x.0, "contact": telegram_ref("B", "777")},
        })
    );
    let from_x = w.store.history_of(x).unwrap().pop().unwrap();
    assert_eq!(from_x.event, "unmerged");
    assert_eq!(from_x.detail["to_client_id"], y.0);
    assert_eq!(from_x.detail["cause"], json!({"by": "api"}));
    let into_y = w.store.history_of(y).unwrap().pop().unwrap();
    assert_eq!(into_y.event, "unmerged_here");
    assert_eq!(into_y.detail["from_client_id"], x.0);
}

#[test]
fn unmerging_a_dialog_alone_in_its_card_changes_nothing() {
    let (w, _, y, _) = merged_world();
    owner::unmerge(&w.store, &group("B"), &user("777"), T0 + 1000).unwrap();
    let (outbox, card) = (w.outbox(), w.card(y));

    let reply = owner::unmerge(&w.store, &group("B"), &user("777"), T0 + 2000).unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        json!({"changed": false, "client_id": y.0, "previous_client_id": y.0})
    );
    assert_eq!(w.outbox(), outbox);
    assert_eq!(w.card(y), card);
}

#[test]
fn unmerging_a_dialog_born_in_the_links_card_makes_a_new_card() {
    let (w, x, payload) = card_x_with_link_to_b();
    w.say("B", 555, &start(&payload), T0 + 2000);
    assert_eq!(w.contact("B", "555").unwrap().home_client_id, x);

    let reply = owner::unmerge(&w.store, &group("B"), &user("555"), T0 + 3000).unwrap();
    let fresh = ClientId(2);
    assert_eq!(
        reply.body,
        json!({"changed": true, "client_id": fresh.0, "previous_client_id": x.0})
    );
    assert_eq!(w.dialogs(x), dialogs(&[("A", "111")]));
    assert_eq!(w.dialogs(fresh), dialogs(&[("B", "555")]));
    let moved = w.contact("B", "555").unwrap();
    assert_eq!((moved.client_id, moved.home_client_id), (fresh, fresh));
    assert_eq!(w.store.client(fresh).unwrap().unwrap().merged_into, None);
    assert_eq!(w.history_events(fresh), ["unmerged_here"]);
    let unmerged = w.callbacks_of("unmerged");
    assert_eq!(unmerged.len(), 1);
    assert_eq!(unmerged[0]["data"]["client_id"], fresh.0);
    assert_eq!(unmerged[0]["data"]["previous_client_id"], x.0);
}

#[test]
fn unmerging_an_unknown_contact_is_404() {
    let w = World::with_bots_a_b();
    let err = owner::unmerge(&w.store, &group("B"), &user("404"), T0).unwrap_err();
    assert_eq!((err.status(), err.code()), (404, "contact_not_found"));
}

// 6. Used links, and links to a card the contact is already in.

#[test]
fn a_used_link_does_not_merge_another_user() {
    let (w, x, payload) = card_x_with_link_to_b();
    w.say("B", 555, &start(&payload), T0 + 2000);

    let outcome = w.say("B", 888, &start(&payload), T0 + 3000);
    assert!(outcome.used_links.is_empty());
    let other = w.card_of("B", "888");
    assert_ne!(other, x);
    assert_eq!(w.dialogs(x), dialogs(&[("A", "111"), ("B", "555")]));
    assert_eq!(w.dialogs(other), dialogs(&[("B", "888")]));
    assert_eq!(
        w.sends(),
        vec![
            send("B", "555", "Hi B"),
            send("B", "888", replies::LINK_USED)
        ]
    );
    assert_eq!(w.callbacks_of("switch_to_telegram").len(), 1);
    assert_eq!(w.callbacks().len(), 2, "no callback for the refusal");
    let refused = w.store.history_of(other).unwrap();
    assert_eq!(refused.len(), 2);
    assert_eq!(refused[1].event, "merge_refused");
    assert_eq!(refused[1].detail["reason"], replies::LINK_USED);
    let link = w.store.link(&payload).unwrap().unwrap();
    assert_eq!(link.used_at, Some(T0 + 2000));
    assert_eq!(link.used_by, Some(("B".into(), "555".into())));
}

#[test]
fn the_same_user_reusing_a_used_link_is_told_they_are_connected() {
    let (w, x, payload) = card_x_with_link_to_b();
    w.say("B", 555, &start(&payload), T0 + 2000);
    let card = w.card(x)["contacts"].clone();

    let outcome = w.say("B", 555, &start(&payload), T0 + 3000);
    assert!(outcome.used_links.is_empty());
    assert_eq!(
        w.sends(),
        vec![
            send("B", "555", "Hi B"),
            send("B", "555", replies::ALREADY_CONNECTED)
        ]
    );
    assert_eq!(w.callbacks_of("switch_to_telegram").len(), 1);
    assert_eq!(w.dialogs(x), dialogs(&[("A", "111"), ("B", "555")]));
    assert_eq!(w.card(x)["contacts"][0], card[0]);
    assert_eq!(
        w.store.link(&payload).unwrap().unwrap().used_at,
        Some(T0 + 2000)
    );
}

#[test]
fn a_contact_already_in_the_links_card_leaves_the_link_unused() {
    let (w, x, payload) = card_x_with_link_to_b();
    w.say("B", 555, &start(&payload), T0 + 2000);
    let second = w.link_payload(x, "B", "again", T0 + 3000);
    // A link into the bot the card's first dialog already uses.
    let same_bot = w.link_payload(x, "A", "here", T0 + 3000);
    let outbox_before = w.outbox().len();

    let a = w.say("B", 555, &start(&second), T0 + 4000);
    let b = w.say("A", 111, &start(&same_bot), T0 + 5000);
    assert!(a.used_links.is_empty() && b.used_links.is_empty());
    assert_eq!(w.outbox().len(), outbox_before + 2);
    assert_eq!(
        w.sends()[1..],
        [
            send("B", "555", replies::ALREADY_CONNECTED),
            send("A", "111", replies::ALREADY_CONNECTED)
        ]
    );
    assert_eq!(w.callbacks_of("switch_to_telegram").len(), 1);
    for payload in [&second, &same_bot] {
        let link = w.store.link(payload).unwrap().unwrap();
        assert_eq!((link.used_at, link.used_by), (None, None));
    }
    assert_eq!(w.dialogs(x), dialogs(&[("A", "111"), ("B", "555")]));
    assert_eq!(
        w.contact("B", "555").unwrap().last_inbound_at,
        Some(T0 + 4000)
    );
}

// 7. Expiry.

#[test]
fn an_expired_link_does_not_merge() {
    let w = World::with_bots_a_b();
    w.say("A", 111, "hi", T0);
    let x = w.card_of("A", "111");
    let payload = w.link_payload(x, "B", "Hi B", T0);

    let outcome = w.say("B", 555, &start(&payload), T0 + TTL_MS + 1);
    assert!(outcome.used_links.is_empty());
    assert_eq!(w.sends(), vec![send("B", "555", replies::LINK_EXPIRED)]);
    assert_ne!(w.card_of("B", "555"), x);
    assert_eq!(w.dialogs(x), dialogs(&[("A", "111")]));
    assert!(w.callbacks_of("switch_to_telegram").is_empty());
    let link = w.store.link(&payload).unwrap().unwrap();
    assert_eq!((link.used_at, link.used_by), (None, None));
    let refused = w.store.history_of(w.card_of("B", "555")).unwrap();
    assert_eq!(
        refused.last().unwrap().detail["reason"],
        replies::LINK_EXPIRED
    );
}

#[test]
fn a_link_works_until_just_before_it_expires() {
    let w = World::with_bots_a_b();
    w.say("A", 111, "hi", T0);
    let x = w.card_of("A", "111");
    let payload = w.link_payload(x, "B", "Hi B", T0);
    let outcome = w.say("B", 555, &start(&payload), T0 + TTL_MS - 1);
    assert_eq!(outcome.used_links, vec![link_id(&payload)]);
    assert_eq!(w.card_of("B", "555"), x);
}

// 8. A link for another bot.

#[test]
fn a_payload_for_another_bot_is_an_ordinary_message() {
    let (w, x, payload) = card_x_with_link_to_b();
    let outcome = w.say("A", 222, &start(&payload), T0 + 2000);
    assert!(outcome.used_links.is_empty());

    let own = w.card_of("A", "222");
    assert_ne!(own, x);
    assert_eq!(w.dialogs(x), dialogs(&[("A", "111")]));
    assert!(w.sends().is_empty());
    assert!(w.callbacks_of("switch_to_telegram").is_empty());
    let messages = w.callbacks_of("message");
    assert_eq!(messages.len(), 2);
    let data = &messages[1]["data"];
    assert_eq!(data["client_id"], own.0);
    assert_eq!(data["contact"], telegram_ref("A", "222"));
    assert_eq!(data["text"], start(&payload));
    let link = w.store.link(&payload).unwrap().unwrap();
    assert_eq!(link.used_at, None);
}

#[test]
fn an_unknown_payload_is_an_ordinary_message() {
    let w = World::with_bots_a_b();
    for (i, text) in ["/start AAAAAAAAAAAAAAAAAAAAAA", "/start campaign-7"]
        .into_iter()
        .enumerate()
    {
        w.say("A", 111, text, T0 + i as i64);
    }
    let texts: Vec<_> = w
        .callbacks_of("message")
        .iter()
        .map(|m| m["data"]["text"].clone())
        .collect();
    assert_eq!(
        texts,
        ["/start AAAAAAAAAAAAAAAAAAAAAA", "/start campaign-7"]
    );
    assert!(w.sends().is_empty());
}

// 9. Webhook authentication and parsing.

#[test]
fn a_webhook_with_a_wrong_secret_writes_nothing() {
    let w = World::with_bots_a_b();
    let body = World::update_body(1, 555, "hello");
    let secret_of_a = w.secret("A");
    for secret in [Some("wrong"), None, Some(secret_of_a.as_str())] {
        let err = w.refused("B", secret, body.as_bytes(), T0);
        assert_eq!(err, ApiError::Unauthorized);
        assert_eq!(err.status(), 401);
    }
    assert!(w.outbox().is_empty());
    assert_eq!(w.contact("B", "555"), None);
    assert_eq!(w.store.client(ClientId(1)).unwrap(), None);

    // The refused calls did not mark the update as delivered.
    w.deliver("B", 1, 555, "hello", T0 + 1);
    assert_eq!(w.outbox().len(), 1);
    assert!(w.contact("B", "555").is_some());
}

#[test]
fn a_malformed_webhook_is_400_and_writes_nothing() {
    let w = World::with_bots_a_b();
    let secret = w.secret("B");
    for body in [&b"{not json"[..], b"{}", br#"{"update_id":"x"}"#] {
        let err = w.refused("B", Some(&secret), body, T0);
        assert!(matches!(err, ApiError::BadRequest(_)), "{err:?}");
        assert_eq!(err.status(), 400);
    }
    assert!(w.outbox().is_empty());
    assert_eq!(w.store.client(ClientId(1)).unwrap(), None);
}

#[test]
fn updates_that_are_not_user_messages_are_accepted_and_ignored() {
    let w = World::with_bots_a_b();
    let edited = br#"{"update_id":5,"edited_message":{"message_id":1,"chat":{"id":1}}}"#;
    let outcome = w.post("B", Some(&w.secret("B")), edited, T0).unwrap();
    assert_eq!(outcome.reply.status, 200);
    assert!(w.outbox().is_empty());
    assert_eq!(w.store.client(ClientId(1)).unwrap(), None);
}

#[test]
fn a_webhook_for_an_unknown_bot_is_404() {
    let w = World::with_bots_a_b();
    let body = World::update_body(1, 555, "hello");
    let err = w.refused("Z", Some(&w.secret("B")), body.as_bytes(), T0);
    assert_eq!((err.status(), err.code()), (404, "bot_not_found"));
    assert!(w.outbox().is_empty());
}

// 10. Owner API.

#[test]
fn put_project_twice_keeps_the_credentials() {
    let w = World::new();
    assert!(w.api_key.starts_with("mlk_"));
    assert!(w.callback_secret.starts_with("whsec_"));
    let before = w.store.project().unwrap().unwrap();
    assert_eq!(before.callback_url, CALLBACK_URL);

    let body = json!({"callback_url": "https://owner.example/v2"}).to_string();
    let reply = owner::put_project(&w.store, &w.project, body.as_bytes(), T0 + 1).unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        json!({"project": PROJECT, "callback_url": "https://owner.example/v2",
            "callback_concurrency": 1, "created": false})
    );
    let after = w.store.project().unwrap().unwrap();
    assert_eq!(after.callback_url, "https://owner.example/v2");
    assert_eq!(after.api_key_hash, before.api_key_hash);
    assert_eq!(after.callback_secret, w.callback_secret);

    let bearer = format!("Bearer {}", w.api_key);
    assert_eq!(
        owner::authorize(&w.store, Some(&bearer)).unwrap().name,
        PROJECT
    );
    for wrong in [
        Some("Bearer mlk_wrong".to_string()),
        Some(w.api_key.clone()),
        None,
    ] {
        assert_eq!(
            owner::authorize(&w.store, wrong.as_deref()).unwrap_err(),
            ApiError::Unauthorized
        );
    }
}

#[test]
fn callback_concurrency_is_set_kept_and_reset_only_when_asked() {
    let store = Store::open(Sqlite::memory()).unwrap();
    let name = mlink_core::domain::ProjectName::parse(PROJECT).unwrap();
    let put = |body: Value| {
        let reply = owner::put_project(&store, &name, body.to_string().as_bytes(), T0).unwrap();
        assert_eq!(
            reply.body["callback_concurrency"],
            store.project().unwrap().unwrap().callback_concurrency
        );
        reply.body["callback_concurrency"].clone()
    };
    assert_eq!(
        put(json!({"callback_url": CALLBACK_URL})),
        1,
        "new: one at a time"
    );
    let eight = json!({"callback_url": CALLBACK_URL, "callback_concurrency": 8});
    assert_eq!(put(eight), 8);
    assert_eq!(
        put(json!({"callback_url": CALLBACK_URL})),
        8,
        "absent: unchanged"
    );
    let one = json!({"callback_url": CALLBACK_URL, "callback_concurrency": 1});
    assert_eq!(put(one), 1);
}

#[test]
fn put_project_validates_its_body() {
    let store = Store::open(Sqlite::memory()).unwrap();
    let name = mlink_core::domain::ProjectName::parse(PROJECT).unwrap();
    let err = owner::put_project(&store, &name, b"{", T0).unwrap_err();
    assert_eq!(err.status(), 400);
    let err = owner::put_project(&store, &name, br#"{"callback_url":"ftp://x"}"#, T0).unwrap_err();
    assert_eq!((err.status(), err.code()), (422, "invalid_callback_url"));
    for concurrency in [0, 17, -1] {
        let body = json!({"callback_url": CALLBACK_URL, "callback_concurrency": concurrency});
        let err = owner::put_project(&store, &name, body.to_string().as_bytes(), T0).unwrap_err();
        let what = (err.status(), err.code());
        assert_eq!(what, (422, "invalid_callback_concurrency"), "{concurrency}");
    }
    assert_eq!(store.project().unwrap(), None);
    assert_eq!(
        owner::authorize(&store, Some("Bearer mlk_anything")).unwrap_err(),
        ApiError::Unauthorized
    );
}

#[test]
fn a_merge_link_reply_carries_a_sealed_token() {
    let w = World::with_bots_a_b();
    w.say("A", 111, "hi", T0);
    let x = w.card_of("A", "111");
    let reply = w
        .merge_link(x, json!({"client_type": 1, "group": "B", "tag": "t"}), T0)
        .unwrap();
    assert_eq!(reply.status, 201);
    let token = reply.body["token"].as_str().unwrap();
    assert_eq!(reply.body["link"], format!("{PUBLIC_BASE}/mlink/{token}"));
    assert_eq!(reply.body["client_id"], x.0);
    assert_eq!(reply.body["client_type"], 1);
    assert_eq!(reply.body["messenger"], "telegram");
    assert_eq!(reply.body["group"], "B");
    assert_eq!(reply.body["expires_at"], rfc3339(T0 + TTL_MS));
    let decoded = LinkToken::decode(token, &w.config.link_key, (T0 / 1000) as u64).unwrap();
    assert_eq!(decoded.project.as_str(), PROJECT);
    assert_eq!(decoded.group, group("B"));
    assert_eq!(decoded.client_type, ClientType::Telegram);
    assert_eq!(i64::from(decoded.expires_at), (T0 + TTL_MS) / 1000);
    assert!(w
        .store
        .link(&decoded.link_id.to_payload())
        .unwrap()
        .is_some());
}

#[test]
fn merge_link_refusals() {
    let w = World::with_bots_a_b();
    w.say("A", 111, "hi", T0);
    let x = w.card_of("A", "111");
    let err = |client: ClientId, body: Value| {
        let e = w.merge_link(client, body, T0).unwrap_err();
        (e.status(), e.code())
    };
    assert_eq!(
        err(ClientId(99), json!({"client_type": 1})),
        (404, "client_not_found")
    );
    assert_eq!(
        err(x, json!({"client_type": 5})),
        (422, "invalid_client_type")
    );
    assert_eq!(
        err(x, json!({"client_type": 2})),
        (422, "messenger_not_connected")
    );
    assert_eq!(
        err(x, json!({"client_type": 1, "group": "Z"})),
        (422, "messenger_not_connected")
    );
    assert_eq!(
        err(x, json!({"client_type": 1, "group": 999})),
        (422, "messenger_not_connected")
    );
    assert_eq!(
        err(x, json!({"client_type": 1, "tag": "x".repeat(4097)})),
        (422, "tag_too_long")
    );
    assert_eq!(err(x, json!({"tag": "no type"})), (400, "bad_request"));
    let invalid = owner::create_merge_link(&w.store, &w.config, &w.project, x, b"{", T0);
    assert!(matches!(invalid, Err(ApiError::BadRequest(_))));
    assert_eq!(invalid.unwrap_err().status(), 400);
    // None of them wrote anything.
    assert_eq!(w.history_events(x), ["created"]);
}

#[test]
fn a_tag_of_4096_characters_is_accepted() {
    let w = World::with_bots_a_b();
    w.say("A", 111, "hi", T0);
    let x = w.card_of("A", "111");
    let tag = "é".repeat(4096);
    let reply = w
        .merge_link(x, json!({"client_type": 1, "tag": tag}), T0)
        .unwrap();
    let link = w.payload_of(&reply).to_payload();
    assert_eq!(w.store.link(&link).unwrap().unwrap().tag, tag);
}

#[test]
fn without_a_group_the_first_connected_bot_is_used() {
    let w = World::new();
    w.connect_telegram("zeta", "ZetaBot", "1:zeta");
    w.connect_telegram("alpha", "AlphaBot", "2:alpha");
    // Reconnecting keeps the bot's place.
    w.connect_telegram("zeta", "ZetaBot", "1:zeta2");
    w.say("alpha", 111, "hi", T0);
    let x = w.card_of("alpha", "111");
    let reply = w.merge_link(x, json!({"client_type": 1}), T0).unwrap();
    assert_eq!(reply.body["group"], "zeta");
    let link = w
        .store
        .link(&w.payload_of(&reply).to_payload())
        .unwrap()
        .unwrap();
    assert_eq!(link.group, "zeta");
    assert_eq!(link.tag, "");
}

#[test]
fn a_numeric_group_names_a_bot_with_that_number() {
    let w = World::with_bots_a_b();
    w.connect_telegram("12345", "NumBot", "3:num");
    w.say("A", 111, "hi", T0);
    let x = w.card_of("A", "111");
    for body in [
        json!({"client_type": 1, "group": 12345}),
        json!({"client_type": 1, "group": "12345"}),
    ] {
        let reply = w.merge_link(x, body, T0).unwrap();
        assert_eq!(reply.body["group"], "12345");
    }
}

#[test]
fn items_written_together_keep_their_order() {
    let w = World::new();
    let item = |kind, id: Option<&str>, payload: &str| NewOutboxItem {
        kind,
        webhook_id: id.map(str::to_string),
        payload: payload.to_string(),
    };
    let items = [
        item(OutboxKind::Callback, Some("msg_1"), "first"),
        item(OutboxKind::Send, None, "text"),
        item(OutboxKind::Callback, Some("msg_2"), "second"),
    ];
    w.store.enqueue_all(&items, T0 + 5).unwrap();
    w.store.enqueue_all(&[], T0 + 6).unwrap();
    let written: Vec<_> = w
        .outbox()
        .into_iter()
        .map(|i| (i.kind, i.webhook_id, i.payload, i.next_attempt_at))
        .collect();
    let expected: Vec<_> = items
        .into_iter()
        .map(|i| (i.kind, i.webhook_id, i.payload, T0 + 5))
        .collect();
    assert_eq!(written, expected);
    let callbacks = w.store.pending_callbacks(10).unwrap();
    assert_eq!(callbacks.len(), 2);
    assert!(callbacks[0].id < callbacks[1].id);
    assert_eq!(callbacks[0].payload, "first");
}

#[test]
fn a_merge_link_for_a_merged_away_card_goes_to_the_live_card() {
    let (w, x, y, _) = merged_world();
    let reply = w
        .merge_link(y, json!({"client_type": 1, "group": "A"}), T0 + 500)
        .unwrap();
    assert_eq!(reply.body["client_id"], x.0);
    let link = w
        .store
        .link(&w.payload_of(&reply).to_payload())
        .unwrap()
        .unwrap();
    assert_eq!(link.client_id, x);
    assert_eq!(w.history_events(x).last().unwrap(), "merge_link_created");
}

// 11. Transactions.

#[test]
fn a_failed_transaction_leaves_no_writes() {
    let w = World::with_bots_a_b();
    let result: Result<(), ApiError> = w.store.transaction(|s| {
        let id = s.new_client(T0)?;
        let text = NewOutboxItem {
            kind: OutboxKind::Send,
            webhook_id: None,
            payload: "{}".into(),
        };
        s.enqueue_all(&[text], T0)?;
        s.set_variable(id, "k", "v")?;
        Err(ApiError::BadRequest("changed my mind".into()))
    });
    assert_eq!(result, Err(ApiError::BadRequest("changed my mind".into())));
    assert_eq!(w.store.client(ClientId(1)).unwrap(), None);
    assert!(w.outbox().is_empty());
    assert!(w.store.variables_of(ClientId(1)).unwrap().is_empty());

    let kept: Result<ClientId, ApiError> = w.store.transaction(|s| Ok(s.new_client(T0)?));
    let kept = kept.unwrap();
    assert_eq!(kept, ClientId(1));
    assert!(w.store.client(kept).unwrap().is_some());
}

// 12. Outbox delivery.

fn first_item(w: &World, kind: OutboxKind) -> OutboxItem {
    w.outbox().into_iter().find(|i| i.kind == kind).unwrap()
}

#[test]
fn judge_reads_the_answer() {
    let w = World::with_bots_a_b();
    w.say("A", 111, "hi", T0);
    let item = first_item(&w, OutboxKind::Callback);

    for status in [200, 201, 204, 299] {
        assert_eq!(delivery::judge(status, None, "", &item), Attempt::Delivered);
    }
    assert_eq!(
        delivery::judge(301, None, "moved", &item),
        Attempt::Failed {
            error: "callback receiver answered 301: moved".into(),
            retry_after_s: None
        }
    );
    let long = "y".repeat(500);
    let Attempt::Failed {
        error,
        retry_after_s,
    } = delivery::judge(500, Some("120"), &long, &item)
    else {
        panic!("500 is a failure");
    };
    assert_eq!(
        error,
        format!("callback receiver answered 500: {}", "y".repeat(200))
    );
    assert_eq!(retry_after_s, Some(120));
    let retry = |header| match delivery::judge(429, header, "", &item) {
        Attempt::Failed { retry_after_s, .. } => retry_after_s,
        other => panic!("429 is a plain failure, got {other:?}"),
    };
    assert_eq!(retry(Some(" 30 ")), Some(30));
    assert_eq!(retry(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
    assert_eq!(retry(None), None);

    let (w, _, payload) = card_x_with_link_to_b();
    w.say("B", 555, &start(&payload), T0 + 2000);
    let send_item = first_item(&w, OutboxKind::Send);
    assert!(matches!(
        delivery::judge(403, None, "blocked", &send_item),
        Attempt::Failed { error, .. } if error == "messenger answered 403: blocked"
    ));
}

#[test]
fn next_attempt_follows_the_schedule_with_bounded_jitter() {
    let schedule = [5, 300, 1800];
    for _ in 0..200 {
        for (attempt, base_s) in (1..).zip(schedule) {
            let at = delivery::next_attempt(&schedule, attempt, None, T0).unwrap();
            let delay = at - T0;
            assert!(
                (base_s * 1000..=base_s * 1100).contains(&delay),
                "attempt {attempt}: delay {delay}"
            );
        }
    }
    assert_eq!(delivery::next_attempt(&schedule, 4, None, T0), None);
    assert_eq!(delivery::next_attempt(&schedule, 4, Some(10), T0), None);
    assert_eq!(delivery::next_attempt(&schedule, 0, None, T0), None);
    assert_eq!(delivery::next_attempt(&[], 1, None, T0), None);
    // A later Retry-After wins; an earlier one does not shorten the schedule.
    assert_eq!(
        delivery::next_attempt(&schedule, 1, Some(3600), T0),
        Some(T0 + 3_600_000)
    );
    let at = delivery::next_attempt(&schedule, 2, Some(1), T0).unwrap();
    assert!((300_000..=330_000).contains(&(at - T0)));
}

/// A receiver controls `Retry-After`; whatever number it sends must give a retry time, not an
/// arithmetic overflow (a panic here, a wrapped time in a release build).
#[test]
fn next_attempt_survives_a_huge_retry_after() {
    let w = World::with_bots_a_b();
    w.say("A", 111, "hi", T0);
    let item = first_item(&w, OutboxKind::Callback);
    let attempt = delivery::judge(503, Some("9223372036854775807"), "", &item);
    let Attempt::Failed { retry_after_s, .. } = attempt else {
        panic!("503 is a failure");
    };
    assert_eq!(retry_after_s, Some(i64::MAX));
    // i64::MAX overflows `* 1000`; i64::MAX / 1000 overflows `now + delay` (in a release build
    // that wraps to a time in the past: an immediate retry instead of a long wait).
    for huge in [i64::MAX, i64::MAX / 1000] {
        let at = delivery::next_attempt(&[5], 1, Some(huge), T0);
        assert!(at.is_some_and(|at| at >= T0 + 5000), "{huge}: {at:?}");
    }
}

#[test]
fn record_deletes_delivered_items_and_retries_then_gives_up() {
    let w = World::with_bots_a_b();
    w.say("A", 111, "one", T0);
    w.say("A", 111, "two", T0);
    let items = w.outbox();
    let (done, failing) = (&items[0], &items[1]);

    delivery::record(&w.store, &w.config, done, Attempt::Delivered, T0 + 1).unwrap();
    assert_eq!(w.outbox().len(), 1);
    assert_eq!(w.outbox()[0].id, failing.id);

    let fail = |error: &str, retry_after_s| Attempt::Failed {
        error: error.into(),
        retry_after_s,
    };
    // Schedule [5, 60]: a first retry 5 s later, a second 60 s later, then give up.
    let now = T0 + 10_000;
    let item = w.outbox().remove(0);
    delivery::record(&w.store, &w.config, &item, fail("e1", None), now).unwrap();
    let item = w.outbox().remove(0);
    assert_eq!((item.attempts, item.status.as_str()), (1, "pending"));
    assert_eq!(item.last_error.as_deref(), Some("e1"));
    assert!((now + 5000..=now + 5500).contains(&item.next_attempt_at));
    assert_eq!(
        delivery::next_wakeup(&w.store).unwrap(),
        Some(item.next_attempt_at)
    );

    delivery::record(&w.store, &w.config, &item, fail("e2", Some(600)), now).unwrap();
    let item = w.outbox().remove(0);
    assert_eq!((item.attempts, item.status.as_str()), (2, "pending"));
    assert_eq!(item.next_attempt_at, now + 600_000, "Retry-After is later");
    let last_due = item.next_attempt_at;

    delivery::record(&w.store, &w.config, &item, fail("e3", None), now + 1).unwrap();
    let item = w.outbox().remove(0);
    assert_eq!((item.attempts, item.status.as_str()), (3, "failed"));
    assert_eq!(item.last_error.as_deref(), Some("e3"));
    assert_eq!(item.next_attempt_at, last_due);
    assert_eq!(delivery::next_wakeup(&w.store).unwrap(), None);
    assert!(w.store.pending_callbacks(10).unwrap().is_empty());
}

#[test]
fn request_for_signs_callbacks_and_builds_telegram_sends() {
    let (w, _, payload) = card_x_with_link_to_b();
    w.say("B", 555, &start(&payload), T0 + 2000);
    let callback = first_item(&w, OutboxKind::Callback);
    let now = T0 + 90_000;

    let req = delivery::request_for(&w.store, &w.config, &callback, now).unwrap();
    assert_eq!(req.method, "POST");
    assert_eq!(req.url, CALLBACK_URL);
    assert_eq!(req.body, callback.payload);
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name} header"))
    };
    let webhook_id = callback.webhook_id.clone().unwrap();
    let timestamp = now / 1000;
    assert_eq!(header("content-type"), "application/json");
    assert_eq!(header("webhook-id"), webhook_id);
    assert_eq!(header("webhook-timestamp"), timestamp.to_string());
    let key = SigningKey::parse(&w.callback_secret).unwrap();
    assert_eq!(
        header("webhook-signature"),
        key.sign(&webhook_id, timestamp, &callback.payload)
    );
    // A retry repeats the id with a fresh timestamp.
    let retry = delivery::request_for(&w.store, &w.config, &callback, now + 5000).unwrap();
    assert!(retry.headers.contains(&("webhook-id".into(), webhook_id)));
    assert!(retry.headers.contains(&(
        "webhook-timestamp".into(),
        ((now + 5000) / 1000).to_string()
    )));

    let send_item = first_item(&w, OutboxKind::Send);
    let req = delivery::request_for(&w.store, &w.config, &send_item, now).unwrap();
    assert_eq!(req.method, "POST");
    assert_eq!(
        req.url,
        format!("{TELEGRAM_BASE}/bot222:token-B/sendMessage")
    );
    let body: Value = serde_json::from_str(&req.body).unwrap();
    assert_eq!(body, json!({"chat_id": 555, "text": "Hi B"}));
}

/// What schema 1 left of the tables later versions change, with a few rows.
fn schema_1() -> Sqlite {
    use mlink_core::store::Sql;
    let sql = Sqlite::memory();
    for statement in [
        "CREATE TABLE schema_version (version INTEGER NOT NULL)",
        "INSERT INTO schema_version (version) VALUES (1)",
        "CREATE TABLE project (id INTEGER PRIMARY KEY CHECK (id = 1), name TEXT NOT NULL,
            callback_url TEXT NOT NULL, api_key_hash TEXT NOT NULL,
            callback_secret TEXT NOT NULL, endpoint_disabled_at INTEGER,
            endpoint_disabled_reason TEXT, created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL)",
        "INSERT INTO project VALUES (1, 'acme', 'https://owner.example/cb', 'h', 'whsec_x',
            NULL, NULL, 1000, 1000)",
        "CREATE TABLE clients (id INTEGER PRIMARY KEY, created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL, merged_into INTEGER,
            vars_version INTEGER NOT NULL DEFAULT 0)",
        "CREATE TABLE history (id INTEGER PRIMARY KEY, client_id INTEGER NOT NULL,
            at INTEGER NOT NULL, event TEXT NOT NULL, detail TEXT NOT NULL)",
        "CREATE TABLE outbox (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, webhook_id TEXT,
            payload TEXT NOT NULL, created_at INTEGER NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending', last_error TEXT)",
        "CREATE INDEX outbox_due ON outbox (status, next_attempt_at, id)",
        "CREATE TABLE contacts (grp TEXT NOT NULL, user_id TEXT NOT NULL,
            client_type INTEGER NOT NULL, client_id INTEGER NOT NULL,
            home_client_id INTEGER NOT NULL, name TEXT, linked_at INTEGER NOT NULL,
            last_inbound_at INTEGER, PRIMARY KEY (grp, user_id))",
        "CREATE INDEX contacts_by_client ON contacts (client_id)",
        "INSERT INTO contacts VALUES ('bota', '555', 1, 7, 7, 'Ann', 1000, 2000)",
        "CREATE TABLE deliveries (key TEXT PRIMARY KEY, at INTEGER NOT NULL, response TEXT)",
        "INSERT INTO deliveries VALUES ('bota:1', 1000, '{\"ok\":true}')",
    ] {
        sql.exec(statement, &[]).unwrap();
    }
    sql
}

#[test]
fn a_failed_upgrade_leaves_the_database_as_it_was() {
    use mlink_core::store::Sql;
    let sql = schema_1();
    // Something in the way of version 4's new table: the upgrade fails there, after 2 and 3.
    sql.exec("CREATE TABLE deliveries_v4 (x)", &[]).unwrap();
    assert!(Store::open(&sql).is_err());
    let names = |kind: &str| -> Vec<String> {
        sql.exec(
            "SELECT name FROM sqlite_master WHERE type = ? ORDER BY name",
            &[kind.into()],
        )
        .unwrap()
        .iter()
        .map(|row| row.text(0).unwrap())
        .collect()
    };
    let version = sql
        .exec("SELECT MAX(version) FROM schema_version", &[])
        .unwrap();
    assert_eq!(version[0].int(0).unwrap(), 1, "still schema 1");
    assert!(
        names("trigger").is_empty(),
        "2 rolled back: {:?}",
        names("trigger")
    );
    assert!(
        names("index").contains(&"outbox_due".to_string()),
        "3 rolled back"
    );

    sql.exec("DROP TABLE deliveries_v4", &[]).unwrap();
    Store::open(&sql).unwrap();
    let version = sql
        .exec("SELECT MAX(version) FROM schema_version", &[])
        .unwrap();
    assert_eq!(
        version[0].int(0).unwrap(),
        6,
        "the next open upgrades it whole"
    );
}

#[test]
fn a_schema_1_database_is_upgraded() {
    use mlink_core::store::{Row, Sql};
    let sql = schema_1();
    let store = Store::open(&sql).unwrap();
    let card = store.new_client(T0).unwrap();
    store.record(card, T0 + 5, "created", json!({})).unwrap();
    assert_eq!(
        store.client(card).unwrap().unwrap().updated_at,
        T0 + 5,
        "2: the trigger"
    );
    let indexes: Vec<Row> = sql
        .exec(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outbox'",
            &[],
        )
        .unwrap();
    let mut names: Vec<String> = indexes.iter().map(|row| row.text(0).unwrap()).collect();
    // 3 made two indexes out of V1's one; 6 replaced them with one partial index per kind.
    names.sort();
    assert_eq!(
        names,
        ["outbox_pending_callbacks", "outbox_pending_sends"],
        "3, 6"
    );
    let version = sql
        .exec("SELECT MAX(version) FROM schema_version", &[])
        .unwrap();
    assert_eq!(version[0].int(0).unwrap(), 6);
    // 4: the same rows, in tables keyed by their own B-tree.
    let contact = sql
        .exec(
            "SELECT client_id, home_client_id, name, last_inbound_at FROM contacts
             WHERE grp = 'bota' AND user_id = '555'",
            &[],
        )
        .unwrap();
    assert_eq!(contact.len(), 1, "4: the contact survived");
    assert_eq!(contact[0].int(0).unwrap(), 7);
    assert_eq!(contact[0].text(2).unwrap(), "Ann");
    assert_eq!(contact[0].int(3).unwrap(), 2000);
    assert_eq!(
        store.first_delivery("bota:1", T0).unwrap(),
        Err(Some("{\"ok\":true}".to_string())),
        "4: a known delivery is still known, with its answer"
    );
    for table in ["contacts", "deliveries"] {
        let ddl = sql
            .exec(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                &[table.into()],
            )
            .unwrap();
        assert!(
            ddl[0].text(0).unwrap().contains("WITHOUT ROWID"),
            "4: {table}"
        );
    }
    let by_client = sql
        .exec(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'contacts_by_client'",
            &[],
        )
        .unwrap();
    assert_eq!(by_client.len(), 1, "4: the contacts index is back");
    let project = store.project().unwrap().expect("5: the project survived");
    assert_eq!(
        (project.callback_url.as_str(), project.callback_concurrency),
        ("https://owner.example/cb", 1),
        "5: callbacks one at a time, as before"
    );
}
