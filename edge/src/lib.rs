//! The `/mlink/<token>` module: [`Edge`] behind a few synchronous exports for the JS entry
//! (`src/entry.js`), which does the I/O the answers ask for and has the worker's module render
//! pages.
//!
//! A module of its own, apart from the worker's: a click then runs small code compiled at
//! opt-level 3 (`[profile.edge]`), while the API and webhooks stay compiled for size. Nothing
//! here formats floats or renders pages, which keeps the module small (see README, "Measured").

use mlink_core::service::edge::{self, Clicked, Edge};
use std::cell::RefCell;
use wasm_bindgen::prelude::wasm_bindgen;

thread_local! {
    static EDGE: RefCell<Option<Edge>> = const { RefCell::new(None) };
    /// The last click's answer, kept so the next one reuses its room ([`click`]).
    static ANSWER: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Sets the isolate's link secret and public base URL: `""` when done, else what is wrong.
#[wasm_bindgen]
pub fn configure(link_secret: &str, public_base_url: &str) -> String {
    match Edge::new(link_secret, public_base_url) {
        Ok(edge) => {
            EDGE.with(|cell| *cell.borrow_mut() = Some(edge));
            String::new()
        }
        Err(e) => e.to_string(),
    }
}

/// The answer to a click; `tail` is what follows `/mlink/` in its URL, up to the URL's end:
/// - `>= 0`: the common click, a redirect to its bot's deep link, which is the prefix in that
///   slot ([`redirect_prefix`]) followed by the token's payload, characters
///   `mlink_core::domain::token::PAYLOAD_CHARS` of `tail` (see `Edge::slot_or_click`);
/// - `< 0`: any other click. Its answer (see `Answer::encode`) is `-1 - result` bytes at
///   [`answer_ptr`]; empty before `configure`. `D` asks for [`click_with_agent`].
///
/// No string crosses back for a click: wasm-bindgen returns one as two values (which V8 answers
/// with an array, through a generic call path), allocated and then freed, and the entry would
/// decode it; a redirect would also build its deep link here. README, "Measured", has the numbers.
#[wasm_bindgen]
pub fn click(tail: &str, now_ms: f64) -> i32 {
    let clicked = with_edge(|edge| edge.slot_or_click(tail, now_ms as i64));
    // Slots are fewer than the edge's bound on prefixes (4,096), so they fit.
    if let Some(Clicked::Slot(slot)) = clicked {
        return i32::try_from(slot).unwrap_or(i32::MAX);
    }
    ANSWER.with(|answer| {
        let mut answer = answer.borrow_mut();
        answer.clear();
        // None: not configured, no answer.
        if let Some(Clicked::Answer(decided)) = clicked {
            decided.encode_into(&mut answer);
        }
        -1 - i32::try_from(answer.len()).unwrap_or(0)
    })
}

/// Where the last [`click`] left its answer (valid until the next click).
#[wasm_bindgen]
pub fn answer_ptr() -> *const u8 {
    ANSWER.with(|answer| answer.borrow().as_ptr())
}

/// The deep-link prefix in `slot` (`""`: no such slot).
#[wasm_bindgen]
pub fn redirect_prefix(slot: u32) -> String {
    with_edge(|edge| edge.redirect_prefix(slot).map(str::to_string))
        .flatten()
        .unwrap_or_default()
}

/// This module's memory, for the entry to read answers from.
#[wasm_bindgen]
pub fn module_memory() -> wasm_bindgen::JsValue {
    wasm_bindgen::memory()
}

/// [`click`], with the request's User-Agent (`undefined` when it has none).
#[wasm_bindgen]
pub fn click_with_agent(tail: &str, now_ms: f64, user_agent: Option<String>) -> String {
    let user_agent = Some(user_agent.as_deref());
    with_edge(|edge| edge.click(tail, now_ms as i64, user_agent).encode()).unwrap_or_default()
}

/// Learns a bot from its record in KV or the project's object (`undefined`: no such bot):
/// `""` when learned, else why not.
#[wasm_bindgen]
pub fn learn_bot(project: &str, group: &str, record: Option<String>, now_ms: f64) -> String {
    let learned =
        with_edge(|edge| edge.learn_bot(project, group, record.as_deref(), now_ms as i64));
    match learned {
        Some(Ok(())) => String::new(),
        Some(Err(e)) => e.to_string(),
        None => "not configured".to_string(),
    }
}

/// Learns the links a webhook used up (comma-separated payloads).
#[wasm_bindgen]
pub fn learn_used(ids: &str) {
    with_edge(|edge| edge.learn_used(ids));
}

/// The project whose object takes this request straight from the entry (`""`: none; see
/// `mlink_core::service::edge::webhook_project`).
#[wasm_bindgen]
pub fn webhook_project(method: &str, url: &str, content_length: Option<String>) -> String {
    edge::webhook_project(method, url, content_length.as_deref())
        .map(|project| project.to_string())
        .unwrap_or_default()
}

/// The answer for a bot that could not be looked up (storage unreachable).
#[wasm_bindgen]
pub fn unavailable() -> String {
    edge::unavailable().encode()
}

fn with_edge<R>(f: impl FnOnce(&mut Edge) -> R) -> Option<R> {
    EDGE.with(|cell| cell.borrow_mut().as_mut().map(f))
}
