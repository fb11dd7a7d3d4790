//! Callbacks to the owner's backend: the events, and their signature per the Standard Webhooks
//! spec (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`).

use crate::http::OutboundRequest;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

/// A messenger contact (one dialog) as callbacks and the API show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactRef {
    pub messenger: &'static str,
    pub client_type: i64,
    pub group: String,
    pub user_id: String,
}

/// What happened, as the owner's backend receives it in `data`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EventData {
    Switched {
        client_id: i64,
        contact: ContactRef,
        from: Option<ContactRef>,
        note: String,
    },
    Message {
        client_id: i64,
        contact: ContactRef,
        text: String,
        message_id: String,
    },
    Unmerged {
        client_id: i64,
        previous_client_id: i64,
        contact: ContactRef,
    },
    Merged {
        client_id: i64,
        merged_client_id: i64,
        contacts: Vec<ContactRef>,
    },
}

/// `{"type", "timestamp", "data"}`: the envelope the spec recommends.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: String,
    pub timestamp: String,
    pub data: EventData,
}

/// A new message id for `webhook-id`; stored with the event so every retry repeats it.
pub fn new_webhook_id() -> String {
    format!(
        "msg_{}",
        URL_SAFE_NO_PAD.encode(super::secrets::random_bytes::<16>())
    )
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a callback secret is `whsec_` followed by base64 of at least 24 bytes")]
pub struct BadSecret;

/// The key behind a `whsec_...` secret.
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    pub fn parse(secret: &str) -> Result<Self, BadSecret> {
        let encoded = secret.strip_prefix("whsec_").ok_or(BadSecret)?;
        let key = STANDARD.decode(encoded).map_err(|_| BadSecret)?;
        if key.len() < 24 {
            return Err(BadSecret);
        }
        Ok(SigningKey(key))
    }

    /// `v1,<base64 of HMAC-SHA256 over "{id}.{timestamp}.{body}">`.
    pub fn sign(&self, webhook_id: &str, timestamp_s: i64, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("any key length");
        mac.update(format!("{webhook_id}.{timestamp_s}.{body}").as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }

    /// The signed POST of one stored event to the owner's callback URL.
    pub fn signed_request(
        &self,
        url: &str,
        webhook_id: &str,
        timestamp_s: i64,
        body: &str,
    ) -> OutboundRequest {
        OutboundRequest {
            method: "POST",
            url: url.to_string(),
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("webhook-id".into(), webhook_id.into()),
                ("webhook-timestamp".into(), timestamp_s.to_string()),
                (
                    "webhook-signature".into(),
                    self.sign(webhook_id, timestamp_s, body),
                ),
            ],
            body: body.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector published with the spec's reference libraries.
    #[test]
    fn standard_webhooks_spec_vector() {
        let key = SigningKey::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let signature = key.sign(
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1649367553,
            r#"{"email":"test@example.com","username":"test_user"}"#,
        );
        assert_eq!(signature, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    #[test]
    fn secrets_are_checked() {
        assert!(SigningKey::parse("C2FVsBQIhrscChlQIMV+b5sSYspob7oD").is_err());
        assert!(SigningKey::parse("whsec_c2hvcnQ=").is_err());
        assert!(SigningKey::parse("whsec_***").is_err());
        assert!(SigningKey::parse(&crate::domain::secrets::new_callback_secret()).is_ok());
    }

    #[test]
    fn request_carries_the_three_headers() {
        let key = SigningKey::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let req = key.signed_request("http://cb", "msg_1", 10, "{}");
        let header = |n: &str| req.headers.iter().find(|(k, _)| k == n).unwrap().1.clone();
        assert_eq!(header("webhook-id"), "msg_1");
        assert_eq!(header("webhook-timestamp"), "10");
        assert_eq!(header("webhook-signature"), key.sign("msg_1", 10, "{}"));
        assert!(new_webhook_id().starts_with("msg_"));
        assert_ne!(new_webhook_id(), new_webhook_id());
    }

    #[test]
    fn events_serialize_with_type_and_data() {
        let event = Event {
            kind: "switch_to_telegram".into(),
            timestamp: "2025-11-24T16:00:00Z".into(),
            data: EventData::Switched {
                client_id: 4,
                contact: ContactRef {
                    messenger: "telegram",
                    client_type: 1,
                    group: "b".into(),
                    user_id: "5".into(),
                },
                from: None,
                note: "hi".into(),
            },
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], "switch_to_telegram");
        assert_eq!(json["data"]["client_id"], 4);
        assert_eq!(json["data"]["contact"]["user_id"], "5");
        assert!(json["data"]["from"].is_null());
    }
}
