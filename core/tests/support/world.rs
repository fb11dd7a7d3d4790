//! A project on an in-memory store, with bots of every messenger, driven the way the worker
//! drives it: owner API calls and webhook deliveries (signed as each messenger signs them), each
//! at an explicit time.

use super::sqlite::Sqlite;
use hmac::{Hmac, Mac};
use mlink_core::domain::time::Millis;
use mlink_core::domain::token::{LinkId, LinkKey, LinkToken};
use mlink_core::domain::{ClientId, ClientType, Group, ProjectName, UserId};
use mlink_core::messengers::telegram::SECRET_HEADER;
use mlink_core::messengers::{meta, viber, ApiBases, BotConfig};
use mlink_core::service::delivery::SendText;
use mlink_core::service::webhook::{self, WebhookOutcome};
use mlink_core::service::{owner, ApiError, Config, Reply, DEFAULT_LINK_TTL_S};
use mlink_core::store::{Contact, OutboxItem, OutboxKind, Store};
use serde_json::{json, Value};
use sha2::Sha256;
use std::cell::Cell;

/// 2025-11-24T16:00:00Z.
pub const T0: Millis = 1_764_000_000_000;
pub const PROJECT: &str = "acme";
pub const CALLBACK_URL: &str = "https://owner.example/mlink-callback";
pub const TELEGRAM_BASE: &str = "http://telegram.test";
pub const PUBLIC_BASE: &str = "https://mlink.test";

/// The WhatsApp business number as the owner gives it, its digits, and its Cloud API id.
pub const WHATSAPP_NUMBER: &str = "+1 (555) 010-0199";
pub const WHATSAPP_DIGITS: &str = "15550100199";
pub const WHATSAPP_NUMBER_ID: &str = "106540352242922";
pub const WHATSAPP_SECRET: &str = "wa-app-secret";
pub const INSTAGRAM_USERNAME: &str = "acme.shop_1";
pub const INSTAGRAM_ACCOUNT_ID: &str = "17841400000000001";
pub const INSTAGRAM_SECRET: &str = "ig-app-secret";
pub const VIBER_URI: &str = "acmebot";
pub const VIBER_TOKEN: &str = "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9";
pub const VIBER_SENDER: &str = "Acme";
pub const FACEBOOK_PAGE: &str = "acme.shop";
pub const FACEBOOK_PAGE_ID: &str = "106000000000001";
pub const FACEBOOK_SECRET: &str = "fb-app-secret";

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
        outbound_timeout_ms: mlink_core::service::DEFAULT_OUTBOUND_TIMEOUT_MS,
        link_rate_per_minute: 1000,
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
        Self::on(Sqlite::memory())
    }

    /// A created project on the given database, no bots yet.
    pub fn on(sql: Sqlite) -> Self {
        let store = Store::open(sql).unwrap();
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
        let id = self.fresh_id();
        self.deliver(grp, id, from, text, now)
    }

    /// A number not handed out before (update ids, message ids).
    pub fn fresh_id(&self) -> i64 {
        let id = self.next_update.get();
        self.next_update.set(id + 1);
        id
    }

    /// `PUT .../bots/{group}` for any messenger, without registering a webhook; `fields` are
    /// the messenger's own.
    pub fn connect(&self, grp: &str, client_type: ClientType, fields: Value) -> Reply {
        let mut body = fields;
        body["client_type"] = client_type.code().into();
        body["register_webhook"] = false.into();
        let plan = owner::plan_bot(
            &self.store,
            &self.config,
            &self.project,
            &group(grp),
            body.to_string().as_bytes(),
        )
        .unwrap();
        assert!(plan.registration.is_none());
        owner::save_bot(&self.store, &plan, T0).unwrap().0
    }

    pub fn connect_viber(&self, grp: &str, uri: &str, token: &str) -> Reply {
        self.connect(
            grp,
            ClientType::Viber,
            json!({"uri": uri, "token": token, "sender_name": VIBER_SENDER}),
        )
    }

    pub fn connect_facebook(
        &self,
        grp: &str,
        page: &str,
        page_id: &str,
        app_secret: &str,
    ) -> Reply {
        self.connect(
            grp,
            ClientType::Facebook,
            json!({
                "page": page, "page_id": page_id, "access_token": format!("EAAG-{grp}"),
                "app_secret": app_secret,
            }),
        )
    }

    /// A WhatsApp number; `verify_token` is the owner's own handshake token, if any.
    pub fn connect_whatsapp(
        &self,
        grp: &str,
        number: &str,
        number_id: &str,
        app_secret: &str,
        verify_token: Option<&str>,
    ) -> Reply {
        self.connect(
            grp,
            ClientType::WhatsApp,
            json!({
                "phone_number": number, "phone_number_id": number_id,
                "access_token": format!("EAAwa-{grp}"), "app_secret": app_secret,
                "verify_token": verify_token,
            }),
        )
    }

    pub fn connect_instagram(
        &self,
        grp: &str,
        username: &str,
        account_id: &str,
        app_secret: &str,
    ) -> Reply {
        self.connect(
            grp,
            ClientType::Instagram,
            json!({
                "username": username, "account_id": account_id,
                "access_token": format!("IGAA-{grp}"), "app_secret": app_secret,
            }),
        )
    }

    /// A project with Telegram bot `A` (@BotA), WhatsApp `W`, Instagram `I`, Viber `V` and
    /// Facebook `F`, connected in that order.
    pub fn with_every_messenger() -> Self {
        let world = World::new();
        world.connect_telegram("A", "BotA", "111:token-A");
        world.connect_whatsapp(
            "W",
            WHATSAPP_NUMBER,
            WHATSAPP_NUMBER_ID,
            WHATSAPP_SECRET,
            None,
        );
        world.connect_instagram(
            "I",
            INSTAGRAM_USERNAME,
            INSTAGRAM_ACCOUNT_ID,
            INSTAGRAM_SECRET,
        );
        world.connect_viber("V", VIBER_URI, VIBER_TOKEN);
        world.connect_facebook("F", FACEBOOK_PAGE, FACEBOOK_PAGE_ID, FACEBOOK_SECRET);
        world
    }

    pub fn bot_config(&self, grp: &str) -> BotConfig {
        self.store
            .bot(&group(grp))
            .unwrap()
            .expect("bot connected")
            .bot
            .config
    }

    /// The headers a bot's messenger authenticates `body` with: Telegram's secret token, Viber's
    /// HMAC keyed with the auth token, Meta's `sha256=` HMAC keyed with the app secret.
    pub fn signed_headers(&self, grp: &str, body: &[u8]) -> Vec<(String, String)> {
        let meta_signature = |secret: &str| format!("sha256={}", hmac_hex(secret.as_bytes(), body));
        let (name, value) = match self.bot_config(grp) {
            BotConfig::Telegram(_) => (SECRET_HEADER, self.secret(grp)),
            BotConfig::Viber(b) => (viber::SIGNATURE_HEADER, hmac_hex(b.token.as_bytes(), body)),
            BotConfig::Facebook(b) => (meta::SIGNATURE_HEADER, meta_signature(&b.app_secret)),
            BotConfig::WhatsApp(b) => (meta::SIGNATURE_HEADER, meta_signature(&b.app_secret)),
            BotConfig::Instagram(b) => (meta::SIGNATURE_HEADER, meta_signature(&b.app_secret)),
        };
        vec![(name.to_string(), value)]
    }

    /// Posts `body` to a bot's webhook, authenticated as its messenger would.
    pub fn post_signed(
        &self,
        grp: &str,
        body: &str,
        now: Millis,
    ) -> Result<WebhookOutcome, ApiError> {
        let headers = self.signed_headers(grp, body.as_bytes());
        webhook::handle(&self.store, &group(grp), &headers, body.as_bytes(), now)
    }

    /// Posts a correctly signed body the webhook must accept.
    pub fn deliver_signed(&self, grp: &str, body: &str, now: Millis) -> WebhookOutcome {
        let outcome = self.post_signed(grp, body, now).unwrap();
        assert_eq!(outcome.reply.status, 200);
        outcome
    }

    /// A WhatsApp user (profile name `User<from>`) writes `text` to number `grp`.
    pub fn whatsapp(&self, grp: &str, from: &str, text: &str, now: Millis) -> WebhookOutcome {
        let BotConfig::WhatsApp(bot) = self.bot_config(grp) else {
            panic!("{grp} is not a WhatsApp bot");
        };
        let wamid = format!("wamid.HBgL{}", self.fresh_id());
        let body = whatsapp_text(&bot.phone_number_id, from, &wamid, text);
        self.deliver_signed(grp, &body, now)
    }

    /// One Messenger or Instagram delivery to bot `grp`: one entry per list of events.
    pub fn messaging(&self, grp: &str, entries: &[Vec<Value>], now: Millis) -> WebhookOutcome {
        let body = self.messaging_body(grp, entries);
        self.deliver_signed(grp, &body, now)
    }

    pub fn messaging_body(&self, grp: &str, entries: &[Vec<Value>]) -> String {
        let (object, own_id) = match self.bot_config(grp) {
            BotConfig::Facebook(b) => ("page", b.page_id),
            BotConfig::Instagram(b) => ("instagram", b.account_id),
            _ => panic!("{grp} is not a Messenger or Instagram bot"),
        };
        messaging_delivery(object, &own_id, entries)
    }

    /// A user writes `text` in a Messenger or Instagram thread of bot `grp`.
    pub fn dm(&self, grp: &str, from: &str, text: &str, now: Millis) -> WebhookOutcome {
        let mid = format!("m_{}", self.fresh_id());
        self.messaging(grp, &[vec![meta_text(from, &mid, text)]], now)
    }

    /// A merge link for `client` into bot `grp` (whatever its messenger) with `tag`, made at
    /// `now`; the reply.
    pub fn link_into(&self, client: ClientId, grp: &str, tag: &str, now: Millis) -> Reply {
        let client_type = self.bot_config(grp).client_type();
        let reply = self
            .merge_link(
                client,
                json!({"client_type": client_type.code(), "group": grp, "tag": tag}),
                now,
            )
            .unwrap();
        assert_eq!(reply.status, 201);
        reply
    }

    /// The sealed token of a merge-link reply, opened.
    pub fn token_of(&self, reply: &Reply) -> LinkToken {
        let token = reply.body["token"].as_str().unwrap();
        LinkToken::decode(token, &self.config.link_key, (T0 / 1000) as u64).unwrap()
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
        owner::card_json(&self.store, id, T0).unwrap()
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
    contact_ref(ClientType::Telegram, grp, who)
}

/// A dialog of any messenger as callbacks show it.
pub fn contact_ref(client_type: ClientType, grp: &str, who: &str) -> Value {
    json!({
        "messenger": client_type.name(), "client_type": client_type.code(),
        "group": grp, "user_id": who,
    })
}

/// Lowercase hex of HMAC-SHA256(`body`) under `key`.
pub fn hmac_hex(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A WhatsApp Cloud API delivery of one text from `from` (profile name `User<from>`).
pub fn whatsapp_text(number_id: &str, from: &str, wamid: &str, text: &str) -> String {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": WHATSAPP_DIGITS, "phone_number_id": number_id},
                    "contacts": [{"profile": {"name": format!("User{from}")}, "wa_id": from}],
                    "messages": [{
                        "from": from, "id": wamid, "timestamp": (T0 / 1000).to_string(),
                        "type": "text", "text": {"body": text},
                    }],
                },
            }],
        }],
    })
    .to_string()
}

/// A Messenger (`object` `page`) or Instagram delivery for account `own_id`.
pub fn messaging_delivery(object: &str, own_id: &str, entries: &[Vec<Value>]) -> String {
    let entries: Vec<Value> = entries
        .iter()
        .map(|events| json!({"id": own_id, "time": T0, "messaging": events}))
        .collect();
    json!({"object": object, "entry": entries}).to_string()
}

/// A user's text in a Messenger or Instagram thread (the recipient is filled in by Meta; mlink
/// does not read it).
pub fn meta_text(from: &str, mid: &str, text: &str) -> Value {
    json!({
        "sender": {"id": from}, "recipient": {"id": "0"}, "timestamp": T0,
        "message": {"mid": mid, "text": text},
    })
}

/// The account's own message, echoed back to it.
pub fn meta_echo(own_id: &str, to: &str, mid: &str, text: &str) -> Value {
    json!({
        "sender": {"id": own_id}, "recipient": {"id": to}, "timestamp": T0,
        "message": {"mid": mid, "text": text, "is_echo": true, "app_id": 1517776481860111u64},
    })
}

/// A Get Started or icebreaker tap carrying a link's `ref`.
pub fn meta_postback_ref(from: &str, mid: &str, reference: &str) -> Value {
    json!({
        "sender": {"id": from}, "recipient": {"id": "0"}, "timestamp": T0,
        "postback": {
            "title": "Get Started", "payload": "GET_STARTED", "mid": mid,
            "referral": {"ref": reference, "source": "SHORTLINK", "type": "OPEN_THREAD"},
        },
    })
}

/// A link opened in an existing thread.
pub fn meta_referral(from: &str, timestamp: i64, reference: &str) -> Value {
    json!({
        "sender": {"id": from}, "recipient": {"id": "0"}, "timestamp": timestamp,
        "referral": {"ref": reference, "source": "SHORTLINK", "type": "OPEN_THREAD"},
    })
}

/// Viber's `conversation_started`: `user` opened the chat through a link with `context`.
pub fn viber_started(message_token: u64, user: &str, context: &str, subscribed: bool) -> String {
    json!({
        "event": "conversation_started", "timestamp": T0, "chat_hostname": "SN-376_",
        "message_token": message_token, "type": "open", "context": context,
        "user": {"id": user, "name": format!("Viber {user}"), "language": "en", "country": "UK",
                 "api_version": 8},
        "subscribed": subscribed,
    })
    .to_string()
}

/// A Viber text message.
pub fn viber_text(message_token: u64, user: &str, text: &str) -> String {
    json!({
        "event": "message", "timestamp": T0, "chat_hostname": "SN-CHAT-01_",
        "message_token": message_token,
        "sender": {"id": user, "name": format!("Viber {user}"), "api_version": 1},
        "message": {"type": "text", "text": text},
        "silent": false,
    })
    .to_string()
}
