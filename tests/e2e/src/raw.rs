//! Raw HTTP to the worker: any method, any path (junk included), any header bytes, any body
//! bytes; nothing is checked or panicked on, so a test can throw malformed requests at every
//! route. [`HttpClient`] is cheap to clone and `'static`, for requests run concurrently.

use std::sync::Arc;

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::worker::Worker;

/// One request, as bytes. `path` starts with `/` and may carry a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRequest {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl RawRequest {
    pub fn new(method: &str, path: impl Into<String>) -> Self {
        Self {
            method: method.to_string(),
            path: path.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// `Authorization: Bearer <key>`.
    pub fn bearer(self, key: &str) -> Self {
        self.header("authorization", format!("Bearer {key}"))
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// `body` as JSON text with `Content-Type: application/json`.
    pub fn json(self, body: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(body.to_string())
    }

    /// A short description for failure messages: method, path (cut at 200 characters), header
    /// names, body size and its first bytes.
    pub fn describe(&self) -> String {
        let path: String = self.path.chars().take(200).collect();
        let headers: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        let preview = String::from_utf8_lossy(&self.body[..self.body.len().min(160)]).into_owned();
        format!(
            "{} {path} headers {headers:?} body {} bytes {preview:?}",
            self.method,
            self.body.len()
        )
    }
}

/// The worker's answer, read in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    pub status: u16,
    /// The path the request went to, after URL normalization (`..` resolved, junk escaped).
    pub url_path: String,
    /// Header names in lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON, `None` if it is not JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// A handle for sending requests to one worker.
#[derive(Debug, Clone)]
pub struct HttpClient {
    http: reqwest::Client,
    base_url: String,
}

impl Worker {
    /// A cloneable handle on this worker's HTTP address, for concurrent and raw requests.
    pub fn client(&self) -> HttpClient {
        HttpClient {
            http: self.http.clone(),
            base_url: self.base_url(),
        }
    }
}

impl HttpClient {
    /// Sends `request`; `Err` if it cannot be built (an invalid method or header) or sent, or
    /// if the answer cannot be read.
    pub async fn send(&self, request: &RawRequest) -> Result<RawResponse, String> {
        let url = Url::parse(&format!("{}{}", self.base_url, request.path))
            .map_err(|e| format!("bad URL {:?}: {e}", request.path))?;
        let method = Method::from_bytes(request.method.as_bytes())
            .map_err(|e| format!("bad method {:?}: {e}", request.method))?;
        let url_path = url.path().to_string();
        let mut builder = self.http.request(method, url);
        for (name, value) in &request.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| format!("bad header name {name:?}: {e}"))?;
            let value = HeaderValue::from_bytes(value)
                .map_err(|e| format!("bad header value for {name}: {e}"))?;
            builder = builder.header(name, value);
        }
        let response = builder
            .body(request.body.clone())
            .send()
            .await
            .map_err(|e| format!("{}: {e}", request.describe()))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_ascii_lowercase(), value)
            })
            .collect();
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("{}: reading the answer: {e}", request.describe()))?
            .to_vec();
        Ok(RawResponse {
            status,
            url_path,
            headers,
            body,
        })
    }

    /// Sends every request, at most `concurrency` at a time; the answers come back in the order
    /// of `requests`.
    pub async fn send_all(
        &self,
        requests: Vec<RawRequest>,
        concurrency: usize,
    ) -> Vec<Result<RawResponse, String>> {
        let permits = Arc::new(Semaphore::new(concurrency.max(1)));
        let mut tasks = JoinSet::new();
        let count = requests.len();
        for (index, request) in requests.into_iter().enumerate() {
            let client = self.clone();
            let permits = permits.clone();
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await.expect("semaphore open");
                (index, client.send(&request).await)
            });
        }
        let mut answers: Vec<Option<Result<RawResponse, String>>> = vec![None; count];
        while let Some(joined) = tasks.join_next().await {
            let (index, answer) = joined.expect("a request task panicked");
            answers[index] = Some(answer);
        }
        answers
            .into_iter()
            .map(|answer| answer.expect("every request answered"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_requests_briefly() {
        let request = RawRequest::new("POST", "/x")
            .bearer("k")
            .body(vec![b'a'; 1000]);
        let text = request.describe();
        assert!(text.starts_with("POST /x headers [\"authorization\"] body 1000 bytes"));
        assert!(text.len() < 400, "{text}");
    }
}
