//! Link tokens: what `/mlink/<token>` carries.
//!
//! A token names its link (128 random bits), says where it goes (project, bot, messenger) and
//! until when, and is sealed with a truncated HMAC-SHA256. So the redirect can answer from the
//! token alone: a forged or altered token fails its MAC and an expired one its expiry, with no
//! storage read. Single use is enforced where it matters, at the merge.
//!
//! Sealed bytes: `version(1) | link_id(16) | expires_at u32 BE (unix s) | client_type(1) |
//!  project_len(1) project | group_len(1) group | code_len(1) code | mac(16)`.
//!
//! As text (version 3, what [`LinkToken::encode`] writes): `3`, then the link's payload (the
//! link id in base64url, 22 characters), then the rest after the link id in base64url; all
//! without padding. The payload is handed to the messenger as is, so a redirect's deep link is
//! the bot's prefix followed by characters [`PAYLOAD_CHARS`] of the token: the edge answers a
//! click without building a string (README, "Measured"). Versions 1 and 2 are the whole byte
//! string in base64url (so they start with `A`); they still open.
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

/// Tokens sealed with SipHash-2-4-128, the payload leading the text; what [`LinkToken::encode`]
/// writes.
const VERSION_PAYLOAD_FIRST: u8 = 3;
/// How a version 3 token's text starts (version 1 and 2 tokens start with `A`).
const PAYLOAD_FIRST_MARK: char = '3';
/// Where a version 3 token's text holds its link's payload ([`LinkId::to_payload`]).
pub const PAYLOAD_CHARS: std::ops::Range<usize> = 1..23;
/// Tokens sealed with SipHash-2-4-128, all in one base64url string; still read.
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

    /// [`Self::to_payload`], written into a buffer on the caller's stack (every redirect).
    pub fn payload_in(self, buffer: &mut [u8; 22]) -> &str {
        // 16 bytes are always 22 base64 characters, all ASCII.
        let len = URL_SAFE_NO_PAD.encode_slice(self.0, buffer).unwrap_or(0);
        std::str::from_utf8(&buffer[..len]).unwrap_or_default()
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
            Some(&VERSION_SIPHASH | &VERSION_PAYLOAD_FIRST) => {
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
        payload_first_text(&self.sealed(key, VERSION_PAYLOAD_FIRST))
    }

    /// The sealed bytes, under `version`'s seal (SipHash for versions 2 and 3).
    fn sealed(&self, key: &LinkKey, version: u8) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(24 + 2 + 32 + 64 + MAC_LEN);
        bytes.push(version);
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
        bytes
    }

    /// Decodes and verifies a token; `now_s` is unix seconds.
    pub fn decode(token: &str, key: &LinkKey, now_s: u64) -> Result<LinkToken, TokenError> {
        let mut buffer = TOKEN_BUFFER;
        LinkTokenView::open(token, key, now_s, &mut buffer).map(|view| view.to_owned())
    }
}

/// Room for a decoded token, on the caller's stack: [`LinkTokenView`] borrows from it.
pub type TokenBuffer = [u8; MAX_TOKEN_CHARS * 3 / 4];
pub const TOKEN_BUFFER: TokenBuffer = [0; MAX_TOKEN_CHARS * 3 / 4];

/// A verified token's fields, borrowed from the buffer it was decoded into: a click opens its
/// token without allocating. The names follow [`ProjectName`]'s and [`Group`]'s rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkTokenView<'a> {
    pub link_id: LinkId,
    /// Unix seconds.
    pub expires_at: u32,
    pub client_type: ClientType,
    pub project: &'a str,
    pub group: &'a str,
    /// The merge code to send (WhatsApp, Instagram).
    pub code: Option<&'a str>,
}

impl<'a> LinkTokenView<'a> {
    /// Decodes `token` into `buffer` and verifies it; `now_s` is unix seconds.
    pub fn open(
        token: &str,
        key: &LinkKey,
        now_s: u64,
        buffer: &'a mut TokenBuffer,
    ) -> Result<Self, TokenError> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(TokenError::Malformed);
        }
        let len = decode_text(token, buffer).ok_or(TokenError::Malformed)?;
        let buffer: &'a TokenBuffer = buffer;
        let bytes = &buffer[..len];
        if bytes.len() < 1 + 16 + 4 + 1 + 3 + MAC_LEN
            || !matches!(
                bytes[0],
                VERSION_PAYLOAD_FIRST | VERSION_SIPHASH | VERSION_HMAC
            )
        {
            return Err(TokenError::Malformed);
        }
        let (data, tag) = bytes.split_at(bytes.len() - MAC_LEN);
        if !key.verify(data, tag) {
            return Err(TokenError::BadMac);
        }
        let parsed = Self::parse_body(data).ok_or(TokenError::Malformed)?;
        if u64::from(parsed.expires_at) <= now_s {
            return Err(TokenError::Expired(Box::new(parsed.to_owned())));
        }
        Ok(parsed)
    }

    fn parse_body(data: &'a [u8]) -> Option<Self> {
        let link_id = LinkId(data.get(1..17)?.try_into().ok()?);
        let expires_at = u32::from_be_bytes(data.get(17..21)?.try_into().ok()?);
        let client_type = ClientType::from_code(i64::from(*data.get(21)?)).ok()?;
        let (project, rest) = length_prefixed(data.get(22..)?)?;
        let (group, rest) = length_prefixed(rest)?;
        let (code, rest) = length_prefixed(rest)?;
        let names_ok = ProjectName::is_valid(project) && Group::is_valid(group);
        if !rest.is_empty() || !names_ok {
            return None;
        }
        Some(LinkTokenView {
            link_id,
            expires_at,
            client_type,
            project,
            group,
            code: (!code.is_empty()).then_some(code),
        })
    }

    pub fn to_owned(&self) -> LinkToken {
        LinkToken {
            link_id: self.link_id,
            expires_at: self.expires_at,
            client_type: self.client_type,
            project: ProjectName::from_valid(self.project),
            group: Group::from_valid(self.group),
            code: self.code.map(str::to_string),
        }
    }
}

/// Whether `token` is version 3 text, whose payload is characters [`PAYLOAD_CHARS`].
pub fn payload_leads(token: &str) -> bool {
    token.starts_with(PAYLOAD_FIRST_MARK)
}

/// Version 3 text: the mark, the link id (bytes 1-16) and the rest, each in base64url.
fn payload_first_text(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(1 + bytes.len() * 4 / 3 + 2);
    text.push(PAYLOAD_FIRST_MARK);
    URL_SAFE_NO_PAD.encode_string(&bytes[1..17], &mut text);
    URL_SAFE_NO_PAD.encode_string(&bytes[17..], &mut text);
    text
}

/// A token's text into its sealed bytes; the length, or `None` if it is not base64url.
fn decode_text(token: &str, buffer: &mut TokenBuffer) -> Option<usize> {
    let Some(rest) = token.strip_prefix(PAYLOAD_FIRST_MARK) else {
        // Versions 1 and 2; a stray version 3 inside is refused by the length check.
        return URL_SAFE_NO_PAD.decode_slice(token, &mut buffer[..]).ok();
    };
    let payload = rest.get(..PAYLOAD_CHARS.len())?;
    let body = rest.get(PAYLOAD_CHARS.len()..)?;
    buffer[0] = VERSION_PAYLOAD_FIRST;
    // The payload must be exactly 16 bytes (the decoder refuses non-canonical trailing bits, so
    // each link has one token text).
    let id = URL_SAFE_NO_PAD
        .decode_slice(payload, &mut buffer[1..])
        .ok()?;
    if id != 16 {
        return None;
    }
    let body = URL_SAFE_NO_PAD.decode_slice(body, &mut buffer[17..]).ok()?;
    Some(17 + body)
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
        let mut bytes = token.sealed(&LinkKey::new(secret), VERSION_HMAC);
        bytes.truncate(bytes.len() - MAC_LEN);
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
        let mut bytes = sample().sealed(&key(), VERSION_SIPHASH);
        let version_2 = URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(LinkToken::decode(&version_2, &key(), 0), Ok(sample()));
        bytes[0] = VERSION_HMAC;
        let as_version_1 = URL_SAFE_NO_PAD.encode(&bytes);
        bytes[0] = VERSION_PAYLOAD_FIRST;
        let as_version_3 = payload_first_text(&bytes);
        for relabelled in [as_version_1, as_version_3] {
            assert_eq!(
                LinkToken::decode(&relabelled, &key(), 0),
                Err(TokenError::BadMac)
            );
        }
    }

    /// Issued links must keep opening after an upgrade: the formats and seals are pinned.
    #[test]
    fn the_format_is_stable() {
        assert_eq!(
            sample().encode(&key()),
            "3BwcHBwcHBwcHBwcHBwcHBwdzWUAAEEYWNtZQRib3RCAAx1q84u3PNgOS8dyar4fUo"
        );
        let version_2 = "AgcHBwcHBwcHBwcHBwcHBwd3NZQAAQRhY21lBGJvdEIAXqQfqn25e_heset53KZ92A";
        assert_eq!(LinkToken::decode(version_2, &key(), 0), Ok(sample()));
    }

    #[test]
    fn the_payload_leads_the_token() {
        let token = LinkToken {
            link_id: LinkId::random(),
            ..sample()
        };
        let text = token.encode(&key());
        assert_eq!(&text[PAYLOAD_CHARS], token.link_id.to_payload());
        assert!(text.starts_with(PAYLOAD_FIRST_MARK));
    }

    #[test]
    fn version_3_texts_cut_short_or_padded_are_malformed() {
        let text = sample().encode(&key());
        let payload_only = &text[..PAYLOAD_CHARS.end];
        // The payload's last character holds 4 bits of the id; "x" sets the 2 bits after them.
        let loose_bits = format!("{}x{}", &text[..22], &text[23..]);
        for bad in ["3", "3AAAA", payload_only, &loose_bits, &format!("{text}=")] {
            assert_eq!(
                LinkToken::decode(bad, &key(), 0),
                Err(TokenError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn sealed_names_outside_the_rules_are_malformed() {
        let mut bytes = sample().sealed(&key(), VERSION_PAYLOAD_FIRST);
        bytes.truncate(bytes.len() - MAC_LEN);
        bytes[23] = b'A'; // "acme" -> "Acme": project names are lowercase
        let tag = key().seal(&bytes);
        bytes.extend_from_slice(&tag);
        assert_eq!(
            LinkToken::decode(&payload_first_text(&bytes), &key(), 0),
            Err(TokenError::Malformed)
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
        assert_eq!(id.payload_in(&mut [0; 22]), payload);
        assert_eq!(LinkId::from_payload(&payload), Some(id));
        assert_eq!(LinkId::from_payload("short"), None);
        assert_ne!(LinkId::random(), LinkId::random());
    }
}
