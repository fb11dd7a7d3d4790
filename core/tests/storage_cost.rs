//! What a merge costs the storage: the pages its commit writes. A Durable Object's commit writes
//! each changed page to the WAL and syncs it, so pages per merge are most of a commit's cost.

mod support;

use mlink_core::domain::ClientId;
use support::sqlite::{Sqlite, WalMeter};
use support::world::{World, T0};

/// Clients that already exist, each with a link made and opened, as after a broadcast.
const CLIENTS: i64 = 3000;
/// Merges measured.
const MERGES: i64 = 300;
/// The budget, from what schema 6 measured: the link, the new dialog (and its index entry), its
/// history entry (with its index and the card it marks changed), the delivery id, and the
/// callback and welcome text in the outbox (with their index entries).
const MAX_PAGES_PER_MERGE: i64 = 12;

#[test]
fn a_merge_writes_few_pages() {
    let dir = std::env::temp_dir().join(format!("mlink-storage-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("project.sqlite");
    let mut w = World::on(Sqlite::wal_file(&path));
    w.config.link_rate_per_minute = 1_000_000;
    w.connect_telegram("A", "BotA", "111:token-A");
    w.connect_telegram("B", "BotB", "222:token-B");
    let mut payloads = Vec::new();
    for i in 0..CLIENTS {
        let user = 1_000_000 + i;
        w.say("A", user, "hello", T0);
        let card: ClientId = w.card_of("A", &user.to_string());
        let payload = w.link_payload(card, "B", "Welcome!", T0);
        w.store.record_open(&payload, T0).unwrap();
        payloads.push(payload);
    }
    let meter = WalMeter::new(&path);
    let mut pages = Vec::new();
    let mut example = Vec::new();
    for (i, payload) in payloads.iter().take(MERGES as usize).enumerate() {
        let user = 50_000_000 + i as i64;
        let outcome = w.say("B", user, &format!("/start {payload}"), T0 + 1000);
        assert_eq!(outcome.used_links.len(), 1, "merge {i} used its link");
        if i == 0 {
            example = meter.trees_written(&path);
        }
        pages.push(meter.pages_written());
    }
    pages.sort();
    let median = pages[pages.len() / 2];
    let mean = pages.iter().sum::<i64>() as f64 / pages.len() as f64;
    std::fs::remove_dir_all(&dir).ok();
    eprintln!(
        "pages per merge: median {median}, mean {mean:.1}, max {}",
        pages.last().unwrap()
    );
    assert!(
        median <= MAX_PAGES_PER_MERGE,
        "a merge wrote {median} pages (median); the first one wrote {example:?}"
    );
}
