//! The deployment's settings: wrangler vars and secrets, read once per isolate by the glue.

use crate::domain::token::LinkKey;
use crate::messengers::ApiBases;

/// Deployment settings.
#[derive(Clone)]
pub struct Config {
    /// Scheme and host of links, without a trailing slash.
    pub public_base_url: String,
    pub link_ttl_s: i64,
    pub bases: ApiBases,
    pub link_key: LinkKey,
    /// Delays before each retry of a failed delivery, in seconds.
    pub retry_schedule_s: Vec<i64>,
    /// Merge links per project per minute: a runaway backend cannot flood the store.
    pub link_rate_per_minute: i64,
    /// How long an outbound request (a send, a callback, a webhook registration) may take.
    pub outbound_timeout_ms: u32,
}

/// Svix's schedule after the first attempt (5 s, 5 min, 30 min, 2 h, 5 h, then every 10 h),
/// continued to span about three days (77.6 h) before an event is marked failed.
pub const DEFAULT_RETRY_SCHEDULE_S: [i64; 12] = [
    5, 300, 1800, 7200, 18000, 36000, 36000, 36000, 36000, 36000, 36000, 36000,
];

/// Merge links a project may create per minute, unless `LINK_RATE_PER_MINUTE` says otherwise.
pub const DEFAULT_LINK_RATE_PER_MINUTE: i64 = 600;

pub const DEFAULT_LINK_TTL_S: i64 = 7 * 24 * 3600;

/// How long mlink waits for an answer, unless `OUTBOUND_TIMEOUT_MS` says otherwise.
pub const DEFAULT_OUTBOUND_TIMEOUT_MS: u32 = 15_000;

impl Config {
    /// The settings from the deployment's vars and secrets (`var` gives a set, non-empty one).
    /// `LINK_SECRET` and `PUBLIC_BASE_URL` must be set; any other setting that is missing, or
    /// does not parse as what it must be, takes its default.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let link_secret = var("LINK_SECRET").ok_or("the LINK_SECRET secret is not set")?;
        let public_base_url = var("PUBLIC_BASE_URL").ok_or("the PUBLIC_BASE_URL var is not set")?;
        let positive = |name: &str| {
            var(name)
                .and_then(|v| v.trim().parse::<i64>().ok())
                .filter(|n| *n > 0)
        };
        let defaults = ApiBases::default();
        Ok(Config {
            public_base_url: public_base_url.trim_end_matches('/').to_string(),
            link_ttl_s: positive("LINK_TTL_SECONDS").unwrap_or(DEFAULT_LINK_TTL_S),
            bases: ApiBases {
                telegram: var("TELEGRAM_API_BASE").unwrap_or(defaults.telegram),
                viber: var("VIBER_API_BASE").unwrap_or(defaults.viber),
                graph: var("GRAPH_API_BASE").unwrap_or(defaults.graph),
                instagram: var("INSTAGRAM_API_BASE").unwrap_or(defaults.instagram),
            },
            link_key: LinkKey::new(link_secret.as_bytes()),
            link_rate_per_minute: positive("LINK_RATE_PER_MINUTE")
                .unwrap_or(DEFAULT_LINK_RATE_PER_MINUTE),
            retry_schedule_s: var("CALLBACK_RETRY_SCHEDULE")
                .map(|v| retry_schedule(&v))
                .filter(|schedule| !schedule.is_empty())
                .unwrap_or_else(|| DEFAULT_RETRY_SCHEDULE_S.to_vec()),
            outbound_timeout_ms: positive("OUTBOUND_TIMEOUT_MS")
                .and_then(|ms| u32::try_from(ms).ok())
                .unwrap_or(DEFAULT_OUTBOUND_TIMEOUT_MS),
        })
    }
}

/// `"5, 60, 600"`: the delays in seconds; entries that are not whole numbers are left out.
fn retry_schedule(value: &str) -> Vec<i64> {
    value
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, String> {
        Config::from_vars(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    const REQUIRED: [(&str, &str); 2] = [
        ("LINK_SECRET", "a secret"),
        ("PUBLIC_BASE_URL", "https://links.example/"),
    ];

    #[test]
    fn the_secret_and_the_base_url_are_required() {
        assert_eq!(
            config(&REQUIRED[1..]).err().as_deref(),
            Some("the LINK_SECRET secret is not set")
        );
        assert_eq!(
            config(&REQUIRED[..1]).err().as_deref(),
            Some("the PUBLIC_BASE_URL var is not set")
        );
    }

    #[test]
    fn unset_settings_take_their_defaults() {
        let c = config(&REQUIRED).unwrap();
        assert_eq!(c.public_base_url, "https://links.example");
        assert_eq!(c.link_ttl_s, DEFAULT_LINK_TTL_S);
        assert_eq!(c.link_rate_per_minute, DEFAULT_LINK_RATE_PER_MINUTE);
        assert_eq!(c.retry_schedule_s, DEFAULT_RETRY_SCHEDULE_S);
        assert_eq!(c.outbound_timeout_ms, DEFAULT_OUTBOUND_TIMEOUT_MS);
        assert_eq!(c.bases.telegram, ApiBases::default().telegram);
    }

    #[test]
    fn settings_that_are_set_are_used() {
        let mut vars = REQUIRED.to_vec();
        vars.extend([
            ("LINK_TTL_SECONDS", "3600"),
            ("LINK_RATE_PER_MINUTE", " 50 "),
            ("CALLBACK_RETRY_SCHEDULE", "1, 2,3"),
            ("OUTBOUND_TIMEOUT_MS", "2500"),
            ("TELEGRAM_API_BASE", "http://127.0.0.1:9"),
        ]);
        let c = config(&vars).unwrap();
        assert_eq!(c.link_ttl_s, 3600);
        assert_eq!(c.link_rate_per_minute, 50);
        assert_eq!(c.retry_schedule_s, [1, 2, 3]);
        assert_eq!(c.outbound_timeout_ms, 2500);
        assert_eq!(c.bases.telegram, "http://127.0.0.1:9");
    }

    #[test]
    fn malformed_settings_fall_back_to_their_defaults() {
        let mut vars = REQUIRED.to_vec();
        vars.extend([
            ("LINK_TTL_SECONDS", "a week"),
            ("LINK_RATE_PER_MINUTE", "0"),
            ("CALLBACK_RETRY_SCHEDULE", "soon, later"),
            ("OUTBOUND_TIMEOUT_MS", "99999999999"),
        ]);
        let c = config(&vars).unwrap();
        assert_eq!(c.link_ttl_s, DEFAULT_LINK_TTL_S);
        assert_eq!(c.link_rate_per_minute, DEFAULT_LINK_RATE_PER_MINUTE);
        assert_eq!(c.retry_schedule_s, DEFAULT_RETRY_SCHEDULE_S);
        assert_eq!(c.outbound_timeout_ms, DEFAULT_OUTBOUND_TIMEOUT_MS);
        for bad in ["-5", "1.5", "fast"] {
            let mut vars = REQUIRED.to_vec();
            vars.push(("OUTBOUND_TIMEOUT_MS", bad));
            assert_eq!(
                config(&vars).unwrap().outbound_timeout_ms,
                DEFAULT_OUTBOUND_TIMEOUT_MS,
                "{bad}"
            );
        }
    }

    #[test]
    fn a_retry_schedule_keeps_its_whole_numbers() {
        assert_eq!(retry_schedule("5, x, 60,"), [5, 60]);
        assert!(retry_schedule("none").is_empty());
    }
}
