//! Random credentials and their checks. Keys are stored hashed; every comparison is constant time.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// `n` bytes from the platform's CSPRNG (`crypto.getRandomValues` on Workers).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the platform CSPRNG is available");
    bytes
}

/// A project's API key: shown once, stored only as its SHA-256.
pub fn new_api_key() -> String {
    format!("mlk_{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

/// A Standard Webhooks signing secret (`whsec_` + base64 of 32 random bytes).
pub fn new_callback_secret() -> String {
    format!("whsec_{}", STANDARD.encode(random_bytes::<32>()))
}

/// A messenger webhook secret: 43 characters of `A-Za-z0-9_-`, which every messenger accepts.
pub fn new_webhook_secret() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

pub fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Constant-time equality of two secrets (lengths are not secret).
pub fn secrets_match(given: &str, expected: &str) -> bool {
    given.as_bytes().ct_eq(expected.as_bytes()).into()
}

/// Whether an `Authorization` header carries `Bearer <expected>`.
pub fn bearer_matches(header: Option<&str>, expected: &str) -> bool {
    match header.and_then(|h| h.strip_prefix("Bearer ")) {
        Some(given) => !expected.is_empty() && secrets_match(given.trim(), expected),
        None => false,
    }
}

/// Whether a presented API key hashes to the stored hash.
pub fn api_key_matches(header: Option<&str>, stored_hash: &str) -> bool {
    match header.and_then(|h| h.strip_prefix("Bearer ")) {
        Some(given) => secrets_match(&sha256_hex(given.trim()), stored_hash),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_secrets_differ_and_have_their_shape() {
        let (a, b) = (new_api_key(), new_api_key());
        assert_ne!(a, b);
        assert!(a.starts_with("mlk_") && a.len() == 4 + 43);
        assert!(new_callback_secret().starts_with("whsec_"));
        let w = new_webhook_secret();
        assert_eq!(w.len(), 43);
        assert!(w
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
    }

    #[test]
    fn bearer_checks() {
        assert!(bearer_matches(Some("Bearer s3cret"), "s3cret"));
        assert!(!bearer_matches(Some("Bearer s3cre"), "s3cret"));
        assert!(!bearer_matches(Some("s3cret"), "s3cret"));
        assert!(!bearer_matches(None, "s3cret"));
        assert!(!bearer_matches(Some("Bearer "), ""));
        let key = new_api_key();
        let hash = sha256_hex(&key);
        assert!(api_key_matches(Some(&format!("Bearer {key}")), &hash));
        assert!(!api_key_matches(Some("Bearer mlk_wrong"), &hash));
    }
}
