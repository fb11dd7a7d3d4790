//! Link pages, rendered for the JS entry: the edge module decides which page a click gets
//! (a [`PageSpec`]) and this module, which holds the pages' text and the QR encoder, renders it.
//! Synchronous exports, so a page costs no Request/Response conversion.

use mlink_core::pages::RESPONSE_HEADERS;
use mlink_core::service::edge::PageSpec;
use wasm_bindgen::prelude::wasm_bindgen;

/// The HTML of the page `spec` names, in the language the browser prefers.
#[wasm_bindgen]
pub fn mlink_page(spec: &str, accept_language: Option<String>) -> String {
    // Specs come from the edge module; an unreadable one is a bug there, shown as "unknown".
    let spec =
        PageSpec::decode(spec).unwrap_or(PageSpec::Problem(mlink_core::pages::Problem::Unknown));
    spec.render(accept_language.as_deref()).1
}

/// The headers of every page, as `name: value` lines.
#[wasm_bindgen]
pub fn mlink_page_headers() -> String {
    RESPONSE_HEADERS
        .iter()
        .map(|(name, value)| format!("{name}: {value}\n"))
        .collect()
}
