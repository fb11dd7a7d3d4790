//! A messenger's webhook: verify, parse, and for each event, in one transaction: dedupe, resolve
//! the contact to its card, merge on a valid link or code, and write the resulting sends and
//! callbacks to the outbox. Nothing here waits for the owner's backend or the messenger.

use super::owner::event_item;
use super::{ApiError, Reply};
use crate::domain::callback::{ContactRef, EventData};
use crate::domain::code::{looks_like_code, parse_code};
use crate::domain::time::Millis;
use crate::domain::token::LinkId;
use crate::domain::{ClientId, ClientType, Group};
use crate::http::Headers;
use crate::messengers::{Bot, Inbound, InboundKind, WebhookError};
use crate::service::delivery::SendText;
use crate::store::{Contact, LinkRecord, NewOutboxItem, OutboxKind, Sql, Store};
use serde_json::{json, Value};

/// What the bot says when a link or code cannot merge.
pub mod replies {
    pub const LINK_USED: &str =
        "This link has already been used. If you asked for it, you are connected already.";
    pub const LINK_EXPIRED: &str = "This link has expired. Please ask for a new one.";
    pub const LINK_REPLACED: &str =
        "This link was replaced by a newer one. Please use the latest link you received.";
    pub const ALREADY_CONNECTED: &str = "You are already connected here. Nothing else to do.";
    pub const WRONG_CODE: &str =
        "This code is not valid. Please send the code from your link exactly as it is shown.";
    pub const TOO_MANY_CODES: &str =
        "Too many wrong codes. Please try again tomorrow, or ask for a new link.";
}

/// Wrong codes a sender may send per window before codes from them are refused unchecked.
pub const MAX_WRONG_CODES: i64 = 5;
pub const CODE_WINDOW_MS: Millis = 24 * 3600 * 1000;

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
    if is_viber_webhook_check(body) {
        return Ok(WebhookOutcome {
            reply: Reply::ok(json!({"ok": true})),
            used_links: vec![],
        });
    }
    let bot = find_bot(store, group)?;
    bot.verify(headers, body).map_err(webhook_error)?;
    let events = bot.parse(body).map_err(webhook_error)?;
    let mut used_links = Vec::new();
    let mut response = None;
    for event in &events {
        let turn = store.transaction(|s| Turn::new(s, &bot, event, now).process())?;
        used_links.extend(turn.used_link);
        response = response.or(turn.response);
    }
    Ok(WebhookOutcome {
        reply: Reply::ok(response.unwrap_or_else(|| json!({"ok": true}))),
        used_links,
    })
}

/// The `GET` subscription handshake (Meta): the challenge to echo back.
pub fn handshake<S: Sql>(
    store: &Store<S>,
    group: &Group,
    query: &[(String, String)],
) -> Result<String, ApiError> {
    let bot = find_bot(store, group)?;
    bot.handshake(query).map_err(|e| match e {
        WebhookError::Unauthorized => ApiError::Forbidden("the verify token does not match".into()),
        WebhookError::Malformed(m) => ApiError::BadRequest(m),
    })
}

/// Viber checks a webhook URL while `set_webhook` runs, before mlink has saved the bot (and
/// signed with a token mlink may not know yet). The check changes nothing, so it gets its 200.
fn is_viber_webhook_check(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body).is_ok_and(|v| v["event"] == "webhook")
}

fn find_bot<S: Sql>(store: &Store<S>, group: &Group) -> Result<Bot, ApiError> {
    Ok(store
        .bot(group)?
        .ok_or_else(|| ApiError::not_found("bot_not_found", format!("no bot {group}")))?
        .bot)
}

fn webhook_error(e: WebhookError) -> ApiError {
    match e {
        WebhookError::Unauthorized => ApiError::Unauthorized,
        WebhookError::Malformed(m) => ApiError::BadRequest(m),
    }
}

/// What one event came to.
struct TurnOutcome {
    used_link: Option<LinkId>,
    response: Option<Value>,
}

/// One event being handled, inside its transaction.
struct Turn<'a, S: Sql> {
    s: &'a Store<S>,
    bot: &'a Bot,
    event: &'a Inbound,
    now: Millis,
    /// A text that goes in the webhook's HTTP response instead of the outbox.
    answer: Option<String>,
    /// What the event sends and reports, written to the outbox in one statement at its end.
    outbox: Vec<NewOutboxItem>,
}

impl<'a, S: Sql> Turn<'a, S> {
    fn new(s: &'a Store<S>, bot: &'a Bot, event: &'a Inbound, now: Millis) -> Self {
        Turn {
            s,
            bot,
            event,
            now,
            answer: None,
            outbox: Vec::new(),
        }
    }

    fn process(mut self) -> Result<TurnOutcome, ApiError> {
        let key = format!("{}:{}", self.bot.group, self.event.delivery_id);
        if let Err(previous) = self.s.first_delivery(&key, self.now)? {
            let response = previous.and_then(|r| serde_json::from_str(&r).ok());
            return Ok(TurnOutcome {
                used_link: None,
                response,
            });
        }
        // The user's dialog is read only where it is needed: a new user following a valid link
        // (the common arrival) is found out by inserting their dialog.
        let used_link = match &self.event.kind {
            InboundKind::Arrival {
                payload,
                message_id,
            } => match self.link_for_payload(payload)? {
                Some((link, card)) => self.arrive(link, card)?,
                // Not ours: maybe the owner's own deep link. Pass it on as a message.
                None => {
                    let text = self.bot.config.messenger().arrival_text(payload);
                    self.forward(&text, message_id)?;
                    None
                }
            },
            InboundKind::Text { text, message_id } => {
                if self.takes_codes() && looks_like_code(text) {
                    self.try_code(text)?
                } else {
                    self.forward(text, message_id)?;
                    None
                }
            }
        };
        self.s.enqueue_all(&self.outbox, self.now)?;
        let response = self
            .answer
            .as_deref()
            .and_then(|text| self.bot.config.messenger().response_message(text));
        if let Some(response) = &response {
            self.s.set_delivery_response(&key, &response.to_string())?;
        }
        Ok(TurnOutcome {
            used_link,
            response,
        })
    }

    /// WhatsApp and Instagram links carry codes: messages there may be one.
    fn takes_codes(&self) -> bool {
        matches!(
            self.bot.client_type(),
            ClientType::WhatsApp | ClientType::Instagram
        )
    }

    /// The link a payload names, if it was made for this bot, and the card its client's
    /// dialogs live in now.
    fn link_for_payload(
        &self,
        payload: &str,
    ) -> Result<Option<(LinkRecord, Option<ClientId>)>, ApiError> {
        let Some(id) = LinkId::from_payload(payload) else {
            return Ok(None);
        };
        Ok(self
            .s
            .link_with_live_card(&id.to_payload())?
            .filter(|(link, _)| link.group == self.bot.group.as_str()))
    }

    /// A message that looks like a code: merge if it is one, else count it against the sender.
    fn try_code(&mut self, text: &str) -> Result<Option<LinkId>, ApiError> {
        let (group, user) = (self.bot.group.as_str(), self.event.user_id.as_str());
        let since = self.now - CODE_WINDOW_MS;
        if self.s.code_failures(group, user, since)? >= MAX_WRONG_CODES {
            self.refuse(replies::TOO_MANY_CODES, json!({"reason": "too_many_codes"}))?;
            return Ok(None);
        }
        let link = match parse_code(text) {
            Some(code) => self.s.link_by_code(group, &code)?,
            None => None,
        };
        if let Some(link) = link {
            let card = self.s.live_client(link.client_id)?.map(|c| c.id);
            return self.arrive(link, card);
        }
        let failures = self.s.count_code_failure(group, user, since, self.now)?;
        let reply = if failures >= MAX_WRONG_CODES {
            replies::TOO_MANY_CODES
        } else {
            replies::WRONG_CODE
        };
        self.refuse(reply, json!({"reason": "wrong_code", "failures": failures}))?;
        Ok(None)
    }

    /// A client followed a merge link (or sent its code) of the card that lives in `target` now
    /// (None: gone). Returns the link if it was used now.
    fn arrive(
        &mut self,
        link: LinkRecord,
        target: Option<ClientId>,
    ) -> Result<Option<LinkId>, ApiError> {
        let refusal = if link.used_at.is_some() {
            Some(self.used_reply(&link))
        } else if link.retired_at.is_some() {
            Some(replies::LINK_REPLACED)
        } else if link.expires_at <= self.now || target.is_none() {
            Some(replies::LINK_EXPIRED)
        } else {
            None
        };
        if let Some(text) = refusal {
            self.refuse(text, json!({"reason": text, "link": link.id}))?;
            return Ok(None);
        }
        let target = target.expect("checked above");
        let Some(contact) = self.join(target, &link)? else {
            return Ok(None);
        };
        self.s.use_link(
            &link.id,
            self.bot.group.as_str(),
            self.event.user_id.as_str(),
            self.now,
        )?;
        if !link.tag.is_empty() {
            self.say(&link.tag)?;
        }
        let from = self.origin_contact(&link)?;
        self.outbox.push(event_item(
            &format!("switch_to_{}", self.bot.client_type().name()),
            EventData::Switched {
                client_id: target.0,
                contact: contact.reference(),
                from,
                note: link.tag.clone(),
            },
            self.now,
        ));
        Ok(LinkId::from_payload(&link.id))
    }

    /// Puts the arriving dialog (and the card it had) into `target`. None when it is there already.
    fn join(&mut self, target: ClientId, link: &LinkRecord) -> Result<Option<Contact>, ApiError> {
        if let Some(c) = self.add_contact(target)? {
            self.s.record(
                target,
                self.now,
                "contact_linked",
                json!({"contact": c.reference(), "link": link.id}),
            )?;
            return Ok(Some(c));
        }
        // The dialog was there already (the insert changed nothing).
        let c = self
            .existing()?
            .ok_or_else(|| ApiError::Internal("a dialog neither new nor found".into()))?;
        if c.client_id == target {
            self.s.note_inbound(&c, self.now)?;
            self.say(replies::ALREADY_CONNECTED)?;
            return Ok(None);
        }
        let cause = json!({"link": link.id, "by": "client"});
        self.s.merge_cards(c.client_id, target, cause, self.now)?;
        self.s.note_inbound(&c, self.now)?;
        Ok(Some(c))
    }

    /// The user's dialog in this bot, if they wrote here before.
    fn existing(&self) -> Result<Option<Contact>, ApiError> {
        Ok(self.s.contact(&self.bot.group, &self.event.user_id)?)
    }

    fn used_reply(&self, link: &LinkRecord) -> &'static str {
        match &link.used_by {
            Some((_, user)) if user == self.event.user_id.as_str() => replies::ALREADY_CONNECTED,
            _ => replies::LINK_USED,
        }
    }

    /// No merge: the client hears why, and the card's history keeps it.
    fn refuse(&mut self, text: &str, detail: Value) -> Result<(), ApiError> {
        let contact = self.ensure_contact()?;
        let mut detail = detail;
        detail["contact"] = serde_json::to_value(contact.reference()).unwrap_or_default();
        self.s
            .record(contact.client_id, self.now, "merge_refused", detail)?;
        self.say(text)
    }

    /// The dialog for this user, made (with a card of its own) if it is new.
    fn ensure_contact(&self) -> Result<Contact, ApiError> {
        if let Some(contact) = self.existing()? {
            self.s.note_inbound(&contact, self.now)?;
            return Ok(contact);
        }
        let card = self.s.new_client(self.now)?;
        let contact = self
            .add_contact(card)?
            .ok_or_else(|| ApiError::Internal("a dialog not found, yet there".into()))?;
        self.s.record(
            card,
            self.now,
            "created",
            json!({"contact": contact.reference()}),
        )?;
        Ok(contact)
    }

    /// The user's dialog, new in `card`; None (and nothing written) if they have one here.
    fn add_contact(&self, card: ClientId) -> Result<Option<Contact>, ApiError> {
        Ok(self.s.add_contact(
            &self.bot.group,
            &self.event.user_id,
            self.bot.client_type(),
            card,
            self.event.name.as_deref(),
            self.now,
        )?)
    }

    /// The dialog the link was made from. Dialogs are never deleted, so it is the link's
    /// record and its bot's messenger (bots are in memory): no read.
    fn origin_contact(&self, link: &LinkRecord) -> Result<Option<ContactRef>, ApiError> {
        let Some((group, user)) = &link.from else {
            return Ok(None);
        };
        let Ok(group) = Group::parse(group) else {
            return Ok(None);
        };
        let Some(bot) = self.s.bot(&group)? else {
            return Ok(None);
        };
        let client_type = bot.bot.client_type();
        Ok(Some(ContactRef {
            messenger: client_type.name(),
            client_type: client_type.code(),
            group: group.to_string(),
            user_id: user.clone(),
        }))
    }

    /// An ordinary message: the owner's backend gets it with the resolved card.
    fn forward(&mut self, text: &str, message_id: &str) -> Result<(), ApiError> {
        let contact = self.ensure_contact()?;
        self.outbox.push(event_item(
            "message",
            EventData::Message {
                client_id: contact.client_id.0,
                contact: contact.reference(),
                text: text.to_string(),
                message_id: message_id.to_string(),
            },
            self.now,
        ));
        Ok(())
    }

    /// Sends `text` to the user: in the webhook's response when the messenger needs that (once),
    /// else through the outbox.
    fn say(&mut self, text: &str) -> Result<(), ApiError> {
        let in_response = self.event.answer_in_response
            && self.answer.is_none()
            && self.bot.config.messenger().response_message(text).is_some();
        if in_response {
            self.answer = Some(text.to_string());
            return Ok(());
        }
        let send = SendText {
            group: self.bot.group.clone(),
            to: self.event.user_id.clone(),
            text: text.to_string(),
        };
        self.outbox.push(NewOutboxItem {
            kind: OutboxKind::Send,
            webhook_id: None,
            payload: serde_json::to_string(&send).expect("plain data serializes"),
        });
        Ok(())
    }
}
