//! Plain HTTP values shared by the service layer and the worker glue.

use serde::Serialize;

/// An HTTP request mlink makes (a messenger API call, a callback), as data. The worker glue sends
/// it; tests inspect it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl OutboundRequest {
    pub fn post_json(url: String, body: &impl Serialize) -> Self {
        OutboundRequest {
            method: "POST",
            url,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_string(body).expect("plain data serializes"),
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

/// Header lookup that the service layer needs from an inbound request (case-insensitive names).
pub trait Headers {
    fn get(&self, name: &str) -> Option<String>;
}

impl Headers for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}
