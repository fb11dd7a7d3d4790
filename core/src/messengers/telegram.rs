//! Telegram Bot API: `t.me` deep links with `start`, updates posted to the webhook with a secret
//! header, and `sendMessage`.

use super::{ApiBases, Inbound, InboundKind, InvalidBot, Messenger, PublicBot, WebhookError};
use crate::domain::secrets::secrets_match;
use crate::domain::ClientType;
use crate::domain::UserId;
use crate::http::{json_object, Headers, OutboundRequest};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub const SECRET_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TelegramBot {
    pub username: String,
    pub token: String,
}

impl TelegramBot {
    pub fn from_request(body: &serde_json::Value) -> Result<Self, InvalidBot> {
        let field = |name: &str| {
            body.get(name)
                .and_then(|v| v.as_str())
                .map(str::trim)
                .ok_or_else(|| InvalidBot(format!("`{name}` (a string) is required")))
        };
        let username = field("username")?.trim_start_matches('@');
        let token = field("token")?;
        let username_ok = (3..=64).contains(&username.len())
            && username
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !username_ok {
            return Err(InvalidBot(
                "`username` is the bot's Telegram username: letters, digits and _".into(),
            ));
        }
        let token_ok = token.split_once(':').is_some_and(|(id, rest)| {
            !id.is_empty()
                && id.chars().all(|c| c.is_ascii_digit())
                && !rest.is_empty()
                && rest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        });
        if !token_ok {
            return Err(InvalidBot(
                "`token` is the bot token from @BotFather, like 123456:ABC-DEF".into(),
            ));
        }
        Ok(TelegramBot {
            username: username.to_string(),
            token: token.to_string(),
        })
    }

    fn method_url(&self, bases: &ApiBases, method: &str) -> String {
        format!(
            "{}/bot{}/{method}",
            bases.telegram.trim_end_matches('/'),
            self.token
        )
    }
}

impl Messenger for TelegramBot {
    fn client_type(&self) -> ClientType {
        ClientType::Telegram
    }

    fn public(&self) -> PublicBot {
        PublicBot::Telegram {
            username: self.username.clone(),
        }
    }

    fn verify(
        &self,
        webhook_secret: &str,
        headers: &dyn Headers,
        _body: &[u8],
    ) -> Result<(), WebhookError> {
        verify(headers, webhook_secret)
    }

    fn parse(&self, body: &[u8]) -> Result<Vec<Inbound>, WebhookError> {
        parse(body)
    }

    fn arrival_text(&self, payload: &str) -> String {
        format!("/start {payload}")
    }

    fn webhook_registration(
        &self,
        bases: &ApiBases,
        url: &str,
        secret: &str,
    ) -> Option<OutboundRequest> {
        let body = json!({
            "url": url,
            "secret_token": secret,
            "allowed_updates": ["message"],
        });
        Some(OutboundRequest::post_json(
            self.method_url(bases, "setWebhook"),
            &body,
        ))
    }

    fn registration_result(&self, status: u16, body: &str) -> Result<(), String> {
        api_result(status, body)
    }

    fn send_result(&self, status: u16, body: &str) -> Result<(), String> {
        api_result(status, body)
    }

    fn send_text(&self, bases: &ApiBases, to: &UserId, text: &str) -> OutboundRequest {
        // Telegram's user ids are numbers; in private chats the chat id is the user id.
        let chat_id = to
            .as_str()
            .parse::<i64>()
            .map(serde_json::Value::from)
            .unwrap_or_else(|_| to.as_str().into());
        let body = json!({ "chat_id": chat_id, "text": text });
        OutboundRequest::post_json(self.method_url(bases, "sendMessage"), &body)
    }
}

/// `https://t.me/<bot>?start=<payload>`; the payload is at most 64 chars of `A-Za-z0-9_-`.
pub fn deep_link(username: &str, payload: &str) -> String {
    crate::http::concat(&["https://t.me/", username, "?start=", payload])
}

pub fn verify(headers: &dyn Headers, secret: &str) -> Result<(), WebhookError> {
    match headers.get(SECRET_HEADER) {
        Some(given) if secrets_match(&given, secret) => Ok(()),
        _ => Err(WebhookError::Unauthorized),
    }
}

/// The part of an Update mlink reads; anything else in it is ignored.
#[derive(Deserialize)]
struct Update {
    update_id: i64,
    message: Option<Message>,
}

#[derive(Deserialize)]
struct Message {
    message_id: i64,
    from: Option<User>,
    text: Option<String>,
}

#[derive(Deserialize)]
struct User {
    id: i64,
    first_name: Option<String>,
}

/// One update in, at most one event out (channel posts, edits and service messages are not a
/// client writing).
pub fn parse(body: &[u8]) -> Result<Vec<Inbound>, WebhookError> {
    let update: Update = json_object(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    let Some(message) = update.message else {
        return Ok(vec![]);
    };
    let Some(from) = message.from else {
        return Ok(vec![]);
    };
    let user_id =
        UserId::parse(&from.id.to_string()).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    let text = message.text.unwrap_or_default();
    let kind = match start_payload(&text) {
        Some(payload) => InboundKind::Arrival {
            payload,
            message_id: message.message_id.to_string(),
        },
        None => InboundKind::Text {
            text,
            message_id: message.message_id.to_string(),
        },
    };
    Ok(vec![Inbound {
        delivery_id: format!("update:{}", update.update_id),
        user_id,
        name: from.first_name,
        kind,
        answer_in_response: false,
    }])
}

/// `/start <payload>` (also `/start@bot <payload>`) → the payload.
fn start_payload(text: &str) -> Option<String> {
    let rest = text.strip_prefix("/start")?;
    let rest = match rest.strip_prefix('@') {
        Some(mention) => mention.split_once(' ').map(|(_, p)| p)?,
        None => rest.strip_prefix(' ')?,
    };
    let payload = rest.trim();
    (!payload.is_empty()).then(|| payload.to_string())
}

/// Telegram answers `{"ok": true, ...}` or `{"ok": false, "description": "..."}`.
pub fn api_result(status: u16, body: &str) -> Result<(), String> {
    let answer: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    if (200..300).contains(&status) && answer["ok"] == true {
        return Ok(());
    }
    let description = answer["description"].as_str().unwrap_or("no description");
    Err(format!("Telegram answered {status}: {description}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bot() -> TelegramBot {
        TelegramBot {
            username: "AcmeBot".into(),
            token: "123:ABC-def".into(),
        }
    }

    #[test]
    fn deep_link_carries_the_payload() {
        assert_eq!(
            deep_link("AcmeBot", "abc_DEF-1"),
            "https://t.me/AcmeBot?start=abc_DEF-1"
        );
    }

    #[test]
    fn secret_header_is_checked() {
        let ok: Vec<(String, String)> =
            vec![("x-telegram-bot-api-secret-token".into(), "s3cret".into())];
        assert_eq!(verify(&ok, "s3cret"), Ok(()));
        assert_eq!(verify(&ok, "other"), Err(WebhookError::Unauthorized));
        let none: Vec<(String, String)> = vec![];
        assert_eq!(verify(&none, "s3cret"), Err(WebhookError::Unauthorized));
    }

    #[test]
    fn parses_a_start_update() {
        let body = br#"{"update_id":1001,"message":{"message_id":5,"date":1764000000,
            "from":{"id":555,"is_bot":false,"first_name":"Ann","language_code":"ru"},
            "chat":{"id":555,"type":"private"},"text":"/start AbC_12-x",
            "entities":[{"offset":0,"length":6,"type":"bot_command"}]}}"#;
        let events = parse(body).unwrap();
        assert_eq!(
            events,
            vec![Inbound {
                delivery_id: "update:1001".into(),
                user_id: UserId::parse("555").unwrap(),
                name: Some("Ann".into()),
                kind: InboundKind::Arrival {
                    payload: "AbC_12-x".into(),
                    message_id: "5".into(),
                },
                answer_in_response: false,
            }]
        );
    }

    #[test]
    fn parses_text_and_ignores_what_is_not_a_user_message() {
        let text = br#"{"update_id":7,"message":{"message_id":9,"from":{"id":1},"chat":{"id":1},"text":"hello"}}"#;
        assert_eq!(
            parse(text).unwrap()[0].kind,
            InboundKind::Text {
                text: "hello".into(),
                message_id: "9".into()
            }
        );
        let plain_start = br#"{"update_id":8,"message":{"message_id":9,"from":{"id":1},"chat":{"id":1},"text":"/start"}}"#;
        assert!(matches!(
            parse(plain_start).unwrap()[0].kind,
            InboundKind::Text { .. }
        ));
        let edited = br#"{"update_id":9,"edited_message":{"message_id":9,"chat":{"id":1}}}"#;
        assert!(parse(edited).unwrap().is_empty());
        let channel =
            br#"{"update_id":10,"message":{"message_id":9,"chat":{"id":-100},"text":"x"}}"#;
        assert!(parse(channel).unwrap().is_empty());
    }

    #[test]
    fn refuses_malformed_updates() {
        for body in [&b"not json"[..], b"{}", br#"{"update_id":"x"}"#, b"[]"] {
            assert!(matches!(parse(body), Err(WebhookError::Malformed(_))));
        }
    }

    #[test]
    fn start_payload_forms() {
        assert_eq!(start_payload("/start abc"), Some("abc".into()));
        assert_eq!(start_payload("/start@AcmeBot abc"), Some("abc".into()));
        assert_eq!(start_payload("/start"), None);
        assert_eq!(start_payload("/started x"), None);
        assert_eq!(start_payload("hi /start x"), None);
    }

    #[test]
    fn send_and_set_webhook_requests() {
        let bases = ApiBases {
            telegram: "http://127.0.0.1:9/".into(),
            ..ApiBases::default()
        };
        let req = bot().send_text(&bases, &UserId::parse("555").unwrap(), "Hi");
        assert_eq!(req.url, "http://127.0.0.1:9/bot123:ABC-def/sendMessage");
        let body: serde_json::Value = serde_json::from_str(&req.body).unwrap();
        assert_eq!(body, json!({"chat_id": 555, "text": "Hi"}));
        let req = bot()
            .webhook_registration(&bases, "https://h/webhooks/p/g", "sec")
            .unwrap();
        assert!(req.url.ends_with("/setWebhook"));
        let body: serde_json::Value = serde_json::from_str(&req.body).unwrap();
        assert_eq!(body["url"], "https://h/webhooks/p/g");
        assert_eq!(body["secret_token"], "sec");
    }

    #[test]
    fn api_results() {
        assert_eq!(api_result(200, r#"{"ok":true,"result":true}"#), Ok(()));
        let err = api_result(401, r#"{"ok":false,"description":"Unauthorized"}"#).unwrap_err();
        assert!(err.contains("Unauthorized") && err.contains("401"));
        assert!(api_result(502, "<html>").is_err());
    }

    #[test]
    fn bot_fields_are_validated() {
        let ok = json!({"username": "@AcmeBot", "token": "123:ABC-def"});
        assert_eq!(TelegramBot::from_request(&ok).unwrap(), bot());
        for bad in [
            json!({"username": "AcmeBot"}),
            json!({"username": "a b", "token": "1:x"}),
            json!({"username": "AcmeBot", "token": "nocolon"}),
            json!({"username": "AcmeBot", "token": 5}),
        ] {
            assert!(TelegramBot::from_request(&bad).is_err(), "{bad} accepted");
        }
    }
}
