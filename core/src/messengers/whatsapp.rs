//! WhatsApp Cloud API: `wa.me` links that prefill the code (WhatsApp carries no hidden payload),
//! `whatsapp_business_account` webhooks signed with the app secret, and the number's
//! `/messages` endpoint. The webhook is set in the Meta app dashboard.

use super::meta::{self, MetaSecrets};
use super::{ApiBases, Inbound, InboundKind, InvalidBot, Messenger, PublicBot, WebhookError};
use crate::domain::{ClientType, UserId};
use crate::http::{json_object, Headers, OutboundRequest};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The longest text body the Cloud API takes.
pub const MAX_TEXT_CHARS: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhatsAppBot {
    /// The business number's digits (country code first, no `+`), as in `wa.me/<digits>`.
    pub phone_number: String,
    /// The Cloud API's id of that number: the send endpoint, and the filter on webhooks the
    /// app receives for its other numbers.
    pub phone_number_id: String,
    pub access_token: String,
    pub app_secret: String,
    /// The owner's handshake token, if they chose one; else the bot's webhook secret serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_token: Option<String>,
}

impl WhatsAppBot {
    pub fn from_request(body: &serde_json::Value) -> Result<Self, InvalidBot> {
        let phone_number =
            phone_digits(meta::required_str(body, "phone_number")?).ok_or_else(|| {
                InvalidBot(
                    "`phone_number` is the business number in international form, \
                     like +1 555 010 0199: 7-15 digits"
                        .into(),
                )
            })?;
        let phone_number_id = meta::required_id(
            body,
            "phone_number_id",
            "the Cloud API's phone number id (WhatsApp → API Setup)",
        )?;
        let MetaSecrets {
            access_token,
            app_secret,
            verify_token,
        } = MetaSecrets::from_request(body)?;
        Ok(WhatsAppBot {
            phone_number,
            phone_number_id,
            access_token,
            app_secret,
            verify_token,
        })
    }
}

/// `+1 (555) 010-0199` → `15550100199`; `None` unless 7-15 digits remain.
fn phone_digits(display: &str) -> Option<String> {
    let digits: String = display
        .chars()
        .filter(|c| !matches!(c, '+' | ' ' | '-' | '(' | ')'))
        .collect();
    meta::is_digits(&digits, 15)
        .then_some(digits)
        .filter(|d| d.len() >= 7)
}

/// `https://wa.me/<digits>?text=<text>`: the client sends the prefilled text themselves.
pub fn deep_link(phone_digits: &str, text: &str) -> String {
    if text.is_empty() {
        return crate::http::concat(&["https://wa.me/", phone_digits]);
    }
    let text = meta::encode_query_value(text);
    crate::http::concat(&["https://wa.me/", phone_digits, "?text=", &text])
}

impl Messenger for WhatsAppBot {
    fn client_type(&self) -> ClientType {
        ClientType::WhatsApp
    }

    fn public(&self) -> PublicBot {
        PublicBot::WhatsApp {
            phone: self.phone_number.clone(),
        }
    }

    fn verify(
        &self,
        _webhook_secret: &str,
        headers: &dyn Headers,
        body: &[u8],
    ) -> Result<(), WebhookError> {
        meta::verify_signature(&self.app_secret, headers, body)
    }

    fn parse(&self, body: &[u8]) -> Result<Vec<Inbound>, WebhookError> {
        parse(body, &self.phone_number_id)
    }

    fn handshake(
        &self,
        webhook_secret: &str,
        query: &[(String, String)],
    ) -> Result<String, WebhookError> {
        let token = meta::handshake_token(self.verify_token.as_deref(), webhook_secret);
        meta::handshake(token, query)
    }

    /// A free-form text: allowed within 24 hours of the user's last message, and the code the
    /// client sent opens that window.
    fn send_text(&self, bases: &ApiBases, to: &UserId, text: &str) -> OutboundRequest {
        let text: String = text.chars().take(MAX_TEXT_CHARS).collect();
        let body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to.as_str(),
            "type": "text",
            "text": {"body": text},
        });
        meta::graph_post(
            meta::messages_url(&bases.graph, &self.phone_number_id),
            &self.access_token,
            &body,
        )
    }

    fn send_result(&self, status: u16, body: &str) -> Result<(), String> {
        meta::graph_result(status, body)
    }
}

/// The part of a WhatsApp webhook delivery mlink reads.
#[derive(Deserialize)]
struct Delivery {
    object: String,
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    field: String,
    /// Read as [`MessagesValue`] only when `field` is `messages`; other fields differ in shape.
    #[serde(default)]
    value: serde_json::Value,
}

#[derive(Deserialize)]
struct MessagesValue {
    metadata: Metadata,
    #[serde(default)]
    contacts: Vec<Contact>,
    /// Absent when the change carries only `statuses` (sent, delivered, read) or `errors`.
    #[serde(default)]
    messages: Vec<Message>,
}

#[derive(Deserialize)]
struct Metadata {
    phone_number_id: String,
}

#[derive(Deserialize)]
struct Contact {
    wa_id: Option<String>,
    profile: Option<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    name: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    from: String,
    id: String,
    text: Option<Body>,
    /// A tap on a template's quick-reply button.
    button: Option<ButtonReply>,
    /// A tap on an interactive message's reply button or list row.
    interactive: Option<Interactive>,
}

#[derive(Deserialize)]
struct Body {
    body: Option<String>,
}

#[derive(Deserialize)]
struct ButtonReply {
    text: Option<String>,
}

#[derive(Deserialize)]
struct Interactive {
    button_reply: Option<Titled>,
    list_reply: Option<Titled>,
}

#[derive(Deserialize)]
struct Titled {
    title: Option<String>,
}

impl Message {
    /// What the user wrote or tapped; media, locations, reactions and the like read as "".
    fn text(&self) -> String {
        let interactive = self.interactive.as_ref().and_then(|i| {
            i.button_reply
                .as_ref()
                .or(i.list_reply.as_ref())
                .and_then(|t| t.title.clone())
        });
        self.text
            .as_ref()
            .and_then(|t| t.body.clone())
            .or_else(|| self.button.as_ref().and_then(|b| b.text.clone()))
            .or(interactive)
            .unwrap_or_default()
    }
}

/// Every message to `phone_number_id` in one delivery, across entries and changes. Changes for
/// the app's other numbers, status updates and non-message fields are skipped.
pub fn parse(body: &[u8], phone_number_id: &str) -> Result<Vec<Inbound>, WebhookError> {
    let delivery: Delivery = json_object(body).map_err(malformed)?;
    if delivery.object != "whatsapp_business_account" {
        return Err(WebhookError::Malformed(format!(
            "`object` is {:?}, expected \"whatsapp_business_account\"",
            delivery.object
        )));
    }
    let mut events = Vec::new();
    for change in delivery.entry.iter().flat_map(|e| &e.changes) {
        if change.field != "messages" {
            continue;
        }
        let value = MessagesValue::deserialize(&change.value).map_err(malformed)?;
        if value.metadata.phone_number_id != phone_number_id {
            continue;
        }
        for message in &value.messages {
            events.push(inbound(message, &value.contacts)?);
        }
    }
    Ok(events)
}

fn inbound(message: &Message, contacts: &[Contact]) -> Result<Inbound, WebhookError> {
    let name = contacts
        .iter()
        .find(|c| c.wa_id.as_deref() == Some(message.from.as_str()))
        .and_then(|c| c.profile.as_ref()?.name.clone())
        .filter(|n| !n.trim().is_empty());
    Ok(Inbound {
        delivery_id: format!("wamid:{}", message.id),
        user_id: UserId::parse(&message.from).map_err(malformed)?,
        name,
        kind: InboundKind::Text {
            text: message.text(),
            message_id: message.id.clone(),
        },
        answer_in_response: false,
    })
}

fn malformed(e: impl std::fmt::Display) -> WebhookError {
    WebhookError::Malformed(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messengers::test_support::{self, pairs};

    fn bot() -> WhatsAppBot {
        WhatsAppBot {
            phone_number: "15550100199".into(),
            phone_number_id: "106540352242922".into(),
            access_token: "EAAwa".into(),
            app_secret: "wa-app-secret".into(),
            verify_token: None,
        }
    }

    #[test]
    fn deep_link_prefills_the_code() {
        assert_eq!(
            deep_link("15550100199", "mlink: AbC12"),
            "https://wa.me/15550100199?text=mlink%3A%20AbC12"
        );
        assert_eq!(
            deep_link("15550100199", "AbC_12-x"),
            "https://wa.me/15550100199?text=AbC_12-x"
        );
        assert_eq!(deep_link("15550100199", ""), "https://wa.me/15550100199");
    }

    #[test]
    fn phone_numbers_keep_only_digits() {
        assert_eq!(
            phone_digits("+1 (555) 010-0199").as_deref(),
            Some("15550100199")
        );
        assert_eq!(phone_digits("4915112345").as_deref(), Some("4915112345"));
        assert_eq!(phone_digits("+123456").as_deref(), None);
        assert_eq!(phone_digits("1234567890123456").as_deref(), None);
        assert_eq!(phone_digits("+1 555 CALL-NOW").as_deref(), None);
        assert_eq!(phone_digits("+1.555.010.0199").as_deref(), None);
    }

    #[test]
    fn bot_fields_are_validated() {
        let ok = json!({
            "phone_number": "+1 (555) 010-0199",
            "phone_number_id": "106540352242922",
            "access_token": "EAAwa",
            "app_secret": "wa-app-secret",
        });
        assert_eq!(WhatsAppBot::from_request(&ok).unwrap(), bot());
        let mut own = ok.clone();
        own["verify_token"] = json!("my-token");
        assert_eq!(
            WhatsAppBot::from_request(&own).unwrap().verify_token,
            Some("my-token".into())
        );
        let with = |field: &str, value| test_support::with(&ok, field, value);
        let without = |field: &str| test_support::without(&ok, field);
        for bad in [
            without("phone_number"),
            without("phone_number_id"),
            without("access_token"),
            without("app_secret"),
            with("phone_number", json!("12345")),
            with("phone_number", json!(15550100199u64)),
            with("phone_number_id", json!("id-1")),
            with("access_token", json!("EA Awa")),
            with("app_secret", json!("se\ncret")),
            with("verify_token", json!("a b")),
        ] {
            assert!(WhatsAppBot::from_request(&bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn public_part_is_the_number() {
        assert_eq!(
            bot().public(),
            PublicBot::WhatsApp {
                phone: "15550100199".into()
            }
        );
        assert_eq!(bot().client_type(), ClientType::WhatsApp);
    }

    #[test]
    fn verifies_with_the_app_secret() {
        let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
        // printf '%s' '<body>' | openssl dgst -sha256 -hmac 'wa-app-secret'
        let ok = pairs(&[(
            "X-Hub-Signature-256",
            "sha256=5d8600dd18d931fa54fbc46cd5f6ee9caca30e6f09a2ad538012d04401e3b5a9",
        )]);
        assert_eq!(bot().verify("webhook-secret", &ok, body), Ok(()));
        assert_eq!(
            bot().verify(
                "webhook-secret",
                &ok,
                br#"{"object":"whatsapp_business_account","entry":[{}]}"#
            ),
            Err(WebhookError::Unauthorized)
        );
        assert_eq!(
            bot().verify("webhook-secret", &pairs(&[]), body),
            Err(WebhookError::Unauthorized)
        );
    }

    #[test]
    fn handshake_uses_the_owners_token_else_the_webhook_secret() {
        let query = |token: &str| {
            pairs(&[
                ("hub.mode", "subscribe"),
                ("hub.verify_token", token),
                ("hub.challenge", "1234"),
            ])
        };
        assert_eq!(
            bot().handshake("wh-secret", &query("wh-secret")),
            Ok("1234".into())
        );
        let own = WhatsAppBot {
            verify_token: Some("mine".into()),
            ..bot()
        };
        assert_eq!(
            own.handshake("wh-secret", &query("mine")),
            Ok("1234".into())
        );
        assert_eq!(
            own.handshake("wh-secret", &query("wh-secret")),
            Err(WebhookError::Unauthorized)
        );
    }

    /// Two messages (a typed code, a quick-reply button) and a status for our number, and a
    /// message for another number of the same app, in two entries.
    const DELIVERY: &str = r#"{
      "object": "whatsapp_business_account",
      "entry": [
        {
          "id": "102290129340398",
          "changes": [
            {
              "value": {
                "messaging_product": "whatsapp",
                "metadata": {
                  "display_phone_number": "15550100199",
                  "phone_number_id": "106540352242922"
                },
                "contacts": [
                  {"profile": {"name": "Kerry Fisher"}, "wa_id": "16315551181"},
                  {"profile": {"name": "Ann Lee"}, "wa_id": "16315551182"}
                ],
                "messages": [
                  {
                    "from": "16315551181",
                    "id": "wamid.ABGGFlA5Fpa1",
                    "timestamp": "1764000000",
                    "text": {"body": "mlink: AbC12"},
                    "type": "text"
                  },
                  {
                    "context": {"from": "15550100199", "id": "wamid.PREV"},
                    "from": "16315551182",
                    "id": "wamid.ABGGFlA5Fpa2",
                    "timestamp": "1764000001",
                    "type": "button",
                    "button": {"payload": "YES", "text": "Yes, link me"}
                  }
                ]
              },
              "field": "messages"
            },
            {
              "value": {
                "messaging_product": "whatsapp",
                "metadata": {
                  "display_phone_number": "15550100199",
                  "phone_number_id": "106540352242922"
                },
                "statuses": [
                  {
                    "id": "wamid.OUT1",
                    "status": "delivered",
                    "timestamp": "1764000002",
                    "recipient_id": "16315551181",
                    "conversation": {"id": "c1", "origin": {"type": "service"}},
                    "pricing": {"billable": true, "pricing_model": "PMP", "category": "service"}
                  }
                ]
              },
              "field": "messages"
            }
          ]
        },
        {
          "id": "102290129340398",
          "changes": [
            {
              "value": {
                "messaging_product": "whatsapp",
                "metadata": {
                  "display_phone_number": "15550100200",
                  "phone_number_id": "999999999999999"
                },
                "contacts": [{"profile": {"name": "Bob"}, "wa_id": "16315551183"}],
                "messages": [
                  {
                    "from": "16315551183",
                    "id": "wamid.OTHER",
                    "timestamp": "1764000003",
                    "text": {"body": "not for us"},
                    "type": "text"
                  }
                ]
              },
              "field": "messages"
            },
            {
              "value": {"message_template_id": 1, "event": "APPROVED"},
              "field": "message_template_status_update"
            }
          ]
        }
      ]
    }"#;

    #[test]
    fn parses_every_message_for_this_number() {
        let user = |id: &str| UserId::parse(id).unwrap();
        assert_eq!(
            bot().parse(DELIVERY.as_bytes()).unwrap(),
            vec![
                Inbound {
                    delivery_id: "wamid:wamid.ABGGFlA5Fpa1".into(),
                    user_id: user("16315551181"),
                    name: Some("Kerry Fisher".into()),
                    kind: InboundKind::Text {
                        text: "mlink: AbC12".into(),
                        message_id: "wamid.ABGGFlA5Fpa1".into()
                    },
                    answer_in_response: false,
                },
                Inbound {
                    delivery_id: "wamid:wamid.ABGGFlA5Fpa2".into(),
                    user_id: user("16315551182"),
                    name: Some("Ann Lee".into()),
                    kind: InboundKind::Text {
                        text: "Yes, link me".into(),
                        message_id: "wamid.ABGGFlA5Fpa2".into()
                    },
                    answer_in_response: false,
                },
            ]
        );
        // The app's other number sees only its own message.
        let other = WhatsAppBot {
            phone_number_id: "999999999999999".into(),
            ..bot()
        };
        let events = other.parse(DELIVERY.as_bytes()).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].delivery_id, "wamid:wamid.OTHER");
    }

    fn one_message(message: serde_json::Value) -> Inbound {
        let body = json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550100199",
                             "phone_number_id": "106540352242922"},
                "messages": [message]
            }}]}]
        });
        let mut events = bot().parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(events.len(), 1);
        events.remove(0)
    }

    #[test]
    fn non_text_messages_read_as_what_was_tapped_or_nothing() {
        let list = one_message(json!({
            "from": "16315551181", "id": "wamid.L", "timestamp": "1", "type": "interactive",
            "interactive": {"type": "list_reply",
                            "list_reply": {"id": "row1", "title": "Link", "description": "d"}}
        }));
        assert_eq!(
            list.kind,
            InboundKind::Text {
                text: "Link".into(),
                message_id: "wamid.L".into()
            }
        );
        let button = one_message(json!({
            "from": "16315551181", "id": "wamid.B", "timestamp": "1", "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"id": "b1", "title": "OK"}}
        }));
        assert!(matches!(button.kind, InboundKind::Text { ref text, .. } if text == "OK"));
        let image = one_message(json!({
            "from": "16315551181", "id": "wamid.I", "timestamp": "1", "type": "image",
            "image": {"mime_type": "image/jpeg", "sha256": "x", "id": "media1"}
        }));
        assert!(matches!(image.kind, InboundKind::Text { ref text, .. } if text.is_empty()));
        // No contacts block: no name.
        assert_eq!(image.name, None);
    }

    #[test]
    fn refuses_malformed_deliveries() {
        for body in [
            &b"not json"[..],
            b"{}",
            br#"{"object":"page","entry":[]}"#,
            br#"{"object":"whatsapp_business_account"}"#,
            br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[]}}]}]}"#,
            br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"106540352242922"},"messages":[{"id":"wamid.X"}]}}]}]}"#,
        ] {
            assert!(
                matches!(bot().parse(body), Err(WebhookError::Malformed(_))),
                "{} accepted",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn send_request() {
        let bases = ApiBases {
            graph: "http://127.0.0.1:9/v21.0".into(),
            ..ApiBases::default()
        };
        let to = UserId::parse("16315551181").unwrap();
        let req = bot().send_text(&bases, &to, "Linked!");
        assert_eq!(req.method, "POST");
        assert_eq!(req.url, "http://127.0.0.1:9/v21.0/106540352242922/messages");
        assert!(req
            .headers
            .contains(&("authorization".into(), "Bearer EAAwa".into())));
        let body: serde_json::Value = serde_json::from_str(&req.body).unwrap();
        assert_eq!(
            body,
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "16315551181",
                "type": "text",
                "text": {"body": "Linked!"},
            })
        );
        let long = "ж".repeat(MAX_TEXT_CHARS + 10);
        let req = bot().send_text(&bases, &to, &long);
        let body: serde_json::Value = serde_json::from_str(&req.body).unwrap();
        assert_eq!(
            body["text"]["body"].as_str().unwrap().chars().count(),
            MAX_TEXT_CHARS
        );
        assert!(bot()
            .webhook_registration(&bases, "https://h/webhooks/p/g", "s")
            .is_none());
    }

    #[test]
    fn send_results() {
        assert_eq!(
            bot().send_result(
                200,
                r#"{"messaging_product":"whatsapp","contacts":[{"input":"1","wa_id":"1"}],"messages":[{"id":"wamid.X"}]}"#
            ),
            Ok(())
        );
        let err = bot()
            .send_result(
                400,
                r#"{"error":{"message":"Re-engagement message","type":"OAuthException","code":131047}}"#,
            )
            .unwrap_err();
        assert!(err.contains("131047"), "{err}");
    }
}
