//! The owner's card-level API beyond links (Salebot's functions): `merge_client`, `get_main_id`,
//! `get_bind_clients`, `get_client_id_by_platform_id`, variables with optimistic concurrency,
//! the best dialog to reach a client now, and the feed of changed cards for syncing.

use super::owner::{card_json, contact_json, enqueue_event};
use super::{parse_json, ApiError, Reply};
use crate::domain::callback::EventData;
use crate::domain::time::{rfc3339, Millis};
use crate::domain::window::Window;
use crate::domain::{ClientId, ClientType, UserId};
use crate::store::{ClientRecord, Sql, Store};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

const MAX_VARIABLES_PER_CALL: usize = 100;
const MAX_VARIABLE_CHARS: usize = 4096;

fn live_card<S: Sql>(store: &Store<S>, id: ClientId) -> Result<ClientRecord, ApiError> {
    store
        .live_client(id)?
        .ok_or_else(|| ApiError::not_found("client_not_found", format!("no client {id}")))
}

#[derive(Deserialize)]
struct MergeRequest {
    client_id: i64,
    #[serde(default)]
    reason: Option<String>,
}

/// `POST .../clients/{main}/merge {"client_id"}`: `merge_client(main, client)` on the owner's
/// authority (say, after matching a phone number). Undone by unmerging the moved dialogs.
pub fn merge_client<S: Sql>(
    store: &Store<S>,
    main: ClientId,
    body: &[u8],
    now: Millis,
) -> Result<Reply, ApiError> {
    let request: MergeRequest = parse_json(body)?;
    let other = ClientId::parse(&request.client_id.to_string())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let reason: String = request
        .reason
        .unwrap_or_default()
        .chars()
        .take(500)
        .collect();
    store.transaction(|s| {
        let (main, other) = (live_card(s, main)?.id, live_card(s, other)?.id);
        if main == other {
            return Err(ApiError::unprocessable(
                "self_merge",
                format!("client {other} is card {main} already: a card cannot merge into itself"),
            ));
        }
        let cause = json!({"by": "api", "reason": reason});
        let moved = s.merge_cards(other, main, cause, now)?;
        enqueue_event(
            s,
            "merged",
            EventData::Merged {
                client_id: main.0,
                merged_client_id: other.0,
                contacts: moved.iter().map(|c| c.reference()).collect(),
            },
            now,
        )?;
        let mut card = card_json(s, main, now)?;
        card["moved_contacts"] = moved.iter().map(|c| contact_json(c, now)).collect();
        Ok(Reply::ok(card))
    })
}

/// `GET .../clients/{id}/main`: `get_main_id`, the card a (possibly merged-away) id lives in.
pub fn main_id<S: Sql>(store: &Store<S>, id: ClientId) -> Result<Reply, ApiError> {
    let live = live_card(store, id)?;
    Ok(Reply::ok(
        json!({"client_id": id, "main_client_id": live.id}),
    ))
}

/// `GET .../clients/{id}/dialogs`: `get_bind_clients`, the dialogs bound to the card.
pub fn dialogs<S: Sql>(store: &Store<S>, id: ClientId, now: Millis) -> Result<Reply, ApiError> {
    let live = live_card(store, id)?;
    let dialogs: Vec<Value> = store
        .contacts_of(live.id)?
        .iter()
        .map(|c| contact_json(c, now))
        .collect();
    Ok(Reply::ok(json!({"client_id": live.id, "dialogs": dialogs})))
}

/// `GET .../platform-ids/{client_type}/{platform_id}`: `get_client_id_by_platform_id`.
pub fn by_platform_id<S: Sql>(
    store: &Store<S>,
    client_type: ClientType,
    platform_id: &UserId,
) -> Result<Reply, ApiError> {
    let matches: Vec<Value> = store
        .contacts_by_platform_id(client_type, platform_id)?
        .iter()
        .map(|c| json!({"client_id": c.client_id, "group": c.group, "user_id": c.user_id}))
        .collect();
    if matches.is_empty() {
        return Err(ApiError::not_found(
            "contact_not_found",
            format!("no {} contact {platform_id}", client_type.name()),
        ));
    }
    Ok(Reply::ok(json!({
        "client_type": client_type.code(),
        "messenger": client_type.name(),
        "platform_id": platform_id,
        "matches": matches,
    })))
}

/// `GET .../clients/{id}/variables`, with the version as `ETag` for a later `If-Match`.
pub fn get_variables<S: Sql>(store: &Store<S>, id: ClientId) -> Result<Reply, ApiError> {
    let live = live_card(store, id)?.id;
    variables_reply(store, live)
}

fn variables_reply<S: Sql>(store: &Store<S>, id: ClientId) -> Result<Reply, ApiError> {
    let version = store.variables_version(id)?;
    let body = json!({"client_id": id, "version": version, "variables": store.variables_of(id)?});
    Ok(Reply::ok(body).with_header("etag", format!("\"{version}\"")))
}

#[derive(Deserialize)]
struct VariablesRequest {
    variables: Map<String, Value>,
}

/// `PUT .../clients/{id}/variables` with `If-Match`: sets (or with null, removes) variables,
/// unless someone changed them since the caller read them (412).
pub fn put_variables<S: Sql>(
    store: &Store<S>,
    id: ClientId,
    if_match: Option<&str>,
    body: &[u8],
    now: Millis,
) -> Result<Reply, ApiError> {
    let expected = expected_version(if_match)?;
    let request: VariablesRequest = parse_json(body)?;
    let changes = validate_variables(request.variables)?;
    store.transaction(|s| {
        let live = live_card(s, id)?.id;
        let current = s.variables_version(live)?;
        if current != expected {
            return Err(ApiError::Precondition {
                status: 412,
                code: "version_mismatch",
                message: format!(
                    "the variables are at version {current}, not {expected}: read them again"
                ),
            });
        }
        for (name, value) in &changes {
            match value {
                Some(value) => s.set_variable(live, name, value)?,
                None => s.delete_variable(live, name)?,
            }
        }
        s.bump_variables(live)?;
        let names: Vec<&String> = changes.keys().collect();
        s.record(
            live,
            now,
            "variables_changed",
            json!({"names": names, "by": "api"}),
        )?;
        variables_reply(s, live)
    })
}

/// `"7"` (or `W/"7"`, or `7`) → 7.
fn expected_version(if_match: Option<&str>) -> Result<i64, ApiError> {
    let Some(header) = if_match else {
        return Err(ApiError::Precondition {
            status: 428,
            code: "if_match_required",
            message: "send If-Match with the version (ETag) of the variables you read".into(),
        });
    };
    header
        .trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .map_err(|_| {
            ApiError::BadRequest("If-Match is the ETag of the variables, like \"3\"".into())
        })
}

fn validate_variables(
    variables: Map<String, Value>,
) -> Result<BTreeMap<String, Option<String>>, ApiError> {
    if variables.is_empty() || variables.len() > MAX_VARIABLES_PER_CALL {
        return Err(ApiError::unprocessable(
            "invalid_variables",
            format!("send 1 to {MAX_VARIABLES_PER_CALL} variables"),
        ));
    }
    variables
        .into_iter()
        .map(|(name, value)| {
            let name_ok = (1..=64).contains(&name.len())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
            let value = match value {
                Value::Null => None,
                Value::String(s) if s.chars().count() <= MAX_VARIABLE_CHARS => Some(s),
                _ => {
                    return Err(ApiError::unprocessable(
                        "invalid_variables",
                        format!("`{name}`: a value is a string of at most {MAX_VARIABLE_CHARS} characters, or null to remove it"),
                    ))
                }
            };
            if !name_ok {
                return Err(ApiError::unprocessable(
                    "invalid_variables",
                    "names are 1-64 characters of A-Z a-z 0-9 _ . -",
                ));
            }
            Ok((name, value))
        })
        .collect()
}

/// `GET .../clients/{id}/reachable`: the dialog to write to now, and all dialogs by preference.
pub fn reachable<S: Sql>(store: &Store<S>, id: ClientId, now: Millis) -> Result<Reply, ApiError> {
    let live = live_card(store, id)?.id;
    let mut contacts = store.contacts_of(live)?;
    contacts.sort_by_key(|c| {
        let window = Window::of(c.client_type, c.last_inbound_at, now);
        (window.preference(), std::cmp::Reverse(c.last_inbound_at))
    });
    let best = contacts
        .first()
        .filter(|c| Window::of(c.client_type, c.last_inbound_at, now).free_form)
        .map(|c| contact_json(c, now));
    let dialogs: Vec<Value> = contacts.iter().map(|c| contact_json(c, now)).collect();
    Ok(Reply::ok(
        json!({"client_id": live, "best": best, "dialogs": dialogs}),
    ))
}

const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 500;

/// `GET .../clients?changed_since=<cursor>&limit=`: cards in order of change, for a backend that
/// keeps a copy. Pass `next_cursor` back to continue; a card changed again comes again.
pub fn changed<S: Sql>(store: &Store<S>, query: &[(String, String)]) -> Result<Reply, ApiError> {
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let after = param("changed_since").map(parse_cursor).transpose()?;
    let limit = match param("limit") {
        None => DEFAULT_PAGE,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| ApiError::BadRequest(format!("limit is 1 to {MAX_PAGE}")))?,
    };
    let cards = store.changed_since(after, limit)?;
    let next = cards
        .last()
        .map(|c| (c.updated_at, c.id.0))
        .or(after)
        .map(cursor);
    let clients: Vec<Value> = cards
        .iter()
        .map(|c| json!({"client_id": c.id, "updated_at": rfc3339(c.updated_at), "merged_into": c.merged_into}))
        .collect();
    Ok(Reply::ok(
        json!({"clients": clients, "next_cursor": next.unwrap_or_default()}),
    ))
}

fn cursor((at, id): (Millis, i64)) -> String {
    URL_SAFE_NO_PAD.encode(format!("{at}.{id}"))
}

fn parse_cursor(s: &str) -> Result<(Millis, i64), ApiError> {
    let bad = || ApiError::BadRequest("changed_since is a next_cursor from this API".into());
    if s.is_empty() {
        return Ok((i64::MIN, i64::MIN));
    }
    let text = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
    let text = String::from_utf8(text).map_err(|_| bad())?;
    let (at, id) = text.split_once('.').ok_or_else(bad)?;
    Ok((
        at.parse().map_err(|_| bad())?,
        id.parse().map_err(|_| bad())?,
    ))
}
