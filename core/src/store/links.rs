//! Merge links: which card a link belongs to, where it leads, and whether it was used.

use super::{Row, Sql, Store, StoreError};
use crate::domain::time::Millis;
use crate::domain::{ClientId, ClientType};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRecord {
    /// The payload: base64url of the link's 128 random bits.
    pub id: String,
    pub client_id: ClientId,
    pub client_type: ClientType,
    pub group: String,
    pub tag: String,
    /// WhatsApp and Instagram: the code the client sends.
    pub code: Option<String>,
    /// The dialog the client was using when the link was made.
    pub from: Option<(String, String)>,
    pub created_at: Millis,
    pub expires_at: Millis,
    /// A newer code link of the same card replaced this one.
    pub retired_at: Option<Millis>,
    pub used_at: Option<Millis>,
    pub used_by: Option<(String, String)>,
}

/// One messenger's row of the funnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunnelRow {
    pub client_type: ClientType,
    pub created: i64,
    pub opened: i64,
    pub completed: i64,
}

const LINK_COLUMNS: &str = "id, client_id, client_type, grp, tag, code, from_grp, from_user_id,
    created_at, expires_at, retired_at, used_at, used_by_grp, used_by_user_id";

fn pair(a: Option<String>, b: Option<String>) -> Option<(String, String)> {
    a.zip(b)
}

fn link_from_row(row: &Row) -> Result<LinkRecord, StoreError> {
    Ok(LinkRecord {
        id: row.text(0)?,
        client_id: ClientId(row.int(1)?),
        client_type: ClientType::from_code(row.int(2)?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        group: row.text(3)?,
        tag: row.text(4)?,
        code: row.opt_text(5)?,
        from: pair(row.opt_text(6)?, row.opt_text(7)?),
        created_at: row.int(8)?,
        expires_at: row.int(9)?,
        retired_at: row.opt_int(10)?,
        used_at: row.opt_int(11)?,
        used_by: pair(row.opt_text(12)?, row.opt_text(13)?),
    })
}

impl<S: Sql> Store<S> {
    pub fn insert_link(&self, link: &LinkRecord) -> Result<(), StoreError> {
        let (from_grp, from_user) = link.from.clone().unzip();
        self.exec(
            &format!(
                "INSERT INTO links ({LINK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            &[
                link.id.as_str().into(),
                link.client_id.0.into(),
                link.client_type.code().into(),
                link.group.as_str().into(),
                link.tag.as_str().into(),
                link.code.as_deref().into(),
                from_grp.into(),
                from_user.into(),
                link.created_at.into(),
                link.expires_at.into(),
                link.retired_at.into(),
                link.used_at.into(),
                link.used_by.as_ref().map(|(g, _)| g.as_str()).into(),
                link.used_by.as_ref().map(|(_, u)| u.as_str()).into(),
            ],
        )?;
        Ok(())
    }

    pub fn link(&self, id: &str) -> Result<Option<LinkRecord>, StoreError> {
        self.first(
            &format!("SELECT {LINK_COLUMNS} FROM links WHERE id = ?"),
            &[id.into()],
        )?
        .map(|row| link_from_row(&row))
        .transpose()
    }

    /// A link a client arrived with, and the card its dialogs live in now (None: the card is
    /// gone). The link's own card is read in the same statement; only a card merged away since
    /// the link was made has its chain followed.
    pub fn link_with_live_card(
        &self,
        id: &str,
    ) -> Result<Option<(LinkRecord, Option<ClientId>)>, StoreError> {
        // The last column: NULL when the card is gone, 0 when it is live (ids start at 1), else
        // the card it was merged into.
        let Some(row) = self.first(
            &format!(
                "SELECT {LINK_COLUMNS}, (SELECT IFNULL(merged_into, 0) FROM clients
                    WHERE clients.id = links.client_id) FROM links WHERE id = ?"
            ),
            &[id.into()],
        )?
        else {
            return Ok(None);
        };
        let link = link_from_row(&row)?;
        let card = match row.opt_int(14)? {
            None => None,
            Some(0) => Some(link.client_id),
            Some(merged_into) => self.live_client(ClientId(merged_into))?.map(|c| c.id),
        };
        Ok(Some((link, card)))
    }

    /// The link a code names among a bot's links (used, retired or expired ones included, so
    /// the client hears why it no longer works).
    pub fn link_by_code(&self, group: &str, code: &str) -> Result<Option<LinkRecord>, StoreError> {
        self.first(
            &format!(
                "SELECT {LINK_COLUMNS} FROM links WHERE grp = ? AND code = ?
                 ORDER BY created_at DESC LIMIT 1"
            ),
            &[group.into(), code.into()],
        )?
        .map(|row| link_from_row(&row))
        .transpose()
    }

    /// Retires the pending code links of a card and of every card merged into it: a new code
    /// replaces them all.
    pub fn retire_codes_of(&self, client: ClientId, now: Millis) -> Result<(), StoreError> {
        self.exec(
            "WITH RECURSIVE family (id) AS (
                SELECT ? UNION SELECT clients.id FROM clients JOIN family ON clients.merged_into = family.id)
             UPDATE links SET retired_at = ? WHERE client_id IN (SELECT id FROM family)
             AND code IS NOT NULL AND used_at IS NULL AND retired_at IS NULL",
            &[client.0.into(), now.into()],
        )?;
        Ok(())
    }

    /// Wrong codes a sender has sent in the window that started at or after `since`.
    pub fn code_failures(
        &self,
        group: &str,
        user_id: &str,
        since: Millis,
    ) -> Result<i64, StoreError> {
        Ok(self
            .first(
                "SELECT failures FROM code_attempts WHERE grp = ? AND user_id = ?
                 AND window_start >= ?",
                &[group.into(), user_id.into(), since.into()],
            )?
            .map(|row| row.int(0))
            .transpose()?
            .unwrap_or(0))
    }

    /// Counts a wrong code; a window older than `since` starts over. Returns the new count.
    pub fn count_code_failure(
        &self,
        group: &str,
        user_id: &str,
        since: Millis,
        now: Millis,
    ) -> Result<i64, StoreError> {
        let row = self.first(
            "INSERT INTO code_attempts (grp, user_id, window_start, failures) VALUES (?, ?, ?, 1)
             ON CONFLICT (grp, user_id) DO UPDATE SET
                failures = CASE WHEN window_start >= ? THEN failures + 1 ELSE 1 END,
                window_start = CASE WHEN window_start >= ? THEN window_start ELSE excluded.window_start END
             RETURNING failures",
            &[group.into(), user_id.into(), now.into(), since.into(), since.into()],
        )?;
        row.map(|r| r.int(0)).transpose().map(|n| n.unwrap_or(1))
    }

    /// Counts a click on a link (the edge reports each link's first click in an isolate).
    pub fn record_open(&self, id: &str, now: Millis) -> Result<(), StoreError> {
        self.exec(
            "UPDATE links SET opens = opens + 1, opened_at = COALESCE(opened_at, ?) WHERE id = ?",
            &[now.into(), id.into()],
        )?;
        Ok(())
    }

    /// Per messenger, links created in `[from, to)`: how many, how many were opened (a used link
    /// counts as opened even if its click was not reported), how many completed (merged).
    pub fn funnel(&self, from: Millis, to: Millis) -> Result<Vec<FunnelRow>, StoreError> {
        self.exec(
            "SELECT client_type, COUNT(*), COUNT(COALESCE(opened_at, used_at)), COUNT(used_at)
             FROM links WHERE created_at >= ? AND created_at < ? GROUP BY client_type",
            &[from.into(), to.into()],
        )?
        .iter()
        .map(|row| {
            Ok(FunnelRow {
                client_type: ClientType::from_code(row.int(0)?)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                created: row.int(1)?,
                opened: row.int(2)?,
                completed: row.int(3)?,
            })
        })
        .collect()
    }

    /// Marks a link used by a dialog; false if it was already used (the caller lost the race).
    pub fn use_link(
        &self,
        id: &str,
        group: &str,
        user_id: &str,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let updated = self.exec(
            "UPDATE links SET used_at = ?, used_by_grp = ?, used_by_user_id = ?
             WHERE id = ? AND used_at IS NULL RETURNING id",
            &[now.into(), group.into(), user_id.into(), id.into()],
        )?;
        Ok(!updated.is_empty())
    }
}
