//! The outbox: callbacks and messenger sends written in the same transaction as the change they
//! report, delivered after the commit, retried until they succeed or their schedule runs out.

use super::{Row, Sql, Store, StoreError, Value};
use crate::domain::time::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxKind {
    /// A signed event to the owner's callback URL; `payload` is the JSON body.
    Callback,
    /// A text to a client through a bot; `payload` is a [`crate::service::delivery::SendText`].
    Send,
}

impl OutboxKind {
    fn as_str(self) -> &'static str {
        match self {
            OutboxKind::Callback => "callback",
            OutboxKind::Send => "send",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "callback" => Ok(OutboxKind::Callback),
            "send" => Ok(OutboxKind::Send),
            other => Err(StoreError::Corrupt(format!("outbox kind {other}"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub id: i64,
    pub kind: OutboxKind,
    /// Callbacks: the `webhook-id`, the same on every attempt.
    pub webhook_id: Option<String>,
    pub payload: String,
    pub created_at: Millis,
    pub attempts: i64,
    pub next_attempt_at: Millis,
    pub status: String,
    pub last_error: Option<String>,
}

/// The conditions of the two partial indexes (schema V6), spelled as they are there: SQLite
/// uses a partial index only for a query whose WHERE says what the index's does, in constants.
const PENDING_CALLBACKS: &str = "WHERE kind = 'callback' AND status = 'pending'";
const PENDING_SENDS: &str = "WHERE kind = 'send' AND status = 'pending'";

const OUTBOX_COLUMNS: &str =
    "id, kind, webhook_id, payload, created_at, attempts, next_attempt_at, status, last_error";

fn item_from_row(row: &Row) -> Result<OutboxItem, StoreError> {
    Ok(OutboxItem {
        id: row.int(0)?,
        kind: OutboxKind::parse(&row.text(1)?)?,
        webhook_id: row.opt_text(2)?,
        payload: row.text(3)?,
        created_at: row.int(4)?,
        attempts: row.int(5)?,
        next_attempt_at: row.int(6)?,
        status: row.text(7)?,
        last_error: row.opt_text(8)?,
    })
}

/// An item to write to the outbox, due at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutboxItem {
    pub kind: OutboxKind,
    pub webhook_id: Option<String>,
    pub payload: String,
}

impl<S: Sql> Store<S> {
    /// Writes items in one statement, in their order (callbacks go out in the order of their ids).
    pub fn enqueue_all(&self, items: &[NewOutboxItem], now: Millis) -> Result<(), StoreError> {
        if items.is_empty() {
            return Ok(());
        }
        let rows = vec!["(?, ?, ?, ?, ?)"; items.len()].join(", ");
        let params: Vec<Value> = items
            .iter()
            .flat_map(|item| {
                [
                    item.kind.as_str().into(),
                    item.webhook_id.as_deref().into(),
                    item.payload.as_str().into(),
                    now.into(),
                    now.into(),
                ]
            })
            .collect();
        self.exec(
            &format!(
                "INSERT INTO outbox (kind, webhook_id, payload, created_at, next_attempt_at)
                 VALUES {rows}"
            ),
            &params,
        )?;
        Ok(())
    }

    /// Pending callbacks in the order they were written (index `outbox_pending_callbacks`).
    pub fn pending_callbacks(&self, limit: i64) -> Result<Vec<OutboxItem>, StoreError> {
        self.exec(
            &format!("SELECT {OUTBOX_COLUMNS} FROM outbox {PENDING_CALLBACKS} ORDER BY id LIMIT ?"),
            &[limit.into()],
        )?
        .iter()
        .map(item_from_row)
        .collect()
    }

    /// Pending texts due by `now`, in the order they fell due (index `outbox_pending_sends`,
    /// whose order this is: no sort, and no walk over rows that are not pending sends).
    pub fn due_sends(&self, now: Millis, limit: i64) -> Result<Vec<OutboxItem>, StoreError> {
        self.exec(
            &format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox {PENDING_SENDS} AND next_attempt_at <= ?
                 ORDER BY next_attempt_at, id LIMIT ?"
            ),
            &[now.into(), limit.into()],
        )?
        .iter()
        .map(item_from_row)
        .collect()
    }

    /// When the earliest pending text is due.
    pub fn next_send_due(&self) -> Result<Option<Millis>, StoreError> {
        let row = self.first(
            &format!("SELECT MIN(next_attempt_at) FROM outbox {PENDING_SENDS}"),
            &[],
        )?;
        Ok(row.and_then(|row| row.opt_int(0).ok().flatten()))
    }

    /// When the first pending callback is due: callbacks go in order, so nothing behind it goes
    /// out before it does.
    pub fn next_callback_due(&self) -> Result<Option<Millis>, StoreError> {
        let row = self.first(
            &format!("SELECT next_attempt_at FROM outbox {PENDING_CALLBACKS} ORDER BY id LIMIT 1"),
            &[],
        )?;
        row.map(|row| row.int(0)).transpose()
    }

    /// Removes delivered items, all in one statement.
    pub fn delivered(&self, ids: &[i64]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        // One JSON array parameter: a round may deliver more items than a statement may bind.
        let ids = serde_json::to_string(ids).expect("integers serialize");
        self.exec(
            "DELETE FROM outbox WHERE id IN (SELECT value FROM json_each(?))",
            &[ids.into()],
        )?;
        Ok(())
    }

    /// Records a failed attempt: retry at `next`, or give up (status `failed`) when `next` is None.
    pub fn attempt_failed(
        &self,
        id: i64,
        next: Option<Millis>,
        error: &str,
    ) -> Result<(), StoreError> {
        let (status, next) = match next {
            Some(at) => ("pending", Value::Integer(at)),
            None => ("failed", Value::Null),
        };
        self.exec(
            "UPDATE outbox SET attempts = attempts + 1, status = ?,
                next_attempt_at = COALESCE(?, next_attempt_at), last_error = ? WHERE id = ?",
            &[status.into(), next, error.into(), id.into()],
        )?;
        Ok(())
    }

    /// Makes an item due now again (and pending, if it had failed for good).
    pub fn resend(&self, id: i64, now: Millis) -> Result<bool, StoreError> {
        let updated = self.exec(
            "UPDATE outbox SET status = 'pending', next_attempt_at = ? WHERE id = ? RETURNING id",
            &[now.into(), id.into()],
        )?;
        Ok(!updated.is_empty())
    }

    pub fn outbox_item(&self, id: i64) -> Result<Option<OutboxItem>, StoreError> {
        self.first(
            &format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = ?"),
            &[id.into()],
        )?
        .map(|row| item_from_row(&row))
        .transpose()
    }

    /// Counts of pending and failed items.
    pub fn outbox_counts(&self) -> Result<(i64, i64), StoreError> {
        let row = self.first(
            "SELECT COALESCE(SUM(status = 'pending'), 0), COALESCE(SUM(status = 'failed'), 0)
             FROM outbox",
            &[],
        )?;
        match row {
            Some(row) => Ok((row.int(0)?, row.int(1)?)),
            None => Ok((0, 0)),
        }
    }

    pub fn outbox_items(&self) -> Result<Vec<OutboxItem>, StoreError> {
        self.exec(
            &format!("SELECT {OUTBOX_COLUMNS} FROM outbox ORDER BY id"),
            &[],
        )?
        .iter()
        .map(item_from_row)
        .collect()
    }
}
