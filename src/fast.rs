//! The `/mlink` fast path: one synchronous export that the hand-written JS entry
//! (`src/entry.js`) calls with the request's URL. It answers from the sealed token and this
//! isolate's memory only, so a click costs a MAC check and no conversion of the request into
//! Rust types; anything it cannot answer (a page, an unknown bot, the isolate's first request)
//! goes to the full handler in [`crate::edge`], which also fills the memory this reads.

use crate::edge;
use mlink_core::service::redirect::{Decision, Device};
use wasm_bindgen::prelude::wasm_bindgen;

/// `""`: use the full handler. `R<location>`: redirect. `O<project> <link> <location>`:
/// redirect, and report the link's first open here to its project (after answering).
#[wasm_bindgen]
pub fn mlink_fast_redirect(url: &str, now_ms: f64, user_agent: Option<String>) -> String {
    let Some(token) = token_of(url) else {
        return String::new();
    };
    let Some(key) = edge::link_key() else {
        return String::new();
    };
    let device = Device::from_user_agent(user_agent.as_deref());
    let click = edge::click(token, &key, now_ms as i64, device);
    match (click.decision, click.first_open) {
        (Decision::Redirect(location), None) => format!("R{location}"),
        (Decision::Redirect(location), Some((project, link))) => {
            format!("O{project} {} {location}", link.to_payload())
        }
        _ => String::new(),
    }
}

/// The token of `https://host/mlink/<token>`, without a query or fragment.
fn token_of(url: &str) -> Option<&str> {
    let after_scheme = url.split_once("://")?.1;
    let path = &after_scheme[after_scheme.find('/')?..];
    let token = path.strip_prefix("/mlink/")?;
    let end = token.find(['?', '#']).unwrap_or(token.len());
    let token = &token[..end];
    (!token.is_empty() && !token.contains('/')).then_some(token)
}
