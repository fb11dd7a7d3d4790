//! Time as plain numbers: the caller passes "now" in, so everything here is deterministic.

/// Milliseconds since the Unix epoch; the unit of every stored timestamp.
pub type Millis = i64;

/// RFC 3339 (UTC, seconds precision) for API responses.
pub fn rfc3339(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc() {
        assert_eq!(super::rfc3339(1_764_000_000_000), "2025-11-24T16:00:00Z");
    }
}
