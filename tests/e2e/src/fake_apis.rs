//! One fake server for the Viber, Graph (Facebook Messenger and WhatsApp) and Instagram APIs.
//! Each API lives under its own path prefix, so a recorded request says which base the worker
//! used; every request is recorded in order with its method, path, headers and body.
//!
//! Like the real Viber, `set_webhook` first checks the webhook: it POSTs a signed
//! `{"event":"webhook",...}` to the given URL and only succeeds if that answers 200.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::recorder::Recorder;
use crate::server::LocalServer;
use crate::signature::hmac_sha256_hex;

/// Which API a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// `VIBER_API_BASE` (real: `https://chatapi.viber.com`).
    Viber,
    /// `GRAPH_API_BASE` (real: `https://graph.facebook.com/v21.0`): Messenger and WhatsApp.
    Graph,
    /// `INSTAGRAM_API_BASE` (real: `https://graph.instagram.com/v21.0`).
    Instagram,
}

impl Api {
    const ALL: [Api; 3] = [Api::Viber, Api::Graph, Api::Instagram];

    /// The path prefix of this API on the fake server (its base URL is server + prefix).
    pub fn prefix(self) -> &'static str {
        match self {
            Api::Viber => "/viber",
            Api::Graph => "/graph/v21.0",
            Api::Instagram => "/instagram/v21.0",
        }
    }

    /// The worker var naming this API's base URL.
    pub fn var(self) -> &'static str {
        match self {
            Api::Viber => "VIBER_API_BASE",
            Api::Graph => "GRAPH_API_BASE",
            Api::Instagram => "INSTAGRAM_API_BASE",
        }
    }
}

/// One request the worker made to a fake API.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiCall {
    /// `None` for a path under no known prefix (answered 404).
    pub api: Option<Api>,
    /// `POST`, `GET`, ...
    pub method: String,
    /// The path after the API's prefix (`/pa/send_message`, `/1111/messages`), with the query.
    pub path: String,
    /// Header names in lowercase, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The JSON body, or the raw body as a JSON string if it was not JSON (`Null` if empty).
    pub body: Value,
}

impl ApiCall {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether this is `POST <prefix of api><path>`.
    pub fn is_post(&self, api: Api, path: &str) -> bool {
        self.api == Some(api) && self.method == "POST" && self.path == path
    }
}

/// What the `set_webhook` check (the fake's POST to the webhook URL) came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViberWebhookCheck {
    pub url: String,
    /// The status the webhook answered, or the connection error.
    pub answer: Result<u16, String>,
}

pub struct FakeApis {
    server: LocalServer,
    state: Arc<ApisState>,
}

struct ApisState {
    calls: Arc<Recorder<ApiCall>>,
    viber_checks: Arc<Recorder<ViberWebhookCheck>>,
    next_id: AtomicU64,
    http: reqwest::Client,
}

impl FakeApis {
    pub async fn start() -> Self {
        let state = Arc::new(ApisState {
            calls: Recorder::new(),
            viber_checks: Recorder::new(),
            next_id: AtomicU64::new(1),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .build()
                .expect("build the HTTP client"),
        });
        let router = Router::new().fallback(answer).with_state(state.clone());
        let server = LocalServer::start(router).await;
        Self { server, state }
    }

    /// The base URL of one API on this server (no trailing slash).
    pub fn base_url(&self, api: Api) -> String {
        format!("{}{}", self.server.base_url(), api.prefix())
    }

    /// `(VAR, base URL)` for each API, to give the worker.
    pub fn worker_vars(&self) -> Vec<(&'static str, String)> {
        Api::ALL
            .iter()
            .map(|&api| (api.var(), self.base_url(api)))
            .collect()
    }

    /// Every request so far, in arrival order.
    pub fn calls(&self) -> Vec<ApiCall> {
        self.state.calls.snapshot()
    }

    /// Every `POST <api><path>` so far.
    pub fn posts_to(&self, api: Api, path: &str) -> Vec<ApiCall> {
        self.calls()
            .into_iter()
            .filter(|call| call.is_post(api, path))
            .collect()
    }

    /// Waits until `done` holds for the requests so far, or `limit` passed; returns them all.
    pub async fn wait_until(
        &self,
        limit: Duration,
        done: impl Fn(&[ApiCall]) -> bool,
    ) -> Vec<ApiCall> {
        self.state.calls.wait_until(limit, done).await
    }

    /// The webhook checks `set_webhook` made so far.
    pub fn viber_checks(&self) -> Vec<ViberWebhookCheck> {
        self.state.viber_checks.snapshot()
    }
}

async fn answer(
    State(state): State<Arc<ApisState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let full_path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| uri.path().to_string());
    let (api, path) = split_prefix(&full_path);
    let call = ApiCall {
        api,
        method: method.to_string(),
        path: path.to_string(),
        headers: headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_ascii_lowercase(), value)
            })
            .collect(),
        body: parse_body(&body),
    };
    let reply = match api {
        Some(Api::Viber) => viber_reply(&state, &call).await,
        Some(Api::Graph) | Some(Api::Instagram) => graph_reply(&state, &call),
        None => not_found(),
    };
    state.calls.push(call);
    reply
}

/// `/graph/v21.0/1111/messages` → `(Graph, "/1111/messages")`.
fn split_prefix(path: &str) -> (Option<Api>, &str) {
    for api in Api::ALL {
        if let Some(rest) = path.strip_prefix(api.prefix()) {
            if rest.starts_with('/') || rest.starts_with('?') || rest.is_empty() {
                return (Some(api), rest);
            }
        }
    }
    (None, path)
}

async fn viber_reply(state: &ApisState, call: &ApiCall) -> Response {
    if call.method != "POST" {
        return not_found();
    }
    let ok = json!({"status": 0, "status_message": "ok"});
    match call.path.as_str() {
        "/pa/set_webhook" => {
            let token = call.header("x-viber-auth-token").unwrap_or_default();
            let url = call.body["url"].as_str().unwrap_or_default().to_string();
            let answer = check_viber_webhook(state, &url, token).await;
            let accepted = answer == Ok(200);
            state.viber_checks.push(ViberWebhookCheck { url, answer });
            if accepted {
                let mut ok = ok;
                ok["event_types"] = call.body["event_types"].clone();
                Json(ok).into_response()
            } else {
                let refused = json!({"status": 1, "status_message": "invalidUrl"});
                Json(refused).into_response()
            }
        }
        "/pa/send_message" => {
            let mut ok = ok;
            ok["message_token"] = json!(5_000_000_000_000_000_000u64 + next_id(state));
            ok["chat_hostname"] = json!("SN-CHAT-01_");
            Json(ok).into_response()
        }
        _ => not_found(),
    }
}

/// Viber's check of a new webhook URL: a signed `webhook` event that must answer 200.
async fn check_viber_webhook(state: &ApisState, url: &str, token: &str) -> Result<u16, String> {
    if url.is_empty() {
        return Err("no url in set_webhook".into());
    }
    let body = json!({
        "event": "webhook",
        "timestamp": 1_764_000_000_000u64,
        "chat_hostname": "SN-CHAT-01_",
        "message_token": 4_000_000_000_000_000_000u64 + next_id(state),
    })
    .to_string();
    state
        .http
        .post(url)
        .header("content-type", "application/json")
        .header("X-Viber-Content-Signature", hmac_sha256_hex(token, &body))
        .body(body)
        .send()
        .await
        .map(|response| response.status().as_u16())
        .map_err(|err| err.to_string())
}

/// `POST /{id}/messages` on the Graph or Instagram API.
fn graph_reply(state: &ApisState, call: &ApiCall) -> Response {
    let segments: Vec<&str> = call.path.trim_start_matches('/').split('/').collect();
    let is_send =
        call.method == "POST" && matches!(segments.as_slice(), [id, "messages"] if !id.is_empty());
    if !is_send {
        return not_found();
    }
    let n = next_id(state);
    let reply = if call.body["messaging_product"] == "whatsapp" {
        let to = call.body["to"].clone();
        json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": format!("wamid.OUT{n}")}],
        })
    } else {
        json!({
            "recipient_id": call.body["recipient"]["id"],
            "message_id": format!("m_{n}"),
        })
    };
    Json(reply).into_response()
}

fn next_id(state: &ApisState) -> u64 {
    state.next_id.fetch_add(1, Ordering::Relaxed)
}

fn not_found() -> Response {
    let error = json!({"error": {"message": "Unknown path components", "type": "OAuthException", "code": 2500}});
    (StatusCode::NOT_FOUND, Json(error)).into_response()
}

fn parse_body(body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_api_prefixes() {
        assert_eq!(
            split_prefix("/viber/pa/send_message"),
            (Some(Api::Viber), "/pa/send_message")
        );
        assert_eq!(
            split_prefix("/graph/v21.0/1111/messages"),
            (Some(Api::Graph), "/1111/messages")
        );
        assert_eq!(
            split_prefix("/instagram/v21.0/3333/messages"),
            (Some(Api::Instagram), "/3333/messages")
        );
        assert_eq!(split_prefix("/viberx/pa"), (None, "/viberx/pa"));
        assert_eq!(split_prefix("/other"), (None, "/other"));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn answers_and_records_sends() {
        let apis = FakeApis::start().await;
        let client = reqwest::Client::new();
        let post = |api: Api, path: &str, body: Value| {
            client
                .post(format!("{}{path}", apis.base_url(api)))
                .header("Authorization", "Bearer T")
                .json(&body)
                .send()
        };

        let viber: Value = post(Api::Viber, "/pa/send_message", json!({"receiver": "u"}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(viber["status"], 0);
        assert_eq!(viber["status_message"], "ok");

        let facebook: Value = post(
            Api::Graph,
            "/1111/messages",
            json!({"recipient": {"id": "42"}, "message": {"text": "hi"}}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        assert_eq!(facebook["recipient_id"], "42");
        assert!(facebook["message_id"].is_string());

        let whatsapp: Value = post(
            Api::Graph,
            "/2222/messages",
            json!({"messaging_product": "whatsapp", "to": "155", "type": "text", "text": {"body": "hi"}}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        assert_eq!(whatsapp["messaging_product"], "whatsapp");
        assert_eq!(whatsapp["contacts"][0]["wa_id"], "155");
        assert!(whatsapp["messages"][0]["id"]
            .as_str()
            .unwrap()
            .starts_with("wamid."));

        let missing = post(Api::Instagram, "/nothing", json!({})).await.unwrap();
        assert_eq!(missing.status(), 404);

        let calls = apis
            .wait_until(Duration::from_secs(5), |calls| calls.len() >= 4)
            .await;
        assert_eq!(calls.len(), 4);
        assert!(calls[0].is_post(Api::Viber, "/pa/send_message"));
        assert_eq!(calls[1].header("AUTHORIZATION"), Some("Bearer T"));
        assert_eq!(calls[1].body["message"]["text"], "hi");
        assert_eq!(apis.posts_to(Api::Graph, "/2222/messages").len(), 1);
        assert_eq!(calls[3].api, Some(Api::Instagram));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn set_webhook_checks_the_url_first() {
        let apis = FakeApis::start().await;
        let client = reqwest::Client::new();
        let url = format!("{}/pa/set_webhook", apis.base_url(Api::Viber));
        // The URL answers 404 (an unknown path of the fake itself): the webhook is refused.
        let unreachable = format!("{}/nowhere", apis.base_url(Api::Viber));
        let refused: Value = client
            .post(&url)
            .header("X-Viber-Auth-Token", "tok")
            .json(&json!({"url": unreachable, "event_types": ["message"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(refused["status"], 1);
        let checks = apis.viber_checks();
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].answer, Ok(404));
    }
}
