//! Client cards, their dialogs (contacts), variables and history, and the two operations that
//! reshape them: merge (a card's dialogs join another card) and unmerge (one dialog leaves).
//! Neither deletes anything: a merged-away card stays, marked `merged_into`, with its variables,
//! so an unmerge can bring it back.

use super::{Row, Sql, Store, StoreError, Value};
use crate::domain::callback::ContactRef;
use crate::domain::time::Millis;
use crate::domain::{ClientId, ClientType, Group, UserId};
use serde_json::json;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    pub id: ClientId,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub merged_into: Option<ClientId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub group: String,
    pub user_id: String,
    pub client_type: ClientType,
    pub client_id: ClientId,
    pub home_client_id: ClientId,
    pub name: Option<String>,
    pub linked_at: Millis,
    pub last_inbound_at: Option<Millis>,
}

impl Contact {
    pub fn reference(&self) -> ContactRef {
        ContactRef {
            messenger: self.client_type.name(),
            client_type: self.client_type.code(),
            group: self.group.clone(),
            user_id: self.user_id.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub at: Millis,
    pub event: String,
    pub detail: serde_json::Value,
}

const CONTACT_COLUMNS: &str =
    "grp, user_id, client_type, client_id, home_client_id, name, linked_at, last_inbound_at";

fn contact_from_row(row: &Row) -> Result<Contact, StoreError> {
    Ok(Contact {
        group: row.text(0)?,
        user_id: row.text(1)?,
        client_type: ClientType::from_code(row.int(2)?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        client_id: ClientId(row.int(3)?),
        home_client_id: ClientId(row.int(4)?),
        name: row.opt_text(5)?,
        linked_at: row.int(6)?,
        last_inbound_at: row.opt_int(7)?,
    })
}

/// How far `merged_into` chains are followed; a longer chain means corrupt data, not a real card.
const MAX_CHAIN: usize = 64;

impl<S: Sql> Store<S> {
    pub fn client(&self, id: ClientId) -> Result<Option<ClientRecord>, StoreError> {
        let Some(row) = self.first(
            "SELECT id, created_at, updated_at, merged_into FROM clients WHERE id = ?",
            &[id.0.into()],
        )?
        else {
            return Ok(None);
        };
        Ok(Some(ClientRecord {
            id: ClientId(row.int(0)?),
            created_at: row.int(1)?,
            updated_at: row.int(2)?,
            merged_into: row.opt_int(3)?.map(ClientId),
        }))
    }

    /// The card a (possibly merged-away) card's dialogs live in now.
    pub fn live_client(&self, id: ClientId) -> Result<Option<ClientRecord>, StoreError> {
        let mut current = self.client(id)?;
        for _ in 0..MAX_CHAIN {
            match current {
                Some(ClientRecord {
                    merged_into: Some(next),
                    ..
                }) => current = self.client(next)?,
                _ => return Ok(current),
            }
        }
        Err(StoreError::Corrupt(format!("merge chain from {id} loops")))
    }

    pub fn new_client(&self, now: Millis) -> Result<ClientId, StoreError> {
        let row = self
            .first(
                "INSERT INTO clients (created_at, updated_at) VALUES (?, ?) RETURNING id",
                &[now.into(), now.into()],
            )?
            .ok_or_else(|| StoreError::Sql("insert returned no id".into()))?;
        Ok(ClientId(row.int(0)?))
    }

    fn touch_client(&self, id: ClientId, now: Millis) -> Result<(), StoreError> {
        self.exec(
            "UPDATE clients SET updated_at = ? WHERE id = ?",
            &[now.into(), id.0.into()],
        )?;
        Ok(())
    }

    pub fn contact(&self, group: &Group, user: &UserId) -> Result<Option<Contact>, StoreError> {
        self.first(
            &format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE grp = ? AND user_id = ?"),
            &[group.as_str().into(), user.as_str().into()],
        )?
        .map(|row| contact_from_row(&row))
        .transpose()
    }

    /// Dialogs of a card, oldest link first.
    pub fn contacts_of(&self, id: ClientId) -> Result<Vec<Contact>, StoreError> {
        self.exec(
            &format!(
                "SELECT {CONTACT_COLUMNS} FROM contacts WHERE client_id = ?
                 ORDER BY linked_at, grp, user_id"
            ),
            &[id.0.into()],
        )?
        .iter()
        .map(contact_from_row)
        .collect()
    }

    /// The card's dialog the client used most recently, if any.
    pub fn latest_contact_of(&self, id: ClientId) -> Result<Option<Contact>, StoreError> {
        self.first(
            &format!(
                "SELECT {CONTACT_COLUMNS} FROM contacts WHERE client_id = ?
                 ORDER BY COALESCE(last_inbound_at, linked_at) DESC LIMIT 1"
            ),
            &[id.0.into()],
        )?
        .map(|row| contact_from_row(&row))
        .transpose()
    }

    /// A new dialog in `client`'s card, or None if the user has one in this bot already. The
    /// caller records its arrival in the card's history, which also marks the card changed for
    /// the sync feed.
    #[allow(clippy::too_many_arguments)]
    pub fn add_contact(
        &self,
        group: &Group,
        user: &UserId,
        client_type: ClientType,
        client: ClientId,
        name: Option<&str>,
        now: Millis,
    ) -> Result<Option<Contact>, StoreError> {
        // RETURNING: the row as stored, without reading it again; no row when the user has a
        // dialog in this bot already, which stays as it was.
        let row = self.first(
            &format!(
                "INSERT INTO contacts (grp, user_id, client_type, client_id, home_client_id, name,
                    linked_at, last_inbound_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (grp, user_id) DO NOTHING RETURNING {CONTACT_COLUMNS}"
            ),
            &[
                group.as_str().into(),
                user.as_str().into(),
                client_type.code().into(),
                client.0.into(),
                client.0.into(),
                name.into(),
                now.into(),
                now.into(),
            ],
        )?;
        row.map(|row| contact_from_row(&row)).transpose()
    }

    /// Remembers when the client last wrote in this dialog (the messengers' 24-hour window).
    pub fn note_inbound(&self, contact: &Contact, now: Millis) -> Result<(), StoreError> {
        self.exec(
            "UPDATE contacts SET last_inbound_at = ? WHERE grp = ? AND user_id = ?",
            &[
                now.into(),
                contact.group.as_str().into(),
                contact.user_id.as_str().into(),
            ],
        )?;
        // The dialog's window moved: a change for the sync feed.
        self.touch_client(contact.client_id, now)
    }

    pub fn variables_of(&self, id: ClientId) -> Result<BTreeMap<String, String>, StoreError> {
        self.exec(
            "SELECT name, value FROM variables WHERE client_id = ? ORDER BY name",
            &[id.0.into()],
        )?
        .iter()
        .map(|row| Ok((row.text(0)?, row.text(1)?)))
        .collect()
    }

    pub fn set_variable(&self, id: ClientId, name: &str, value: &str) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO variables (client_id, name, value) VALUES (?, ?, ?)
             ON CONFLICT (client_id, name) DO UPDATE SET value = excluded.value",
            &[id.0.into(), name.into(), value.into()],
        )?;
        Ok(())
    }

    pub fn delete_variable(&self, id: ClientId, name: &str) -> Result<(), StoreError> {
        self.exec(
            "DELETE FROM variables WHERE client_id = ? AND name = ?",
            &[id.0.into(), name.into()],
        )?;
        Ok(())
    }

    /// The version of a card's variables; every change makes a new one (for `If-Match`).
    pub fn variables_version(&self, id: ClientId) -> Result<i64, StoreError> {
        Ok(self
            .first(
                "SELECT vars_version FROM clients WHERE id = ?",
                &[id.0.into()],
            )?
            .map(|row| row.int(0))
            .transpose()?
            .unwrap_or(0))
    }

    /// Marks a change of the card's variables (once per change, however many it touched).
    pub fn bump_variables(&self, id: ClientId) -> Result<(), StoreError> {
        self.exec(
            "UPDATE clients SET vars_version = vars_version + 1 WHERE id = ?",
            &[id.0.into()],
        )?;
        Ok(())
    }

    /// Cards in order of their last change, after the position `(updated_at, id)`.
    pub fn changed_since(
        &self,
        after: Option<(Millis, i64)>,
        limit: i64,
    ) -> Result<Vec<ClientRecord>, StoreError> {
        let (at, id) = after.unwrap_or((i64::MIN, i64::MIN));
        self.exec(
            "SELECT id, created_at, updated_at, merged_into FROM clients
             WHERE updated_at > ? OR (updated_at = ? AND id > ?)
             ORDER BY updated_at, id LIMIT ?",
            &[at.into(), at.into(), id.into(), limit.into()],
        )?
        .iter()
        .map(|row| {
            Ok(ClientRecord {
                id: ClientId(row.int(0)?),
                created_at: row.int(1)?,
                updated_at: row.int(2)?,
                merged_into: row.opt_int(3)?.map(ClientId),
            })
        })
        .collect()
    }

    /// Dialogs of one messenger user, across the project's bots of that messenger.
    pub fn contacts_by_platform_id(
        &self,
        client_type: ClientType,
        user: &UserId,
    ) -> Result<Vec<Contact>, StoreError> {
        self.exec(
            &format!(
                "SELECT {CONTACT_COLUMNS} FROM contacts WHERE client_type = ? AND user_id = ?
                 ORDER BY linked_at, grp"
            ),
            &[client_type.code().into(), user.as_str().into()],
        )?
        .iter()
        .map(contact_from_row)
        .collect()
    }

    pub fn record(
        &self,
        id: ClientId,
        now: Millis,
        event: &str,
        detail: serde_json::Value,
    ) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO history (client_id, at, event, detail) VALUES (?, ?, ?, ?)",
            &[
                id.0.into(),
                now.into(),
                event.into(),
                detail.to_string().into(),
            ],
        )?;
        // The schema's trigger marks the card changed for the sync feed.
        Ok(())
    }

    pub fn history_of(&self, id: ClientId) -> Result<Vec<HistoryEntry>, StoreError> {
        self.exec(
            "SELECT at, event, detail FROM history WHERE client_id = ? ORDER BY id",
            &[id.0.into()],
        )?
        .iter()
        .map(|row| {
            Ok(HistoryEntry {
                at: row.int(0)?,
                event: row.text(1)?,
                detail: serde_json::from_str(&row.text(2)?).unwrap_or_default(),
            })
        })
        .collect()
    }

    /// Moves every dialog of `source` into `target`. `target`'s variables win; `source` keeps its
    /// own, so an unmerge can restore them. Both histories record it with `cause`.
    pub fn merge_cards(
        &self,
        source: ClientId,
        target: ClientId,
        cause: serde_json::Value,
        now: Millis,
    ) -> Result<Vec<Contact>, StoreError> {
        if source == target {
            return Err(StoreError::Corrupt(
                "a card cannot merge into itself".into(),
            ));
        }
        let moved = self.contacts_of(source)?;
        self.exec(
            "UPDATE contacts SET client_id = ? WHERE client_id = ?",
            &[target.0.into(), source.0.into()],
        )?;
        self.exec(
            "INSERT OR IGNORE INTO variables (client_id, name, value)
             SELECT ?, name, value FROM variables WHERE client_id = ?",
            &[target.0.into(), source.0.into()],
        )?;
        self.bump_variables(target)?;
        self.exec(
            "UPDATE clients SET merged_into = ?, updated_at = ? WHERE id = ?",
            &[target.0.into(), now.into(), source.0.into()],
        )?;
        self.touch_client(target, now)?;
        let dialogs: Vec<_> = moved.iter().map(Contact::reference).collect();
        self.record(
            target,
            now,
            "merged",
            json!({"from_client_id": source, "contacts": dialogs, "cause": cause}),
        )?;
        self.record(
            source,
            now,
            "merged_away",
            json!({"into_client_id": target, "contacts": dialogs, "cause": cause}),
        )?;
        Ok(moved)
    }

    /// Moves a dialog that shares its card with others into a card of its own: back to the card
    /// it was born in when that is another card, else a new one. Returns `(new, previous)`, or
    /// `None` when the dialog is alone (nothing to do).
    pub fn unmerge_contact(
        &self,
        contact: &Contact,
        cause: serde_json::Value,
        now: Millis,
    ) -> Result<Option<(ClientId, ClientId)>, StoreError> {
        let previous = contact.client_id;
        if self.contacts_of(previous)?.len() <= 1 {
            return Ok(None);
        }
        let target = if contact.home_client_id != previous
            && self.client(contact.home_client_id)?.is_some()
        {
            self.exec(
                "UPDATE clients SET merged_into = NULL, updated_at = ? WHERE id = ?",
                &[now.into(), contact.home_client_id.0.into()],
            )?;
            contact.home_client_id
        } else {
            self.new_client(now)?
        };
        self.exec(
            "UPDATE contacts SET client_id = ?, home_client_id = ? WHERE grp = ? AND user_id = ?",
            &[
                target.0.into(),
                target.0.into(),
                contact.group.as_str().into(),
                contact.user_id.as_str().into(),
            ],
        )?;
        self.touch_client(previous, now)?;
        let dialog = serde_json::to_value(contact.reference()).unwrap_or_default();
        self.record(
            previous,
            now,
            "unmerged",
            json!({"contact": dialog, "to_client_id": target, "cause": cause}),
        )?;
        self.record(
            target,
            now,
            "unmerged_here",
            json!({"contact": dialog, "from_client_id": previous, "cause": cause}),
        )?;
        Ok(Some((target, previous)))
    }

    /// Records that a messenger delivery is being processed. `Err(answer)` if it already was:
    /// then `answer` is what the first delivery answered (if anything special).
    pub fn first_delivery(
        &self,
        key: &str,
        now: Millis,
    ) -> Result<Result<(), Option<String>>, StoreError> {
        let inserted = self.exec(
            "INSERT INTO deliveries (key, at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING
             RETURNING key",
            &[key.into(), Value::Integer(now)],
        )?;
        if !inserted.is_empty() {
            return Ok(Ok(()));
        }
        let previous = self.first(
            "SELECT response FROM deliveries WHERE key = ?",
            &[key.into()],
        )?;
        Ok(Err(previous.and_then(|row| row.opt_text(0).ok().flatten())))
    }

    /// Keeps the answer a delivery got, for its retries.
    pub fn set_delivery_response(&self, key: &str, response: &str) -> Result<(), StoreError> {
        self.exec(
            "UPDATE deliveries SET response = ? WHERE key = ?",
            &[response.into(), key.into()],
        )?;
        Ok(())
    }
}
