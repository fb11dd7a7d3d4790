//! Outbound HTTP: messenger APIs and callbacks. No redirects are followed (for callbacks a
//! redirect is a failure) and every call has a deadline.
//!
//! Straight on the runtime's `fetch`, not the `worker` crate's: its `Response::text` reads the
//! body chunk by chunk through a stream reader, and its deadline needs a timer and a race per
//! call, which together cost about a third of an outbound call's CPU. `AbortSignal.timeout`
//! covers the answer and its body.

use js_sys::{Object, Promise};
use mlink_core::http::OutboundRequest;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, Headers, RequestInit, RequestRedirect, Response, WorkerGlobalScope};

/// What came back: status, `Retry-After`, body.
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: String,
}

pub async fn send(request: &OutboundRequest, timeout_ms: u32) -> Result<Answer, String> {
    // Messenger URLs carry bot tokens: keep them out of stored errors.
    let failed = |e: JsValue| {
        if is_timeout(&e) {
            return format!("no answer within {timeout_ms} ms");
        }
        let message = js_message(&e).replace(&request.url, "<url>");
        format!("request failed: {message}")
    };
    let init = request_init(request, timeout_ms).map_err(|_| "invalid request headers")?;
    let global: WorkerGlobalScope = js_sys::global().unchecked_into();
    let response: Response = JsFuture::from(global.fetch_with_str_and_init(&request.url, &init))
        .await
        .map_err(failed)?
        .unchecked_into();
    let retry_after = response.headers().get("retry-after").ok().flatten();
    let body = JsFuture::from(response.text().unwrap_or_else(|e| Promise::reject(&e)))
        .await
        .map_err(failed)?
        .as_string()
        .unwrap_or_default();
    Ok(Answer {
        status: response.status(),
        retry_after,
        body,
    })
}

fn request_init(request: &OutboundRequest, timeout_ms: u32) -> Result<RequestInit, JsValue> {
    let headers = Headers::new()?;
    for (name, value) in &request.headers {
        headers.set(name, value)?;
    }
    let init = RequestInit::new();
    init.set_method(request.method);
    init.set_headers(&headers);
    init.set_redirect(RequestRedirect::Manual);
    if !request.body.is_empty() {
        init.set_body(&JsValue::from_str(&request.body));
    }
    init.set_signal(Some(&AbortSignal::timeout_with_u32(timeout_ms)));
    Ok(init)
}

/// `AbortSignal.timeout` rejects with a `TimeoutError` DOMException.
fn is_timeout(e: &JsValue) -> bool {
    js_sys::Reflect::get(e, &"name".into())
        .ok()
        .and_then(|name| name.as_string())
        .is_some_and(|name| name == "TimeoutError")
}

fn js_message(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| Object::from(e.clone()).to_string().into())
}
