//! A fake callback endpoint: records every POST with its Standard Webhooks headers and raw body.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::Value;

use crate::recorder::Recorder;
use crate::server::LocalServer;
use crate::signature::{self, SignatureError};

/// One callback the worker delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedCallback {
    pub webhook_id: Option<String>,
    pub webhook_timestamp: Option<String>,
    pub webhook_signature: Option<String>,
    /// The body exactly as received (signatures cover these bytes).
    pub body: String,
}

impl ReceivedCallback {
    /// The body parsed as JSON (`Value::Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The `type` field of the body (`"message"`, `"switch_to_telegram"`, ...).
    pub fn kind(&self) -> String {
        self.json()["type"].as_str().unwrap_or_default().to_string()
    }

    /// Checks the `webhook-signature` header against `secret` (`whsec_...`) with the
    /// independent verifier; missing headers fail.
    pub fn verify(&self, secret: &str) -> Result<(), SignatureError> {
        let missing = |name: &str| SignatureError::Mismatch {
            expected: format!("a {name} header"),
            header: String::new(),
        };
        let id = self
            .webhook_id
            .as_deref()
            .ok_or_else(|| missing("webhook-id"))?;
        let timestamp = self
            .webhook_timestamp
            .as_deref()
            .ok_or_else(|| missing("webhook-timestamp"))?;
        let header = self
            .webhook_signature
            .as_deref()
            .ok_or_else(|| missing("webhook-signature"))?;
        signature::verify(secret, id, timestamp, &self.body, header)
    }
}

/// The receiver: any `POST /` (or `POST /<anything>`) answers 200 and is recorded in order.
pub struct CallbackReceiver {
    server: LocalServer,
    received: Arc<Recorder<ReceivedCallback>>,
}

impl CallbackReceiver {
    pub async fn start() -> Self {
        let received = Recorder::new();
        let router = Router::new()
            .route("/", post(record))
            .route("/{*rest}", post(record))
            .with_state(received.clone());
        let server = LocalServer::start(router).await;
        Self { server, received }
    }

    /// The URL to use as a project's `callback_url`.
    pub fn url(&self) -> String {
        format!("{}/callbacks", self.server.base_url())
    }

    /// Every callback so far, in arrival order.
    pub fn received(&self) -> Vec<ReceivedCallback> {
        self.received.snapshot()
    }

    /// The callbacks of one `type` so far.
    pub fn of_kind(&self, kind: &str) -> Vec<ReceivedCallback> {
        only_kind(self.received(), kind)
    }

    /// Waits until at least `count` callbacks arrived or `limit` passed; returns all of them.
    pub async fn wait_for(&self, count: usize, limit: Duration) -> Vec<ReceivedCallback> {
        self.received
            .wait_until(limit, |received| received.len() >= count)
            .await
    }

    /// Waits until a callback satisfies `found` or `limit` passed; returns all callbacks then.
    pub async fn wait_until(
        &self,
        limit: Duration,
        found: impl Fn(&ReceivedCallback) -> bool,
    ) -> Vec<ReceivedCallback> {
        self.received
            .wait_until(limit, |received| received.iter().any(&found))
            .await
    }

    /// Waits until at least `count` callbacks of one `type` arrived or `limit` passed; returns
    /// the callbacks of that type.
    pub async fn wait_for_kind(
        &self,
        kind: &str,
        count: usize,
        limit: Duration,
    ) -> Vec<ReceivedCallback> {
        let received = self
            .received
            .wait_until(limit, |received| {
                received.iter().filter(|cb| cb.kind() == kind).count() >= count
            })
            .await;
        only_kind(received, kind)
    }
}

fn only_kind(received: Vec<ReceivedCallback>, kind: &str) -> Vec<ReceivedCallback> {
    received
        .into_iter()
        .filter(|cb| cb.kind() == kind)
        .collect()
}

async fn record(
    State(received): State<Arc<Recorder<ReceivedCallback>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
    };
    received.push(ReceivedCallback {
        webhook_id: header("webhook-id"),
        webhook_timestamp: header("webhook-timestamp"),
        webhook_signature: header("webhook-signature"),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    StatusCode::OK
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

    #[tokio::test(flavor = "multi_thread")]
    async fn records_and_verifies_signed_posts() {
        let receiver = CallbackReceiver::start().await;
        let body = r#"{"type":"message","data":{}}"#;
        let signed = signature::sign(SECRET, "msg_1", "1700000000", body).unwrap();
        let status = reqwest::Client::new()
            .post(receiver.url())
            .header("webhook-id", "msg_1")
            .header("webhook-timestamp", "1700000000")
            .header("webhook-signature", &signed)
            .body(body)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);

        let received = receiver.wait_for(1, Duration::from_secs(5)).await;
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].body, body);
        assert_eq!(received[0].kind(), "message");
        assert_eq!(received[0].verify(SECRET), Ok(()));
        assert!(received[0]
            .verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .is_err());
        assert_eq!(receiver.of_kind("message").len(), 1);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn unsigned_posts_do_not_verify() {
        let receiver = CallbackReceiver::start().await;
        reqwest::Client::new()
            .post(receiver.url())
            .body("{}")
            .send()
            .await
            .unwrap();
        let received = receiver.wait_for(1, Duration::from_secs(5)).await;
        assert!(received[0].verify(SECRET).is_err());
    }
}
