//! Worker vars and secrets, read once per isolate.

use mlink_core::service::Config;
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
    Config::from_vars(|name| text(env, name))
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
