//! Link tokens: what `/mlink/<token>` carries.
//!
//! A token names its link (128 random bits), says where it goes (project, bot, messenger) and
//! until when, and is sealed with a truncated HMAC-SHA256. So the redirect can answer from the
//! token alone: a forged or altered token fails its MAC and an expired one its expiry, with no
//! storage read. Single use is enforced where it matters, at the merge.
//!
//! Layout (then base64url without padding):
//! `version(1) | link_id(16) | expires_at u32 BE (unix s) | client_type(1) |
//!  project_len(1) project | group_len(1) group | code_len(1) code | mac(16)`
//!
//! The seal is SipHash-2-4 with its 128-bit output (version 2), a keyed PRF made for short
//! inputs: a token's 30-odd bytes take it a tenth of the time HMAC-SHA256 needs (two SHA-256
//! blocks), and the MAC was half of a click's own work in the edge module (README, "Measured").
//! Forging a seal still means guessing 128 bits online. Version 1 tokens (sealed with HMAC-SHA256
//! truncated to 128 bits) are still accepted, so links made before the change keep working.
//!
//! WhatsApp and Instagram links also carry their merge code, so their landing page needs no
//! storage read either.

use super::{ClientType, Group, ProjectName};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use siphasher::sip128::{Hash128, SipHasher24};

/// Tokens sealed with SipHash-2-4-128; the version [`LinkToken::encode`] writes.
const VERSION_SIPHASH: u8 = 2;
/// Tokens sealed with HMAC-SHA256 truncated to 128 bits; still read.
const VERSION_HMAC: u8 = 1;
const MAC_LEN: usize = 16;
/// What the SipHash key is derived with, from the link secret.
const SIPHASH_KEY_LABEL: &[u8] = b"mlink link token seal v2";
/// Longer strings are not tokens (the longest real one is about 150 characters).
const MAX_TOKEN_CHARS: usize = 256;

/// The 128-bit random id of a merge link; also the payload handed to the messenger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkId(pub [u8; 16]);

impl LinkId {
    pub fn random() -> Self {
        LinkId(super::secrets::random_bytes())
    }

    /// 22 characters of `A-Za-z0-9_-`: fits Telegram's `start` rule (64 chars) and every other
    /// messenger's payload field.
    pub fn to_payload(self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    pub fn from_payload(s: &str) -> Option<Self> {
        if s.len() != 22 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(s).ok()?;
        Some(LinkId(bytes.try_into().ok()?))
    }
}

/// The key that seals tokens (from the `LINK_SECRET` worker secret). Build once, clone per use.
#[derive(Clone)]
pub struct LinkKey {
    siphash: SipHasher24,
    /// Verifies version 1 tokens.
    hmac: Hmac<Sha256>,
}

impl LinkKey {
    pub fn new(secret: &[u8]) -> Self {
        let hmac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
        // A key of its own for SipHash, so no seal of one version says anything of the other's.
        let derived = hmac
            .clone()
            .chain_update(SIPHASH_KEY_LABEL)
            .finalize()
            .into_bytes();
        let siphash_key: [u8; 16] = derived[..16]
            .try_into()
            .expect("SHA-256 output is 32 bytes");
        LinkKey {
            siphash: SipHasher24::new_with_key(&siphash_key),
            hmac,
        }
    }

    /// The 128-bit SipHash of `data`, little-endian (its low word first).
    fn seal(&self, data: &[u8]) -> [u8; MAC_LEN] {
        u128::from(self.siphash.hash(data)).to_le_bytes()
    }

    /// Whether `tag` seals `data` (which starts with the token's version); constant time.
    fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        match data.first() {
            Some(&VERSION_SIPHASH) => {
                let Ok(tag) = <[u8; MAC_LEN]>::try_from(tag) else {
                    return false;
                };
                // Hash128's equality is constant-time.
                self.siphash.hash(data) == Hash128::from(u128::from_le_bytes(tag))
            }
            Some(&VERSION_HMAC) => {
                let mut mac = self.hmac.clone();
                mac.update(data);
                mac.verify_truncated_left(tag).is_ok()
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkToken {
    pub link_id: LinkId,
    /// Unix seconds.
    pub expires_at: u32,
    pub client_type: ClientType,
    pub project: ProjectName,
    pub group: Group,
    /// The merge code to send (WhatsApp, Instagram).
    pub code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a link token")]
    Malformed,
    #[error("the token's seal does not match")]
    BadMac,
    #[error("the link expired")]
    Expired(Box<LinkToken>),
}

impl LinkToken {
    pub fn encode(&self, key: &LinkKey) -> String {
        let mut bytes = Vec::with_capacity(24 + 2 + 32 + 64 + MAC_LEN);
        bytes.push(VERSION_SIPHASH);
        bytes.extend_from_slice(&self.link_id.0);
        bytes.extend_from_slice(&self.expires_at.to_be_bytes());
        bytes.push(self.client_type.code() as u8);
        let code = self.code.as_deref().unwrap_or_default();
        for part in [self.project.as_str(), self.group.as_str(), code] {
            bytes.push(part.len() as u8);
            bytes.extend_from_slice(part.as_bytes());
        }
        let tag = key.seal(&bytes);
        bytes.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Decodes and verifies a token; `now_s` is unix seconds.
    pub fn decode(token: &str, key: &LinkKey, now_s: u64) -> Result<LinkToken, TokenError> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(TokenError::Malformed);
        }
        // Decoded on the stack: this runs on every click.
        let mut buffer = [0u8; MAX_TOKEN_CHARS * 3 / 4];
        let len = URL_SAFE_NO_PAD
            .decode_slice(token, &mut buffer)
            .map_err(|_| TokenError::Malformed)?;
        let bytes = &buffer[..len];
        if bytes.len() < 1 + 16 + 4 + 1 + 3 + MAC_LEN
            || !matches!(bytes[0], VERSION_SIPHASH | VERSION_HMAC)
        {
            return Err(TokenError::Malformed);
        }
        let (data, tag) = bytes.split_at(bytes.len() - MAC_LEN);
        if !key.verify(data, tag) {
            return Err(TokenError::BadMac);
        }
        let parsed = Self::parse_body(data).ok_or(TokenError::Malformed)?;
        if u64::from(parsed.expires_at) <= now_s {
            return Err(TokenError::Expired(Box::new(parsed)));
        }
        Ok(parsed)
    }

    fn parse_body(data: &[u8]) -> Option<LinkToken> {
        let link_id = LinkId(data.get(1..17)?.try_into().ok()?);
        let expires_at = u32::from_be_bytes(data.get(17..21)?.try_into().ok()?);
        let client_type = ClientType::from_code(i64::from(*data.get(21)?)).ok()?;
        let (project, rest) = length_prefixed(data.get(22..)?)?;
        let (group, rest) = length_prefixed(rest)?;
        let (code, rest) = length_prefixed(rest)?;
        if !rest.is_empty() {
            return None;
        }
        Some(LinkToken {
            link_id,
            expires_at,
            client_type,
            project: ProjectName::parse(project).ok()?,
            group: Group::parse(group).ok()?,
            code: (!code.is_empty()).then(|| code.to_string()),
        })
    }
}

fn length_prefixed(data: &[u8]) -> Option<(&str, &[u8])> {
    let len = usize::from(*data.first()?);
    let text = std::str::from_utf8(data.get(1..1 + len)?).ok()?;
    Some((text, &data[1 + len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LinkToken {
        LinkToken {
            link_id: LinkId([7; 16]),
            expires_at: 2_000_000_000,
            client_type: ClientType::Telegram,
            project: ProjectName::parse("acme").unwrap(),
            group: Group::parse("botB").unwrap(),
            code: None,
        }
    }

    fn key() -> LinkKey {
        LinkKey::new(b"test link secret")
    }

    #[test]
    fn round_trips_and_is_url_safe() {
        let token = sample().encode(&key());
        assert!(token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
        assert_eq!(
            LinkToken::decode(&token, &key(), 1_900_000_000),
            Ok(sample())
        );
    }

    #[test]
    fn any_altered_character_fails() {
        let token = sample().encode(&key());
        for i in 0..token.len() {
            let mut chars: Vec<char> = token.chars().collect();
            chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
            let altered: String = chars.into_iter().collect();
            assert!(
                LinkToken::decode(&altered, &key(), 0).is_err(),
                "altered at {i} accepted"
            );
        }
    }

    #[test]
    fn other_keys_and_garbage_are_refused() {
        let token = sample().encode(&key());
        let other = LinkKey::new(b"another secret");
        assert_eq!(
            LinkToken::decode(&token, &other, 0),
            Err(TokenError::BadMac)
        );
        for junk in ["", "AAAA", "!!!!", &"A".repeat(300)] {
            assert_eq!(
                LinkToken::decode(junk, &key(), 0),
                Err(TokenError::Malformed)
            );
        }
    }

    #[test]
    fn expiry_is_checked_after_the_seal() {
        let token = sample().encode(&key());
        assert_eq!(
            LinkToken::decode(&token, &key(), 2_000_000_000),
            Err(TokenError::Expired(Box::new(sample())))
        );
        assert!(LinkToken::decode(&token, &key(), 1_999_999_999).is_ok());
    }

    /// A version 1 token: HMAC-SHA256, truncated to 128 bits, over the same body.
    fn sealed_with_hmac(token: &LinkToken, secret: &[u8]) -> String {
        let mut bytes = URL_SAFE_NO_PAD
            .decode(token.encode(&LinkKey::new(secret)))
            .unwrap();
        bytes.truncate(bytes.len() - MAC_LEN);
        bytes[0] = VERSION_HMAC;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(&bytes);
        bytes.extend_from_slice(&mac.finalize().into_bytes()[..MAC_LEN]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn links_sealed_before_siphash_still_open() {
        let legacy = sealed_with_hmac(&sample(), b"test link secret");
        assert_eq!(LinkToken::decode(&legacy, &key(), 0), Ok(sample()));
        let forged = sealed_with_hmac(&sample(), b"another secret");
        assert_eq!(
            LinkToken::decode(&forged, &key(), 0),
            Err(TokenError::BadMac)
        );
    }

    #[test]
    fn a_seal_does_not_carry_over_between_versions() {
        let mut bytes = URL_SAFE_NO_PAD.decode(sample().encode(&key())).unwrap();
        assert_eq!(bytes[0], VERSION_SIPHASH);
        bytes[0] = VERSION_HMAC;
        let relabelled = URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(
            LinkToken::decode(&relabelled, &key(), 0),
            Err(TokenError::BadMac)
        );
    }

    /// Issued links must keep opening after an upgrade: the format and seal are pinned.
    #[test]
    fn the_format_is_stable() {
        assert_eq!(
            sample().encode(&key()),
            "AgcHBwcHBwcHBwcHBwcHBwd3NZQAAQRhY21lBGJvdEIAXqQfqn25e_heset53KZ92A"
        );
    }

    #[test]
    fn carries_a_code() {
        let with_code = LinkToken {
            code: Some("cli7k3m9qx2pa".into()),
            ..sample()
        };
        let token = with_code.encode(&key());
        assert_eq!(LinkToken::decode(&token, &key(), 0), Ok(with_code));
    }

    #[test]
    fn payload_is_the_link_id() {
        let id = LinkId::random();
        let payload = id.to_payload();
        assert_eq!(payload.len(), 22);
        assert_eq!(LinkId::from_payload(&payload), Some(id));
        assert_eq!(LinkId::from_payload("short"), None);
        assert_ne!(LinkId::random(), LinkId::random());
    }
}
