//! The messengers as the tests play them: a bot's settings and credentials ([`BotSpec`]), the
//! webhook deliveries its users cause (bodies shaped and signed as each platform does), and
//! what the worker sent through each bot, read back from the fakes ([`Fakes`]).

use std::fmt;
use std::time::Duration;

use serde_json::{json, Value};

use crate::api::TELEGRAM_SECRET_HEADER;
use crate::fake_apis::{Api, ApiCall, FakeApis};
use crate::fake_telegram::{FakeTelegram, TelegramCall};
use crate::signature::{
    hmac_sha256_hex, hmac_sha256_hex_bytes, meta_signature, meta_signature_bytes,
};
use crate::worker::WorkerOptions;

/// Viber's webhook signature header: lowercase hex HMAC-SHA256 of the body, keyed with the token.
pub const VIBER_SIGNATURE_HEADER: &str = "X-Viber-Content-Signature";
/// Meta's webhook signature header: `sha256=<hex HMAC-SHA256 of the body>`, keyed with the app
/// secret.
pub const META_SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

/// A messenger, with Salebot's `client_type` number and mlink's name for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Messenger {
    Telegram,
    Viber,
    Facebook,
    WhatsApp,
    Instagram,
}

impl Messenger {
    pub const ALL: [Messenger; 5] = [
        Messenger::Telegram,
        Messenger::Viber,
        Messenger::Facebook,
        Messenger::WhatsApp,
        Messenger::Instagram,
    ];

    pub fn client_type(self) -> i64 {
        match self {
            Messenger::Telegram => 1,
            Messenger::Viber => 2,
            Messenger::Facebook => 3,
            Messenger::WhatsApp => 6,
            Messenger::Instagram => 10,
        }
    }

    /// `telegram`, `viber`, `facebook`, `whatsapp`, `instagram`.
    pub fn name(self) -> &'static str {
        match self {
            Messenger::Telegram => "telegram",
            Messenger::Viber => "viber",
            Messenger::Facebook => "facebook",
            Messenger::WhatsApp => "whatsapp",
            Messenger::Instagram => "instagram",
        }
    }

    /// Whether its merge links carry a code the client sends (WhatsApp, Instagram).
    pub fn uses_codes(self) -> bool {
        matches!(self, Messenger::WhatsApp | Messenger::Instagram)
    }

    /// Whether it signs webhooks Meta's way (and has the `hub.challenge` handshake).
    pub fn is_meta(self) -> bool {
        matches!(
            self,
            Messenger::Facebook | Messenger::WhatsApp | Messenger::Instagram
        )
    }
}

impl fmt::Display for Messenger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A bot's settings as the owner gives them to `PUT .../bots/{group}`, and the credentials the
/// tests use to play the messenger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BotSpec {
    Telegram {
        username: String,
        token: String,
    },
    Viber {
        uri: String,
        token: String,
        sender_name: String,
    },
    Facebook {
        page: String,
        page_id: String,
        access_token: String,
        app_secret: String,
        verify_token: Option<String>,
    },
    WhatsApp {
        /// As the owner writes it (`+1 555 010 0200`).
        phone_number: String,
        phone_number_id: String,
        access_token: String,
        app_secret: String,
    },
    Instagram {
        username: String,
        account_id: String,
        access_token: String,
        app_secret: String,
    },
}

impl BotSpec {
    pub fn telegram(username: &str, token: &str) -> Self {
        BotSpec::Telegram {
            username: username.into(),
            token: token.into(),
        }
    }

    pub fn viber(uri: &str, token: &str, sender_name: &str) -> Self {
        BotSpec::Viber {
            uri: uri.into(),
            token: token.into(),
            sender_name: sender_name.into(),
        }
    }

    pub fn facebook(page: &str, page_id: &str, access_token: &str, app_secret: &str) -> Self {
        BotSpec::Facebook {
            page: page.into(),
            page_id: page_id.into(),
            access_token: access_token.into(),
            app_secret: app_secret.into(),
            verify_token: None,
        }
    }

    pub fn whatsapp(
        phone_number: &str,
        phone_number_id: &str,
        access_token: &str,
        app_secret: &str,
    ) -> Self {
        BotSpec::WhatsApp {
            phone_number: phone_number.into(),
            phone_number_id: phone_number_id.into(),
            access_token: access_token.into(),
            app_secret: app_secret.into(),
        }
    }

    pub fn instagram(
        username: &str,
        account_id: &str,
        access_token: &str,
        app_secret: &str,
    ) -> Self {
        BotSpec::Instagram {
            username: username.into(),
            account_id: account_id.into(),
            access_token: access_token.into(),
            app_secret: app_secret.into(),
        }
    }

    pub fn messenger(&self) -> Messenger {
        match self {
            BotSpec::Telegram { .. } => Messenger::Telegram,
            BotSpec::Viber { .. } => Messenger::Viber,
            BotSpec::Facebook { .. } => Messenger::Facebook,
            BotSpec::WhatsApp { .. } => Messenger::WhatsApp,
            BotSpec::Instagram { .. } => Messenger::Instagram,
        }
    }

    /// The body of `PUT .../bots/{group}`. Telegram and Viber ask for webhook registration.
    pub fn connect_body(&self) -> Value {
        let client_type = self.messenger().client_type();
        match self {
            BotSpec::Telegram { username, token } => json!({
                "client_type": client_type, "username": username, "token": token,
                "register_webhook": true,
            }),
            BotSpec::Viber {
                uri,
                token,
                sender_name,
            } => json!({
                "client_type": client_type, "uri": uri, "token": token,
                "sender_name": sender_name, "register_webhook": true,
            }),
            BotSpec::Facebook {
                page,
                page_id,
                access_token,
                app_secret,
                verify_token,
            } => {
                let mut body = json!({
                    "client_type": client_type, "page": page, "page_id": page_id,
                    "access_token": access_token, "app_secret": app_secret,
                });
                if let Some(token) = verify_token {
                    body["verify_token"] = json!(token);
                }
                body
            }
            BotSpec::WhatsApp {
                phone_number,
                phone_number_id,
                access_token,
                app_secret,
            } => json!({
                "client_type": client_type, "phone_number": phone_number,
                "phone_number_id": phone_number_id, "access_token": access_token,
                "app_secret": app_secret,
            }),
            BotSpec::Instagram {
                username,
                account_id,
                access_token,
                app_secret,
            } => json!({
                "client_type": client_type, "username": username, "account_id": account_id,
                "access_token": access_token, "app_secret": app_secret,
            }),
        }
    }

    /// The secret that keys this messenger's webhook signature (Viber: the token; Meta: the
    /// app secret); `None` for Telegram, which sends the webhook secret itself.
    pub fn signing_key(&self) -> Option<&str> {
        match self {
            BotSpec::Telegram { .. } => None,
            BotSpec::Viber { token, .. } => Some(token),
            BotSpec::Facebook { app_secret, .. }
            | BotSpec::WhatsApp { app_secret, .. }
            | BotSpec::Instagram { app_secret, .. } => Some(app_secret),
        }
    }

    /// The id of the page, number or account itself (Meta's entry id / recipient id).
    pub fn own_id(&self) -> Option<&str> {
        match self {
            BotSpec::Facebook { page_id, .. } => Some(page_id),
            BotSpec::WhatsApp {
                phone_number_id, ..
            } => Some(phone_number_id),
            BotSpec::Instagram { account_id, .. } => Some(account_id),
            _ => None,
        }
    }

    /// The WhatsApp number in digits only (`15550100200`), as `wa.me` and the webhook metadata
    /// write it.
    pub fn phone_digits(&self) -> Option<String> {
        match self {
            BotSpec::WhatsApp { phone_number, .. } => {
                Some(phone_number.chars().filter(char::is_ascii_digit).collect())
            }
            _ => None,
        }
    }

    /// Every secret of the settings, which must never show in listings.
    pub fn secrets(&self) -> Vec<&str> {
        match self {
            BotSpec::Telegram { token, .. } | BotSpec::Viber { token, .. } => vec![token],
            BotSpec::Facebook {
                access_token,
                app_secret,
                verify_token,
                ..
            } => {
                let mut secrets = vec![access_token.as_str(), app_secret.as_str()];
                secrets.extend(verify_token.as_deref());
                secrets
            }
            BotSpec::WhatsApp {
                access_token,
                app_secret,
                ..
            }
            | BotSpec::Instagram {
                access_token,
                app_secret,
                ..
            } => vec![access_token, app_secret],
        }
    }
}

/// A webhook delivery, ready to POST: the exact body and the headers that go with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Delivery {
    /// `body` with no proof at all.
    pub fn unsigned(body: &Value) -> Self {
        Self {
            body: body.to_string(),
            headers: Vec::new(),
        }
    }

    /// Another header (for deliveries with a wrong proof).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// A bot as connected to a project: its settings and what the API answered.
#[derive(Debug, Clone)]
pub struct ConnectedBot {
    pub spec: BotSpec,
    pub project: String,
    pub group: String,
    pub webhook_url: String,
    pub webhook_secret: String,
}

impl ConnectedBot {
    pub fn messenger(&self) -> Messenger {
        self.spec.messenger()
    }

    /// `body` signed the way this bot's messenger signs webhooks.
    pub fn signed(&self, body: &Value) -> Delivery {
        let body = body.to_string();
        let header = self.proof(body.as_bytes());
        Delivery {
            body,
            headers: vec![header],
        }
    }

    /// The header (name, value) that proves `body` (any bytes) comes from the messenger: the
    /// secret header for Telegram, the body's signature for the others.
    pub fn proof(&self, body: &[u8]) -> (String, String) {
        let (name, value) = match &self.spec {
            BotSpec::Telegram { .. } => (TELEGRAM_SECRET_HEADER, self.webhook_secret.clone()),
            BotSpec::Viber { token, .. } => {
                (VIBER_SIGNATURE_HEADER, hmac_sha256_hex_bytes(token, body))
            }
            BotSpec::Facebook { app_secret, .. }
            | BotSpec::WhatsApp { app_secret, .. }
            | BotSpec::Instagram { app_secret, .. } => (
                META_SIGNATURE_HEADER,
                meta_signature_bytes(app_secret, body),
            ),
        };
        (name.to_string(), value)
    }

    /// `body` signed with the wrong key (or, for Telegram, the wrong secret).
    pub fn signed_wrongly(&self, body: &Value) -> Delivery {
        let body = body.to_string();
        let (name, value) = match self.messenger() {
            Messenger::Telegram => (TELEGRAM_SECRET_HEADER, "not-the-secret".to_string()),
            Messenger::Viber => (
                VIBER_SIGNATURE_HEADER,
                hmac_sha256_hex("not-the-token", &body),
            ),
            _ => (
                META_SIGNATURE_HEADER,
                meta_signature("not-the-app-secret", &body),
            ),
        };
        Delivery {
            body,
            headers: vec![(name.to_string(), value)],
        }
    }

    /// The body of an ordinary text message from `user`. `n` makes the delivery unique: it is
    /// Telegram's update id, Viber's message token, the `m_<n>` mid or the `wamid.<n>` id.
    pub fn text_body(&self, user: &str, text: &str, n: u64) -> Value {
        match &self.spec {
            BotSpec::Telegram { .. } => telegram_text(n, user, text),
            BotSpec::Viber { .. } => viber_message(n, user, "Ann", text),
            BotSpec::Facebook { page_id, .. } => {
                meta_delivery("page", page_id, vec![meta_text(page_id, user, n, text)])
            }
            BotSpec::Instagram { account_id, .. } => meta_delivery(
                "instagram",
                account_id,
                vec![meta_text(account_id, user, n, text)],
            ),
            BotSpec::WhatsApp { .. } => {
                whatsapp_delivery(&self.spec, &[whatsapp_text(user, n, text)])
            }
        }
    }

    /// [`ConnectedBot::text_body`], signed.
    pub fn text(&self, user: &str, text: &str, n: u64) -> Delivery {
        self.signed(&self.text_body(user, text, n))
    }
}

// ---------------------------------------------------------------------------------------------
// Webhook bodies

/// A Telegram update with a private text message (`user` is the numeric user id).
pub fn telegram_text(update_id: u64, user: &str, text: &str) -> Value {
    let user: i64 = user
        .parse()
        .unwrap_or_else(|_| panic!("Telegram user ids are numbers, not {user:?}"));
    json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_764_000_000,
            "from": {"id": user, "is_bot": false, "first_name": "Ann"},
            "chat": {"id": user, "type": "private"},
            "text": text,
        },
    })
}

/// A Viber `message` event with a text.
pub fn viber_message(message_token: u64, user: &str, name: &str, text: &str) -> Value {
    json!({
        "event": "message",
        "timestamp": 1_764_000_000_000u64 + message_token,
        "chat_hostname": "SN-CHAT-01_",
        "message_token": message_token,
        "sender": {
            "id": user, "name": name, "language": "en", "country": "GB", "api_version": 10,
        },
        "message": {"type": "text", "text": text},
        "silent": false,
    })
}

/// A Viber `conversation_started` event: the user opened the chat through a deep link whose
/// `context` is the payload.
pub fn viber_conversation_started(
    message_token: u64,
    user: &str,
    name: &str,
    context: &str,
    subscribed: bool,
) -> Value {
    json!({
        "event": "conversation_started",
        "timestamp": 1_764_000_000_000u64 + message_token,
        "chat_hostname": "SN-CHAT-01_",
        "message_token": message_token,
        "type": "open",
        "context": context,
        "user": {
            "id": user, "name": name, "language": "en", "country": "GB", "api_version": 10,
        },
        "subscribed": subscribed,
    })
}

/// A Messenger (`object` `page`) or Instagram (`instagram`) delivery: one entry for `own_id`
/// with `events` in its `messaging`.
pub fn meta_delivery(object: &str, own_id: &str, events: Vec<Value>) -> Value {
    json!({"object": object, "entry": [meta_entry(own_id, events)]})
}

/// One `entry` of a Messenger or Instagram delivery.
pub fn meta_entry(own_id: &str, events: Vec<Value>) -> Value {
    json!({"id": own_id, "time": 1_764_000_000_500u64, "messaging": events})
}

/// A text message from `user` (mid `m_<n>`).
pub fn meta_text(own_id: &str, user: &str, n: u64, text: &str) -> Value {
    json!({
        "sender": {"id": user},
        "recipient": {"id": own_id},
        "timestamp": 1_764_000_000_000u64 + n,
        "message": {"mid": format!("m_{n}"), "text": text},
    })
}

/// The page's or account's own message to `user`, echoed back (mid `m_<n>`).
pub fn meta_echo(own_id: &str, user: &str, n: u64, text: &str) -> Value {
    json!({
        "sender": {"id": own_id},
        "recipient": {"id": user},
        "timestamp": 1_764_000_000_000u64 + n,
        "message": {"mid": format!("m_{n}"), "text": text, "is_echo": true, "app_id": 1234},
    })
}

/// The Get Started postback of a new thread opened through a link with `ref` = `payload`.
pub fn meta_postback_referral(own_id: &str, user: &str, n: u64, payload: &str) -> Value {
    json!({
        "sender": {"id": user},
        "recipient": {"id": own_id},
        "timestamp": 1_764_000_000_000u64 + n,
        "postback": {
            "title": "Get Started",
            "payload": "GET_STARTED",
            "referral": {"ref": payload, "source": "SHORTLINK", "type": "OPEN_THREAD"},
        },
    })
}

/// A link with `ref` = `payload` opened in an existing thread.
pub fn meta_referral(own_id: &str, user: &str, n: u64, payload: &str) -> Value {
    json!({
        "sender": {"id": user},
        "recipient": {"id": own_id},
        "timestamp": 1_764_000_000_000u64 + n,
        "referral": {"ref": payload, "source": "SHORTLINK", "type": "OPEN_THREAD"},
    })
}

/// One inbound WhatsApp text message (id `wamid.<n>`).
pub fn whatsapp_text(from: &str, n: u64, body: &str) -> Value {
    json!({
        "from": from,
        "id": format!("wamid.{n}"),
        "timestamp": (1_764_000_000 + n).to_string(),
        "type": "text",
        "text": {"body": body},
    })
}

/// A WhatsApp Cloud API delivery to `bot` (a WhatsApp spec) with `messages`, the senders named
/// in `contacts`.
pub fn whatsapp_delivery(bot: &BotSpec, messages: &[Value]) -> Value {
    let BotSpec::WhatsApp {
        phone_number_id, ..
    } = bot
    else {
        panic!("not a WhatsApp bot: {bot:?}");
    };
    let mut senders: Vec<&str> = messages
        .iter()
        .filter_map(|message| message["from"].as_str())
        .collect();
    senders.dedup();
    let contacts: Vec<Value> = senders
        .iter()
        .map(|wa_id| json!({"profile": {"name": "Ann"}, "wa_id": wa_id}))
        .collect();
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {
                        "display_phone_number": bot.phone_digits(),
                        "phone_number_id": phone_number_id,
                    },
                    "contacts": contacts,
                    "messages": messages,
                },
            }],
        }],
    })
}

// ---------------------------------------------------------------------------------------------
// What the worker sent

/// A text the worker sent through a bot, and anything wrong with how the request was made.
#[derive(Debug, Clone, PartialEq)]
pub struct SentText {
    pub to: String,
    pub text: String,
    /// How the request differs from the messenger's API (empty when it is right).
    pub problems: Vec<String>,
}

/// The fake Telegram and the fake Viber/Graph/Instagram APIs, read per bot.
pub struct Fakes {
    pub telegram: FakeTelegram,
    pub apis: FakeApis,
}

impl Fakes {
    pub async fn start() -> Self {
        Self {
            telegram: FakeTelegram::start().await,
            apis: FakeApis::start().await,
        }
    }

    /// Worker options with every messenger API pointed at the fakes.
    pub fn worker_options(&self) -> WorkerOptions {
        WorkerOptions::new(self.telegram.base_url()).apis(&self.apis)
    }

    /// Every text sent through `bot` so far, in order.
    pub fn sent_by(&self, bot: &BotSpec) -> Vec<SentText> {
        match bot {
            BotSpec::Telegram { .. } => telegram_sends(bot, &self.telegram.calls()),
            _ => api_sends(bot, &self.apis.calls()),
        }
    }

    /// Waits until at least `count` texts were sent through `bot` or `limit` passed; returns the
    /// texts sent through it then.
    pub async fn wait_sent_by(
        &self,
        bot: &BotSpec,
        count: usize,
        limit: Duration,
    ) -> Vec<SentText> {
        match bot {
            BotSpec::Telegram { .. } => {
                let calls = self
                    .telegram
                    .wait_until(limit, |calls| telegram_sends(bot, calls).len() >= count)
                    .await;
                telegram_sends(bot, &calls)
            }
            _ => {
                let calls = self
                    .apis
                    .wait_until(limit, |calls| api_sends(bot, calls).len() >= count)
                    .await;
                api_sends(bot, &calls)
            }
        }
    }

    /// Every request the worker made to the fakes, for failure messages.
    pub fn describe_calls(&self) -> String {
        let mut lines: Vec<String> = self
            .telegram
            .calls()
            .iter()
            .map(|call| format!("telegram {} {} {}", call.token, call.method, call.body))
            .collect();
        lines.extend(
            self.apis
                .calls()
                .iter()
                .map(|call| format!("{:?} {} {} {}", call.api, call.method, call.path, call.body)),
        );
        lines.join("\n")
    }
}

fn telegram_sends(bot: &BotSpec, calls: &[TelegramCall]) -> Vec<SentText> {
    let BotSpec::Telegram { token, .. } = bot else {
        return Vec::new();
    };
    calls
        .iter()
        .filter(|call| call.token == *token && call.method == "sendMessage")
        .map(|call| {
            let mut problems = Vec::new();
            let to = match &call.body["chat_id"] {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                other => {
                    problems.push(format!("chat_id is {other}"));
                    String::new()
                }
            };
            SentText {
                to,
                text: text_at(&call.body, &["text"], &mut problems),
                problems,
            }
        })
        .collect()
}

/// The sends among `calls` made through `bot` (Viber, Facebook, WhatsApp or Instagram).
fn api_sends(bot: &BotSpec, calls: &[ApiCall]) -> Vec<SentText> {
    calls
        .iter()
        .filter(|call| is_send_of(bot, call))
        .map(|call| api_send(bot, call))
        .collect()
}

fn is_send_of(bot: &BotSpec, call: &ApiCall) -> bool {
    match bot {
        BotSpec::Telegram { .. } => false,
        BotSpec::Viber { token, .. } => {
            call.is_post(Api::Viber, "/pa/send_message")
                && call.header("x-viber-auth-token") == Some(token.as_str())
        }
        BotSpec::Facebook { page_id, .. } => {
            call.is_post(Api::Graph, &format!("/{page_id}/messages"))
        }
        BotSpec::WhatsApp {
            phone_number_id, ..
        } => call.is_post(Api::Graph, &format!("/{phone_number_id}/messages")),
        BotSpec::Instagram { account_id, .. } => {
            call.is_post(Api::Instagram, &format!("/{account_id}/messages"))
        }
    }
}

/// Reads a send and checks it against the messenger's API.
fn api_send(bot: &BotSpec, call: &ApiCall) -> SentText {
    let mut problems = Vec::new();
    let body = &call.body;
    let content_type = call.header("content-type").unwrap_or_default();
    if !content_type.starts_with("application/json") {
        problems.push(format!("content-type is {content_type:?}"));
    }
    if call.path.contains("access_token") {
        problems.push(format!("a token in the URL: {}", call.path));
    }
    let (to, text): (&[&str], &[&str]) = match bot {
        BotSpec::Viber { sender_name, .. } => {
            expect_eq(&mut problems, "type", &body["type"], json!("text"));
            let name = &body["sender"]["name"];
            expect_eq(&mut problems, "sender.name", name, json!(sender_name));
            (&["receiver"], &["text"])
        }
        BotSpec::Facebook { access_token, .. } => {
            expect_bearer(call, access_token, &mut problems);
            let kind = &body["messaging_type"];
            expect_eq(&mut problems, "messaging_type", kind, json!("RESPONSE"));
            (&["recipient", "id"], &["message", "text"])
        }
        BotSpec::WhatsApp { access_token, .. } => {
            expect_bearer(call, access_token, &mut problems);
            let product = &body["messaging_product"];
            expect_eq(
                &mut problems,
                "messaging_product",
                product,
                json!("whatsapp"),
            );
            expect_eq(&mut problems, "type", &body["type"], json!("text"));
            (&["to"], &["text", "body"])
        }
        BotSpec::Instagram { access_token, .. } => {
            expect_bearer(call, access_token, &mut problems);
            (&["recipient", "id"], &["message", "text"])
        }
        BotSpec::Telegram { .. } => unreachable!("Telegram sends are read from the fake Telegram"),
    };
    SentText {
        to: text_at(body, to, &mut problems),
        text: text_at(body, text, &mut problems),
        problems,
    }
}

fn expect_eq(problems: &mut Vec<String>, what: &str, got: &Value, expected: Value) {
    if *got != expected {
        problems.push(format!("{what} is {got}, expected {expected}"));
    }
}

fn expect_bearer(call: &ApiCall, token: &str, problems: &mut Vec<String>) {
    let expected = format!("Bearer {token}");
    let got = call.header("authorization");
    if got != Some(expected.as_str()) {
        problems.push(format!("authorization is {got:?}, expected {expected:?}"));
    }
}

fn text_at(body: &Value, path: &[&str], problems: &mut Vec<String>) -> String {
    let value = path.iter().fold(body, |value, key| &value[*key]);
    match value {
        Value::String(s) => s.clone(),
        other => {
            problems.push(format!("{} is {other}", path.join(".")));
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whatsapp() -> BotSpec {
        BotSpec::whatsapp("+1 555 010 0200", "2222", "EAAW", "wa-app-secret")
    }

    #[test]
    fn client_types_and_names() {
        let pairs: Vec<_> = Messenger::ALL
            .iter()
            .map(|m| (m.client_type(), m.name()))
            .collect();
        assert_eq!(
            pairs,
            [
                (1, "telegram"),
                (2, "viber"),
                (3, "facebook"),
                (6, "whatsapp"),
                (10, "instagram")
            ]
        );
    }

    #[test]
    fn deliveries_are_signed_over_their_exact_bytes() {
        let bot = ConnectedBot {
            spec: BotSpec::viber("mlinkviber", "tok", "Acme"),
            project: "p".into(),
            group: "g".into(),
            webhook_url: "http://x/webhooks/p/g".into(),
            webhook_secret: "s".into(),
        };
        let delivery = bot.text("01234567890A=", "hi", 7);
        assert_eq!(delivery.headers[0].0, VIBER_SIGNATURE_HEADER);
        assert_eq!(
            delivery.headers[0].1,
            hmac_sha256_hex("tok", &delivery.body)
        );
        let parsed: Value = serde_json::from_str(&delivery.body).unwrap();
        assert_eq!(parsed["sender"]["id"], "01234567890A=");
        assert_eq!(parsed["message_token"], 7);
        assert_ne!(bot.signed_wrongly(&parsed).headers, delivery.headers);

        let meta = ConnectedBot {
            spec: whatsapp(),
            ..bot
        };
        let delivery = meta.text("15551234567", "hi", 9);
        assert_eq!(delivery.headers[0].0, META_SIGNATURE_HEADER);
        assert_eq!(
            delivery.headers[0].1,
            meta_signature("wa-app-secret", &delivery.body)
        );
        let parsed: Value = serde_json::from_str(&delivery.body).unwrap();
        let value = &parsed["entry"][0]["changes"][0]["value"];
        assert_eq!(value["metadata"]["phone_number_id"], "2222");
        assert_eq!(value["metadata"]["display_phone_number"], "15550100200");
        assert_eq!(value["messages"][0]["id"], "wamid.9");
        assert_eq!(value["contacts"][0]["wa_id"], "15551234567");
    }

    #[test]
    fn reads_sends_and_their_problems() {
        let call = |path: &str, auth: &str, body: Value| ApiCall {
            api: Some(Api::Graph),
            method: "POST".into(),
            path: path.into(),
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("authorization".into(), auth.into()),
            ],
            body,
        };
        let good = call(
            "/2222/messages",
            "Bearer EAAW",
            json!({"messaging_product": "whatsapp", "to": "155", "type": "text", "text": {"body": "hi"}}),
        );
        let bad = call(
            "/2222/messages",
            "Bearer other",
            json!({"to": "155", "type": "text", "text": {"body": "yo"}}),
        );
        let elsewhere = call("/1111/messages", "Bearer EAAW", json!({}));
        let sends = api_sends(&whatsapp(), &[good, bad, elsewhere]);
        assert_eq!(sends.len(), 2);
        assert_eq!(
            (sends[0].to.as_str(), sends[0].text.as_str()),
            ("155", "hi")
        );
        assert!(sends[0].problems.is_empty(), "{:?}", sends[0].problems);
        assert_eq!(sends[1].problems.len(), 2, "{:?}", sends[1].problems);
    }
}
