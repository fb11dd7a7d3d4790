//! Each messenger's protocol, behind one enum: how a bot is configured, how its webhook proves
//! itself and what it carries, where its deep link goes, and how mlink sends it a text.
//! The service layer only sees [`Bot`], [`Inbound`] and [`PublicBot`].

pub mod telegram;

use crate::domain::{ClientType, Group, UserId};
use crate::http::{Headers, OutboundRequest};
use serde::{Deserialize, Serialize};

/// Messenger API base URLs (real ones by default; tests point them at fakes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiBases {
    pub telegram: String,
}

impl Default for ApiBases {
    fn default() -> Self {
        ApiBases {
            telegram: "https://api.telegram.org".into(),
        }
    }
}

/// A bot's settings, secrets included. Lives only inside the project's Durable Object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "messenger", rename_all = "lowercase")]
pub enum BotConfig {
    Telegram(telegram::TelegramBot),
}

/// What the redirect needs to know about a bot: public, cacheable at the edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "messenger", rename_all = "lowercase")]
pub enum PublicBot {
    Telegram { username: String },
}

/// A connected bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bot {
    pub group: Group,
    pub config: BotConfig,
    /// What the messenger must present on every webhook call.
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

impl BotConfig {
    /// Reads the messenger-specific fields of `PUT .../bots/{group}`.
    pub fn from_request(
        client_type: ClientType,
        body: &serde_json::Value,
    ) -> Result<Self, InvalidBot> {
        match client_type {
            ClientType::Telegram => Ok(BotConfig::Telegram(telegram::TelegramBot::from_request(
                body,
            )?)),
            other => Err(InvalidBot(format!(
                "{} bots are not supported yet",
                other.name()
            ))),
        }
    }

    pub fn client_type(&self) -> ClientType {
        match self {
            BotConfig::Telegram(_) => ClientType::Telegram,
        }
    }

    pub fn public(&self) -> PublicBot {
        match self {
            BotConfig::Telegram(t) => PublicBot::Telegram {
                username: t.username.clone(),
            },
        }
    }

    /// The messenger call that points the bot's webhook at mlink, if the messenger has one.
    pub fn webhook_registration(
        &self,
        bases: &ApiBases,
        webhook_url: &str,
        webhook_secret: &str,
    ) -> Option<OutboundRequest> {
        match self {
            BotConfig::Telegram(t) => Some(t.set_webhook(bases, webhook_url, webhook_secret)),
        }
    }

    /// Reads the messenger's answer to [`Self::webhook_registration`].
    pub fn registration_result(&self, status: u16, body: &str) -> Result<(), String> {
        match self {
            BotConfig::Telegram(_) => telegram::api_result(status, body),
        }
    }
}

impl PublicBot {
    pub fn client_type(&self) -> ClientType {
        match self {
            PublicBot::Telegram { .. } => ClientType::Telegram,
        }
    }

    /// Where `/mlink` sends the client, with the link's payload.
    pub fn deep_link(&self, payload: &str) -> String {
        match self {
            PublicBot::Telegram { username } => telegram::deep_link(username, payload),
        }
    }
}

impl Bot {
    pub fn client_type(&self) -> ClientType {
        self.config.client_type()
    }

    /// Checks that a webhook call comes from the messenger, before anything parses it.
    pub fn verify(&self, headers: &dyn Headers, _body: &[u8]) -> Result<(), WebhookError> {
        match &self.config {
            BotConfig::Telegram(_) => telegram::verify(headers, &self.webhook_secret),
        }
    }

    pub fn parse(&self, body: &[u8]) -> Result<Vec<Inbound>, WebhookError> {
        match &self.config {
            BotConfig::Telegram(_) => telegram::parse(body),
        }
    }

    /// The messenger API call that sends `text` to `to`.
    pub fn send_text(&self, bases: &ApiBases, to: &UserId, text: &str) -> OutboundRequest {
        match &self.config {
            BotConfig::Telegram(t) => t.send_message(bases, to, text),
        }
    }

    /// Whether a messenger API answer means the message was accepted.
    pub fn send_result(&self, status: u16, body: &str) -> Result<(), String> {
        match &self.config {
            BotConfig::Telegram(_) => telegram::api_result(status, body),
        }
    }
}
