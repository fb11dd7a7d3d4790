//! The schema. Every timestamp is unix milliseconds. Nothing is ever deleted from clients,
//! contacts, variables or history: merges and unmerges move contacts and leave a trail.

use super::{Sql, StoreError, Value};

const SCHEMA_VERSION: i64 = 6;

const V1: &[&str] = &[
    // The project itself: one row.
    "CREATE TABLE IF NOT EXISTS project (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        name TEXT NOT NULL,
        callback_url TEXT NOT NULL,
        api_key_hash TEXT NOT NULL,
        callback_secret TEXT NOT NULL,
        endpoint_disabled_at INTEGER,
        endpoint_disabled_reason TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL)",
    // Connected bots; `config` holds the messenger's settings, secrets included.
    "CREATE TABLE IF NOT EXISTS bots (
        grp TEXT PRIMARY KEY,
        client_type INTEGER NOT NULL,
        config TEXT NOT NULL,
        webhook_secret TEXT NOT NULL,
        connected_at INTEGER NOT NULL,
        seq INTEGER NOT NULL)",
    // Client cards. `merged_into` is set while the card's dialogs live in another card.
    "CREATE TABLE IF NOT EXISTS clients (
        id INTEGER PRIMARY KEY,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        merged_into INTEGER,
        vars_version INTEGER NOT NULL DEFAULT 0)",
    // The sync feed reads cards in order of change.
    "CREATE INDEX IF NOT EXISTS clients_by_change ON clients (updated_at, id)",
    // Dialogs: one messenger user in one bot. `home_client_id` is the card the dialog was born
    // in, where an unmerge takes it back.
    "CREATE TABLE IF NOT EXISTS contacts (
        grp TEXT NOT NULL,
        user_id TEXT NOT NULL,
        client_type INTEGER NOT NULL,
        client_id INTEGER NOT NULL,
        home_client_id INTEGER NOT NULL,
        name TEXT,
        linked_at INTEGER NOT NULL,
        last_inbound_at INTEGER,
        PRIMARY KEY (grp, user_id))",
    "CREATE INDEX IF NOT EXISTS contacts_by_client ON contacts (client_id)",
    "CREATE TABLE IF NOT EXISTS variables (
        client_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (client_id, name))",
    "CREATE TABLE IF NOT EXISTS history (
        id INTEGER PRIMARY KEY,
        client_id INTEGER NOT NULL,
        at INTEGER NOT NULL,
        event TEXT NOT NULL,
        detail TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS history_by_client ON history (client_id, id)",
    // Merge links; `id` is the payload the messenger hands back, `code` what a client sends
    // instead on WhatsApp and Instagram. A newer code link of the same card retires the older.
    "CREATE TABLE IF NOT EXISTS links (
        id TEXT PRIMARY KEY,
        client_id INTEGER NOT NULL,
        client_type INTEGER NOT NULL,
        grp TEXT NOT NULL,
        tag TEXT NOT NULL,
        code TEXT,
        from_grp TEXT,
        from_user_id TEXT,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        retired_at INTEGER,
        opened_at INTEGER,
        opens INTEGER NOT NULL DEFAULT 0,
        used_at INTEGER,
        used_by_grp TEXT,
        used_by_user_id TEXT)",
    "CREATE INDEX IF NOT EXISTS links_by_code ON links (grp, code)",
    "CREATE INDEX IF NOT EXISTS links_by_client ON links (client_id)",
    "CREATE INDEX IF NOT EXISTS links_by_created ON links (created_at)",
    // Messenger deliveries already processed (dedupe by the messenger's own id), with the
    // answer given, so a retried delivery gets the same answer.
    "CREATE TABLE IF NOT EXISTS deliveries (
        key TEXT PRIMARY KEY,
        at INTEGER NOT NULL,
        response TEXT)",
    // Fixed-window counters for per-project limits (merge links per minute).
    "CREATE TABLE IF NOT EXISTS rate_windows (
        name TEXT PRIMARY KEY,
        window_start INTEGER NOT NULL,
        used INTEGER NOT NULL)",
    // Wrong merge codes per sender, in a rolling window.
    "CREATE TABLE IF NOT EXISTS code_attempts (
        grp TEXT NOT NULL,
        user_id TEXT NOT NULL,
        window_start INTEGER NOT NULL,
        failures INTEGER NOT NULL,
        PRIMARY KEY (grp, user_id))",
    // Work to do after a commit: callbacks to the owner and texts to clients.
    "CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        webhook_id TEXT,
        payload TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        last_error TEXT)",
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at, id)",
];

/// Version 2: anything worth a card's history entry is a change the sync feed shows. Done by
/// SQLite in the same statement, not by a second one from the store per entry.
const V2: &[&str] = &["CREATE TRIGGER IF NOT EXISTS history_marks_card_changed
        AFTER INSERT ON history
        BEGIN UPDATE clients SET updated_at = NEW.at WHERE id = NEW.client_id; END"];

/// Version 3: the outbox is read per kind (callbacks in order, texts by due time), and a project
/// whose receiver answered 410 keeps every callback parked, pending: without `kind` in the
/// index, each look for the next due text walked all of them.
const V3: &[&str] = &[
    "DROP INDEX IF EXISTS outbox_due",
    "CREATE INDEX IF NOT EXISTS outbox_due_by_kind ON outbox (kind, status, next_attempt_at)",
    "CREATE INDEX IF NOT EXISTS outbox_order_by_kind ON outbox (kind, status, id)",
];

/// Version 4: the two tables looked up by a text key on every webhook keep their rows in that
/// key's own B-tree (`WITHOUT ROWID`) instead of a rowid table plus an index on the key: one
/// B-tree fewer to search and to write per new row, so fewer pages per commit.
const V4: &[&str] = &[
    "CREATE TABLE deliveries_v4 (
        key TEXT PRIMARY KEY,
        at INTEGER NOT NULL,
        response TEXT) WITHOUT ROWID",
    "INSERT INTO deliveries_v4 (key, at, response) SELECT key, at, response FROM deliveries",
    "DROP TABLE deliveries",
    "ALTER TABLE deliveries_v4 RENAME TO deliveries",
    "CREATE TABLE contacts_v4 (
        grp TEXT NOT NULL,
        user_id TEXT NOT NULL,
        client_type INTEGER NOT NULL,
        client_id INTEGER NOT NULL,
        home_client_id INTEGER NOT NULL,
        name TEXT,
        linked_at INTEGER NOT NULL,
        last_inbound_at INTEGER,
        PRIMARY KEY (grp, user_id)) WITHOUT ROWID",
    "INSERT INTO contacts_v4 (grp, user_id, client_type, client_id, home_client_id, name,
        linked_at, last_inbound_at)
     SELECT grp, user_id, client_type, client_id, home_client_id, name, linked_at,
        last_inbound_at FROM contacts",
    "DROP TABLE contacts",
    "ALTER TABLE contacts_v4 RENAME TO contacts",
    "CREATE INDEX contacts_by_client ON contacts (client_id)",
];

/// Version 5: how many callbacks may be in flight at once (1: strictly one after another).
const V5: &[&str] =
    &["ALTER TABLE project ADD COLUMN callback_concurrency INTEGER NOT NULL DEFAULT 1"];

/// Version 6: each pending outbox row in one small index, none once delivered or given up. The
/// two indexes of V3 held every row twice, with `status` in their keys: each new row wrote four
/// index entries and each delivery moved them. Callbacks are read in order, texts by due time.
const V6: &[&str] = &[
    "DROP INDEX IF EXISTS outbox_due_by_kind",
    "DROP INDEX IF EXISTS outbox_order_by_kind",
    "CREATE INDEX IF NOT EXISTS outbox_pending_callbacks ON outbox (id)
        WHERE kind = 'callback' AND status = 'pending'",
    "CREATE INDEX IF NOT EXISTS outbox_pending_sends ON outbox (next_attempt_at)
        WHERE kind = 'send' AND status = 'pending'",
];

const MIGRATIONS: [&[&str]; 6] = [V1, V2, V3, V4, V5, V6];

/// Creates or upgrades the schema, all in one transaction: an upgrade that fails part way
/// leaves the database as it was, so the next open tries it again from the same start (a
/// migration's own steps, such as V4's new tables, could not be run twice).
pub(super) fn migrate(sql: &dyn Sql) -> Result<(), StoreError> {
    let mut failure = None;
    let upgraded = sql.atomically(&mut || {
        upgrade(sql).map_err(|e| {
            failure = Some(e);
            StoreError::RolledBack
        })
    });
    match failure {
        Some(e) => Err(e),
        None => upgraded,
    }
}

fn upgrade(sql: &dyn Sql) -> Result<(), StoreError> {
    sql.exec(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
        &[],
    )?;
    let current = sql
        .exec("SELECT MAX(version) FROM schema_version", &[])?
        .first()
        .and_then(|row| row.opt_int(0).ok().flatten())
        .unwrap_or(0);
    if current >= SCHEMA_VERSION {
        return Ok(());
    }
    for version in current..SCHEMA_VERSION {
        for statement in MIGRATIONS[version as usize] {
            sql.exec(statement, &[])?;
        }
    }
    sql.exec(
        "INSERT INTO schema_version (version) VALUES (?)",
        &[Value::Integer(SCHEMA_VERSION)],
    )?;
    Ok(())
}
