//! What a merge costs the storage: the statements it runs (each a call from wasm through JS into
//! the runtime in a Durable Object) and the pages its commit writes (each written to the WAL and
//! synced: most of a commit's cost).

mod support;

use support::sqlite::{Sqlite, WalMeter};
use support::world::{World, T0};

/// The budget of a new client's merge: record the delivery id, read the link with its card,
/// insert the dialog, its history entry, use the link, and write the welcome text and the
/// callback to the outbox.
const STATEMENTS_PER_MERGE: u64 = 6;
/// The budget, from what schema 6 measured: the link, the new dialog (and its index entry), its
/// history entry (with its index and the card it marks changed), the delivery id, and the
/// callback and welcome text in the outbox (with their index entries).
const MAX_PAGES_PER_MERGE: i64 = 12;

/// A project after a broadcast: `clients` clients of bot A, each with a link into bot B made
/// and opened. Returns the links' payloads.
fn after_a_broadcast(sql: Sqlite, clients: i64) -> (World, Vec<String>) {
    let mut w = World::on(sql);
    w.config.link_rate_per_minute = 1_000_000;
    w.connect_telegram("A", "BotA", "111:token-A");
    w.connect_telegram("B", "BotB", "222:token-B");
    let payloads = (0..clients)
        .map(|i| {
            let user = 1_000_000 + i;
            w.say("A", user, "hello", T0);
            let card = w.card_of("A", &user.to_string());
            let payload = w.link_payload(card, "B", "Welcome!", T0);
            w.store.record_open(&payload, T0).unwrap();
            payload
        })
        .collect();
    (w, payloads)
}

/// The `i`-th new user follows a link into bot B.
fn merge(w: &World, i: usize, payload: &str) {
    let user = 50_000_000 + i as i64;
    let outcome = w.say("B", user, &format!("/start {payload}"), T0 + 1000);
    assert_eq!(outcome.used_links.len(), 1, "merge {i} used its link");
}

#[test]
fn a_new_clients_merge_runs_few_statements() {
    let sql = Sqlite::memory();
    let statements = sql.statement_counter();
    let (w, payloads) = after_a_broadcast(sql, 3);
    merge(&w, 0, &payloads[0]);
    let before = statements.get();
    merge(&w, 1, &payloads[1]);
    assert_eq!(statements.get() - before, STATEMENTS_PER_MERGE);
    assert_eq!(w.sends().len(), 2, "both welcome texts are in the outbox");
}

#[test]
fn a_merge_writes_few_pages() {
    let dir = std::env::temp_dir().join(format!("mlink-storage-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("project.sqlite");
    let (w, payloads) = after_a_broadcast(Sqlite::wal_file(&path), 3000);
    let meter = WalMeter::new(&path);
    let mut pages = Vec::new();
    let mut example = Vec::new();
    for (i, payload) in payloads.iter().take(300).enumerate() {
        merge(&w, i, payload);
        if i == 0 {
            example = meter.trees_written(&path);
        }
        pages.push(meter.pages_written());
    }
    std::fs::remove_dir_all(&dir).ok();
    pages.sort();
    let median = pages[pages.len() / 2];
    assert!(
        median <= MAX_PAGES_PER_MERGE,
        "a merge wrote {median} pages (median); the first one wrote {example:?}"
    );
}
