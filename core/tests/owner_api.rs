//! The owner's card-level API: manual merge, lookups, variables with If-Match, the 24-hour
//! window and the best dialog, and the sync feed.

mod support;

use mlink_core::domain::window::META_WINDOW_MS;
use mlink_core::domain::{ClientId, ClientType};
use mlink_core::service::{clients, ApiError};
use serde_json::json;
use support::world::{user, World, T0, WHATSAPP_NUMBER_ID};

fn new_card(w: &World, grp: &str, who: i64, now: i64) -> ClientId {
    w.say(grp, who, "hello", now);
    w.card_of(grp, &who.to_string())
}

#[test]
fn merge_client_joins_cards_refuses_self_merge_and_is_undone_by_unmerge() {
    let w = World::with_bots_a_b();
    let x = new_card(&w, "A", 1, T0);
    let y = new_card(&w, "B", 2, T0);
    let body = json!({"client_id": y.0, "reason": "same phone"}).to_string();
    let card = clients::merge_client(&w.store, x, body.as_bytes(), T0 + 1)
        .unwrap()
        .body;
    assert_eq!(card["client_id"], x.0);
    assert_eq!(card["contacts"].as_array().unwrap().len(), 2, "{card}");
    assert_eq!(card["moved_contacts"][0]["group"], "B");
    let merged = w.callbacks_of("merged");
    assert_eq!(merged.len(), 1);
    assert_eq!(merged[0]["data"]["merged_client_id"], y.0);
    let history = w.history_events(x);
    assert!(history.contains(&"merged".to_string()), "{history:?}");

    for same in [x, y] {
        let body = json!({"client_id": same.0}).to_string();
        let refused = clients::merge_client(&w.store, x, body.as_bytes(), T0).unwrap_err();
        assert_eq!(refused.code(), "self_merge", "{same} resolves to {x}");
        assert_eq!(refused.status(), 422);
    }
    let missing = json!({"client_id": 999}).to_string();
    let refused = clients::merge_client(&w.store, x, missing.as_bytes(), T0).unwrap_err();
    assert_eq!(refused.status(), 404);

    let main = clients::main_id(&w.store, y).unwrap().body;
    assert_eq!(main, json!({"client_id": y.0, "main_client_id": x.0}));
    mlink_core::service::owner::unmerge(&w.store, &support::world::group("B"), &user("2"), T0 + 2)
        .unwrap();
    assert_eq!(
        w.card_of("B", "2"),
        y,
        "the dialog went back to its own card"
    );
}

#[test]
fn lookups_by_platform_id_and_bound_dialogs() {
    let w = World::with_bots_a_b();
    let x = new_card(&w, "A", 7, T0);
    w.say("B", 7, "hi", T0 + 1);
    let found = clients::by_platform_id(&w.store, ClientType::Telegram, &user("7"))
        .unwrap()
        .body;
    let groups: Vec<_> = found["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["group"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        groups,
        ["A", "B"],
        "Telegram ids are global: one match per bot"
    );
    let none = clients::by_platform_id(&w.store, ClientType::WhatsApp, &user("7")).unwrap_err();
    assert_eq!(none.status(), 404);
    let dialogs = clients::dialogs(&w.store, x, T0).unwrap().body;
    assert_eq!(dialogs["dialogs"].as_array().unwrap().len(), 1);
    assert_eq!(dialogs["dialogs"][0]["window"]["rule"], "none");
}

#[test]
fn variables_need_the_version_they_were_read_at() {
    let w = World::with_bots_a_b();
    let x = new_card(&w, "A", 1, T0);
    let read = clients::get_variables(&w.store, x).unwrap();
    let version = read.body["version"].as_i64().unwrap();
    assert!(read.headers.contains(&("etag", format!("\"{version}\""))));
    let body = json!({"variables": {"city": "Riga", "step": "2"}}).to_string();
    let etag = format!("\"{version}\"");
    let written =
        clients::put_variables(&w.store, x, Some(&etag), body.as_bytes(), T0 + 1).unwrap();
    assert_eq!(
        written.body["variables"],
        json!({"city": "Riga", "step": "2"})
    );
    assert_eq!(written.body["version"], version + 1);

    // A second writer that read the old version is refused, and nothing changes.
    let late = json!({"variables": {"city": "Oslo"}}).to_string();
    let refused =
        clients::put_variables(&w.store, x, Some(&etag), late.as_bytes(), T0 + 2).unwrap_err();
    assert_eq!(
        (refused.status(), refused.code()),
        (412, "version_mismatch")
    );
    let missing = clients::put_variables(&w.store, x, None, late.as_bytes(), T0).unwrap_err();
    assert_eq!(
        (missing.status(), missing.code()),
        (428, "if_match_required")
    );

    let remove = json!({"variables": {"step": null}}).to_string();
    let next = format!("W/\"{}\"", version + 1);
    let removed =
        clients::put_variables(&w.store, x, Some(&next), remove.as_bytes(), T0 + 3).unwrap();
    assert_eq!(removed.body["variables"], json!({"city": "Riga"}));
    for bad in [
        json!({"variables": {}}),
        json!({"variables": {"bad name": "x"}}),
        json!({"variables": {"n": 5}}),
    ] {
        let version = format!("\"{}\"", version + 2);
        let e = clients::put_variables(&w.store, x, Some(&version), bad.to_string().as_bytes(), T0)
            .unwrap_err();
        assert_eq!(e.status(), 422, "{bad}");
    }
}

#[test]
fn the_best_dialog_is_open_and_stays_open() {
    let w = World::with_every_messenger();
    let x = new_card(&w, "A", 1, T0);
    let code = w.link_into(x, "W", "", T0).body["code"]
        .as_str()
        .unwrap()
        .to_string();
    w.whatsapp("W", "4915100000001", &code, T0 + 1000);
    let now = T0 + 2000;
    let reach = clients::reachable(&w.store, x, now).unwrap().body;
    assert_eq!(
        reach["best"]["messenger"], "telegram",
        "no window beats an open 24 h one"
    );
    let whatsapp = &reach["dialogs"][1];
    assert_eq!(whatsapp["window"]["rule"], "24h");
    assert_eq!(whatsapp["window"]["free_form"], true);
    let later = T0 + 1000 + META_WINDOW_MS;
    let reach = clients::reachable(&w.store, x, later).unwrap().body;
    assert_eq!(
        reach["dialogs"][1]["window"]["free_form"], false,
        "closed after 24 h"
    );
    assert_eq!(WHATSAPP_NUMBER_ID.len(), 15);
}

#[test]
fn the_sync_feed_pages_through_changed_cards() {
    let w = World::with_bots_a_b();
    let cards: Vec<ClientId> = (1..=5).map(|i| new_card(&w, "A", i, T0 + i)).collect();
    let page = |cursor: Option<&str>| {
        let mut query = vec![("limit".to_string(), "2".to_string())];
        if let Some(c) = cursor {
            query.push(("changed_since".into(), c.to_string()));
        }
        clients::changed(&w.store, &query).unwrap().body
    };
    let first = page(None);
    let ids = |p: &serde_json::Value| -> Vec<i64> {
        p["clients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["client_id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(ids(&first), [cards[0].0, cards[1].0]);
    let second = page(first["next_cursor"].as_str());
    assert_eq!(ids(&second), [cards[2].0, cards[3].0]);
    // A card that changes again comes again, after the others.
    w.say("A", 1, "again", T0 + 100);
    let third = page(second["next_cursor"].as_str());
    assert_eq!(ids(&third), [cards[4].0, cards[0].0]);
    let done = page(third["next_cursor"].as_str());
    assert_eq!(ids(&done), Vec::<i64>::new());
    assert_eq!(
        done["next_cursor"], third["next_cursor"],
        "an empty page keeps the position"
    );
    let bad = vec![("changed_since".to_string(), "!!".to_string())];
    assert!(matches!(
        clients::changed(&w.store, &bad),
        Err(ApiError::BadRequest(_))
    ));
}
