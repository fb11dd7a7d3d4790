//! A project on an in-memory store, with Telegram bots, driven the way the worker drives it:
//! owner API calls and webhook deliveries, each at an explicit time.

use super::sqlite::Sqlite;
use mlink_core::domain::time::Millis;
use mlink_core::domain::token::{LinkId, LinkKey, LinkToken};
use mlink_core::domain::{ClientId, Group, ProjectName, UserId};
use mlink_core::messengers::telegram::SECRET_HEADER;
use mlink_core::messengers::ApiBases;
use mlink_core::service::delivery::SendText;
use mlink_core::service::webhook::{self, WebhookOutcome};
use mlink_core::service::{owner, ApiError, Config, Reply, DEFAULT_LINK_TTL_S};
use mlink_core::store::{Contact, OutboxItem, OutboxKind, Store};
use serde_json::{json, Value};
use std::cell::Cell;

/// 2025-11-24T16:00:00Z.
pub const T0: Millis = 1_764_000_000_000;
pub const PROJECT: &str = "acme";
pub const CALLBACK_URL: &str = "https://owner.example/mlink-callback";
pub const TELEGRAM_BASE: &str = "http://telegram.test";
pub const PUBLIC_BASE: &str = "https://mlink.test";

pub fn group(s: &str) -> Group {
    Group::parse(s).unwrap()
}

pub fn user(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

pub fn config() -> Config {
    Config {
        public_base_url: PUBLIC_BASE.into(),
        link_ttl_s: DEFAULT_LINK_TTL_S,
        bases: ApiBases {
            telegram: TELEGRAM_BASE.into(),
            ..ApiBases::default()
        },
        link_key: LinkKey::new(b"service test link secret"),
        retry_schedule_s: vec![5, 60],
    }
}

pub struct World {
    pub store: Store<Sqlite>,
    pub config: Config,
    pub project: ProjectName,
    pub api_key: String,
    pub callback_secret: String,
    next_update: Cell<i64>,
}

impl World {
    /// A created project, no bots yet.
    pub fn new() -> Self {
        let store = Store::open(Sqlite::memory()).unwrap();
        let project = ProjectName::parse(PROJECT).unwrap();
        let body = json!({ "callback_url": CALLBACK_URL }).to_string();
        let reply = owner::put_project(&store, &project, body.as_bytes(), T0).unwrap();
        assert_eq!(reply.status, 201);
        World {
            api_key: reply.body["api_key"].as_str().unwrap().to_string(),
            callback_secret: reply.body["callback_secret"].as_str().unwrap().to_string(),
            store,
            config: config(),
            project,
            next_update: Cell::new(1000),
        }
    }

    /// A project with Telegram bots `A` (@BotA) and `B` (@BotB), connected in that order.
    pub fn with_bots_a_b() -> Self {
        let world = World::new();
        world.connect_telegram("A", "BotA", "111:token-A");
        world.connect_telegram("B", "BotB", "222:token-B");
        world
    }

    /// `PUT .../bots/{group}` without registering a webhook; returns the reply.
    pub fn connect_telegram(&self, grp: &str, username: &str, token: &str) -> Reply {
        let body = json!({
            "client_type": 1, "username": username, "token": token, "register_webhook": false,
        })
        .to_string();
        let plan = owner::plan_bot(
            &self.store,
            &self.config,
            &self.project,
            &group(grp),
            body.as_bytes(),
        )
        .unwrap();
        assert!(plan.registration.is_none());
        owner::save_bot(&self.store, &plan, T0).unwrap().0
    }

    /// The secret Telegram presents for this bot.
    pub fn secret(&self, grp: &str) -> String {
        self.store
            .bot(&group(grp))
            .unwrap()
            .unwrap()
            .bot
            .webhook_secret
    }

    pub fn update_body(update_id: i64, from: i64, text: &str) -> String {
        json!({
            "update_id": update_id,
            "message": {
                "message_id": update_id + 7,
                "date": T0 / 1000,
                "from": {"id": from, "is_bot": false, "first_name": format!("User{from}")},
                "chat": {"id": from, "type": "private"},
                "text": text,
            }
        })
        .to_string()
    }

    /// Posts a raw body to a bot's webhook with the given secret header (None: no header).
    pub fn post(
        &self,
        grp: &str,
        secret: Option<&str>,
        body: &[u8],
        now: Millis,
    ) -> Result<WebhookOutcome, ApiError> {
        let headers: Vec<(String, String)> = secret
            .map(|s| vec![(SECRET_HEADER.to_string(), s.to_string())])
            .unwrap_or_default();
        webhook::handle(&self.store, &group(grp), &headers, body, now)
    }

    /// Posts a body the webhook must refuse; the error.
    pub fn refused(&self, grp: &str, secret: Option<&str>, body: &[u8], now: Millis) -> ApiError {
        match self.post(grp, secret, body, now) {
            Ok(outcome) => panic!("accepted with {:?}", outcome.reply),
            Err(e) => e,
        }
    }

    /// Delivers one Telegram update with an explicit `update_id`, correctly authenticated.
    pub fn deliver(
        &self,
        grp: &str,
        update_id: i64,
        from: i64,
        text: &str,
        now: Millis,
    ) -> WebhookOutcome {
        let body = Self::update_body(update_id, from, text);
        let outcome = self
            .post(grp, Some(&self.secret(grp)), body.as_bytes(), now)
            .unwrap();
        assert_eq!(outcome.reply.status, 200);
        outcome
    }

    /// A user writes `text` to a bot (a fresh `update_id` each time).
    pub fn say(&self, grp: &str, from: i64, text: &str, now: Millis) -> WebhookOutcome {
        let id = self.next_update.get();
        self.next_update.set(id + 1);
        self.deliver(grp, id, from, text, now)
    }

    pub fn merge_link(
        &self,
        client: ClientId,
        body: Value,
        now: Millis,
    ) -> Result<Reply, ApiError> {
        owner::create_merge_link(
            &self.store,
            &self.config,
            &self.project,
            client,
            body.to_string().as_bytes(),
            now,
        )
    }

    /// A merge link for `client` into Telegram bot `grp` with `tag`, made at `now`; its payload.
    pub fn link_payload(&self, client: ClientId, grp: &str, tag: &str, now: Millis) -> String {
        let reply = self
            .merge_link(
                client,
                json!({"client_type": 1, "group": grp, "tag": tag}),
                now,
            )
            .unwrap();
        assert_eq!(reply.status, 201);
        self.payload_of(&reply).to_payload()
    }

    /// The link id inside a merge-link reply's token.
    pub fn payload_of(&self, reply: &Reply) -> LinkId {
        let token = reply.body["token"].as_str().unwrap();
        LinkToken::decode(token, &self.config.link_key, (T0 / 1000) as u64)
            .unwrap()
            .link_id
    }

    pub fn contact(&self, grp: &str, who: &str) -> Option<Contact> {
        self.store.contact(&group(grp), &user(who)).unwrap()
    }

    /// The card a dialog lives in.
    pub fn card_of(&self, grp: &str, who: &str) -> ClientId {
        self.contact(grp, who).expect("contact exists").client_id
    }

    pub fn card(&self, id: ClientId) -> Value {
        owner::card_json(&self.store, id).unwrap()
    }

    /// `(group, user_id)` of a card's dialogs, in the card's order.
    pub fn dialogs(&self, id: ClientId) -> Vec<(String, String)> {
        self.store
            .contacts_of(id)
            .unwrap()
            .into_iter()
            .map(|c| (c.group, c.user_id))
            .collect()
    }

    /// The events recorded in a card's history, in order.
    pub fn history_events(&self, id: ClientId) -> Vec<String> {
        self.store
            .history_of(id)
            .unwrap()
            .into_iter()
            .map(|h| h.event)
            .collect()
    }

    pub fn outbox(&self) -> Vec<OutboxItem> {
        self.store.outbox_items().unwrap()
    }

    /// Callback bodies in the outbox, parsed, in order.
    pub fn callbacks(&self) -> Vec<Value> {
        self.outbox()
            .iter()
            .filter(|i| i.kind == OutboxKind::Callback)
            .map(|i| serde_json::from_str(&i.payload).unwrap())
            .collect()
    }

    /// Callbacks of one `type`.
    pub fn callbacks_of(&self, kind: &str) -> Vec<Value> {
        self.callbacks()
            .into_iter()
            .filter(|c| c["type"] == kind)
            .collect()
    }

    /// Texts to clients in the outbox, in order.
    pub fn sends(&self) -> Vec<SendText> {
        self.outbox()
            .iter()
            .filter(|i| i.kind == OutboxKind::Send)
            .map(|i| serde_json::from_str(&i.payload).unwrap())
            .collect()
    }
}

pub fn send(grp: &str, to: &str, text: &str) -> SendText {
    SendText {
        group: group(grp),
        to: user(to),
        text: text.to_string(),
    }
}

/// A dialog as callbacks show it.
pub fn telegram_ref(grp: &str, who: &str) -> Value {
    json!({"messenger": "telegram", "client_type": 1, "group": grp, "user_id": who})
}
