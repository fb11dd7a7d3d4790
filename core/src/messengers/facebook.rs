//! Facebook Messenger: `m.me` links with `ref`, page webhooks signed with the app secret, and
//! the page's Send API. The webhook URL and verify token are entered in the Meta app dashboard,
//! so there is no registration call.

use super::meta::{self, MetaSecrets};
use super::{ApiBases, Inbound, InvalidBot, Messenger, PublicBot, WebhookError};
use crate::domain::{ClientType, UserId};
use crate::http::{Headers, OutboundRequest};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacebookBot {
    /// The page's username or numeric id, as it appears in `m.me/<page>`.
    pub page: String,
    /// The page's numeric id: the Send API endpoint.
    pub page_id: String,
    /// The page access token.
    pub access_token: String,
    pub app_secret: String,
    /// The owner's handshake token, if they chose one; else the bot's webhook secret serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_token: Option<String>,
}

impl FacebookBot {
    pub fn from_request(body: &serde_json::Value) -> Result<Self, InvalidBot> {
        let page = meta::required_str(body, "page")?;
        let page_ok =
            page.len() <= 100 && page.chars().all(|c| c.is_ascii_alphanumeric() || c == '.');
        if !page_ok {
            return Err(InvalidBot(
                "`page` is the page's username or id as in m.me/<page>: letters, digits and ."
                    .into(),
            ));
        }
        let page_id = meta::required_id(body, "page_id", "the page's numeric id")?;
        let MetaSecrets {
            access_token,
            app_secret,
            verify_token,
        } = MetaSecrets::from_request(body)?;
        Ok(FacebookBot {
            page: page.to_string(),
            page_id,
            access_token,
            app_secret,
            verify_token,
        })
    }
}

/// `https://m.me/<page>?ref=<payload>`: the ref arrives with the Get Started postback of a new
/// thread, or as a referral in an existing one.
pub fn deep_link(page: &str, payload: &str) -> String {
    let payload = meta::encode_query_value(payload);
    crate::http::concat(&["https://m.me/", page, "?ref=", &payload])
}

impl Messenger for FacebookBot {
    fn client_type(&self) -> ClientType {
        ClientType::Facebook
    }

    fn public(&self) -> PublicBot {
        PublicBot::Facebook {
            page: self.page.clone(),
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
        meta::parse_messaging(body, "page")
    }

    fn handshake(
        &self,
        webhook_secret: &str,
        query: &[(String, String)],
    ) -> Result<String, WebhookError> {
        let token = meta::handshake_token(self.verify_token.as_deref(), webhook_secret);
        meta::handshake(token, query)
    }

    /// A `RESPONSE` message: allowed within 24 hours of the user's last message, which the
    /// merge flow always follows.
    fn send_text(&self, bases: &ApiBases, to: &UserId, text: &str) -> OutboundRequest {
        let body = json!({
            "recipient": {"id": to.as_str()},
            "messaging_type": "RESPONSE",
            "message": {"text": text},
        });
        meta::graph_post(
            meta::messages_url(&bases.graph, &self.page_id),
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

    fn bot() -> FacebookBot {
        FacebookBot {
            page: "acme.shop".into(),
            page_id: "106000000000001".into(),
            access_token: "EAAGpage".into(),
            app_secret: "fb-app-secret".into(),
            verify_token: None,
        }
    }

    #[test]
    fn deep_link_carries_the_ref() {
        assert_eq!(
            deep_link("acme.shop", "abc_DEF-1"),
            "https://m.me/acme.shop?ref=abc_DEF-1"
        );
        assert_eq!(deep_link("123", "a b"), "https://m.me/123?ref=a%20b");
    }

    #[test]
    fn bot_fields_are_validated() {
        let ok = json!({
            "page": "acme.shop",
            "page_id": "106000000000001",
            "access_token": "EAAGpage",
            "app_secret": "fb-app-secret",
        });
        assert_eq!(FacebookBot::from_request(&ok).unwrap(), bot());
        let mut own = ok.clone();
        own["verify_token"] = json!("my-token");
        assert_eq!(
            FacebookBot::from_request(&own).unwrap().verify_token,
            Some("my-token".into())
        );
        let with = |field: &str, value| test_support::with(&ok, field, value);
        let without = |field: &str| test_support::without(&ok, field);
        for bad in [
            without("page"),
            without("page_id"),
            without("access_token"),
            without("app_secret"),
            with("page", json!("acme/shop")),
            with("page", json!("acme_shop")),
            with("page", json!("a".repeat(101))),
            with("page_id", json!("10600x")),
            with("page_id", json!(106000000000001u64)),
            with("access_token", json!("EAAG page")),
            with("app_secret", json!("")),
            with("verify_token", json!("with space")),
        ] {
            assert!(FacebookBot::from_request(&bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn public_part_is_the_page() {
        assert_eq!(
            bot().public(),
            PublicBot::Facebook {
                page: "acme.shop".into()
            }
        );
        assert_eq!(bot().client_type(), ClientType::Facebook);
    }

    #[test]
    fn verifies_with_the_app_secret() {
        let body =
            br#"{"object":"page","entry":[{"id":"106000000000001","time":1,"messaging":[]}]}"#;
        // printf '%s' '<body>' | openssl dgst -sha256 -hmac 'fb-app-secret'
        let sig = "sha256=aef2fe4ff48d02877f7b4edb5eb37a72b2f201925a97f5d9e7c66165b9c040db";
        let ok = pairs(&[("X-Hub-Signature-256", sig)]);
        assert_eq!(bot().verify("webhook-secret", &ok, body), Ok(()));
        assert_eq!(
            bot().verify("webhook-secret", &ok, b"{}"),
            Err(WebhookError::Unauthorized)
        );
        assert_eq!(
            bot().verify("webhook-secret", &pairs(&[]), body),
            Err(WebhookError::Unauthorized)
        );
        let other = FacebookBot {
            app_secret: "another".into(),
            ..bot()
        };
        assert_eq!(
            other.verify("webhook-secret", &ok, body),
            Err(WebhookError::Unauthorized)
        );
    }

    #[test]
    fn handshake_uses_the_owners_token_else_the_webhook_secret() {
        let query = |token: &str| {
            pairs(&[
                ("hub.mode", "subscribe"),
                ("hub.verify_token", token),
                ("hub.challenge", "CHALLENGE_1"),
            ])
        };
        assert_eq!(
            bot().handshake("wh-secret", &query("wh-secret")),
            Ok("CHALLENGE_1".into())
        );
        let own = FacebookBot {
            verify_token: Some("mine".into()),
            ..bot()
        };
        assert_eq!(
            own.handshake("wh-secret", &query("mine")),
            Ok("CHALLENGE_1".into())
        );
        assert_eq!(
            own.handshake("wh-secret", &query("wh-secret")),
            Err(WebhookError::Unauthorized)
        );
        assert!(matches!(
            bot().handshake("wh-secret", &pairs(&[("hub.mode", "subscribe")])),
            Err(WebhookError::Malformed(_))
        ));
    }

    #[test]
    fn parses_page_deliveries_only() {
        let body = br#"{"object":"page","entry":[{"id":"106000000000001","time":1764000000100,
            "messaging":[{"sender":{"id":"7100000000000001"},"recipient":{"id":"106000000000001"},
            "timestamp":1764000000050,"message":{"mid":"m_1","text":"ABC123"}}]}]}"#;
        let events = bot().parse(body).unwrap();
        assert_eq!(
            events[0].kind,
            InboundKind::Text {
                text: "ABC123".into(),
                message_id: "m_1".into()
            }
        );
        let instagram = br#"{"object":"instagram","entry":[]}"#;
        assert!(matches!(
            bot().parse(instagram),
            Err(WebhookError::Malformed(_))
        ));
    }

    #[test]
    fn send_request() {
        let bases = ApiBases {
            graph: "http://127.0.0.1:9/v21.0".into(),
            ..ApiBases::default()
        };
        let req = bot().send_text(&bases, &UserId::parse("7100000000000001").unwrap(), "Hi");
        assert_eq!(req.method, "POST");
        assert_eq!(req.url, "http://127.0.0.1:9/v21.0/106000000000001/messages");
        assert!(req
            .headers
            .contains(&("authorization".into(), "Bearer EAAGpage".into())));
        let body: serde_json::Value = serde_json::from_str(&req.body).unwrap();
        assert_eq!(
            body,
            json!({
                "recipient": {"id": "7100000000000001"},
                "messaging_type": "RESPONSE",
                "message": {"text": "Hi"},
            })
        );
        assert!(bot()
            .webhook_registration(&bases, "https://h/webhooks/p/g", "s")
            .is_none());
    }

    #[test]
    fn send_results() {
        assert_eq!(
            bot().send_result(200, r#"{"recipient_id":"1","message_id":"m"}"#),
            Ok(())
        );
        let err = bot()
            .send_result(
                400,
                r#"{"error":{"message":"(#10) Outside of allowed window","code":10}}"#,
            )
            .unwrap_err();
        assert!(
            err.contains("allowed window") && err.contains("400"),
            "{err}"
        );
    }

    #[test]
    fn settings_round_trip_through_json() {
        let own = FacebookBot {
            verify_token: Some("mine".into()),
            ..bot()
        };
        for b in [bot(), own] {
            let stored = serde_json::to_string(&b).unwrap();
            assert_eq!(serde_json::from_str::<FacebookBot>(&stored).unwrap(), b);
        }
        assert!(!serde_json::to_string(&bot())
            .unwrap()
            .contains("verify_token"));
    }
}
