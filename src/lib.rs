//! The worker: thin glue between HTTP and `mlink-core`.
//!
//! - `/mlink/<token>` is answered by the edge module (`edge/`) through the JS entry
//!   (`src/entry.js`); this module only renders its pages ([`pages`]).
//! - Owner API and messenger webhooks go to the project's Durable Object ([`object`]), the single
//!   writer of that project's SQLite database.
//! - Everything else is a static page from `www/` (the assets binding).

mod do_sql;
mod env_config;
mod net;
mod object;
mod pages;
mod respond;

use mlink_core::http::path_and_query;
use mlink_core::service::routes::Route;
use mlink_core::service::{ApiError, MAX_BODY_BYTES};
use worker::{event, Context, Env, Request, Response, Result};

pub use object::ProjectObject;

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let url = req.inner().url();
    // The raw method: worker's Method type reads unknown methods as GET.
    let route = match Route::parse(&req.inner().method(), path_and_query(&url).0) {
        Ok(route) => route,
        Err(e) => return respond::error(&e),
    };
    match route {
        Route::Health => respond::json(200, &serde_json::json!({"ok": true})),
        // The JS entry hands every click to the edge module before this module sees it.
        Route::Mlink(_) => respond::error(&ApiError::not_found(
            "not_found",
            "links are served by src/entry.js",
        )),
        Route::Static => env.assets("ASSETS")?.fetch_request(req).await,
        // Refused here, before the body is streamed to the object: an object answering without
        // reading a large body breaks the stream, and the client would see a 500.
        Route::Webhook(..) | Route::PutProject(_) | Route::Project(..)
            if declared_length(&req) > MAX_BODY_BYTES =>
        {
            respond::error(&ApiError::TooLarge(MAX_BODY_BYTES))
        }
        Route::Webhook(ref project, _)
        | Route::PutProject(ref project)
        | Route::Project(ref project, _) => {
            object::stub(&env, project)?.fetch_with_request(req).await
        }
    }
}

/// The body size the request declares (0 when it does not say).
fn declared_length(req: &Request) -> usize {
    req.headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
