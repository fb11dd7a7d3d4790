//! Each messenger's protocol behind one trait, [`Messenger`]: how its webhook proves itself and
//! what it carries, where its deep link goes, and how mlink sends it a text. The service layer
//! sees only [`Bot`], [`Inbound`] and [`PublicBot`]; adding a messenger adds a module here.

pub mod facebook;
pub mod instagram;
pub mod meta;
pub mod telegram;
#[cfg(test)]
mod test_support;
pub mod viber;
pub mod whatsapp;

use crate::domain::{ClientType, Group, UserId};
use crate::http::{Headers, OutboundRequest};
use serde::{Deserialize, Serialize};

/// Messenger API base URLs (real ones by default; tests point them at fakes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiBases {
    pub telegram: String,
    pub viber: String,
    /// Facebook Messenger and WhatsApp Cloud API, with the Graph API version.
    pub graph: String,
    /// Instagram messaging, with the API version.
    pub instagram: String,
}

impl Default for ApiBases {
    fn default() -> Self {
        ApiBases {
            telegram: "https://api.telegram.org".into(),
            viber: "https://chatapi.viber.com".into(),
            graph: "https://graph.facebook.com/v21.0".into(),
            instagram: "https://graph.instagram.com/v21.0".into(),
        }
    }
}

/// A bot's settings, secrets included. Lives only inside the project's Durable Object.
/// Stored externally tagged (`{"telegram": {...}}`): serde reads that without buffering, which
/// keeps the wasm module noticeably smaller than an internally tagged enum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BotConfig {
    Telegram(telegram::TelegramBot),
    Viber(viber::ViberBot),
    Facebook(facebook::FacebookBot),
    WhatsApp(whatsapp::WhatsAppBot),
    Instagram(instagram::InstagramBot),
}

/// What the redirect needs to know about a bot: public, cacheable at the edge (externally
/// tagged, as [`BotConfig`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PublicBot {
    Telegram { username: String },
    Viber { uri: String },
    Facebook { page: String },
    WhatsApp { phone: String },
    Instagram { username: String },
}

/// A connected bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bot {
    pub group: Group,
    pub config: BotConfig,
    /// What the messenger must present on webhook calls (Telegram's secret token; for Meta the
    /// default verify token of the subscription handshake).
    pub webhook_secret: String,
}

/// One thing a user did, normalized across messengers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// The messenger's id for this delivery; a second delivery with the same id changes nothing.
    pub delivery_id: String,
    pub user_id: UserId,
    pub name: Option<String>,
    pub kind: InboundKind,
    /// The messenger can only take a first message to this user in the webhook's HTTP response
    /// (Viber's welcome message to a user who is not subscribed).
    pub answer_in_response: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundKind {
    /// The user arrived through a deep link carrying `payload`.
    Arrival { payload: String, message_id: String },
    /// The user wrote something.
    Text { text: String, message_id: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the webhook's secret or signature does not match")]
    Unauthorized,
    #[error("malformed webhook body: {0}")]
    Malformed(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidBot(pub String);

/// One messenger's protocol, implemented by its bot settings.
pub trait Messenger {
    fn client_type(&self) -> ClientType;

    /// The public part of the settings, for the redirect.
    fn public(&self) -> PublicBot;

    /// Checks, on the raw bytes and before any parsing, that a webhook call is the messenger's.
    fn verify(
        &self,
        webhook_secret: &str,
        headers: &dyn Headers,
        body: &[u8],
    ) -> Result<(), WebhookError>;

    /// Every user event in one webhook body (Meta batches many entries and events).
    fn parse(&self, body: &[u8]) -> Result<Vec<Inbound>, WebhookError>;

    /// The `GET` subscription handshake (Meta): the challenge to echo when the token matches.
    fn handshake(
        &self,
        _webhook_secret: &str,
        _query: &[(String, String)],
    ) -> Result<String, WebhookError> {
        Err(WebhookError::Malformed(
            "this messenger has no subscription handshake".into(),
        ))
    }

    /// The API call that sends `text` to `to`.
    fn send_text(&self, bases: &ApiBases, to: &UserId, text: &str) -> OutboundRequest;

    /// Whether the messenger accepted a send.
    fn send_result(&self, status: u16, body: &str) -> Result<(), String> {
        http_result(status, body)
    }

    /// The call that points the bot's webhook at mlink, where the messenger has one.
    fn webhook_registration(
        &self,
        _bases: &ApiBases,
        _webhook_url: &str,
        _webhook_secret: &str,
    ) -> Option<OutboundRequest> {
        None
    }

    fn registration_result(&self, status: u16, body: &str) -> Result<(), String> {
        http_result(status, body)
    }

    /// How an arrival whose payload is not a merge link is passed on as a message.
    fn arrival_text(&self, payload: &str) -> String {
        payload.to_string()
    }

    /// The webhook's HTTP response body that delivers `text` (see [`Inbound::answer_in_response`]).
    fn response_message(&self, _text: &str) -> Option<serde_json::Value> {
        None
    }
}

/// 2xx is success; otherwise the status and the start of the body say why.
pub fn http_result(status: u16, body: &str) -> Result<(), String> {
    if (200..300).contains(&status) {
        Ok(())
    } else {
        let detail: String = body.chars().take(200).collect();
        Err(format!("answered {status}: {detail}"))
    }
}

impl BotConfig {
    /// Reads the messenger-specific fields of `PUT .../bots/{group}`.
    pub fn from_request(
        client_type: ClientType,
        body: &serde_json::Value,
    ) -> Result<Self, InvalidBot> {
        Ok(match client_type {
            ClientType::Telegram => BotConfig::Telegram(telegram::TelegramBot::from_request(body)?),
            ClientType::Viber => BotConfig::Viber(viber::ViberBot::from_request(body)?),
            ClientType::Facebook => BotConfig::Facebook(facebook::FacebookBot::from_request(body)?),
            ClientType::WhatsApp => BotConfig::WhatsApp(whatsapp::WhatsAppBot::from_request(body)?),
            ClientType::Instagram => {
                BotConfig::Instagram(instagram::InstagramBot::from_request(body)?)
            }
        })
    }

    pub fn messenger(&self) -> &dyn Messenger {
        match self {
            BotConfig::Telegram(b) => b,
            BotConfig::Viber(b) => b,
            BotConfig::Facebook(b) => b,
            BotConfig::WhatsApp(b) => b,
            BotConfig::Instagram(b) => b,
        }
    }

    pub fn client_type(&self) -> ClientType {
        self.messenger().client_type()
    }

    pub fn public(&self) -> PublicBot {
        self.messenger().public()
    }
}

impl PublicBot {
    pub fn client_type(&self) -> ClientType {
        match self {
            PublicBot::Telegram { .. } => ClientType::Telegram,
            PublicBot::Viber { .. } => ClientType::Viber,
            PublicBot::Facebook { .. } => ClientType::Facebook,
            PublicBot::WhatsApp { .. } => ClientType::WhatsApp,
            PublicBot::Instagram { .. } => ClientType::Instagram,
        }
    }

    /// The form KV and the project's object keep for the edge, `<messenger> <value>`
    /// (`telegram AcmeBot`): read without a JSON parser, which keeps the edge's module small.
    pub fn to_record(&self) -> String {
        format!("{} {}", self.client_type().name(), self.value())
    }

    pub fn from_record(record: &str) -> Option<PublicBot> {
        let (messenger, value) = record.split_once(' ')?;
        if value.is_empty() || value.contains(char::is_whitespace) {
            return None;
        }
        let value = value.to_string();
        Some(match messenger {
            "telegram" => PublicBot::Telegram { username: value },
            "viber" => PublicBot::Viber { uri: value },
            "facebook" => PublicBot::Facebook { page: value },
            "whatsapp" => PublicBot::WhatsApp { phone: value },
            "instagram" => PublicBot::Instagram { username: value },
            _ => return None,
        })
    }

    fn value(&self) -> &str {
        match self {
            PublicBot::Telegram { username } | PublicBot::Instagram { username } => username,
            PublicBot::Viber { uri } => uri,
            PublicBot::Facebook { page } => page,
            PublicBot::WhatsApp { phone } => phone,
        }
    }

    /// The deep link up to its payload: [`Self::deep_link`] is this prefix followed by the
    /// payload, for any link's payload (base64url, which no query encoding here alters).
    /// `None` for WhatsApp, whose link carries the merge code instead.
    pub fn payload_prefix(&self) -> Option<String> {
        match self {
            PublicBot::WhatsApp { .. } => None,
            _ => Some(self.deep_link("", None)),
        }
    }

    /// Where `/mlink` sends the client: the link's payload, or for WhatsApp the code as
    /// prefilled text (WhatsApp carries no hidden payload).
    pub fn deep_link(&self, payload: &str, code: Option<&str>) -> String {
        match self {
            PublicBot::Telegram { username } => telegram::deep_link(username, payload),
            PublicBot::Viber { uri } => viber::deep_link(uri, payload),
            PublicBot::Facebook { page } => facebook::deep_link(page, payload),
            PublicBot::WhatsApp { phone } => whatsapp::deep_link(phone, code.unwrap_or_default()),
            PublicBot::Instagram { username } => instagram::deep_link(username, payload),
        }
    }
}

impl Bot {
    pub fn client_type(&self) -> ClientType {
        self.config.client_type()
    }

    pub fn verify(&self, headers: &dyn Headers, body: &[u8]) -> Result<(), WebhookError> {
        self.config
            .messenger()
            .verify(&self.webhook_secret, headers, body)
    }

    pub fn parse(&self, body: &[u8]) -> Result<Vec<Inbound>, WebhookError> {
        self.config.messenger().parse(body)
    }

    pub fn handshake(&self, query: &[(String, String)]) -> Result<String, WebhookError> {
        self.config
            .messenger()
            .handshake(&self.webhook_secret, query)
    }

    pub fn send_text(&self, bases: &ApiBases, to: &UserId, text: &str) -> OutboundRequest {
        self.config.messenger().send_text(bases, to, text)
    }

    pub fn send_result(&self, status: u16, body: &str) -> Result<(), String> {
        self.config.messenger().send_result(status, body)
    }
}

#[cfg(test)]
mod tests {
    use super::PublicBot;

    fn bots() -> [PublicBot; 5] {
        [
            PublicBot::Telegram {
                username: "AcmeBot".into(),
            },
            PublicBot::Viber { uri: "acme".into() },
            PublicBot::Facebook {
                page: "123456".into(),
            },
            PublicBot::WhatsApp {
                phone: "15551234567".into(),
            },
            PublicBot::Instagram {
                username: "acme.shop".into(),
            },
        ]
    }

    #[test]
    fn deep_links_are_a_prefix_and_the_payload() {
        use crate::domain::token::LinkId;
        for bot in bots() {
            let Some(prefix) = bot.payload_prefix() else {
                assert!(matches!(bot, PublicBot::WhatsApp { .. }));
                continue;
            };
            for _ in 0..50 {
                let payload = LinkId::random().to_payload();
                let code = Some("cli7k3m9qx2pa");
                assert_eq!(bot.deep_link(&payload, code), prefix.clone() + &payload);
            }
        }
    }

    #[test]
    fn public_bots_round_trip_as_records() {
        for bot in bots() {
            let record = bot.to_record();
            assert!(record.starts_with(bot.client_type().name()), "{record}");
            assert_eq!(PublicBot::from_record(&record), Some(bot));
        }
        assert_eq!(
            PublicBot::to_record(&PublicBot::Viber { uri: "a".into() }),
            "viber a"
        );
        for junk in [
            "",
            "telegram",
            "telegram ",
            "fax 123",
            "telegram a b",
            "null",
        ] {
            assert_eq!(PublicBot::from_record(junk), None, "{junk}");
        }
    }
}
