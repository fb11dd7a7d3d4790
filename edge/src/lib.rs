//! The `/mlink/<token>` module: [`Edge`] behind a few synchronous exports for the JS entry
//! (`src/entry.js`), which does the I/O the answers ask for and has the worker's module render
//! pages.
//!
//! A module of its own, apart from the worker's: a click then runs small code compiled at
//! opt-level 3 (`[profile.edge]`), while the API and webhooks stay compiled for size. Nothing
//! here formats floats or renders pages, which keeps the module small (see README, "Measured").

use mlink_core::service::edge::{self, Edge};
use std::cell::RefCell;
use wasm_bindgen::prelude::wasm_bindgen;

thread_local! {
    static EDGE: RefCell<Option<Edge>> = const { RefCell::new(None) };
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

/// The answer to a click on `url` (see `Answer::encode`); `""` before `configure`. Most
/// clicks are decided without the User-Agent; `D` asks for [`click_with_agent`].
#[wasm_bindgen]
pub fn click(url: &str, now_ms: f64) -> String {
    with_edge(|edge| edge.click(url, now_ms as i64, None).encode()).unwrap_or_default()
}

/// [`click`], with the request's User-Agent (`undefined` when it has none).
#[wasm_bindgen]
pub fn click_with_agent(url: &str, now_ms: f64, user_agent: Option<String>) -> String {
    let user_agent = Some(user_agent.as_deref());
    with_edge(|edge| edge.click(url, now_ms as i64, user_agent).encode()).unwrap_or_default()
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
