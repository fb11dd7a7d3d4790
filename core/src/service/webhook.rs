//! A messenger's webhook: verify, parse, and for each event, in one transaction: dedupe, resolve
//! the contact to its card, merge on a valid link, and write the resulting sends and callbacks to
//! the outbox. Nothing here waits for the owner's backend or the messenger.

use super::owner::enqueue_event;
use super::{ApiError, Reply};
use crate::domain::callback::{ContactRef, EventData};
use crate::domain::time::Millis;
use crate::domain::token::LinkId;
use crate::domain::{ClientId, Group, UserId};
use crate::http::Headers;
use crate::messengers::{Bot, Inbound, InboundKind, WebhookError};
use crate::service::delivery::SendText;
use crate::store::{Contact, LinkRecord, OutboxKind, Sql, Store};
use serde_json::json;

/// What the bot says when a link cannot merge.
pub mod replies {
    pub const LINK_USED: &str =
        "This link has already been used. If you asked for it, you are connected already.";
    pub const LINK_EXPIRED: &str = "This link has expired. Please ask for a new one.";
    pub const ALREADY_CONNECTED: &str = "You are already connected here. Nothing else to do.";
}

/// The answer to the messenger, and the links this delivery used up (the edge remembers them).
pub struct WebhookOutcome {
    pub reply: Reply,
    pub used_links: Vec<LinkId>,
}

pub fn handle<S: Sql>(
    store: &Store<S>,
    group: &Group,
    headers: &dyn Headers,
    body: &[u8],
    now: Millis,
) -> Result<WebhookOutcome, ApiError> {
    let bot = store
        .bot(group)?
        .ok_or_else(|| ApiError::not_found("bot_not_found", format!("no bot {group}")))?
        .bot;
    bot.verify(headers, body).map_err(webhook_error)?;
    let events = bot.parse(body).map_err(webhook_error)?;
    let mut used_links = Vec::new();
    for event in &events {
        used_links.extend(store.transaction(|s| process(s, &bot, event, now))?);
    }
    Ok(WebhookOutcome {
        reply: Reply::ok(json!({"ok": true})),
        used_links,
    })
}

fn webhook_error(e: WebhookError) -> ApiError {
    match e {
        WebhookError::Unauthorized => ApiError::Unauthorized,
        WebhookError::Malformed(m) => ApiError::BadRequest(m),
    }
}

/// Handles one event; returns the link it used, if it merged.
fn process<S: Sql>(
    s: &Store<S>,
    bot: &Bot,
    event: &Inbound,
    now: Millis,
) -> Result<Option<LinkId>, ApiError> {
    let delivery = format!("{}:{}", bot.group, event.delivery_id);
    if !s.first_delivery(&delivery, now)? {
        return Ok(None);
    }
    let existing = s.contact(&bot.group, &event.user_id)?;
    match &event.kind {
        InboundKind::Arrival {
            payload,
            message_id,
        } => match link_for(s, bot, payload)? {
            Some(link) => arrive(s, bot, event, existing, link, now),
            // Not ours: maybe the owner's own deep link. Pass it on as a message.
            None => {
                let contact = ensure_contact(s, bot, event, existing, now)?;
                let text = format!("/start {payload}");
                forward_message(s, &contact, &text, message_id, now)?;
                Ok(None)
            }
        },
        InboundKind::Text { text, message_id } => {
            let contact = ensure_contact(s, bot, event, existing, now)?;
            forward_message(s, &contact, text, message_id, now)?;
            Ok(None)
        }
    }
}

/// The link a payload names, if it was made for this bot.
fn link_for<S: Sql>(
    s: &Store<S>,
    bot: &Bot,
    payload: &str,
) -> Result<Option<LinkRecord>, ApiError> {
    let Some(id) = LinkId::from_payload(payload) else {
        return Ok(None);
    };
    Ok(s.link(&id.to_payload())?
        .filter(|link| link.group == bot.group.as_str()))
}

/// The dialog for this user, made (with a card of its own) if it is new.
fn ensure_contact<S: Sql>(
    s: &Store<S>,
    bot: &Bot,
    event: &Inbound,
    existing: Option<Contact>,
    now: Millis,
) -> Result<Contact, ApiError> {
    if let Some(contact) = existing {
        s.note_inbound(&contact, now)?;
        return Ok(contact);
    }
    let card = s.new_client(now)?;
    let contact = add_contact(s, bot, event, card, now)?;
    s.record(
        card,
        now,
        "created",
        json!({"contact": contact.reference()}),
    )?;
    Ok(contact)
}

fn add_contact<S: Sql>(
    s: &Store<S>,
    bot: &Bot,
    event: &Inbound,
    card: ClientId,
    now: Millis,
) -> Result<Contact, ApiError> {
    Ok(s.add_contact(
        &bot.group,
        &event.user_id,
        bot.client_type(),
        card,
        event.name.as_deref(),
        now,
    )?)
}

/// A client followed a merge link into this bot. Returns the link if it was used now.
fn arrive<S: Sql>(
    s: &Store<S>,
    bot: &Bot,
    event: &Inbound,
    existing: Option<Contact>,
    link: LinkRecord,
    now: Millis,
) -> Result<Option<LinkId>, ApiError> {
    let target = s.live_client(link.client_id)?;
    let refusal = match (&link, &target) {
        (_, None) => Some(replies::LINK_USED),
        (l, _) if l.used_at.is_some() => Some(used_reply(&link, event)),
        (l, _) if l.expires_at <= now => Some(replies::LINK_EXPIRED),
        _ => None,
    };
    if let Some(text) = refusal {
        let contact = ensure_contact(s, bot, event, existing, now)?;
        s.record(
            contact.client_id,
            now,
            "merge_refused",
            json!({"reason": text, "contact": contact.reference()}),
        )?;
        send_text(s, bot, &event.user_id, text, now)?;
        return Ok(None);
    }
    let target = target.expect("checked above").id;
    let contact = match existing {
        Some(c) if c.client_id == target => {
            s.note_inbound(&c, now)?;
            send_text(s, bot, &event.user_id, replies::ALREADY_CONNECTED, now)?;
            return Ok(None);
        }
        Some(c) => {
            s.merge_cards(
                c.client_id,
                target,
                json!({"link": link.id, "by": "client"}),
                now,
            )?;
            s.note_inbound(&c, now)?;
            c
        }
        None => {
            let c = add_contact(s, bot, event, target, now)?;
            s.record(
                target,
                now,
                "contact_linked",
                json!({"contact": c.reference(), "link": link.id}),
            )?;
            c
        }
    };
    s.use_link(&link.id, bot.group.as_str(), event.user_id.as_str(), now)?;
    if !link.tag.is_empty() {
        send_text(s, bot, &event.user_id, &link.tag, now)?;
    }
    let from = from_contact(s, &link)?;
    enqueue_event(
        s,
        &format!("switch_to_{}", bot.client_type().name()),
        EventData::Switched {
            client_id: target.0,
            contact: contact.reference(),
            from,
            note: link.tag.clone(),
        },
        now,
    )?;
    Ok(LinkId::from_payload(&link.id))
}

fn used_reply(link: &LinkRecord, event: &Inbound) -> &'static str {
    match &link.used_by {
        Some((_, user)) if user == event.user_id.as_str() => replies::ALREADY_CONNECTED,
        _ => replies::LINK_USED,
    }
}

fn from_contact<S: Sql>(s: &Store<S>, link: &LinkRecord) -> Result<Option<ContactRef>, ApiError> {
    let Some((group, user)) = &link.from else {
        return Ok(None);
    };
    let (Ok(group), Ok(user)) = (Group::parse(group), UserId::parse(user)) else {
        return Ok(None);
    };
    Ok(s.contact(&group, &user)?.map(|c| c.reference()))
}

fn forward_message<S: Sql>(
    s: &Store<S>,
    contact: &Contact,
    text: &str,
    message_id: &str,
    now: Millis,
) -> Result<(), ApiError> {
    enqueue_event(
        s,
        "message",
        EventData::Message {
            client_id: contact.client_id.0,
            contact: contact.reference(),
            text: text.to_string(),
            message_id: message_id.to_string(),
        },
        now,
    )
}

fn send_text<S: Sql>(
    s: &Store<S>,
    bot: &Bot,
    to: &UserId,
    text: &str,
    now: Millis,
) -> Result<(), ApiError> {
    let send = SendText {
        group: bot.group.clone(),
        to: to.clone(),
        text: text.to_string(),
    };
    let payload = serde_json::to_string(&send).expect("plain data serializes");
    s.enqueue(OutboxKind::Send, None, &payload, now)?;
    Ok(())
}
