//! Viber REST bot API: `viber://pa` links with `context`, callbacks signed with the bot's auth
//! token, `send_message`, and the welcome message answered in the HTTP response to a user who
//! opened the chat without subscribing (the only message such a user can get).

use super::meta::{encode_query_value, hmac_sha256_hex_matches, optional_str, required_str};
use super::{ApiBases, Inbound, InboundKind, InvalidBot, Messenger, PublicBot, WebhookError};
use crate::domain::{ClientType, UserId};
use crate::http::{json_object, Headers, OutboundRequest};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub const SIGNATURE_HEADER: &str = "X-Viber-Content-Signature";
pub const AUTH_HEADER: &str = "X-Viber-Auth-Token";

/// The callbacks `set_webhook` subscribes to (`webhook` itself always comes).
pub const EVENT_TYPES: [&str; 4] = [
    "conversation_started",
    "message",
    "subscribed",
    "unsubscribed",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViberBot {
    /// The bot's chat URI, as in `viber://pa?chatURI=<uri>`.
    pub uri: String,
    /// The auth token: authenticates API calls and keys the callbacks' signature.
    pub token: String,
    /// The name shown as the sender of the bot's messages (Viber allows 28 characters).
    pub sender_name: String,
    /// The sender's avatar URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
}

impl ViberBot {
    pub fn from_request(body: &serde_json::Value) -> Result<Self, InvalidBot> {
        let uri = required_str(body, "uri")?;
        let uri_ok = uri.len() <= 64
            && uri
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !uri_ok {
            return Err(InvalidBot(
                "`uri` is the bot's chat URI (viber://pa?chatURI=<uri>): \
                 1-64 letters, digits, _ . and -"
                    .into(),
            ));
        }
        let token = required_str(body, "token")?;
        if !(token.len() <= 256 && token.bytes().all(|b| b.is_ascii_graphic())) {
            return Err(InvalidBot(
                "`token` is the bot's auth token from the Viber admin panel \
                 (printable, no spaces)"
                    .into(),
            ));
        }
        let sender_name = required_str(body, "sender_name")?;
        if sender_name.chars().count() > 28 || sender_name.chars().any(char::is_control) {
            return Err(InvalidBot(
                "`sender_name` is the name shown on the bot's messages: 1-28 characters".into(),
            ));
        }
        let avatar = optional_str(body, "avatar")?;
        if avatar.is_some_and(|a| !is_http_url(a)) {
            return Err(InvalidBot(
                "`avatar`, when given, is an http(s) URL of the sender's picture".into(),
            ));
        }
        Ok(ViberBot {
            uri: uri.to_string(),
            token: token.to_string(),
            sender_name: sender_name.to_string(),
            avatar: avatar.map(str::to_string),
        })
    }

    fn api_url(&self, bases: &ApiBases, method: &str) -> String {
        format!("{}/pa/{method}", bases.viber.trim_end_matches('/'))
    }

    fn api_post(
        &self,
        bases: &ApiBases,
        method: &str,
        body: &serde_json::Value,
    ) -> OutboundRequest {
        OutboundRequest::post_json(self.api_url(bases, method), body)
            .with_header(AUTH_HEADER, self.token.clone())
    }

    /// `{"name", "avatar"?}`, the sender of every message the bot sends.
    fn sender(&self) -> serde_json::Value {
        let mut sender = json!({ "name": self.sender_name });
        if let Some(avatar) = &self.avatar {
            sender["avatar"] = avatar.as_str().into();
        }
        sender
    }
}

/// `http(s)://` followed by at least a host, without spaces or control characters.
fn is_http_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && s.len() <= 2048
        && s.chars().all(|c| c.is_ascii_graphic())
}

/// `viber://pa?chatURI=<uri>&context=<payload>`; Viber hands `context` back on
/// `conversation_started`.
pub fn deep_link(uri: &str, payload: &str) -> String {
    let (uri, payload) = (encode_query_value(uri), encode_query_value(payload));
    crate::http::concat(&["viber://pa?chatURI=", &uri, "&context=", &payload])
}

impl Messenger for ViberBot {
    fn client_type(&self) -> ClientType {
        ClientType::Viber
    }

    fn public(&self) -> PublicBot {
        PublicBot::Viber {
            uri: self.uri.clone(),
        }
    }

    /// Viber signs with the auth token; the webhook secret plays no part.
    fn verify(
        &self,
        _webhook_secret: &str,
        headers: &dyn Headers,
        body: &[u8],
    ) -> Result<(), WebhookError> {
        verify(&self.token, headers, body)
    }

    fn parse(&self, body: &[u8]) -> Result<Vec<Inbound>, WebhookError> {
        parse(body)
    }

    fn send_text(&self, bases: &ApiBases, to: &UserId, text: &str) -> OutboundRequest {
        let body = json!({
            "receiver": to.as_str(),
            "min_api_version": 1,
            "sender": self.sender(),
            "type": "text",
            "text": text,
        });
        self.api_post(bases, "send_message", &body)
    }

    fn send_result(&self, status: u16, body: &str) -> Result<(), String> {
        api_result(status, body)
    }

    /// `set_webhook`; Viber calls the URL with a signed `webhook` event before accepting it.
    fn webhook_registration(
        &self,
        bases: &ApiBases,
        webhook_url: &str,
        _webhook_secret: &str,
    ) -> Option<OutboundRequest> {
        let body = json!({
            "url": webhook_url,
            "event_types": EVENT_TYPES,
            "send_name": true,
            "send_photo": false,
        });
        Some(self.api_post(bases, "set_webhook", &body))
    }

    fn registration_result(&self, status: u16, body: &str) -> Result<(), String> {
        api_result(status, body)
    }

    /// The welcome message, answered to `conversation_started`.
    fn response_message(&self, text: &str) -> Option<serde_json::Value> {
        Some(json!({
            "sender": self.sender(),
            "type": "text",
            "text": text,
        }))
    }
}

/// `X-Viber-Content-Signature` must be the hex HMAC-SHA256 of the raw body keyed with the
/// bot's auth token.
pub fn verify(token: &str, headers: &dyn Headers, body: &[u8]) -> Result<(), WebhookError> {
    match headers.get(SIGNATURE_HEADER) {
        Some(given) if hmac_sha256_hex_matches(token.as_bytes(), body, given.trim()) => Ok(()),
        _ => Err(WebhookError::Unauthorized),
    }
}

/// Every callback names its `event`; the rest of its shape depends on it.
#[derive(Deserialize)]
struct Callback {
    event: String,
}

#[derive(Deserialize)]
struct ConversationStarted {
    /// Up to 2^64: read as `u64` so every digit survives.
    message_token: u64,
    user: User,
    context: Option<String>,
    /// Missing means not subscribed: the welcome message is the only way to answer.
    #[serde(default)]
    subscribed: bool,
}

#[derive(Deserialize)]
struct MessageEvent {
    message_token: u64,
    sender: User,
    message: Message,
}

#[derive(Deserialize)]
struct User {
    id: String,
    name: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

/// One callback in, at most one event out: a deep-link arrival (`conversation_started` with a
/// context) or a message. Subscriptions, receipts and the `webhook` check carry nothing to merge.
pub fn parse(body: &[u8]) -> Result<Vec<Inbound>, WebhookError> {
    let value: serde_json::Value = json_object(body).map_err(malformed)?;
    let callback = Callback::deserialize(&value).map_err(malformed)?;
    let inbound = match callback.event.as_str() {
        "conversation_started" => {
            conversation_started(ConversationStarted::deserialize(&value).map_err(malformed)?)?
        }
        "message" => Some(message(
            MessageEvent::deserialize(&value).map_err(malformed)?,
        )?),
        _ => None,
    };
    Ok(inbound.into_iter().collect())
}

/// An arrival when the user came through a link with a `context`; a user who opened the chat
/// some other way has done nothing yet.
fn conversation_started(event: ConversationStarted) -> Result<Option<Inbound>, WebhookError> {
    let Some(payload) = event.context.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    Ok(Some(Inbound {
        delivery_id: format!("token:{}", event.message_token),
        user_id: user_id(&event.user)?,
        name: name(&event.user),
        kind: InboundKind::Arrival {
            payload,
            message_id: event.message_token.to_string(),
        },
        answer_in_response: !event.subscribed,
    }))
}

/// A message; pictures, stickers, contacts and the like read as "".
fn message(event: MessageEvent) -> Result<Inbound, WebhookError> {
    let text = match event.message.kind.as_str() {
        "text" => event.message.text.unwrap_or_default(),
        _ => String::new(),
    };
    Ok(Inbound {
        delivery_id: format!("token:{}", event.message_token),
        user_id: user_id(&event.sender)?,
        name: name(&event.sender),
        kind: InboundKind::Text {
            text,
            message_id: event.message_token.to_string(),
        },
        answer_in_response: false,
    })
}

fn user_id(user: &User) -> Result<UserId, WebhookError> {
    UserId::parse(&user.id).map_err(malformed)
}

fn name(user: &User) -> Option<String> {
    user.name.clone().filter(|n| !n.trim().is_empty())
}

fn malformed(e: impl std::fmt::Display) -> WebhookError {
    WebhookError::Malformed(e.to_string())
}

/// Viber answers HTTP 200 with `{"status": 0, ...}` on success and a non-zero `status` with a
/// `status_message` on failure.
pub fn api_result(status: u16, body: &str) -> Result<(), String> {
    let answer: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    if (200..300).contains(&status) && answer["status"] == 0 {
        return Ok(());
    }
    match &answer["status"] {
        serde_json::Value::Number(code) => {
            let message = answer["status_message"].as_str().unwrap_or("no message");
            Err(format!(
                "Viber answered {status}: status {code} ({message})"
            ))
        }
        _ => {
            let detail: String = body.chars().take(200).collect();
            Err(format!("Viber answered {status}: {detail}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messengers::test_support::{self, pairs};

    fn bot() -> ViberBot {
        ViberBot {
            uri: "acmebot".into(),
            token: "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9".into(),
            sender_name: "Acme".into(),
            avatar: None,
        }
    }

    #[test]
    fn deep_link_carries_the_context() {
        assert_eq!(
            deep_link("acmebot", "abc_DEF-1"),
            "viber://pa?chatURI=acmebot&context=abc_DEF-1"
        );
        assert_eq!(
            deep_link("acme.bot", "a&b c"),
            "viber://pa?chatURI=acme.bot&context=a%26b%20c"
        );
    }

    #[test]
    fn bot_fields_are_validated() {
        let ok = json!({
            "uri": "acmebot",
            "token": "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9",
            "sender_name": " Acme ",
        });
        assert_eq!(ViberBot::from_request(&ok).unwrap(), bot());
        let mut with_avatar = ok.clone();
        with_avatar["avatar"] = json!("https://example.com/a.jpg");
        assert_eq!(
            ViberBot::from_request(&with_avatar).unwrap().avatar,
            Some("https://example.com/a.jpg".into())
        );
        let mut null_avatar = ok.clone();
        null_avatar["avatar"] = json!(null);
        assert_eq!(ViberBot::from_request(&null_avatar).unwrap(), bot());
        let with = |field: &str, value| test_support::with(&ok, field, value);
        let without = |field: &str| test_support::without(&ok, field);
        for bad in [
            without("uri"),
            without("token"),
            without("sender_name"),
            with("uri", json!("acme bot")),
            with("uri", json!("acme/bot")),
            with("uri", json!("a".repeat(65))),
            with("token", json!("has space")),
            with("token", json!("tab\tinside")),
            with("token", json!(12)),
            with("sender_name", json!("")),
            with("sender_name", json!("n".repeat(29))),
            with("sender_name", json!("line\nbreak")),
            with("avatar", json!("ftp://example.com/a.jpg")),
            with("avatar", json!("https://")),
            with("avatar", json!("https://example.com/a b.jpg")),
            with("avatar", json!(true)),
        ] {
            assert!(ViberBot::from_request(&bad).is_err(), "{bad} accepted");
        }
        // 28 characters is the limit, counted as characters, not bytes.
        let cyrillic = with("sender_name", json!("ж".repeat(28)));
        assert!(ViberBot::from_request(&cyrillic).is_ok());
    }

    #[test]
    fn public_part_is_the_uri() {
        assert_eq!(
            bot().public(),
            PublicBot::Viber {
                uri: "acmebot".into()
            }
        );
        assert_eq!(bot().client_type(), ClientType::Viber);
    }

    const STARTED: &str = r#"{"event":"conversation_started","timestamp":1457764197627,"chat_hostname":"SN-376_","message_token":4912661846655238145,"type":"open","context":"AbC_12-x","user":{"id":"01234567890A=","name":"John McClane","avatar":"http://avatar.example.com","language":"en","country":"UK","api_version":8},"subscribed":false}"#;
    /// `printf '%s' "$STARTED" | openssl dgst -sha256 -hmac "$TOKEN"` with `TOKEN` = `bot().token`
    const STARTED_SIG: &str = "b1bd75cdfcb68fb7bbfd3f3f9c2614ded16391fb48d40b9db5b45b62ea04e7db";

    #[test]
    fn signature_of_a_known_vector_is_accepted() {
        let h = pairs(&[("X-Viber-Content-Signature", STARTED_SIG)]);
        assert_eq!(bot().verify("unused", &h, STARTED.as_bytes()), Ok(()));
        let h = pairs(&[("x-viber-content-signature", STARTED_SIG)]);
        assert_eq!(bot().verify("unused", &h, STARTED.as_bytes()), Ok(()));
    }

    #[test]
    fn wrong_missing_or_malformed_signatures_are_refused() {
        let unauthorized = Err(WebhookError::Unauthorized);
        let good = pairs(&[("X-Viber-Content-Signature", STARTED_SIG)]);
        let tampered = STARTED.replace("AbC_12-x", "AbC_12-y");
        assert_eq!(
            bot().verify("unused", &good, tampered.as_bytes()),
            unauthorized
        );
        // The webhook secret is not the key: a signature made with it fails.
        let other = ViberBot {
            token: "another-token".into(),
            ..bot()
        };
        assert_eq!(
            other.verify(&bot().token, &good, STARTED.as_bytes()),
            unauthorized
        );
        for value in [
            "",
            "not-hex",
            &STARTED_SIG[..63],
            &format!("sha256={STARTED_SIG}"),
            &"0".repeat(64),
        ] {
            let h = pairs(&[("X-Viber-Content-Signature", value)]);
            assert_eq!(
                bot().verify("unused", &h, STARTED.as_bytes()),
                unauthorized,
                "{value} accepted"
            );
        }
        assert_eq!(
            bot().verify("unused", &pairs(&[]), STARTED.as_bytes()),
            unauthorized
        );
    }

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    #[test]
    fn conversation_started_with_context_is_an_arrival() {
        assert_eq!(
            parse(STARTED.as_bytes()).unwrap(),
            vec![Inbound {
                delivery_id: "token:4912661846655238145".into(),
                user_id: user("01234567890A="),
                name: Some("John McClane".into()),
                kind: InboundKind::Arrival {
                    payload: "AbC_12-x".into(),
                    message_id: "4912661846655238145".into(),
                },
                answer_in_response: true,
            }]
        );
        let subscribed = STARTED.replace(r#""subscribed":false"#, r#""subscribed":true"#);
        let events = parse(subscribed.as_bytes()).unwrap();
        assert!(!events[0].answer_in_response);
    }

    #[test]
    fn conversation_started_without_context_is_nothing() {
        let without = r#"{"event":"conversation_started","timestamp":1457764197627,"message_token":4912661846655238145,"type":"open","user":{"id":"01234567890A=","name":"John"},"subscribed":false}"#;
        assert!(parse(without.as_bytes()).unwrap().is_empty());
        let empty = STARTED.replace(r#""context":"AbC_12-x""#, r#""context":"""#);
        assert!(parse(empty.as_bytes()).unwrap().is_empty());
    }

    #[test]
    fn message_tokens_keep_every_digit() {
        // Above 2^53, where a float would round.
        let body = STARTED.replace("4912661846655238145", "18446744073709551615");
        assert_eq!(
            parse(body.as_bytes()).unwrap()[0].delivery_id,
            "token:18446744073709551615"
        );
    }

    #[test]
    fn messages_are_texts() {
        let text = r#"{"event":"message","timestamp":1457764197627,"chat_hostname":"SN-CHAT-01_","message_token":4912661846655238145,"sender":{"id":"01234567890A=","name":"John McClane","avatar":"http://avatar.example.com","country":"UK","language":"en","api_version":1},"message":{"type":"text","text":"mlink: AbC12","media":"http://example.com","location":{"lat":50.76891,"lon":6.11499},"tracking_data":"tracking data"},"silent":false}"#;
        assert_eq!(
            parse(text.as_bytes()).unwrap(),
            vec![Inbound {
                delivery_id: "token:4912661846655238145".into(),
                user_id: user("01234567890A="),
                name: Some("John McClane".into()),
                kind: InboundKind::Text {
                    text: "mlink: AbC12".into(),
                    message_id: "4912661846655238145".into(),
                },
                answer_in_response: false,
            }]
        );
        let picture = r#"{"event":"message","timestamp":1,"message_token":5,"sender":{"id":"u1"},"message":{"type":"picture","text":"a caption","media":"http://example.com/p.jpg"}}"#;
        let events = parse(picture.as_bytes()).unwrap();
        assert_eq!(
            events[0].kind,
            InboundKind::Text {
                text: "".into(),
                message_id: "5".into()
            }
        );
        assert_eq!(events[0].name, None);
    }

    #[test]
    fn other_callbacks_carry_nothing() {
        for body in [
            r#"{"event":"webhook","timestamp":1457764197627,"chat_hostname":"SN-CHAT-01_","message_token":241256543215}"#,
            r#"{"event":"subscribed","timestamp":1457764197627,"chat_hostname":"SN-CHAT-01_","user":{"id":"01234567890A=","name":"John McClane"},"message_token":4912661846655238145}"#,
            r#"{"event":"unsubscribed","timestamp":1457764197627,"chat_hostname":"SN-CHAT-01_","user_id":"01234567890A=","message_token":4912661846655238145}"#,
            r#"{"event":"delivered","timestamp":1457764197627,"chat_hostname":"SN-CHAT-01_","message_token":4912661846655238145,"user_id":"01234567890A="}"#,
            r#"{"event":"seen","timestamp":1457764197627,"message_token":4912661846655238145,"user_id":"01234567890A="}"#,
            r#"{"event":"failed","timestamp":1457764197627,"message_token":4912661846655238145,"user_id":"01234567890A=","desc":"failure description"}"#,
            r#"{"event":"client_status","timestamp":1}"#,
        ] {
            assert!(parse(body.as_bytes()).unwrap().is_empty(), "{body}");
        }
    }

    #[test]
    fn refuses_malformed_callbacks() {
        for body in [
            "not json",
            "[]",
            "{}",
            r#"{"event":5}"#,
            r#"{"event":"message","message_token":1,"sender":{"id":"u"}}"#,
            r#"{"event":"message","message_token":1,"message":{"type":"text","text":"x"}}"#,
            r#"{"event":"message","message_token":"1","sender":{"id":"u"},"message":{"type":"text"}}"#,
            r#"{"event":"message","message_token":1,"sender":{"id":"u"},"message":{"text":"x"}}"#,
            r#"{"event":"conversation_started","context":"x","user":{"id":"u"}}"#,
            r#"{"event":"conversation_started","message_token":1,"context":"x"}"#,
            r#"{"event":"conversation_started","message_token":1,"context":"x","user":{"id":"a b"}}"#,
        ] {
            assert!(
                matches!(parse(body.as_bytes()), Err(WebhookError::Malformed(_))),
                "{body} accepted"
            );
        }
    }

    #[test]
    fn send_request() {
        let bases = ApiBases {
            viber: "http://127.0.0.1:9/".into(),
            ..ApiBases::default()
        };
        let req = bot().send_text(&bases, &user("01234567890A="), "Hi");
        assert_eq!(req.method, "POST");
        assert_eq!(req.url, "http://127.0.0.1:9/pa/send_message");
        assert_eq!(
            req.headers,
            vec![
                ("content-type".to_string(), "application/json".to_string()),
                ("X-Viber-Auth-Token".to_string(), bot().token),
            ]
        );
        let body: serde_json::Value = serde_json::from_str(&req.body).unwrap();
        assert_eq!(
            body,
            json!({
                "receiver": "01234567890A=",
                "min_api_version": 1,
                "sender": {"name": "Acme"},
                "type": "text",
                "text": "Hi",
            })
        );
        let with_avatar = ViberBot {
            avatar: Some("https://example.com/a.jpg".into()),
            ..bot()
        };
        let body: serde_json::Value = serde_json::from_str(
            &with_avatar
                .send_text(&bases, &user("01234567890A="), "Hi")
                .body,
        )
        .unwrap();
        assert_eq!(
            body["sender"],
            json!({"name": "Acme", "avatar": "https://example.com/a.jpg"})
        );
    }

    #[test]
    fn set_webhook_request() {
        let bases = ApiBases {
            viber: "http://127.0.0.1:9".into(),
            ..ApiBases::default()
        };
        let req = bot()
            .webhook_registration(&bases, "https://h/webhooks/p/g", "unused")
            .unwrap();
        assert_eq!(req.url, "http://127.0.0.1:9/pa/set_webhook");
        assert!(req.headers.contains(&(AUTH_HEADER.into(), bot().token)));
        let body: serde_json::Value = serde_json::from_str(&req.body).unwrap();
        assert_eq!(
            body,
            json!({
                "url": "https://h/webhooks/p/g",
                "event_types": ["conversation_started", "message", "subscribed", "unsubscribed"],
                "send_name": true,
                "send_photo": false,
            })
        );
    }

    #[test]
    fn welcome_message_is_the_response_body() {
        assert_eq!(
            bot().response_message("Hello"),
            Some(json!({"sender": {"name": "Acme"}, "type": "text", "text": "Hello"}))
        );
        let with_avatar = ViberBot {
            avatar: Some("https://example.com/a.jpg".into()),
            ..bot()
        };
        assert_eq!(
            with_avatar.response_message("Hello").unwrap()["sender"]["avatar"],
            "https://example.com/a.jpg"
        );
    }

    #[test]
    fn api_results() {
        let ok = r#"{"status":0,"status_message":"ok","message_token":5741311803571721087}"#;
        assert_eq!(bot().send_result(200, ok), Ok(()));
        assert_eq!(bot().registration_result(200, ok), Ok(()));
        let refused = r#"{"status":6,"status_message":"notSubscribed","chat_hostname":"SN-1"}"#;
        assert_eq!(
            bot().send_result(200, refused),
            Err("Viber answered 200: status 6 (notSubscribed)".into())
        );
        let err = bot()
            .registration_result(200, r#"{"status":2,"status_message":"invalidAuthToken"}"#)
            .unwrap_err();
        assert!(err.contains("invalidAuthToken") && err.contains("status 2"));
        let err = bot()
            .send_result(500, "<html>Internal Server Error</html>")
            .unwrap_err();
        assert!(
            err.contains("500") && err.contains("Internal Server Error"),
            "{err}"
        );
        // 5xx even with a status 0 body is a failure.
        assert!(api_result(500, ok).is_err());
        assert!(api_result(200, "{}").is_err());
    }

    #[test]
    fn settings_round_trip_through_json() {
        let with_avatar = ViberBot {
            avatar: Some("https://example.com/a.jpg".into()),
            ..bot()
        };
        for b in [bot(), with_avatar] {
            let stored = serde_json::to_string(&b).unwrap();
            assert_eq!(serde_json::from_str::<ViberBot>(&stored).unwrap(), b);
        }
    }
}
