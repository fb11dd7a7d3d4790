//! mlink's pure logic. Nothing here depends on the `worker` crate or does I/O, so all of it is
//! tested natively with `cargo test`; the worker crate only translates between HTTP, storage and
//! these types.
//!
//! - [`domain`]: ids, messengers' numbering, link tokens, secrets, callback events and signing.
//! - [`messengers`]: per messenger, webhook verification and parsing, deep links, send requests.
//! - [`pages`]: the HTML a click on `/mlink/<token>` may show: landing pages and problem pages.
//! - [`store`]: the project's SQLite schema and every read and write, over a small [`store::Sql`]
//!   trait that the Durable Object implements (and rusqlite in tests).
//! - [`service`]: the owner API and the webhook flow, written against the store.

pub mod domain;
pub mod http;
pub mod messengers;
pub mod pages;
pub mod service;
pub mod store;
