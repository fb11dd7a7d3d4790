//! Outbound HTTP: messenger APIs and callbacks. No redirects are followed (for callbacks a
//! redirect is a failure) and every call has a deadline.
//!
//! Straight on the runtime's `fetch`, not the `worker` crate's: its `Response::text` reads the
//! body chunk by chunk through a stream reader, and its deadline needs a timer and a race per
//! call, which together cost about a third of an outbound call's CPU. A [`Deadline`]'s abort
//! signal covers the answer and its body.

use js_sys::{Object, Promise};
use mlink_core::http::OutboundRequest;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortController, Headers, RequestInit, RequestRedirect, Response, WorkerGlobalScope,
};

/// A point in time after which the requests sent under it are aborted: one runtime timer for
/// any number of requests, cleared as soon as the deadline is dropped.
///
/// Not `AbortSignal.timeout` per request: its timer stays armed for the whole timeout even when
/// the answer came back at once, and an object delivering a few hundred items a second reaches
/// the runtime's cap of 10,000 active timers. The next `AbortSignal.timeout` then throws, which
/// tears the wasm instance down with every request and the alarm in flight (the outbox stalled
/// until the runtime collected the orphaned alarm).
pub struct Deadline {
    controller: AbortController,
    timer: i32,
    timeout_ms: u32,
    _on_expiry: Closure<dyn FnMut()>,
}

impl Deadline {
    /// Fails (instead of trapping) when the runtime refuses another timer.
    pub fn after(timeout_ms: u32) -> Result<Deadline, String> {
        let controller = AbortController::new().map_err(|e| js_message(&e))?;
        let on_expiry = {
            let controller = controller.clone();
            Closure::<dyn FnMut()>::new(move || controller.abort())
        };
        let timer = global()
            .set_timeout_with_callback_and_timeout_and_arguments_0(
                on_expiry.as_ref().unchecked_ref(),
                i32::try_from(timeout_ms).unwrap_or(i32::MAX),
            )
            .map_err(|e| format!("no timer for the deadline: {}", js_message(&e)))?;
        Ok(Deadline {
            controller,
            timer,
            timeout_ms,
            _on_expiry: on_expiry,
        })
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        global().clear_timeout_with_handle(self.timer);
    }
}

fn global() -> WorkerGlobalScope {
    js_sys::global().unchecked_into()
}

/// What came back: status, `Retry-After`, body.
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: String,
}

pub async fn send(request: &OutboundRequest, deadline: &Deadline) -> Result<Answer, String> {
    // Messenger URLs carry bot tokens: keep them out of stored errors.
    let failed = |e: JsValue| {
        // Only the deadline's timer aborts its signal.
        if deadline.controller.signal().aborted() {
            return format!("no answer within {} ms", deadline.timeout_ms);
        }
        let message = js_message(&e).replace(&request.url, "<url>");
        format!("request failed: {message}")
    };
    let init = request_init(request, deadline).map_err(|_| "invalid request headers")?;
    let response: Response = JsFuture::from(global().fetch_with_str_and_init(&request.url, &init))
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

fn request_init(request: &OutboundRequest, deadline: &Deadline) -> Result<RequestInit, JsValue> {
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
    init.set_signal(Some(&deadline.controller.signal()));
    Ok(init)
}

fn js_message(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| Object::from(e.clone()).to_string().into())
}
