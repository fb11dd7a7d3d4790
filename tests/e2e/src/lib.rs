//! End-to-end harness for mlink: runs the prebuilt worker (`build/`) under `wrangler dev`, with
//! a fake Telegram Bot API and a callback receiver on local ports, and checks callback
//! signatures with an independent Standard Webhooks implementation.
//!
//! Viber, Facebook Messenger, WhatsApp and Instagram are played by [`FakeApis`] (their APIs) and
//! [`messengers`] (their webhook deliveries, signed as each platform signs them).
//!
//! The tests themselves are in `tests/telegram.rs`, `tests/messengers.rs` and
//! `tests/reliability.rs`; they need `scripts/build` to have run.

mod api;
mod callbacks;
mod fake_apis;
mod fake_telegram;
pub mod messengers;
mod process;
mod raw;
mod recorder;
mod server;
pub mod signature;
mod worker;
mod wrangler_config;

pub use api::{
    id_text, telegram_bot, text_update, PageResponse, Project, WebhookAnswer,
    TELEGRAM_SECRET_HEADER,
};
pub use callbacks::{CallbackAnswer, CallbackReceiver, ReceivedCallback};
pub use fake_apis::{Api, ApiCall, FakeApis, ViberWebhookCheck};
pub use fake_telegram::{FakeTelegram, TelegramCall};
pub use messengers::{BotSpec, ConnectedBot, Delivery, Fakes, Messenger, SentText};
pub use raw::{HttpClient, RawRequest, RawResponse};
pub use reqwest::Method;
pub use worker::{Worker, WorkerOptions, ADMIN_TOKEN, LINK_SECRET};
