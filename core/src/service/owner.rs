//! The owner API: projects, bots, merge links, client cards, unmerge.

use super::delivery::MAX_CALLBACK_CONCURRENCY;
use super::{parse_json, ApiError, Config, Reply};
use crate::domain::callback::{new_webhook_id, Event, EventData};
use crate::domain::code::new_code;
use crate::domain::secrets::{
    api_key_matches, new_api_key, new_callback_secret, new_webhook_secret, sha256_hex,
};
use crate::domain::time::{rfc3339, Millis};
use crate::domain::token::{LinkId, LinkToken};
use crate::domain::window::Window;
use crate::domain::{ClientId, ClientType, Group, ProjectName, UserId};
use crate::http::OutboundRequest;
use crate::messengers::{Bot, BotConfig, PublicBot};
use crate::store::{
    Contact, FunnelRow, LinkRecord, NewOutboxItem, OutboxItem, OutboxKind, ProjectRecord, Sql,
    Store,
};
use serde::Deserialize;
use serde_json::{json, Value};

const MAX_TAG_CHARS: usize = 4096;

#[derive(Deserialize)]
struct ProjectRequest {
    callback_url: String,
    /// Absent: 1 for a new project, unchanged for an existing one.
    callback_concurrency: Option<i64>,
}

fn valid_callback_concurrency(concurrency: Option<i64>) -> Result<Option<i64>, ApiError> {
    match concurrency {
        Some(n) if !(1..=MAX_CALLBACK_CONCURRENCY).contains(&n) => Err(ApiError::unprocessable(
            "invalid_callback_concurrency",
            format!("callback_concurrency must be 1 to {MAX_CALLBACK_CONCURRENCY}"),
        )),
        _ => Ok(concurrency),
    }
}

fn valid_callback_url(url: &str) -> Result<(), ApiError> {
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 2048
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "invalid_callback_url",
            "callback_url must be an http(s) URL of at most 2048 characters",
        ))
    }
}

/// `PUT /api/v1/projects/{project}` (the caller checked the admin token).
pub fn put_project<S: Sql>(
    store: &Store<S>,
    name: &ProjectName,
    body: &[u8],
    now: Millis,
) -> Result<Reply, ApiError> {
    let request: ProjectRequest = parse_json(body)?;
    valid_callback_url(&request.callback_url)?;
    let concurrency = valid_callback_concurrency(request.callback_concurrency)?;
    store.transaction(|s| {
        if let Some(project) = s.project()? {
            let concurrency = concurrency.unwrap_or(project.callback_concurrency);
            s.set_callback(&request.callback_url, concurrency, now)?;
            return Ok(Reply::ok(json!({
                "project": name, "callback_url": request.callback_url,
                "callback_concurrency": concurrency, "created": false,
            })));
        }
        let concurrency = concurrency.unwrap_or(1);
        let api_key = new_api_key();
        let callback_secret = new_callback_secret();
        s.create_project(
            &ProjectRecord {
                name: name.to_string(),
                callback_url: request.callback_url.clone(),
                api_key_hash: sha256_hex(&api_key),
                callback_secret: callback_secret.clone(),
                callback_concurrency: concurrency,
            },
            now,
        )?;
        Ok(Reply::created(json!({
            "project": name, "callback_url": request.callback_url,
            "callback_concurrency": concurrency, "created": true,
            "api_key": api_key, "callback_secret": callback_secret,
        })))
    })
}

/// `GET /api/v1/projects/{project}`: settings, the callback endpoint's state, the outbox's size.
pub fn get_project<S: Sql>(store: &Store<S>, project: &ProjectRecord) -> Result<Reply, ApiError> {
    let endpoint = store.endpoint()?;
    let (pending, failed) = store.outbox_counts()?;
    let status = if endpoint.disabled_at.is_some() {
        "disabled"
    } else {
        "active"
    };
    Ok(Reply::ok(json!({
        "project": project.name,
        "callback_url": project.callback_url,
        "callback_concurrency": project.callback_concurrency,
        "endpoint": {
            "status": status,
            "disabled_at": endpoint.disabled_at.map(rfc3339),
            "reason": endpoint.reason,
        },
        "deliveries": {"pending": pending, "failed": failed},
    })))
}

/// `GET .../deliveries?status=pending|failed|all`: what has not been delivered (yet).
pub fn list_deliveries<S: Sql>(
    store: &Store<S>,
    query: &[(String, String)],
) -> Result<Reply, ApiError> {
    let status = query
        .iter()
        .find(|(k, _)| k == "status")
        .map(|(_, v)| v.as_str())
        .unwrap_or("all");
    if !["pending", "failed", "all"].contains(&status) {
        return Err(ApiError::BadRequest(
            "status is pending, failed or all".into(),
        ));
    }
    let items: Vec<Value> = store
        .outbox_items()?
        .iter()
        .filter(|item| status == "all" || item.status == status)
        .map(delivery_json)
        .collect();
    Ok(Reply::ok(json!({ "deliveries": items })))
}

fn delivery_json(item: &OutboxItem) -> Value {
    let kind = match item.kind {
        OutboxKind::Callback => "callback",
        OutboxKind::Send => "send",
    };
    // The event type for callbacks; sends are texts to clients and their content stays inside.
    let event_type = match item.kind {
        OutboxKind::Callback => serde_json::from_str::<Value>(&item.payload)
            .ok()
            .and_then(|p| p["type"].as_str().map(str::to_string)),
        OutboxKind::Send => None,
    };
    json!({
        "id": item.id,
        "kind": kind,
        "webhook_id": item.webhook_id,
        "type": event_type,
        "status": item.status,
        "attempts": item.attempts,
        "next_attempt_at": rfc3339(item.next_attempt_at),
        "last_error": item.last_error,
        "created_at": rfc3339(item.created_at),
    })
}

/// `POST .../deliveries/{id}/resend`: due again now, with the same `webhook-id`.
pub fn resend_delivery<S: Sql>(store: &Store<S>, id: i64, now: Millis) -> Result<Reply, ApiError> {
    store.transaction(|s| {
        if !s.resend(id, now)? {
            return Err(ApiError::not_found(
                "delivery_not_found",
                format!("no pending or failed delivery {id}"),
            ));
        }
        let item = s
            .outbox_item(id)?
            .ok_or_else(|| ApiError::Internal("resent item vanished".into()))?;
        Ok(Reply::ok(json!({ "delivery": delivery_json(&item) })))
    })
}

/// Checks `Authorization: Bearer <api_key>`. An unknown project answers the same as a wrong key.
pub fn authorize<S: Sql>(
    store: &Store<S>,
    authorization: Option<&str>,
) -> Result<ProjectRecord, ApiError> {
    match store.project()? {
        Some(p) if api_key_matches(authorization, &p.api_key_hash) => Ok(p),
        _ => Err(ApiError::Unauthorized),
    }
}

/// A bot connection checked and ready to save, and the messenger call that registers its webhook.
pub struct BotPlan {
    pub bot: Bot,
    pub webhook_url: String,
    pub registration: Option<OutboundRequest>,
}

#[derive(Deserialize)]
struct BotRequest {
    client_type: i64,
    #[serde(default = "yes")]
    register_webhook: bool,
}

fn yes() -> bool {
    true
}

pub fn webhook_url(config: &Config, project: &ProjectName, group: &Group) -> String {
    format!("{}/webhooks/{project}/{group}", config.public_base_url)
}

/// `PUT .../bots/{group}`, first half: validate and prepare (nothing written yet).
pub fn plan_bot<S: Sql>(
    store: &Store<S>,
    config: &Config,
    project: &ProjectName,
    group: &Group,
    body: &[u8],
) -> Result<BotPlan, ApiError> {
    let request: BotRequest = parse_json(body)?;
    let fields: Value = parse_json(body)?;
    let client_type = client_type(request.client_type)?;
    let bot_config = BotConfig::from_request(client_type, &fields)
        .map_err(|e| ApiError::unprocessable("invalid_bot", e.0))?;
    // Keep the secret across reconnections so a webhook already registered keeps working.
    let webhook_secret = match store.bot(group)? {
        Some(existing) => existing.bot.webhook_secret,
        None => new_webhook_secret(),
    };
    let url = webhook_url(config, project, group);
    let registration = request
        .register_webhook
        .then(|| {
            bot_config
                .messenger()
                .webhook_registration(&config.bases, &url, &webhook_secret)
        })
        .flatten();
    Ok(BotPlan {
        bot: Bot {
            group: group.clone(),
            config: bot_config,
            webhook_secret,
        },
        webhook_url: url,
        registration,
    })
}

/// `PUT .../bots/{group}`, second half, after the messenger accepted the webhook (if asked).
/// Returns the reply and what the edge may cache about the bot.
pub fn save_bot<S: Sql>(
    store: &Store<S>,
    plan: &BotPlan,
    now: Millis,
) -> Result<(Reply, PublicBot), ApiError> {
    let created = store.transaction(|s| s.save_bot(&plan.bot, now))?;
    let mut body = bot_json(&plan.bot, &plan.webhook_url, now);
    body["webhook_secret"] = plan.bot.webhook_secret.clone().into();
    body["webhook_registered"] = plan.registration.is_some().into();
    let reply = if created {
        Reply::created(body)
    } else {
        Reply::ok(body)
    };
    Ok((reply, plan.bot.config.public()))
}

/// A bot as the API shows it: never its tokens or secrets.
fn bot_json(bot: &Bot, webhook_url: &str, connected_at: Millis) -> Value {
    let mut body = json!({
        "group": bot.group,
        "client_type": bot.client_type().code(),
        "messenger": bot.client_type().name(),
        "webhook_url": webhook_url,
        "connected_at": rfc3339(connected_at),
    });
    // The public fields (username, page, ...) sit beside the common ones.
    let public = serde_json::to_value(bot.config.public()).unwrap_or_default();
    let fields = public.as_object().and_then(|tagged| tagged.values().next());
    if let (Value::Object(target), Some(Value::Object(fields))) = (&mut body, fields) {
        for (k, v) in fields {
            target.insert(k.clone(), v.clone());
        }
    }
    body
}

pub fn list_bots<S: Sql>(
    store: &Store<S>,
    config: &Config,
    project: &ProjectName,
) -> Result<Reply, ApiError> {
    let bots: Vec<Value> = store
        .bots()?
        .iter()
        .map(|r| {
            bot_json(
                &r.bot,
                &webhook_url(config, project, &r.bot.group),
                r.connected_at,
            )
        })
        .collect();
    Ok(Reply::ok(json!({ "bots": bots })))
}

/// What the edge needs to redirect to a bot, read by the slow `/mlink` path on a cache miss.
pub fn public_bot<S: Sql>(store: &Store<S>, group: &Group) -> Result<Option<PublicBot>, ApiError> {
    Ok(store.bot(group)?.map(|r| r.bot.config.public()))
}

fn client_type(code: i64) -> Result<ClientType, ApiError> {
    ClientType::from_code(code)
        .map_err(|e| ApiError::unprocessable("invalid_client_type", e.to_string()))
}

#[derive(Deserialize)]
struct MergeLinkRequest {
    client_type: i64,
    #[serde(default)]
    tag: Option<String>,
    /// Salebot passes bot ids as numbers or strings.
    #[serde(default)]
    group: Option<Value>,
}

/// `POST .../clients/{id}/merge-links`: the seed's `get_merge_link(client_type, tag, group)`.
pub fn create_merge_link<S: Sql>(
    store: &Store<S>,
    config: &Config,
    project: &ProjectName,
    client: ClientId,
    body: &[u8],
    now: Millis,
) -> Result<Reply, ApiError> {
    let request: MergeLinkRequest = parse_json(body)?;
    let client_type = client_type(request.client_type)?;
    let tag = request.tag.unwrap_or_default();
    if tag.chars().count() > MAX_TAG_CHARS {
        return Err(ApiError::unprocessable(
            "tag_too_long",
            format!("tag is at most {MAX_TAG_CHARS} characters"),
        ));
    }
    let group = match request.group {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) if n.is_i64() => Some(n.to_string()),
        Some(_) => {
            return Err(ApiError::BadRequest(
                "group is a bot id: a string or an integer".into(),
            ))
        }
    };
    store.transaction(|s| {
        if let Err(wait_ms) = s.take_rate("merge_links", config.link_rate_per_minute, 60_000, now)? {
            return Err(ApiError::RateLimited(u64::try_from((wait_ms + 999) / 1000).unwrap_or(60)));
        }
        let card = s
            .live_client(client)?
            .ok_or_else(|| ApiError::not_found("client_not_found", format!("no client {client}")))?;
        let bot = target_bot(s, client_type, group.as_deref())?;
        let link = new_link(s, config, card.id, &bot, tag.clone(), now)?;
        s.insert_link(&link)?;
        s.record(
            card.id,
            now,
            "merge_link_created",
            json!({"messenger": client_type.name(), "group": bot.group, "expires_at": rfc3339(link.expires_at)}),
        )?;
        let token = LinkToken {
            link_id: LinkId::from_payload(&link.id).expect("a fresh link id"),
            expires_at: (link.expires_at / 1000) as u32,
            client_type,
            project: project.clone(),
            group: bot.group.clone(),
            code: link.code.clone(),
        }
        .encode(&config.link_key);
        Ok(Reply::created(json!({
            "link": format!("{}/mlink/{token}", config.public_base_url),
            "token": token,
            "client_id": card.id,
            "client_type": client_type.code(),
            "messenger": client_type.name(),
            "group": bot.group,
            "expires_at": rfc3339(link.expires_at),
            "code": link.code,
        })))
    })
}

/// The bot a link leads to: the named one, or the messenger's first connected bot.
fn target_bot<S: Sql>(
    s: &Store<S>,
    client_type: ClientType,
    group: Option<&str>,
) -> Result<Bot, ApiError> {
    let bot = match group {
        Some(g) => match Group::parse(g) {
            Ok(g) => s.bot(&g)?,
            Err(_) => None,
        },
        None => s.first_bot_of(client_type)?,
    };
    bot.map(|r| r.bot)
        .filter(|b| b.client_type() == client_type)
        .ok_or_else(|| not_connected(client_type, group))
}

/// The variable where a card's current merge code is kept (Salebot's name), for scenarios that
/// show it to the client.
pub const CODE_VARIABLE: &str = "text_to_merge_contact";

/// A new link for `card` into `bot`. WhatsApp and Instagram links get a code, unique among the
/// bot's codes; it replaces the card's previous codes and is written to [`CODE_VARIABLE`].
fn new_link<S: Sql>(
    s: &Store<S>,
    config: &Config,
    card: ClientId,
    bot: &Bot,
    tag: String,
    now: Millis,
) -> Result<LinkRecord, ApiError> {
    let code = match bot.client_type() {
        ClientType::WhatsApp | ClientType::Instagram => {
            let code = unused_code(s, &bot.group)?;
            s.retire_codes_of(card, now)?;
            s.set_variable(card, CODE_VARIABLE, &code)?;
            s.bump_variables(card)?;
            Some(code)
        }
        _ => None,
    };
    Ok(LinkRecord {
        id: LinkId::random().to_payload(),
        client_id: card,
        client_type: bot.client_type(),
        group: bot.group.to_string(),
        tag,
        code,
        from: s.latest_contact_of(card)?.map(|c| (c.group, c.user_id)),
        created_at: now,
        // Whole seconds, as the token carries it: the page and the merge agree on the instant.
        expires_at: (now / 1000 + config.link_ttl_s) * 1000,
        retired_at: None,
        used_at: None,
        used_by: None,
    })
}

fn unused_code<S: Sql>(s: &Store<S>, group: &Group) -> Result<String, ApiError> {
    // 50 random bits: a clash is vanishingly rare, but the check makes codes unique for sure.
    for _ in 0..8 {
        let code = new_code();
        if s.link_by_code(group.as_str(), &code)?.is_none() {
            return Ok(code);
        }
    }
    Err(ApiError::Internal("could not find an unused code".into()))
}

fn not_connected(client_type: ClientType, group: Option<&str>) -> ApiError {
    let message = match group {
        Some(g) => format!(
            "no {} bot `{g}` is connected to this project",
            client_type.name()
        ),
        None => format!("no {} bot is connected to this project", client_type.name()),
    };
    ApiError::unprocessable("messenger_not_connected", message)
}

/// The client card: dialogs (with their messaging windows at `now`), variables, history.
pub fn card_json<S: Sql>(store: &Store<S>, id: ClientId, now: Millis) -> Result<Value, ApiError> {
    let card = store
        .client(id)?
        .ok_or_else(|| ApiError::not_found("client_not_found", format!("no client {id}")))?;
    let contacts: Vec<Value> = store
        .contacts_of(id)?
        .iter()
        .map(|c| contact_json(c, now))
        .collect();
    let history: Vec<Value> = store
        .history_of(id)?
        .into_iter()
        .map(|h| json!({"at": rfc3339(h.at), "event": h.event, "detail": h.detail}))
        .collect();
    Ok(json!({
        "client_id": card.id,
        "merged_into": card.merged_into,
        "created_at": rfc3339(card.created_at),
        "updated_at": rfc3339(card.updated_at),
        "contacts": contacts,
        "variables": store.variables_of(id)?,
        "history": history,
    }))
}

pub fn contact_json(c: &Contact, now: Millis) -> Value {
    json!({
        "window": Window::of(c.client_type, c.last_inbound_at, now).to_json(),
        "messenger": c.client_type.name(),
        "client_type": c.client_type.code(),
        "group": c.group,
        "user_id": c.user_id,
        "name": c.name,
        "linked_at": rfc3339(c.linked_at),
        "last_message_at": c.last_inbound_at.map(rfc3339),
    })
}

pub fn get_client<S: Sql>(store: &Store<S>, id: ClientId, now: Millis) -> Result<Reply, ApiError> {
    Ok(Reply::ok(card_json(store, id, now)?))
}

pub fn find_contact<S: Sql>(
    store: &Store<S>,
    group: &Group,
    user: &UserId,
) -> Result<Contact, ApiError> {
    store.contact(group, user)?.ok_or_else(|| {
        ApiError::not_found(
            "contact_not_found",
            format!("no contact {user} in bot {group}"),
        )
    })
}

pub fn get_contact<S: Sql>(
    store: &Store<S>,
    group: &Group,
    user: &UserId,
    now: Millis,
) -> Result<Reply, ApiError> {
    let contact = find_contact(store, group, user)?;
    Ok(Reply::ok(card_json(store, contact.client_id, now)?))
}

/// `unmerge_client()`: the dialog leaves the card it shares; an `unmerged` callback reports it.
pub fn unmerge<S: Sql>(
    store: &Store<S>,
    group: &Group,
    user: &UserId,
    now: Millis,
) -> Result<Reply, ApiError> {
    store.transaction(|s| {
        let contact = find_contact(s, group, user)?;
        let Some((new, previous)) = s.unmerge_contact(&contact, json!({"by": "api"}), now)? else {
            return Ok(Reply::ok(json!({
                "changed": false, "client_id": contact.client_id, "previous_client_id": contact.client_id,
            })));
        };
        enqueue_event(
            s,
            "unmerged",
            EventData::Unmerged {
                client_id: new.0,
                previous_client_id: previous.0,
                contact: contact.reference(),
            },
            now,
        )?;
        Ok(Reply::ok(json!({
            "changed": true, "client_id": new, "previous_client_id": previous,
        })))
    })
}

/// Writes a callback event to the outbox (inside the caller's transaction).
pub fn enqueue_event<S: Sql>(
    store: &Store<S>,
    kind: &str,
    data: EventData,
    now: Millis,
) -> Result<(), ApiError> {
    store.enqueue_all(&[event_item(kind, data, now)], now)?;
    Ok(())
}

/// A callback event as an outbox item, with its `webhook-id`.
pub fn event_item(kind: &str, data: EventData, now: Millis) -> NewOutboxItem {
    let event = Event {
        kind: kind.to_string(),
        timestamp: rfc3339(now),
        data,
    };
    NewOutboxItem {
        kind: OutboxKind::Callback,
        webhook_id: Some(new_webhook_id()),
        payload: serde_json::to_string(&event).expect("events serialize"),
    }
}

/// The funnel's default period: the last week.
const DEFAULT_STATS_PERIOD_MS: Millis = 7 * 24 * 3600 * 1000;

/// `GET .../stats?from=&to=`: per messenger, links created in the period, opened, completed.
pub fn stats<S: Sql>(
    store: &Store<S>,
    query: &[(String, String)],
    now: Millis,
) -> Result<Reply, ApiError> {
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let to = param("to")
        .map(parse_instant)
        .transpose()?
        .unwrap_or(now + 1);
    let from = param("from")
        .map(parse_instant)
        .transpose()?
        .unwrap_or(to - DEFAULT_STATS_PERIOD_MS);
    if from >= to {
        return Err(ApiError::BadRequest("`from` must be before `to`".into()));
    }
    let rows = store.funnel(from, to)?;
    let row_of = |t: ClientType| {
        rows.iter()
            .find(|r| r.client_type == t)
            .copied()
            .unwrap_or(FunnelRow {
                client_type: t,
                created: 0,
                opened: 0,
                completed: 0,
            })
    };
    let messengers: Vec<Value> = ClientType::ALL
        .into_iter()
        .map(|t| {
            let mut row = funnel_json(row_of(t));
            row["client_type"] = t.code().into();
            row["messenger"] = t.name().into();
            row
        })
        .collect();
    let total = rows.iter().fold(
        FunnelRow {
            client_type: ClientType::Telegram,
            created: 0,
            opened: 0,
            completed: 0,
        },
        |sum, r| FunnelRow {
            created: sum.created + r.created,
            opened: sum.opened + r.opened,
            completed: sum.completed + r.completed,
            ..sum
        },
    );
    Ok(Reply::ok(json!({
        "from": rfc3339(from),
        "to": rfc3339(to),
        "messengers": messengers,
        "total": funnel_json(total),
    })))
}

fn funnel_json(row: FunnelRow) -> Value {
    let rate = if row.created == 0 {
        0.0
    } else {
        row.completed as f64 / row.created as f64
    };
    json!({
        "created": row.created,
        "opened": row.opened,
        "completed": row.completed,
        "completion_rate": (rate * 1000.0).round() / 1000.0,
    })
}

/// RFC 3339 or unix seconds, between 1970 and 9999 (what RFC 3339 can write back).
fn parse_instant(s: &str) -> Result<Millis, ApiError> {
    const LAST_MS: Millis = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
    let ms = match s.parse::<i64>() {
        Ok(seconds) => seconds.checked_mul(1000),
        Err(_) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_millis())
            .ok(),
    };
    ms.filter(|ms| (0..=LAST_MS).contains(ms)).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "`{s}` is not an RFC 3339 time or unix seconds between 1970 and 9999"
        ))
    })
}
