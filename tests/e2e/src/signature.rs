//! An independent implementation of Standard Webhooks signing, used to check the worker's
//! callback signatures (https://www.standardwebhooks.com/); and the messengers' own webhook
//! signatures, which the tests put on the deliveries they play (Viber's
//! `X-Viber-Content-Signature`, Meta's `X-Hub-Signature-256`).
//!
//! secret `whsec_<base64 key>`; signed content `{webhook-id}.{webhook-timestamp}.{body}`;
//! signature `base64(HMAC-SHA256(key, content))`; header `v1,<signature>`, possibly several
//! space-separated entries of which one must match.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const SECRET_PREFIX: &str = "whsec_";
const VERSION_PREFIX: &str = "v1,";

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    /// The secret does not start with `whsec_` or its key is not valid base64.
    BadSecret(String),
    /// No `v1,` entry of the header matched the expected signature.
    Mismatch { expected: String, header: String },
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureError::BadSecret(why) => write!(f, "bad webhook secret: {why}"),
            SignatureError::Mismatch { expected, header } => {
                write!(
                    f,
                    "signature mismatch: expected {expected}, header was {header:?}"
                )
            }
        }
    }
}

impl std::error::Error for SignatureError {}

/// The `v1,<base64>` signature of one message.
pub fn sign(secret: &str, id: &str, timestamp: &str, body: &str) -> Result<String, SignatureError> {
    let key = decode_secret(secret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC accepts keys of any length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    let digest = mac.finalize().into_bytes();
    Ok(format!("{VERSION_PREFIX}{}", STANDARD.encode(digest)))
}

/// Checks that one of the space-separated entries of `header` is the `v1` signature of the message.
pub fn verify(
    secret: &str,
    id: &str,
    timestamp: &str,
    body: &str,
    header: &str,
) -> Result<(), SignatureError> {
    let expected = sign(secret, id, timestamp, body)?;
    if header.split_whitespace().any(|entry| entry == expected) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch {
            expected,
            header: header.to_string(),
        })
    }
}

/// Lowercase hex HMAC-SHA256 of `body` under `key`: Viber's `X-Viber-Content-Signature` (key:
/// the bot's auth token).
pub fn hmac_sha256_hex(key: &str, body: &str) -> String {
    hmac_sha256_hex_bytes(key, body.as_bytes())
}

/// [`hmac_sha256_hex`] of any bytes (bodies that are not UTF-8 get signed too).
pub fn hmac_sha256_hex_bytes(key: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Meta's `X-Hub-Signature-256` value: `sha256=<lowercase hex HMAC-SHA256 of the body>`, keyed
/// with the app secret.
pub fn meta_signature(app_secret: &str, body: &str) -> String {
    meta_signature_bytes(app_secret, body.as_bytes())
}

/// [`meta_signature`] of any bytes.
pub fn meta_signature_bytes(app_secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hmac_sha256_hex_bytes(app_secret, body))
}

fn decode_secret(secret: &str) -> Result<Vec<u8>, SignatureError> {
    let encoded = secret
        .strip_prefix(SECRET_PREFIX)
        .ok_or_else(|| SignatureError::BadSecret(format!("missing {SECRET_PREFIX:?} prefix")))?;
    STANDARD
        .decode(encoded)
        .map_err(|err| SignatureError::BadSecret(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TIMESTAMP: &str = "1649367553";
    const BODY: &str = r#"{"email":"test@example.com","username":"test_user"}"#;
    const SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    #[test]
    fn signs_the_spec_vector() {
        assert_eq!(sign(SECRET, ID, TIMESTAMP, BODY).unwrap(), SIGNATURE);
    }

    #[test]
    fn verifies_the_spec_vector() {
        assert_eq!(verify(SECRET, ID, TIMESTAMP, BODY, SIGNATURE), Ok(()));
    }

    #[test]
    fn accepts_a_matching_entry_among_several() {
        let header = format!("v1,bm90IGl0 {SIGNATURE} v2,other");
        assert_eq!(verify(SECRET, ID, TIMESTAMP, BODY, &header), Ok(()));
    }

    #[test]
    fn rejects_a_changed_body_id_or_timestamp() {
        let changed_body = BODY.replace("test_user", "test_usex");
        assert!(verify(SECRET, ID, TIMESTAMP, &changed_body, SIGNATURE).is_err());
        assert!(verify(SECRET, "msg_other", TIMESTAMP, BODY, SIGNATURE).is_err());
        assert!(verify(SECRET, ID, "1649367554", BODY, SIGNATURE).is_err());
    }

    #[test]
    fn rejects_a_signature_without_version_or_with_another_secret() {
        let bare = SIGNATURE.trim_start_matches(VERSION_PREFIX);
        assert!(verify(SECRET, ID, TIMESTAMP, BODY, bare).is_err());
        let other_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        assert!(verify(other_secret, ID, TIMESTAMP, BODY, SIGNATURE).is_err());
    }

    #[test]
    fn hex_hmac_matches_known_vectors() {
        // RFC 4231, test case 2.
        assert_eq!(
            hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // The vector in core/src/messengers/meta.rs (from openssl), computed independently here.
        assert_eq!(
            meta_signature("app-secret-1", r#"{"object":"page","entry":[]}"#),
            "sha256=79e65d5e06e173bb483d7f7824bf54a39a7509c6c05a3b16b7cce3660e6c7a6d"
        );
    }

    #[test]
    fn rejects_malformed_secrets() {
        assert!(matches!(
            sign("C2FVsBQIhrscChlQIMV+b5sSYspob7oD", ID, TIMESTAMP, BODY),
            Err(SignatureError::BadSecret(_))
        ));
        assert!(matches!(
            sign("whsec_not base64!", ID, TIMESTAMP, BODY),
            Err(SignatureError::BadSecret(_))
        ));
    }
}
