//! A fake callback endpoint: records every POST with its Standard Webhooks headers, raw body and
//! the status it answered. Its answers can be scripted (a queue of statuses, `Retry-After`, a
//! status for everything after), and it can start "down": its port reserved but not listened on,
//! so the worker's connections are refused until [`CallbackReceiver::come_up`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::Value;

use crate::recorder::Recorder;
use crate::server::{reserve_port, LocalServer};
use crate::signature::{self, SignatureError};

/// One callback the worker delivered (or tried to: see `status`).
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedCallback {
    pub webhook_id: Option<String>,
    pub webhook_timestamp: Option<String>,
    pub webhook_signature: Option<String>,
    /// The body exactly as received (signatures cover these bytes).
    pub body: String,
    /// The status the receiver answered: 2xx means the delivery was accepted.
    pub status: u16,
    /// When the request arrived.
    pub received_at: Instant,
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

    /// Whether the receiver answered 2xx (the worker must count it as delivered).
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
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

/// How the receiver answers one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackAnswer {
    pub status: u16,
    /// A `Retry-After` header (seconds), if any.
    pub retry_after: Option<String>,
    /// How long the receiver holds the request before it answers (a slow receiver).
    pub delay: Option<Duration>,
}

impl CallbackAnswer {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            retry_after: None,
            delay: None,
        }
    }

    /// The same answer, sent only after `delay`.
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// The same answer with `Retry-After: <seconds>`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.to_string());
        self
    }
}

/// What the receiver will answer: the queued answers first, then `otherwise`.
#[derive(Debug)]
struct Script {
    queue: VecDeque<CallbackAnswer>,
    otherwise: CallbackAnswer,
}

struct ReceiverState {
    received: Arc<Recorder<ReceivedCallback>>,
    script: Mutex<Script>,
    /// Requests arrived and not answered yet, and the most there ever were at once.
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
}

/// The receiver: any `POST /` (or `POST /<anything>`) is recorded in order and answered as
/// scripted (200 unless told otherwise).
pub struct CallbackReceiver {
    port: u16,
    server: Mutex<Option<LocalServer>>,
    state: Arc<ReceiverState>,
}

impl CallbackReceiver {
    /// A receiver listening now, answering 200.
    pub async fn start() -> Self {
        let receiver = Self::start_down();
        receiver.come_up().await;
        receiver
    }

    /// A receiver that is down: its port is reserved (so [`CallbackReceiver::url`] is known) but
    /// nothing listens on it, so deliveries fail with "connection refused" until
    /// [`CallbackReceiver::come_up`].
    pub fn start_down() -> Self {
        let state = Arc::new(ReceiverState {
            received: Recorder::new(),
            script: Mutex::new(Script {
                queue: VecDeque::new(),
                otherwise: CallbackAnswer::status(200),
            }),
            in_flight: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
        });
        Self {
            port: reserve_port(),
            server: Mutex::new(None),
            state,
        }
    }

    /// Starts listening on the receiver's port (nothing happens if it already is).
    pub async fn come_up(&self) {
        if self.is_up() {
            return;
        }
        let router = Router::new()
            .route("/", post(record))
            .route("/{*rest}", post(record))
            .with_state(self.state.clone());
        let server = LocalServer::start_on(self.port, router).await;
        *self.server.lock().expect("receiver lock") = Some(server);
    }

    /// Whether the receiver is listening.
    pub fn is_up(&self) -> bool {
        self.server.lock().expect("receiver lock").is_some()
    }

    /// The URL to use as a project's `callback_url`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/callbacks", self.port)
    }

    /// Queues answers for the next requests (after any already queued); once the queue is used
    /// up the receiver answers as [`CallbackReceiver::answer_from_now_on`] said (200 by default).
    pub fn answer_next(&self, answers: impl IntoIterator<Item = CallbackAnswer>) {
        self.script().queue.extend(answers);
    }

    /// Queues one answer of each of `statuses` for the next requests.
    pub fn answer_next_statuses(&self, statuses: &[u16]) {
        self.answer_next(
            statuses
                .iter()
                .map(|&status| CallbackAnswer::status(status)),
        );
    }

    /// Forgets queued answers: from now on every request gets `status` (e.g. 410, 500 or 200).
    pub fn answer_from_now_on(&self, status: u16) {
        self.answer_every_request(CallbackAnswer::status(status));
    }

    /// Forgets queued answers: from now on every request gets `answer`.
    pub fn answer_every_request(&self, answer: CallbackAnswer) {
        let mut script = self.script();
        script.queue.clear();
        script.otherwise = answer;
    }

    /// The most requests the receiver held at once, unanswered: how many callbacks the worker
    /// had in flight together.
    pub fn most_in_flight(&self) -> usize {
        self.state.most_in_flight.load(Ordering::SeqCst)
    }

    /// Every request so far, in arrival order, whatever it was answered.
    pub fn received(&self) -> Vec<ReceivedCallback> {
        self.state.received.snapshot()
    }

    /// The requests answered 2xx so far, in arrival order: the deliveries that counted.
    pub fn accepted(&self) -> Vec<ReceivedCallback> {
        self.received()
            .into_iter()
            .filter(ReceivedCallback::accepted)
            .collect()
    }

    /// The callbacks of one `type` so far.
    pub fn of_kind(&self, kind: &str) -> Vec<ReceivedCallback> {
        only_kind(self.received(), kind)
    }

    /// Waits until at least `count` callbacks arrived or `limit` passed; returns all of them.
    pub async fn wait_for(&self, count: usize, limit: Duration) -> Vec<ReceivedCallback> {
        self.state
            .received
            .wait_until(limit, |received| received.len() >= count)
            .await
    }

    /// Waits until at least `count` requests were answered 2xx or `limit` passed; returns all
    /// requests (answered anything) then.
    pub async fn wait_for_accepted(&self, count: usize, limit: Duration) -> Vec<ReceivedCallback> {
        self.state
            .received
            .wait_until(limit, |received| {
                received.iter().filter(|cb| cb.accepted()).count() >= count
            })
            .await
    }

    /// Waits until a callback satisfies `found` or `limit` passed; returns all callbacks then.
    pub async fn wait_until(
        &self,
        limit: Duration,
        found: impl Fn(&ReceivedCallback) -> bool,
    ) -> Vec<ReceivedCallback> {
        self.state
            .received
            .wait_until(limit, |received| received.iter().any(&found))
            .await
    }

    /// Watches for `limit`: returns early, with every request so far, as soon as more than
    /// `count` requests have arrived; else returns them at the end of `limit`. For showing that
    /// nothing more is POSTed (the caller asserts the length).
    pub async fn more_than_within(&self, count: usize, limit: Duration) -> Vec<ReceivedCallback> {
        self.state
            .received
            .wait_until(limit, |received| received.len() > count)
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
            .state
            .received
            .wait_until(limit, |received| {
                received.iter().filter(|cb| cb.kind() == kind).count() >= count
            })
            .await;
        only_kind(received, kind)
    }

    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.state.script.lock().expect("receiver script lock")
    }
}

fn only_kind(received: Vec<ReceivedCallback>, kind: &str) -> Vec<ReceivedCallback> {
    received
        .into_iter()
        .filter(|cb| cb.kind() == kind)
        .collect()
}

async fn record(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
    };
    let in_flight = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.most_in_flight.fetch_max(in_flight, Ordering::SeqCst);
    // Take the answer and record under one lock, so recorded order is answer order.
    let answer = {
        let mut script = state.script.lock().expect("receiver script lock");
        let answer = script
            .queue
            .pop_front()
            .unwrap_or_else(|| script.otherwise.clone());
        state.received.push(ReceivedCallback {
            webhook_id: header("webhook-id"),
            webhook_timestamp: header("webhook-timestamp"),
            webhook_signature: header("webhook-signature"),
            body: String::from_utf8_lossy(&body).into_owned(),
            status: answer.status,
            received_at: Instant::now(),
        });
        answer
    };
    if let Some(delay) = answer.delay {
        tokio::time::sleep(delay).await;
    }
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut response = (status, format!("answered {}", answer.status)).into_response();
    if let Some(seconds) = answer.retry_after {
        if let Ok(value) = seconds.parse() {
            response.headers_mut().insert("retry-after", value);
        }
    }
    response
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

    #[tokio::test(flavor = "multi_thread")]
    async fn answers_as_scripted_and_records_the_status() {
        let receiver = CallbackReceiver::start().await;
        receiver.answer_next([
            CallbackAnswer::status(500),
            CallbackAnswer::status(503).retry_after(7),
        ]);
        let client = reqwest::Client::new();
        let mut answers = Vec::new();
        for n in 0..3 {
            let response = client
                .post(receiver.url())
                .header("webhook-id", format!("msg_{n}"))
                .body("{}")
                .send()
                .await
                .unwrap();
            let retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            answers.push((response.status().as_u16(), retry_after));
        }
        assert_eq!(
            answers,
            [(500, None), (503, Some("7".to_string())), (200, None)]
        );
        receiver.answer_from_now_on(410);
        let gone = client.post(receiver.url()).body("{}").send().await.unwrap();
        assert_eq!(gone.status(), 410);
        let statuses: Vec<u16> = receiver.received().iter().map(|cb| cb.status).collect();
        assert_eq!(statuses, [500, 503, 200, 410]);
        let accepted = receiver.accepted();
        assert_eq!(accepted.len(), 1);
        assert_eq!(accepted[0].webhook_id.as_deref(), Some("msg_2"));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn counts_the_requests_it_holds_at_once() {
        let receiver = CallbackReceiver::start().await;
        receiver
            .answer_every_request(CallbackAnswer::status(200).after(Duration::from_millis(300)));
        let client = reqwest::Client::new();
        let post = || client.post(receiver.url()).body("{}").send();
        let (a, b, c) = tokio::join!(post(), post(), post());
        assert!(a.is_ok() && b.is_ok() && c.is_ok());
        assert_eq!(receiver.most_in_flight(), 3);
        post().await.unwrap();
        assert_eq!(
            receiver.most_in_flight(),
            3,
            "one more alone changes nothing"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn refuses_connections_until_it_comes_up() {
        let receiver = CallbackReceiver::start_down();
        assert!(!receiver.is_up());
        let client = reqwest::Client::new();
        let refused = client.post(receiver.url()).body("{}").send().await;
        assert!(refused.is_err(), "{refused:?}");
        receiver.come_up().await;
        assert!(receiver.is_up());
        let ok = client.post(receiver.url()).body("{}").send().await.unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(receiver.received().len(), 1);
    }
}
