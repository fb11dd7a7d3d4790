//! Outbound HTTP: messenger APIs and callbacks. No redirects are followed (for callbacks a
//! redirect is a failure) and every call has a deadline.

use futures_util::future::{select, Either};
use mlink_core::http::OutboundRequest;
use std::time::Duration;
use worker::{Delay, Fetch, Headers, Method, Request, RequestInit, RequestRedirect};

/// What came back: status, `Retry-After`, body.
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: String,
}

pub async fn send(request: &OutboundRequest, timeout_ms: u32) -> Result<Answer, String> {
    let headers = Headers::new();
    for (name, value) in &request.headers {
        headers.set(name, value).map_err(|e| e.to_string())?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::from(request.method.to_string()))
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual)
        .with_body(Some(request.body.clone().into()));
    let req = Request::new_with_init(&request.url, &init).map_err(|_| "invalid request URL")?;
    let call = Box::pin(async move {
        let mut response = Fetch::Request(req).send().await?;
        let status = response.status_code();
        let retry_after = response.headers().get("retry-after").ok().flatten();
        let body = response.text().await.unwrap_or_default();
        Ok::<_, worker::Error>(Answer {
            status,
            retry_after,
            body,
        })
    });
    let deadline = Delay::from(Duration::from_millis(u64::from(timeout_ms)));
    // Messenger URLs carry bot tokens: keep them out of stored errors.
    let redact = |e: worker::Error| e.to_string().replace(&request.url, "<url>");
    match select(call, deadline).await {
        Either::Left((answer, _)) => answer.map_err(|e| format!("request failed: {}", redact(e))),
        Either::Right(_) => Err(format!("no answer within {timeout_ms} ms")),
    }
}
