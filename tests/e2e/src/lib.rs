//! End-to-end harness for mlink: runs the prebuilt worker (`build/`) under `wrangler dev`, with
//! a fake Telegram Bot API and a callback receiver on local ports, and checks callback
//! signatures with an independent Standard Webhooks implementation.
//!
//! The tests themselves are in `tests/telegram.rs`; they need `scripts/build` to have run.

mod api;
mod callbacks;
mod fake_telegram;
mod process;
mod recorder;
mod server;
pub mod signature;
mod worker;
mod wrangler_config;

pub use api::{id_text, telegram_bot, text_update, PageResponse, Project, TELEGRAM_SECRET_HEADER};
pub use callbacks::{CallbackReceiver, ReceivedCallback};
pub use fake_telegram::{FakeTelegram, TelegramCall};
pub use reqwest::Method;
pub use worker::{Worker, WorkerOptions, ADMIN_TOKEN, LINK_SECRET};
