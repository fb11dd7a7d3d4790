//! Worker vars and secrets, read once per isolate.

use mlink_core::domain::token::LinkKey;
use mlink_core::messengers::ApiBases;
use mlink_core::service::{
    Config, DEFAULT_LINK_RATE_PER_MINUTE, DEFAULT_LINK_TTL_S, DEFAULT_OUTBOUND_TIMEOUT_MS,
    DEFAULT_RETRY_SCHEDULE_S,
};
use std::cell::OnceCell;
use worker::Env;

/// A var or secret, if set and non-empty.
pub fn text(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .map(|v| v.to_string())
        .or_else(|_| env.secret(name).map(|v| v.to_string()))
        .ok()
        .filter(|v| !v.is_empty())
}

fn read(env: &Env) -> Result<Config, String> {
    let link_secret = text(env, "LINK_SECRET").ok_or("the LINK_SECRET secret is not set")?;
    let public_base_url =
        text(env, "PUBLIC_BASE_URL").ok_or("the PUBLIC_BASE_URL var is not set")?;
    let defaults = ApiBases::default();
    Ok(Config {
        public_base_url: public_base_url.trim_end_matches('/').to_string(),
        link_ttl_s: text(env, "LINK_TTL_SECONDS")
            .and_then(|v| v.parse().ok())
            .filter(|ttl| *ttl > 0)
            .unwrap_or(DEFAULT_LINK_TTL_S),
        bases: ApiBases {
            telegram: text(env, "TELEGRAM_API_BASE").unwrap_or(defaults.telegram),
            viber: text(env, "VIBER_API_BASE").unwrap_or(defaults.viber),
            graph: text(env, "GRAPH_API_BASE").unwrap_or(defaults.graph),
            instagram: text(env, "INSTAGRAM_API_BASE").unwrap_or(defaults.instagram),
        },
        link_key: LinkKey::new(link_secret.as_bytes()),
        link_rate_per_minute: text(env, "LINK_RATE_PER_MINUTE")
            .and_then(|v| v.parse().ok())
            .filter(|n| *n > 0)
            .unwrap_or(DEFAULT_LINK_RATE_PER_MINUTE),
        retry_schedule_s: text(env, "CALLBACK_RETRY_SCHEDULE")
            .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
            .unwrap_or_else(|| DEFAULT_RETRY_SCHEDULE_S.to_vec()),
        outbound_timeout_ms: text(env, "OUTBOUND_TIMEOUT_MS")
            .and_then(|v| v.parse().ok())
            .filter(|ms| *ms > 0)
            .unwrap_or(DEFAULT_OUTBOUND_TIMEOUT_MS),
    })
}

thread_local! {
    static CONFIG: OnceCell<Config> = const { OnceCell::new() };
}

/// The deployment's settings; a missing secret is an error the caller reports.
pub fn config(env: &Env) -> Result<Config, String> {
    CONFIG.with(|cell| {
        if let Some(config) = cell.get() {
            return Ok(config.clone());
        }
        let config = read(env)?;
        Ok(cell.get_or_init(|| config).clone())
    })
}
