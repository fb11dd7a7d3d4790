//! A fake Telegram Bot API: answers `POST /bot<token>/<method>` and records every call in order.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::recorder::Recorder;
use crate::server::LocalServer;

/// One Bot API call the worker made.
#[derive(Debug, Clone, PartialEq)]
pub struct TelegramCall {
    /// The bot token from the path (`111:AAA` in `/bot111:AAA/sendMessage`).
    pub token: String,
    /// The method name (`sendMessage`).
    pub method: String,
    /// The JSON body, or the raw body as a JSON string if it was not JSON.
    pub body: Value,
}

/// The fake server. Every method succeeds (`{"ok":true,"result":...}`) unless made to fail with
/// [`FakeTelegram::fail_method`]. `sendMessage` answers with a `Message` object, as Telegram does;
/// every other method answers `true`.
pub struct FakeTelegram {
    server: LocalServer,
    state: Arc<FakeState>,
}

struct FakeState {
    calls: Arc<Recorder<TelegramCall>>,
    failing: Mutex<HashSet<String>>,
    next_message_id: AtomicI64,
}

impl FakeTelegram {
    pub async fn start() -> Self {
        let state = Arc::new(FakeState {
            calls: Recorder::new(),
            failing: Mutex::new(HashSet::new()),
            next_message_id: AtomicI64::new(1),
        });
        let router = Router::new().fallback(answer).with_state(state.clone());
        let server = LocalServer::start(router).await;
        Self { server, state }
    }

    /// The value for the worker's `TELEGRAM_API_BASE` (no trailing slash).
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// From now on, `method` answers `{"ok":false,"error_code":401,"description":"Unauthorized"}`.
    pub fn fail_method(&self, method: &str) {
        self.failing().insert(method.to_string());
    }

    /// Undoes [`FakeTelegram::fail_method`] for `method`.
    pub fn succeed_method(&self, method: &str) {
        self.failing().remove(method);
    }

    /// Every call so far, in arrival order.
    pub fn calls(&self) -> Vec<TelegramCall> {
        self.state.calls.snapshot()
    }

    /// The calls of one method so far, in arrival order.
    pub fn calls_to(&self, method: &str) -> Vec<TelegramCall> {
        only_method(self.calls(), method)
    }

    /// Waits until at least `count` calls of `method` arrived or `limit` passed; returns the calls
    /// of that method as they are then.
    pub async fn wait_for_method(
        &self,
        method: &str,
        count: usize,
        limit: Duration,
    ) -> Vec<TelegramCall> {
        let calls = self
            .state
            .calls
            .wait_until(limit, |calls| {
                calls.iter().filter(|call| call.method == method).count() >= count
            })
            .await;
        only_method(calls, method)
    }

    /// Waits until `done` holds for the calls so far, or `limit` passed; returns them all.
    pub async fn wait_until(
        &self,
        limit: Duration,
        done: impl Fn(&[TelegramCall]) -> bool,
    ) -> Vec<TelegramCall> {
        self.state.calls.wait_until(limit, done).await
    }

    fn failing(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.state.failing.lock().expect("fake telegram lock")
    }
}

fn only_method(calls: Vec<TelegramCall>, method: &str) -> Vec<TelegramCall> {
    calls
        .into_iter()
        .filter(|call| call.method == method)
        .collect()
}

async fn answer(State(state): State<Arc<FakeState>>, uri: Uri, body: Bytes) -> Response {
    let Some((token, method)) = parse_bot_path(uri.path()) else {
        let error = json!({"ok": false, "error_code": 404, "description": "Not Found"});
        return (StatusCode::NOT_FOUND, Json(error)).into_response();
    };
    let body = parse_body(&body);
    let failing = state
        .failing
        .lock()
        .expect("fake telegram lock")
        .contains(&method);
    let reply = if failing {
        let error = json!({"ok": false, "error_code": 401, "description": "Unauthorized"});
        (StatusCode::UNAUTHORIZED, Json(error)).into_response()
    } else {
        let result = success_result(&state, &method, &body);
        Json(json!({"ok": true, "result": result})).into_response()
    };
    state.calls.push(TelegramCall {
        token,
        method,
        body,
    });
    reply
}

/// `/bot<token>/<method>` → `(token, method)`.
fn parse_bot_path(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/bot")?;
    let (token, method) = rest.rsplit_once('/')?;
    if token.is_empty() || method.is_empty() {
        return None;
    }
    Some((token.to_string(), method.to_string()))
}

fn parse_body(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

fn success_result(state: &FakeState, method: &str, body: &Value) -> Value {
    if method != "sendMessage" {
        return Value::Bool(true);
    }
    json!({
        "message_id": state.next_message_id.fetch_add(1, Ordering::Relaxed),
        "date": unix_now(),
        "chat": {"id": body["chat_id"], "type": "private"},
        "text": body["text"],
    })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bot_paths() {
        assert_eq!(
            parse_bot_path("/bot111:AAA/sendMessage"),
            Some(("111:AAA".to_string(), "sendMessage".to_string()))
        );
        assert_eq!(parse_bot_path("/bot/sendMessage"), None);
        assert_eq!(parse_bot_path("/bot111:AAA/"), None);
        assert_eq!(parse_bot_path("/other/sendMessage"), None);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn records_calls_and_fails_on_request() {
        let telegram = FakeTelegram::start().await;
        let client = reqwest::Client::new();
        let url = format!("{}/bot111:AAA/setWebhook", telegram.base_url());

        let ok: Value = client
            .post(&url)
            .json(&json!({"url": "http://x"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ok, json!({"ok": true, "result": true}));

        telegram.fail_method("setWebhook");
        let failed = client.post(&url).json(&json!({})).send().await.unwrap();
        assert_eq!(failed.status(), 401);
        let failed: Value = failed.json().await.unwrap();
        assert_eq!(failed["ok"], false);
        assert_eq!(failed["error_code"], 401);

        let calls = telegram
            .wait_for_method("setWebhook", 2, Duration::from_secs(5))
            .await;
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].token, "111:AAA");
        assert_eq!(calls[0].body, json!({"url": "http://x"}));
        assert!(telegram.calls_to("sendMessage").is_empty());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn answers_send_message_with_a_message() {
        let telegram = FakeTelegram::start().await;
        let url = format!("{}/bot1:A/sendMessage", telegram.base_url());
        let reply: Value = reqwest::Client::new()
            .post(&url)
            .json(&json!({"chat_id": 555, "text": "hi"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(reply["ok"], true);
        assert_eq!(reply["result"]["chat"]["id"], 555);
        assert_eq!(reply["result"]["text"], "hi");
    }
}
