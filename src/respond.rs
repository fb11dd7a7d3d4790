//! Turning replies and errors into HTTP responses.

use mlink_core::service::{ApiError, Reply};
use worker::{Response, Result};

pub fn json(status: u16, body: &serde_json::Value) -> Result<Response> {
    let mut response = Response::from_json(body)?.with_status(status);
    response.headers_mut().set("cache-control", "no-store")?;
    Ok(response)
}

pub fn reply(reply: &Reply) -> Result<Response> {
    let mut response = json(reply.status, &reply.body)?;
    for (name, value) in &reply.headers {
        response.headers_mut().set(name, value)?;
    }
    Ok(response)
}

/// The error's JSON body; internal details go to the log only.
pub fn error(e: &ApiError) -> Result<Response> {
    if let ApiError::Internal(detail) = e {
        worker::console_error!("internal error: {detail}");
    }
    reply(&e.reply())
}
