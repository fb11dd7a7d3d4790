//! What mlink does with a request, over the store: the owner API ([`owner`]), messenger webhooks
//! ([`webhook`]), and delivery of the outbox ([`delivery`]). The worker glue parses the route
//! ([`routes`]), supplies the store, the clock and the network, and turns [`Reply`] into HTTP.

pub mod clients;
mod config;
pub mod delivery;
pub mod dispatch;
pub mod edge;
pub mod owner;
pub mod redirect;
pub mod routes;
pub mod webhook;

pub use config::{
    Config, DEFAULT_LINK_RATE_PER_MINUTE, DEFAULT_LINK_TTL_S, DEFAULT_OUTBOUND_TIMEOUT_MS,
    DEFAULT_RETRY_SCHEDULE_S,
};

use crate::store::StoreError;
use serde_json::json;

/// Largest request body accepted; a messenger delivery or an API call is a few KB.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// A JSON answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: serde_json::Value,
    /// Headers beyond the JSON content type (`ETag`, `Retry-After`).
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn ok(body: serde_json::Value) -> Self {
        Reply {
            status: 200,
            body,
            headers: vec![],
        }
    }

    pub fn created(body: serde_json::Value) -> Self {
        Reply {
            status: 201,
            ..Reply::ok(body)
        }
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// Every way a request can fail, each with its HTTP status and a stable `code`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or wrong credentials")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{message}")]
    Precondition {
        status: u16,
        code: &'static str,
        message: String,
    },
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// Carries the methods the path takes (the `Allow` header).
    #[error("this path takes {0}")]
    MethodNotAllowed(String),
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    #[error("{message}")]
    Upstream { code: &'static str, message: String },
    #[error("too many requests: try again in {0} s")]
    RateLimited(u64),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::NotFound {
            code,
            message: message.into(),
        }
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Unprocessable {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::Precondition { status, .. } => *status,
            ApiError::NotFound { .. } => 404,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::TooLarge(_) => 413,
            ApiError::Unprocessable { .. } => 422,
            ApiError::Upstream { .. } => 502,
            ApiError::RateLimited(_) => 429,
            ApiError::Internal(_) => 500,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::TooLarge(_) => "payload_too_large",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::Internal(_) => "internal",
            ApiError::NotFound { code, .. }
            | ApiError::Unprocessable { code, .. }
            | ApiError::Precondition { code, .. }
            | ApiError::Upstream { code, .. } => code,
        }
    }

    /// `{"error": {"code", "message"}}`; internal details stay out of it (the glue logs them).
    pub fn reply(&self) -> Reply {
        let reply = Reply {
            status: self.status(),
            ..Reply::ok(json!({"error": {"code": self.code(), "message": self.to_string()}}))
        };
        match self {
            ApiError::RateLimited(wait_s) => reply.with_header("retry-after", wait_s.to_string()),
            ApiError::MethodNotAllowed(allow) => reply.with_header("allow", allow.clone()),
            _ => reply,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

/// Reads a JSON body into `T`, or says what is wrong with it.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    crate::http::json_object(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}
