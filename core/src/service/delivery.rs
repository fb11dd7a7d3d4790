//! Delivering the outbox: which request each item becomes, what an answer means, and when to
//! try again. The glue does the network I/O and calls back with the outcome.

use super::{ApiError, Config};
use crate::domain::callback::SigningKey;
use crate::domain::secrets::random_bytes;
use crate::domain::time::Millis;
use crate::domain::{Group, UserId};
use crate::http::OutboundRequest;
use crate::store::{OutboxItem, OutboxKind, Sql, Store, StoreError};
use serde::{Deserialize, Serialize};

/// A text to send to a client through one of the project's bots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendText {
    pub group: Group,
    pub to: UserId,
    pub text: String,
}

/// The most callbacks a project may have in flight at once (`callback_concurrency`).
pub const MAX_CALLBACK_CONCURRENCY: i64 = 16;

/// Items of each kind one delivery round takes.
pub const BATCH: i64 = 50;
/// Rounds per alarm: while more is due, the alarm keeps going, then comes back for the rest.
pub const MAX_ROUNDS: usize = 8;

/// What one delivery round tries.
#[derive(Debug, Default)]
pub struct Round {
    /// Callbacks due now, in the order they happened: the glue sends them in groups of
    /// `callback_concurrency` (one at a time by default), each group once the one before was
    /// delivered whole, and stops after a group with a failure: a failed callback holds the
    /// ones behind it.
    pub callbacks: Vec<OutboxItem>,
    /// How many callbacks go out at once (1: strictly in order).
    pub callback_concurrency: usize,
    /// Texts due now: independent of each other, so the glue sends them all at once.
    pub sends: Vec<OutboxItem>,
}

impl Round {
    pub fn is_empty(&self) -> bool {
        self.callbacks.is_empty() && self.sends.is_empty()
    }
}

/// The next round's items. Callbacks wait behind the oldest pending one, and all of them while
/// a 410 Gone has the endpoint switched off.
pub fn next_round<S: Sql>(store: &Store<S>, now: Millis) -> Result<Round, StoreError> {
    let callbacks = if callbacks_enabled(store)? {
        store
            .pending_callbacks(BATCH)?
            .into_iter()
            .take_while(|item| item.next_attempt_at <= now)
            .collect()
    } else {
        Vec::new()
    };
    Ok(Round {
        callbacks,
        callback_concurrency: callback_concurrency(store)?,
        sends: store.due_sends(now, BATCH)?,
    })
}

/// Records what a round's attempts came to, in one transaction: one commit for the round
/// instead of one per item. Should the object stop after sending and before this, the items
/// stay pending and go out again (delivery is at least once; a callback keeps its `webhook-id`).
pub fn record_round<'a, S: Sql>(
    store: &Store<S>,
    config: &Config,
    outcomes: impl IntoIterator<Item = (&'a OutboxItem, Attempt)>,
    now: Millis,
) -> Result<(), StoreError> {
    store.transaction(|s| {
        let mut delivered = Vec::new();
        for (item, attempt) in outcomes {
            match attempt {
                Attempt::Delivered => delivered.push(item.id),
                other => record(s, config, item, other, now)?,
            }
        }
        s.delivered(&delivered)
    })
}

/// Builds the HTTP request for an outbox item (the secrets stay in the store until now).
pub fn request_for<S: Sql>(
    store: &Store<S>,
    config: &Config,
    item: &OutboxItem,
    now: Millis,
) -> Result<OutboundRequest, ApiError> {
    match item.kind {
        OutboxKind::Callback => {
            let project = store
                .project()?
                .ok_or_else(|| ApiError::Internal("outbox without a project".into()))?;
            let key = SigningKey::parse(&project.callback_secret)
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            let webhook_id = item.webhook_id.clone().unwrap_or_default();
            Ok(key.signed_request(
                &project.callback_url,
                &webhook_id,
                now / 1000,
                &item.payload,
            ))
        }
        OutboxKind::Send => {
            let send: SendText = serde_json::from_str(&item.payload)
                .map_err(|e| ApiError::Internal(format!("outbox send: {e}")))?;
            let bot = store
                .bot(&send.group)?
                .ok_or_else(|| ApiError::Internal(format!("bot {} is gone", send.group)))?;
            Ok(bot.bot.send_text(&config.bases, &send.to, &send.text))
        }
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered,
    /// Try again later; `retry_after_s` is the receiver's `Retry-After`, if it sent one.
    Failed {
        error: String,
        retry_after_s: Option<i64>,
    },
    /// The callback receiver answered 410 Gone: stop sending until the owner re-enables it.
    Gone,
}

/// 2xx only is success; redirects count as failures; a receiver's 410 Gone switches the
/// project's endpoint off (Standard Webhooks).
pub fn judge(status: u16, retry_after: Option<&str>, body: &str, item: &OutboxItem) -> Attempt {
    if (200..300).contains(&status) {
        return Attempt::Delivered;
    }
    if status == 410 && item.kind == OutboxKind::Callback {
        return Attempt::Gone;
    }
    let detail: String = body.chars().take(200).collect();
    let what = match item.kind {
        OutboxKind::Callback => "callback receiver",
        OutboxKind::Send => "messenger",
    };
    Attempt::Failed {
        error: format!("{what} answered {status}: {detail}"),
        retry_after_s: retry_after.and_then(|v| v.trim().parse().ok()),
    }
}

/// The longest wait mlink accepts from a schedule step or a receiver's `Retry-After`: one day,
/// so a receiver cannot park the project's callbacks (delivered in order) for longer.
pub const MAX_DELAY_S: i64 = 24 * 3600;

/// When to try again after `attempts` failures (counting this one), or None to give up.
/// Jitter of up to 10 % spreads retries of many items; `Retry-After` is honoured when later.
pub fn next_attempt(
    schedule_s: &[i64],
    attempts: i64,
    retry_after_s: Option<i64>,
    now: Millis,
) -> Option<Millis> {
    let step_s = *schedule_s.get(usize::try_from(attempts - 1).ok()?)?;
    let base_ms = step_s.clamp(0, MAX_DELAY_S) * 1000;
    let jitter_ms = (base_ms / 10) * i64::from(random_bytes::<1>()[0]) / 255;
    let asked_ms = retry_after_s.unwrap_or(0).clamp(0, MAX_DELAY_S) * 1000;
    Some(now.saturating_add((base_ms + jitter_ms).max(asked_ms)))
}

/// The project's `callback_concurrency`, within 1..=[`MAX_CALLBACK_CONCURRENCY`].
fn callback_concurrency<S: Sql>(store: &Store<S>) -> Result<usize, StoreError> {
    let asked = store.project()?.map_or(1, |p| p.callback_concurrency);
    Ok(asked.clamp(1, MAX_CALLBACK_CONCURRENCY) as usize)
}

/// Whether callbacks may go out now (a 410 Gone switched the endpoint off).
pub fn callbacks_enabled<S: Sql>(store: &Store<S>) -> Result<bool, StoreError> {
    Ok(store.endpoint()?.disabled_at.is_none())
}

/// When the outbox needs its next run: the earliest due item, leaving out callbacks while the
/// endpoint is disabled (they wait, pending, for the owner to re-enable it).
pub fn next_wakeup<S: Sql>(store: &Store<S>) -> Result<Option<Millis>, StoreError> {
    let sends = store.next_send_due()?;
    let callbacks = if callbacks_enabled(store)? {
        store.next_callback_due()?
    } else {
        None
    };
    Ok(sends.into_iter().chain(callbacks).min())
}

/// Records the outcome of an attempt.
pub fn record<S: Sql>(
    store: &Store<S>,
    config: &Config,
    item: &OutboxItem,
    attempt: Attempt,
    now: Millis,
) -> Result<(), StoreError> {
    match attempt {
        Attempt::Delivered => store.delivered(&[item.id]),
        // The event stays pending, due at once, for when the endpoint is enabled again.
        Attempt::Gone => {
            store.disable_endpoint("the callback receiver answered 410 Gone", now)?;
            store.attempt_failed(
                item.id,
                Some(now),
                "the callback receiver answered 410 Gone",
            )
        }
        Attempt::Failed {
            error,
            retry_after_s,
        } => {
            let next = next_attempt(
                &config.retry_schedule_s,
                item.attempts + 1,
                retry_after_s,
                now,
            );
            store.attempt_failed(item.id, next, &error)
        }
    }
}
