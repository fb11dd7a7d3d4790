//! What Facebook Messenger, Instagram and WhatsApp (all Meta) share: the `X-Hub-Signature-256`
//! check, the `hub.challenge` subscription handshake, the Messenger-platform `messaging` events
//! (Messenger and Instagram deliver the same shapes), and bearer-authenticated Graph API calls.
//!
//! A few protocol-neutral helpers live here too and are shared with Viber: reading a bot's
//! request fields, the hex HMAC-SHA256 check, and percent-encoding a query value.

use super::{http_result, Inbound, InboundKind, InvalidBot, WebhookError};
use crate::domain::secrets::secrets_match;
use crate::domain::UserId;
use crate::http::{json_object, Headers, OutboundRequest};
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

/// The longest access token accepted. Page and Instagram tokens run to a few hundred characters;
/// the margin leaves room for Meta to grow them.
const MAX_TOKEN_LEN: usize = 4096;

// ---------------------------------------------------------------------------------------------
// Reading a bot's settings

/// The credentials every Meta bot carries, read from the owner's `PUT .../bots/{group}` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaSecrets {
    /// The page, Instagram or WhatsApp system-user token that sends messages.
    pub access_token: String,
    /// The Meta app's secret: the key of `X-Hub-Signature-256`.
    pub app_secret: String,
    /// The owner's own handshake token; without one the bot's webhook secret serves.
    pub verify_token: Option<String>,
}

impl MetaSecrets {
    pub fn from_request(body: &serde_json::Value) -> Result<Self, InvalidBot> {
        let access_token = required_str(body, "access_token")?;
        if !is_token(access_token, MAX_TOKEN_LEN) {
            return Err(InvalidBot(
                "`access_token` is the token that sends messages (printable, no spaces)".into(),
            ));
        }
        let app_secret = required_str(body, "app_secret")?;
        if !is_token(app_secret, 256) {
            return Err(InvalidBot(
                "`app_secret` is the Meta app's secret (App settings → Basic), printable, \
                 no spaces"
                    .into(),
            ));
        }
        let verify_token = optional_str(body, "verify_token")?;
        if verify_token.is_some_and(|t| !is_token(t, 256)) {
            return Err(InvalidBot(
                "`verify_token`, when given, is 1-256 printable characters without spaces".into(),
            ));
        }
        Ok(MetaSecrets {
            access_token: access_token.to_string(),
            app_secret: app_secret.to_string(),
            verify_token: verify_token.map(str::to_string),
        })
    }
}

/// A required string field, trimmed.
pub fn required_str<'a>(body: &'a serde_json::Value, name: &str) -> Result<&'a str, InvalidBot> {
    optional_str(body, name)?
        .ok_or_else(|| InvalidBot(format!("`{name}` (a non-empty string) is required")))
}

/// An optional string field, trimmed; absent, `null` and `""` all mean "not given".
pub fn optional_str<'a>(
    body: &'a serde_json::Value,
    name: &str,
) -> Result<Option<&'a str>, InvalidBot> {
    match body.get(name) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => {
            let s = s.trim();
            Ok((!s.is_empty()).then_some(s))
        }
        Some(_) => Err(InvalidBot(format!("`{name}` must be a string"))),
    }
}

/// 1 to `max_len` printable ASCII characters without spaces: safe in a header or a query.
pub fn is_token(s: &str, max_len: usize) -> bool {
    (1..=max_len).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic())
}

/// 1 to `max_len` ASCII digits (Meta's numeric ids).
pub fn is_digits(s: &str, max_len: usize) -> bool {
    (1..=max_len).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// A Meta numeric id field (`page_id`, `account_id`, `phone_number_id`).
pub fn required_id(body: &serde_json::Value, name: &str, what: &str) -> Result<String, InvalidBot> {
    let id = required_str(body, name)?;
    if !is_digits(id, 32) {
        return Err(InvalidBot(format!("`{name}` is {what}: digits only")));
    }
    Ok(id.to_string())
}

// ---------------------------------------------------------------------------------------------
// Webhook authentication

/// `X-Hub-Signature-256: sha256=<hex>` must be the HMAC-SHA256 of the raw body keyed with the
/// app secret.
pub fn verify_signature(
    app_secret: &str,
    headers: &dyn Headers,
    body: &[u8],
) -> Result<(), WebhookError> {
    let header = headers
        .get(SIGNATURE_HEADER)
        .ok_or(WebhookError::Unauthorized)?;
    let hex = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(WebhookError::Unauthorized)?;
    if hmac_sha256_hex_matches(app_secret.as_bytes(), body, hex) {
        Ok(())
    } else {
        Err(WebhookError::Unauthorized)
    }
}

/// Whether `hex_signature` is the HMAC-SHA256 of `body` under `key`, compared in constant time.
/// Malformed hex never matches.
pub fn hmac_sha256_hex_matches(key: &[u8], body: &[u8], hex_signature: &str) -> bool {
    let Some(given) = decode_hex(hex_signature) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// Hex (either case) → bytes; `None` on an odd length or a non-hex character.
fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    s.as_bytes()
        .chunks(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

/// The subscription handshake: `GET ?hub.mode=subscribe&hub.verify_token=<t>&hub.challenge=<c>`
/// is answered with `c` only when `t` is ours.
pub fn handshake(verify_token: &str, query: &[(String, String)]) -> Result<String, WebhookError> {
    let param = |name: &str| {
        query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| WebhookError::Malformed(format!("`{name}` is missing")))
    };
    let mode = param("hub.mode")?;
    let given = param("hub.verify_token")?;
    let challenge = param("hub.challenge")?;
    if mode != "subscribe" {
        return Err(WebhookError::Malformed(format!(
            "`hub.mode` is {mode:?}, not \"subscribe\""
        )));
    }
    // An empty expected token would let an empty given one through.
    if verify_token.is_empty() || !secrets_match(given, verify_token) {
        return Err(WebhookError::Unauthorized);
    }
    if challenge.is_empty() {
        return Err(WebhookError::Malformed("`hub.challenge` is empty".into()));
    }
    Ok(challenge.to_string())
}

/// The handshake token: the owner's own when given, else the bot's webhook secret.
pub fn handshake_token<'a>(own: Option<&'a str>, webhook_secret: &'a str) -> &'a str {
    own.unwrap_or(webhook_secret)
}

// ---------------------------------------------------------------------------------------------
// Messenger-platform events (Facebook Messenger and Instagram)

/// The part of a Messenger/Instagram webhook delivery mlink reads.
#[derive(Deserialize)]
struct Delivery {
    object: String,
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    /// The page or Instagram account the events are for.
    id: Option<String>,
    /// Absent on entries that carry `changes` or `standby` (another app owns the thread).
    #[serde(default)]
    messaging: Vec<Event>,
}

#[derive(Deserialize)]
struct Event {
    /// Chat-plugin guests have a `user_ref` and no `id`: they cannot be contacts.
    sender: Option<Party>,
    timestamp: Option<u64>,
    message: Option<Message>,
    postback: Option<Postback>,
    referral: Option<Referral>,
}

#[derive(Deserialize)]
struct Party {
    id: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    mid: String,
    text: Option<String>,
    /// A copy of what the page or account itself sent.
    #[serde(default)]
    is_echo: bool,
    /// Instagram's notice that the user unsent a message: not the user writing.
    #[serde(default)]
    is_deleted: bool,
}

#[derive(Deserialize)]
struct Postback {
    mid: Option<String>,
    title: Option<String>,
    payload: Option<String>,
    referral: Option<Referral>,
}

#[derive(Deserialize)]
struct Referral {
    #[serde(rename = "ref")]
    reference: Option<String>,
}

impl Referral {
    fn payload(&self) -> Option<&str> {
        self.reference.as_deref().filter(|r| !r.is_empty())
    }
}

/// Every user event of a Messenger (`object: "page"`) or Instagram (`object: "instagram"`)
/// delivery: text messages, Get Started/icebreaker postbacks (with the link's `ref` on a new
/// thread) and referrals (a link opened in an existing thread). Echoes, delivery and read
/// receipts, reactions and the like are skipped.
pub fn parse_messaging(body: &[u8], expected_object: &str) -> Result<Vec<Inbound>, WebhookError> {
    let delivery: Delivery =
        json_object(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    if delivery.object != expected_object {
        return Err(WebhookError::Malformed(format!(
            "`object` is {:?}, expected {expected_object:?}",
            delivery.object
        )));
    }
    let mut events = Vec::new();
    for entry in &delivery.entry {
        for event in &entry.messaging {
            if let Some(inbound) = messaging_event(entry.id.as_deref(), event)? {
                events.push(inbound);
            }
        }
    }
    Ok(events)
}

/// One `messaging[]` event → at most one [`Inbound`].
fn messaging_event(own_id: Option<&str>, event: &Event) -> Result<Option<Inbound>, WebhookError> {
    let Some(sender) = event.sender.as_ref().and_then(|s| s.id.as_deref()) else {
        return Ok(None);
    };
    // The page or account itself is never a contact, whatever the event claims to be.
    if own_id == Some(sender) {
        return Ok(None);
    }
    let fallback_id = |prefix: &str| -> Result<String, WebhookError> {
        let timestamp = event
            .timestamp
            .ok_or_else(|| WebhookError::Malformed("a messaging event has no timestamp".into()))?;
        Ok(format!("{prefix}:{sender}:{timestamp}"))
    };
    let (delivery_id, kind) = if let Some(message) = &event.message {
        if message.is_echo || message.is_deleted {
            return Ok(None);
        }
        let kind = InboundKind::Text {
            text: message.text.clone().unwrap_or_default(),
            message_id: message.mid.clone(),
        };
        (format!("mid:{}", message.mid), kind)
    } else if let Some(postback) = &event.postback {
        let delivery_id = match &postback.mid {
            Some(mid) => format!("mid:{mid}"),
            None => fallback_id("postback")?,
        };
        (delivery_id.clone(), postback_kind(postback, delivery_id))
    } else if let Some(referral) = &event.referral {
        let Some(payload) = referral.payload() else {
            return Ok(None);
        };
        let delivery_id = fallback_id("referral")?;
        let kind = InboundKind::Arrival {
            payload: payload.to_string(),
            message_id: delivery_id.clone(),
        };
        (delivery_id, kind)
    } else {
        return Ok(None);
    };
    Ok(Some(Inbound {
        delivery_id,
        user_id: UserId::parse(sender).map_err(|e| WebhookError::Malformed(e.to_string()))?,
        name: None,
        kind,
        answer_in_response: false,
    }))
}

/// A postback carrying a link's `ref` is an arrival; a plain button tap reads as its title.
/// `delivery_id` is `mid:<mid>` or the `postback:<sender>:<timestamp>` stand-in.
fn postback_kind(postback: &Postback, delivery_id: String) -> InboundKind {
    let message_id = match &postback.mid {
        Some(mid) => mid.clone(),
        None => delivery_id,
    };
    match postback.referral.as_ref().and_then(Referral::payload) {
        Some(payload) => InboundKind::Arrival {
            payload: payload.to_string(),
            message_id,
        },
        None => InboundKind::Text {
            text: postback
                .title
                .clone()
                .filter(|t| !t.is_empty())
                .or_else(|| postback.payload.clone())
                .unwrap_or_default(),
            message_id,
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Graph API calls

/// A JSON `POST` authenticated with `Authorization: Bearer <token>` (never a token in the URL,
/// where it would end up in logs).
pub fn graph_post(url: String, token: &str, body: &serde_json::Value) -> OutboundRequest {
    OutboundRequest::post_json(url, body).with_header("authorization", format!("Bearer {token}"))
}

/// `{base}/{id}/messages`, the send endpoint of a page, an Instagram account or a WhatsApp number.
pub fn messages_url(base: &str, id: &str) -> String {
    format!("{}/{id}/messages", base.trim_end_matches('/'))
}

/// 2xx is success; a Graph error `{"error": {"message", "code"}}` is named in the reason.
pub fn graph_result(status: u16, body: &str) -> Result<(), String> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    let answer: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    match answer["error"]["message"].as_str() {
        Some(message) => {
            let code = &answer["error"]["code"];
            let code = if code.is_null() {
                String::new()
            } else {
                format!(" (code {code})")
            };
            Err(format!("Graph API answered {status}: {message}{code}"))
        }
        None => http_result(status, body).map_err(|e| format!("Graph API {e}")),
    }
}

// ---------------------------------------------------------------------------------------------
// Links

/// Everything but RFC 3986's unreserved characters is escaped.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `s` made safe as one query-string value.
pub fn encode_query_value(s: &str) -> String {
    std::borrow::Cow::from(utf8_percent_encode(s, QUERY_VALUE)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        headers(pairs)
    }

    const BODY: &str = r#"{"object":"page","entry":[]}"#;
    /// `printf '%s' '{"object":"page","entry":[]}' | openssl dgst -sha256 -hmac 'app-secret-1'`
    const BODY_SIG: &str = "79e65d5e06e173bb483d7f7824bf54a39a7509c6c05a3b16b7cce3660e6c7a6d";

    #[test]
    fn signature_of_a_known_vector_is_accepted() {
        let h = headers(&[("x-hub-signature-256", &format!("sha256={BODY_SIG}"))]);
        assert_eq!(
            verify_signature("app-secret-1", &h, BODY.as_bytes()),
            Ok(())
        );
        // Header names are case-insensitive, hex case does not matter.
        let h = headers(&[(
            "X-Hub-Signature-256",
            &format!("sha256={}", BODY_SIG.to_uppercase()),
        )]);
        assert_eq!(
            verify_signature("app-secret-1", &h, BODY.as_bytes()),
            Ok(())
        );
    }

    #[test]
    fn wrong_missing_or_malformed_signatures_are_refused() {
        let good = headers(&[("x-hub-signature-256", &format!("sha256={BODY_SIG}"))]);
        let unauthorized = Err(WebhookError::Unauthorized);
        assert_eq!(
            verify_signature("other-secret", &good, BODY.as_bytes()),
            unauthorized
        );
        let tampered = BODY.replace("page", "paga");
        assert_eq!(
            verify_signature("app-secret-1", &good, tampered.as_bytes()),
            unauthorized
        );
        let mut flipped = BODY_SIG.to_string();
        flipped.replace_range(0..1, if flipped.starts_with('0') { "1" } else { "0" });
        for value in [
            format!("sha256={flipped}"),
            BODY_SIG.to_string(),
            format!("sha1={BODY_SIG}"),
            format!("sha256={}", &BODY_SIG[..62]),
            format!("sha256={}zz", &BODY_SIG[..62]),
            "sha256=".to_string(),
        ] {
            let h = headers(&[("x-hub-signature-256", &value)]);
            assert_eq!(
                verify_signature("app-secret-1", &h, BODY.as_bytes()),
                unauthorized,
                "{value} accepted"
            );
        }
        assert_eq!(
            verify_signature("app-secret-1", &headers(&[]), BODY.as_bytes()),
            unauthorized
        );
    }

    #[test]
    fn hex_decoding() {
        assert_eq!(decode_hex("00ff7A"), Some(vec![0, 255, 0x7a]));
        assert_eq!(decode_hex(""), Some(vec![]));
        assert_eq!(decode_hex("abc"), None);
        assert_eq!(decode_hex("zz"), None);
        assert_eq!(decode_hex("+1"), None);
    }

    #[test]
    fn handshake_echoes_the_challenge_for_our_token() {
        let q = query(&[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", "tok-1"),
            ("hub.challenge", "1158201444"),
        ]);
        assert_eq!(handshake("tok-1", &q), Ok("1158201444".to_string()));
        assert_eq!(handshake("tok-2", &q), Err(WebhookError::Unauthorized));
        assert_eq!(handshake("", &q), Err(WebhookError::Unauthorized));
    }

    #[test]
    fn handshake_refuses_incomplete_or_odd_queries() {
        let full = [
            ("hub.mode", "subscribe"),
            ("hub.verify_token", "tok-1"),
            ("hub.challenge", "42"),
        ];
        for missing in 0..full.len() {
            let mut pairs = full.to_vec();
            pairs.remove(missing);
            assert!(matches!(
                handshake("tok-1", &query(&pairs)),
                Err(WebhookError::Malformed(_))
            ));
        }
        let unsubscribe = query(&[
            ("hub.mode", "unsubscribe"),
            ("hub.verify_token", "tok-1"),
            ("hub.challenge", "42"),
        ]);
        assert!(matches!(
            handshake("tok-1", &unsubscribe),
            Err(WebhookError::Malformed(_))
        ));
        let empty_challenge = query(&[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", "tok-1"),
            ("hub.challenge", ""),
        ]);
        assert!(matches!(
            handshake("tok-1", &empty_challenge),
            Err(WebhookError::Malformed(_))
        ));
    }

    #[test]
    fn handshake_token_prefers_the_owners() {
        assert_eq!(handshake_token(Some("own"), "secret"), "own");
        assert_eq!(handshake_token(None, "secret"), "secret");
    }

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    /// Two entries, three events: a text, the page's echo of its reply, a Get Started postback
    /// from an m.me link; plus a read receipt and a delivery receipt to skip.
    const PAGE_BATCH: &str = r#"{
      "object": "page",
      "entry": [
        {
          "id": "106000000000001",
          "time": 1764000000100,
          "messaging": [
            {
              "sender": {"id": "7100000000000001"},
              "recipient": {"id": "106000000000001"},
              "timestamp": 1764000000050,
              "message": {
                "mid": "m_AbCdEf1",
                "text": "hello",
                "nlp": {"entities": {}},
                "quick_reply": {"payload": "QR"}
              }
            },
            {
              "sender": {"id": "106000000000001"},
              "recipient": {"id": "7100000000000001"},
              "timestamp": 1764000000060,
              "message": {
                "is_echo": true,
                "app_id": 1517776481860111,
                "metadata": "mlink",
                "mid": "m_Echo1",
                "text": "hi back"
              }
            },
            {
              "sender": {"id": "7100000000000001"},
              "recipient": {"id": "106000000000001"},
              "timestamp": 1764000000070,
              "read": {"watermark": 1764000000060}
            }
          ]
        },
        {
          "id": "106000000000001",
          "time": 1764000000200,
          "messaging": [
            {
              "sender": {"id": "7100000000000002"},
              "recipient": {"id": "106000000000001"},
              "timestamp": 1764000000150,
              "postback": {
                "title": "Get Started",
                "payload": "GET_STARTED",
                "mid": "m_Pb1",
                "referral": {"ref": "AbC_12-x", "source": "SHORTLINK", "type": "OPEN_THREAD"}
              }
            },
            {
              "sender": {"id": "7100000000000002"},
              "recipient": {"id": "106000000000001"},
              "timestamp": 1764000000160,
              "delivery": {"mids": ["m_Echo1"], "watermark": 1764000000160}
            }
          ]
        }
      ]
    }"#;

    #[test]
    fn parses_every_entry_and_event_of_a_page_batch() {
        let events = parse_messaging(PAGE_BATCH.as_bytes(), "page").unwrap();
        assert_eq!(
            events,
            vec![
                Inbound {
                    delivery_id: "mid:m_AbCdEf1".into(),
                    user_id: user("7100000000000001"),
                    name: None,
                    kind: InboundKind::Text {
                        text: "hello".into(),
                        message_id: "m_AbCdEf1".into()
                    },
                    answer_in_response: false,
                },
                Inbound {
                    delivery_id: "mid:m_Pb1".into(),
                    user_id: user("7100000000000002"),
                    name: None,
                    kind: InboundKind::Arrival {
                        payload: "AbC_12-x".into(),
                        message_id: "m_Pb1".into()
                    },
                    answer_in_response: false,
                },
            ]
        );
    }

    #[test]
    fn object_must_be_the_expected_one() {
        assert!(matches!(
            parse_messaging(PAGE_BATCH.as_bytes(), "instagram"),
            Err(WebhookError::Malformed(_))
        ));
    }

    fn one_event(event: serde_json::Value) -> Vec<Inbound> {
        let body = json!({
            "object": "page",
            "entry": [{"id": "900", "time": 1, "messaging": [event]}]
        });
        parse_messaging(body.to_string().as_bytes(), "page").unwrap()
    }

    #[test]
    fn postback_without_referral_reads_as_its_title_or_payload() {
        let events = one_event(json!({
            "sender": {"id": "5"}, "recipient": {"id": "900"}, "timestamp": 77,
            "postback": {"title": "Get Started", "payload": "GET_STARTED"}
        }));
        assert_eq!(events[0].delivery_id, "postback:5:77");
        assert_eq!(
            events[0].kind,
            InboundKind::Text {
                text: "Get Started".into(),
                message_id: "postback:5:77".into()
            }
        );
        let events = one_event(json!({
            "sender": {"id": "5"}, "recipient": {"id": "900"}, "timestamp": 78,
            "postback": {"payload": "MENU_HELP", "mid": "m_9"}
        }));
        assert_eq!(events[0].delivery_id, "mid:m_9");
        assert_eq!(
            events[0].kind,
            InboundKind::Text {
                text: "MENU_HELP".into(),
                message_id: "m_9".into()
            }
        );
    }

    #[test]
    fn postback_referral_without_mid_uses_sender_and_timestamp() {
        let events = one_event(json!({
            "sender": {"id": "5"}, "recipient": {"id": "900"}, "timestamp": 79,
            "postback": {"title": "Get Started", "payload": "GET_STARTED",
                         "referral": {"ref": "abc", "source": "SHORTLINK", "type": "OPEN_THREAD"}}
        }));
        assert_eq!(events[0].delivery_id, "postback:5:79");
        assert_eq!(
            events[0].kind,
            InboundKind::Arrival {
                payload: "abc".into(),
                message_id: "postback:5:79".into()
            }
        );
    }

    #[test]
    fn referral_in_an_existing_thread_is_an_arrival() {
        let events = one_event(json!({
            "sender": {"id": "5"}, "recipient": {"id": "900"}, "timestamp": 80,
            "referral": {"ref": "abc", "source": "SHORTLINK", "type": "OPEN_THREAD"}
        }));
        assert_eq!(
            events,
            vec![Inbound {
                delivery_id: "referral:5:80".into(),
                user_id: user("5"),
                name: None,
                kind: InboundKind::Arrival {
                    payload: "abc".into(),
                    message_id: "referral:5:80".into()
                },
                answer_in_response: false,
            }]
        );
        // An ad or a link without a ref carries nothing to merge on.
        let no_ref = one_event(json!({
            "sender": {"id": "5"}, "recipient": {"id": "900"}, "timestamp": 81,
            "referral": {"source": "ADS", "type": "OPEN_THREAD", "ad_id": "1"}
        }));
        assert!(no_ref.is_empty());
    }

    #[test]
    fn skips_what_is_not_a_user_writing() {
        for event in [
            json!({"sender": {"id": "900"}, "recipient": {"id": "5"}, "timestamp": 1,
                   "message": {"mid": "m_1", "text": "own send without is_echo"}}),
            json!({"sender": {"id": "5"}, "recipient": {"id": "900"}, "timestamp": 1,
                   "message": {"mid": "m_2", "is_echo": true, "text": "x"}}),
            json!({"sender": {"id": "5"}, "recipient": {"id": "900"}, "timestamp": 1,
                   "message": {"mid": "m_3", "is_deleted": true}}),
            json!({"sender": {"id": "5"}, "recipient": {"id": "900"}, "timestamp": 1,
                   "reaction": {"mid": "m_1", "action": "react", "emoji": "x"}}),
            json!({"sender": {"user_ref": "guest"}, "recipient": {"id": "900"}, "timestamp": 1,
                   "message": {"mid": "m_4", "text": "from the chat plugin"}}),
        ] {
            assert!(one_event(event.clone()).is_empty(), "{event} not skipped");
        }
        // Attachment-only messages still count: the text is empty.
        let attachment = one_event(json!({
            "sender": {"id": "5"}, "recipient": {"id": "900"}, "timestamp": 1,
            "message": {"mid": "m_5", "attachments": [{"type": "image", "payload": {"url": "u"}}]}
        }));
        assert_eq!(
            attachment[0].kind,
            InboundKind::Text {
                text: "".into(),
                message_id: "m_5".into()
            }
        );
    }

    #[test]
    fn entries_without_messaging_are_empty() {
        let body =
            br#"{"object":"page","entry":[{"id":"1","time":2,"standby":[{"sender":{"id":"5"}}]},
            {"id":"1","time":2,"changes":[{"field":"feed","value":{}}]}]}"#;
        assert!(parse_messaging(body, "page").unwrap().is_empty());
    }

    #[test]
    fn refuses_malformed_deliveries() {
        for body in [
            &b"not json"[..],
            b"{}",
            b"[]",
            br#"{"object":"page"}"#,
            br#"{"object":"page","entry":{}}"#,
            br#"{"object":"page","entry":[{"messaging":[{"sender":{"id":"5"},"message":{"text":"no mid"}}]}]}"#,
            br#"{"object":"page","entry":[{"messaging":[{"sender":{"id":"5"},"referral":{"ref":"r"}}]}]}"#,
            br#"{"object":"page","entry":[{"messaging":[{"sender":{"id":"a b"},"message":{"mid":"m"}}]}]}"#,
        ] {
            assert!(
                matches!(parse_messaging(body, "page"), Err(WebhookError::Malformed(_))),
                "{} accepted",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn graph_post_uses_a_bearer_header() {
        let req = graph_post(
            messages_url("http://127.0.0.1:9/v21.0/", "123"),
            "EAAB-token",
            &json!({"a": 1}),
        );
        assert_eq!(req.method, "POST");
        assert_eq!(req.url, "http://127.0.0.1:9/v21.0/123/messages");
        assert_eq!(
            req.headers,
            vec![
                ("content-type".to_string(), "application/json".to_string()),
                ("authorization".to_string(), "Bearer EAAB-token".to_string()),
            ]
        );
        assert!(!req.url.contains("EAAB"));
        assert_eq!(req.body, r#"{"a":1}"#);
    }

    #[test]
    fn graph_results() {
        assert_eq!(
            graph_result(200, r#"{"recipient_id":"5","message_id":"m_1"}"#),
            Ok(())
        );
        let err = graph_result(
            400,
            r#"{"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190,"fbtrace_id":"A"}}"#,
        )
        .unwrap_err();
        assert_eq!(
            err,
            "Graph API answered 400: Invalid OAuth access token. (code 190)"
        );
        let err = graph_result(502, "<html>bad gateway</html>").unwrap_err();
        assert!(err.contains("502") && err.contains("bad gateway"), "{err}");
    }

    #[test]
    fn secrets_are_read_and_checked() {
        let ok = json!({"access_token": " EAAB ", "app_secret": "0123abcd", "verify_token": null});
        assert_eq!(
            MetaSecrets::from_request(&ok).unwrap(),
            MetaSecrets {
                access_token: "EAAB".into(),
                app_secret: "0123abcd".into(),
                verify_token: None,
            }
        );
        let own = json!({"access_token": "t", "app_secret": "s", "verify_token": "mine"});
        assert_eq!(
            MetaSecrets::from_request(&own).unwrap().verify_token,
            Some("mine".into())
        );
        let long = "v".repeat(257);
        for bad in [
            json!({"app_secret": "s"}),
            json!({"access_token": "t"}),
            json!({"access_token": "a b", "app_secret": "s"}),
            json!({"access_token": "t", "app_secret": "s\u{7}"}),
            json!({"access_token": "t", "app_secret": 5}),
            json!({"access_token": "t", "app_secret": "s", "verify_token": "has space"}),
            json!({"access_token": "t", "app_secret": "s", "verify_token": long}),
            json!({"access_token": "t", "app_secret": "s", "verify_token": 1}),
        ] {
            assert!(MetaSecrets::from_request(&bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn field_helpers() {
        let body = json!({"a": "  x ", "b": "", "c": null, "d": 1});
        assert_eq!(required_str(&body, "a").unwrap(), "x");
        assert!(required_str(&body, "b").is_err());
        assert_eq!(optional_str(&body, "b").unwrap(), None);
        assert_eq!(optional_str(&body, "c").unwrap(), None);
        assert_eq!(optional_str(&body, "z").unwrap(), None);
        assert!(optional_str(&body, "d").is_err());
        assert!(is_digits("0123", 4) && !is_digits("12345", 4) && !is_digits("", 4));
        assert!(!is_digits("12a", 4));
        assert!(is_token("a-b_c.d~!", 10) && !is_token("a b", 10) && !is_token("é", 10));
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode_query_value("AbC_12-x.~"), "AbC_12-x.~");
        assert_eq!(encode_query_value("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }
}
