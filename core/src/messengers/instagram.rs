//! Instagram messaging (Instagram API with Instagram Login): `ig.me/m` links with `ref`, the
//! same `messaging` events as Messenger under `object: "instagram"`, and the account's Send
//! API on graph.instagram.com. The webhook is set in the Meta app dashboard.

use super::meta::{self, MetaSecrets};
use super::{ApiBases, Inbound, InvalidBot, Messenger, PublicBot, WebhookError};
use crate::domain::{ClientType, UserId};
use crate::http::{Headers, OutboundRequest};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstagramBot {
    /// The professional account's username, without `@`.
    pub username: String,
    /// The account's numeric id: the Send API endpoint.
    pub account_id: String,
    pub access_token: String,
    pub app_secret: String,
    /// The owner's handshake token, if they chose one; else the bot's webhook secret serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_token: Option<String>,
}

impl InstagramBot {
    pub fn from_request(body: &serde_json::Value) -> Result<Self, InvalidBot> {
        let username = meta::required_str(body, "username")?.trim_start_matches('@');
        let username_ok = (1..=30).contains(&username.len())
            && username
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
        if !username_ok {
            return Err(InvalidBot(
                "`username` is the Instagram account's username: 1-30 letters, digits, . and _"
                    .into(),
            ));
        }
        let account_id = meta::required_id(body, "account_id", "the Instagram account's id")?;
        let MetaSecrets {
            access_token,
            app_secret,
            verify_token,
        } = MetaSecrets::from_request(body)?;
        Ok(InstagramBot {
            username: username.to_string(),
            account_id,
            access_token,
            app_secret,
            verify_token,
        })
    }
}

/// `https://ig.me/m/<username>?ref=<payload>`. The ref reaches the webhook only when the
/// account has icebreakers set; otherwise the client types the code.
pub fn deep_link(username: &str, payload: &str) -> String {
    let payload = meta::encode_query_value(payload);
    crate::http::concat(&["https://ig.me/m/", username, "?ref=", &payload])
}

impl Messenger for InstagramBot {
    fn client_type(&self) -> ClientType {
        ClientType::Instagram
    }

    fn public(&self) -> PublicBot {
        PublicBot::Instagram {
            username: self.username.clone(),
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
        meta::parse_messaging(body, "instagram")
    }

    fn handshake(
        &self,
        webhook_secret: &str,
        query: &[(String, String)],
    ) -> Result<String, WebhookError> {
        let token = meta::handshake_token(self.verify_token.as_deref(), webhook_secret);
        meta::handshake(token, query)
    }

    fn send_text(&self, bases: &ApiBases, to: &UserId, text: &str) -> OutboundRequest {
        let body = json!({
            "recipient": {"id": to.as_str()},
            "message": {"text": text},
        });
        meta::graph_post(
            meta::messages_url(&bases.instagram, &self.account_id),
            &self.access_token,
            &body,
        )
    }

    fn send_result(&self, status: u16, body: &str) -> Result<(), String> {
        meta::graph_result(status, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messengers::test_support::{self, pairs};
    use crate::messengers::InboundKind;

    fn bot() -> InstagramBot {
        InstagramBot {
            username: "acme.shop_1".into(),
            account_id: "17841400000000001".into(),
            access_token: "IGAAtoken".into(),
            app_secret: "ig-app-secret".into(),
            verify_token: None,
        }
    }

    #[test]
    fn deep_link_carries_the_ref() {
        assert_eq!(
            deep_link("acme.shop_1", "abc_DEF-1"),
            "https://ig.me/m/acme.shop_1?ref=abc_DEF-1"
        );
        assert_eq!(deep_link("a", "x=y"), "https://ig.me/m/a?ref=x%3Dy");
    }

    #[test]
    fn bot_fields_are_validated() {
        let ok = json!({
            "username": "@acme.shop_1",
            "account_id": "17841400000000001",
            "access_token": "IGAAtoken",
            "app_secret": "ig-app-secret",
        });
        assert_eq!(InstagramBot::from_request(&ok).unwrap(), bot());
        let mut own = ok.clone();
        own["verify_token"] = json!("my-token");
        assert_eq!(
            InstagramBot::from_request(&own).unwrap().verify_token,
            Some("my-token".into())
        );
        let with = |field: &str, value| test_support::with(&ok, field, value);
        let without = |field: &str| test_support::without(&ok, field);
        for bad in [
            without("username"),
            without("account_id"),
            without("access_token"),
            without("app_secret"),
            with("username", json!("@")),
            with("username", json!("acme-shop")),
            with("username", json!("a".repeat(31))),
            with("account_id", json!("abc")),
            with("access_token", json!("IGAA token")),
            with("app_secret", json!(null)),
            with("verify_token", json!("v".repeat(257))),
        ] {
            assert!(InstagramBot::from_request(&bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn public_part_is_the_username() {
        assert_eq!(
            bot().public(),
            PublicBot::Instagram {
                username: "acme.shop_1".into()
            }
        );
        assert_eq!(bot().client_type(), ClientType::Instagram);
    }

    #[test]
    fn verifies_with_the_app_secret() {
        let body = br#"{"object":"instagram","entry":[]}"#;
        // printf '%s' '<body>' | openssl dgst -sha256 -hmac 'ig-app-secret'
        let ok = pairs(&[(
            "x-hub-signature-256",
            "sha256=fa9393ed1f5072c186bd3596b148cc812a69325c80a15aa2d564c815b62fbe89",
        )]);
        assert_eq!(bot().verify("webhook-secret", &ok, body), Ok(()));
        assert_eq!(
            bot().verify(
                "webhook-secret",
                &ok,
                br#"{"object":"instagram","entry":[{}]}"#
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
                ("hub.challenge", "987654"),
            ])
        };
        assert_eq!(
            bot().handshake("wh-secret", &query("wh-secret")),
            Ok("987654".into())
        );
        assert_eq!(
            bot().handshake("wh-secret", &query("nope")),
            Err(WebhookError::Unauthorized)
        );
        let own = InstagramBot {
            verify_token: Some("mine".into()),
            ..bot()
        };
        assert_eq!(
            own.handshake("wh-secret", &query("mine")),
            Ok("987654".into())
        );
    }

    #[test]
    fn parses_an_ig_me_referral() {
        let body = br#"{
          "object": "instagram",
          "entry": [{
            "time": 1764000000300,
            "id": "17841400000000001",
            "messaging": [{
              "sender": {"id": "1234567890123456"},
              "recipient": {"id": "17841400000000001"},
              "timestamp": 1764000000250,
              "referral": {"ref": "AbC_12-x", "source": "IGME", "type": "OPEN_THREAD"}
            }]
          }]
        }"#;
        assert_eq!(
            bot().parse(body).unwrap(),
            vec![Inbound {
                delivery_id: "referral:1234567890123456:1764000000250".into(),
                user_id: UserId::parse("1234567890123456").unwrap(),
                name: None,
                kind: InboundKind::Arrival {
                    payload: "AbC_12-x".into(),
                    message_id: "referral:1234567890123456:1764000000250".into(),
                },
                answer_in_response: false,
            }]
        );
    }

    #[test]
    fn parses_a_typed_code_and_skips_the_accounts_echo() {
        let body = br#"{
          "object": "instagram",
          "entry": [{
            "time": 1764000000400,
            "id": "17841400000000001",
            "messaging": [
              {
                "sender": {"id": "1234567890123456"},
                "recipient": {"id": "17841400000000001"},
                "timestamp": 1764000000350,
                "message": {"mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx", "text": "cli123"}
              },
              {
                "sender": {"id": "17841400000000001"},
                "recipient": {"id": "1234567890123456"},
                "timestamp": 1764000000360,
                "message": {"mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQy", "text": "Welcome!",
                            "is_echo": true}
              },
              {
                "sender": {"id": "1234567890123456"},
                "recipient": {"id": "17841400000000001"},
                "timestamp": 1764000000370,
                "read": {"mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQy"}
              }
            ]
          }]
        }"#;
        let events = bot().parse(body).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(
            events[0].delivery_id,
            "mid:aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx"
        );
        assert_eq!(
            events[0].kind,
            InboundKind::Text {
                text: "cli123".into(),
                message_id: "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx".into()
            }
        );
        assert!(matches!(
            bot().parse(br#"{"object":"page","entry":[]}"#),
            Err(WebhookError::Malformed(_))
        ));
    }

    #[test]
    fn send_request() {
        let bases = ApiBases {
            instagram: "http://127.0.0.1:9/v21.0/".into(),
            ..ApiBases::default()
        };
        let req = bot().send_text(&bases, &UserId::parse("1234567890123456").unwrap(), "Hi");
        assert_eq!(req.method, "POST");
        assert_eq!(
            req.url,
            "http://127.0.0.1:9/v21.0/17841400000000001/messages"
        );
        assert!(req
            .headers
            .contains(&("authorization".into(), "Bearer IGAAtoken".into())));
        let body: serde_json::Value = serde_json::from_str(&req.body).unwrap();
        assert_eq!(
            body,
            json!({"recipient": {"id": "1234567890123456"}, "message": {"text": "Hi"}})
        );
        assert!(bot()
            .webhook_registration(&bases, "https://h/webhooks/p/g", "s")
            .is_none());
    }

    #[test]
    fn send_results() {
        assert_eq!(bot().send_result(200, r#"{"message_id":"m"}"#), Ok(()));
        assert!(bot()
            .send_result(400, r#"{"error":{"message":"bad","code":100}}"#)
            .is_err());
    }
}
