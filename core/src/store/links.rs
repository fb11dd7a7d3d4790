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
    /// The dialog the client was using when the link was made.
    pub from: Option<(String, String)>,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub used_at: Option<Millis>,
    pub used_by: Option<(String, String)>,
}

const LINK_COLUMNS: &str = "id, client_id, client_type, grp, tag, from_grp, from_user_id,
    created_at, expires_at, used_at, used_by_grp, used_by_user_id";

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
        from: pair(row.opt_text(5)?, row.opt_text(6)?),
        created_at: row.int(7)?,
        expires_at: row.int(8)?,
        used_at: row.opt_int(9)?,
        used_by: pair(row.opt_text(10)?, row.opt_text(11)?),
    })
}

impl<S: Sql> Store<S> {
    pub fn insert_link(&self, link: &LinkRecord) -> Result<(), StoreError> {
        let (from_grp, from_user) = link.from.clone().unzip();
        self.exec(
            &format!(
                "INSERT INTO links ({LINK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            &[
                link.id.as_str().into(),
                link.client_id.0.into(),
                link.client_type.code().into(),
                link.group.as_str().into(),
                link.tag.as_str().into(),
                from_grp.into(),
                from_user.into(),
                link.created_at.into(),
                link.expires_at.into(),
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
