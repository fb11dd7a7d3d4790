//! The project row and its connected bots.

use super::{Row, Sql, Store, StoreError, Value};
use crate::domain::time::Millis;
use crate::domain::{ClientType, Group};
use crate::messengers::{Bot, BotConfig};
use std::rc::Rc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRecord {
    pub name: String,
    pub callback_url: String,
    pub api_key_hash: String,
    pub callback_secret: String,
    /// How many callbacks may be in flight at once (see `service::delivery`).
    pub callback_concurrency: i64,
}

/// Whether callbacks may go out: the receiver can switch them off by answering 410 Gone.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Endpoint {
    pub disabled_at: Option<Millis>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotRecord {
    pub bot: Bot,
    pub connected_at: Millis,
}

const BOT_COLUMNS: &str = "grp, config, webhook_secret, connected_at";

fn project_from_row(row: &Row) -> Result<(ProjectRecord, Endpoint), StoreError> {
    let record = ProjectRecord {
        name: row.text(0)?,
        callback_url: row.text(1)?,
        api_key_hash: row.text(2)?,
        callback_secret: row.text(3)?,
        callback_concurrency: row.int(6)?,
    };
    let endpoint = Endpoint {
        disabled_at: row.opt_int(4)?,
        reason: row.opt_text(5)?,
    };
    Ok((record, endpoint))
}

fn bot_from_row(row: &Row) -> Result<BotRecord, StoreError> {
    let group = Group::parse(&row.text(0)?).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let config: BotConfig = serde_json::from_str(&row.text(1)?)
        .map_err(|e| StoreError::Corrupt(format!("bot config: {e}")))?;
    Ok(BotRecord {
        bot: Bot {
            group,
            config,
            webhook_secret: row.text(2)?,
        },
        connected_at: row.int(3)?,
    })
}

impl<S: Sql> Store<S> {
    pub fn project(&self) -> Result<Option<ProjectRecord>, StoreError> {
        Ok(self.project_row()?.map(|(record, _)| record))
    }

    /// The project row, from memory when it was read before (see [`Store`]).
    fn project_row(&self) -> Result<Option<(ProjectRecord, Endpoint)>, StoreError> {
        if let Some(row) = self.project.borrow().as_ref() {
            return Ok(row.clone());
        }
        let row = self
            .first(
                "SELECT name, callback_url, api_key_hash, callback_secret, endpoint_disabled_at,
                    endpoint_disabled_reason, callback_concurrency FROM project WHERE id = 1",
                &[],
            )?
            .map(|row| project_from_row(&row))
            .transpose()?;
        *self.project.borrow_mut() = Some(row.clone());
        Ok(row)
    }

    pub fn create_project(&self, project: &ProjectRecord, now: Millis) -> Result<(), StoreError> {
        self.forget();
        self.exec(
            "INSERT INTO project (id, name, callback_url, api_key_hash, callback_secret,
                callback_concurrency, created_at, updated_at) VALUES (1, ?, ?, ?, ?, ?, ?, ?)",
            &[
                project.name.as_str().into(),
                project.callback_url.as_str().into(),
                project.api_key_hash.as_str().into(),
                project.callback_secret.as_str().into(),
                project.callback_concurrency.into(),
                now.into(),
                now.into(),
            ],
        )?;
        Ok(())
    }

    /// Sets the callback URL and concurrency; that also re-enables an endpoint a 410 disabled.
    pub fn set_callback(&self, url: &str, concurrency: i64, now: Millis) -> Result<(), StoreError> {
        self.forget();
        self.exec(
            "UPDATE project SET callback_url = ?, callback_concurrency = ?, updated_at = ?,
                endpoint_disabled_at = NULL, endpoint_disabled_reason = NULL WHERE id = 1",
            &[url.into(), concurrency.into(), now.into()],
        )?;
        Ok(())
    }

    pub fn endpoint(&self) -> Result<Endpoint, StoreError> {
        Ok(self
            .project_row()?
            .map(|(_, endpoint)| endpoint)
            .unwrap_or_default())
    }

    pub fn disable_endpoint(&self, reason: &str, now: Millis) -> Result<(), StoreError> {
        self.forget();
        self.exec(
            "UPDATE project SET endpoint_disabled_at = ?, endpoint_disabled_reason = ?,
                updated_at = ? WHERE id = 1",
            &[now.into(), reason.into(), now.into()],
        )?;
        Ok(())
    }

    /// Takes one unit from a fixed window of `window_ms`; Err(ms until the window ends) when
    /// `limit` units were already taken in it.
    pub fn take_rate(
        &self,
        name: &str,
        limit: i64,
        window_ms: Millis,
        now: Millis,
    ) -> Result<Result<(), Millis>, StoreError> {
        let start = now - now.rem_euclid(window_ms);
        let row = self.first(
            "INSERT INTO rate_windows (name, window_start, used) VALUES (?, ?, 1)
             ON CONFLICT (name) DO UPDATE SET
                used = CASE WHEN window_start = excluded.window_start THEN used + 1 ELSE 1 END,
                window_start = excluded.window_start
             RETURNING used",
            &[name.into(), start.into()],
        )?;
        let used = row.map(|r| r.int(0)).transpose()?.unwrap_or(1);
        Ok(if used > limit {
            Err(start + window_ms - now)
        } else {
            Ok(())
        })
    }

    pub fn bot(&self, group: &Group) -> Result<Option<BotRecord>, StoreError> {
        Ok(self.bots()?.into_iter().find(|r| r.bot.group == *group))
    }

    /// Bots in the order they were first connected.
    pub fn bots(&self) -> Result<Vec<BotRecord>, StoreError> {
        Ok(self.bot_rows()?.to_vec())
    }

    /// The first connected bot of a messenger: the seed's choice when no group is given.
    pub fn first_bot_of(&self, client_type: ClientType) -> Result<Option<BotRecord>, StoreError> {
        Ok(self
            .bot_rows()?
            .iter()
            .find(|r| r.bot.client_type() == client_type)
            .cloned())
    }

    /// Every bot, from memory when they were read before (see [`Store`]).
    fn bot_rows(&self) -> Result<Rc<[BotRecord]>, StoreError> {
        if let Some(rows) = self.bots.borrow().as_ref() {
            return Ok(rows.clone());
        }
        let rows: Rc<[BotRecord]> = self
            .exec(&format!("SELECT {BOT_COLUMNS} FROM bots ORDER BY seq"), &[])?
            .iter()
            .map(bot_from_row)
            .collect::<Result<_, _>>()?;
        *self.bots.borrow_mut() = Some(rows.clone());
        Ok(rows)
    }

    /// Connects or reconnects a bot; a reconnection keeps its place in the order. Returns whether
    /// the bot is new.
    pub fn save_bot(&self, bot: &Bot, now: Millis) -> Result<bool, StoreError> {
        let config = serde_json::to_string(&bot.config).expect("bot config serializes");
        let existed = self.bot(&bot.group)?.is_some();
        self.forget();
        self.exec(
            "INSERT INTO bots (grp, client_type, config, webhook_secret, connected_at, seq)
             VALUES (?, ?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM bots))
             ON CONFLICT (grp) DO UPDATE SET client_type = excluded.client_type,
                config = excluded.config, webhook_secret = excluded.webhook_secret,
                connected_at = excluded.connected_at",
            &[
                bot.group.as_str().into(),
                bot.client_type().code().into(),
                config.into(),
                bot.webhook_secret.as_str().into(),
                Value::Integer(now),
            ],
        )?;
        Ok(!existed)
    }
}
