//! Identifiers, parsed once at the edge so the rest of the code can trust them.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: {rule}")]
pub struct InvalidId {
    pub what: &'static str,
    pub rule: &'static str,
}

fn all_chars(s: &str, ok: impl Fn(char) -> bool) -> bool {
    s.chars().all(ok)
}

/// For rules that admit ASCII only: a byte scan, without decoding UTF-8 (every click parses a
/// project and a bot name from its token).
fn all_ascii(s: &str, ok: impl Fn(u8) -> bool) -> bool {
    s.bytes().all(ok)
}

/// A project's name, the key of its Durable Object: `[a-z0-9][a-z0-9_-]{0,31}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProjectName(String);

impl ProjectName {
    pub const RULE: &'static str =
        "1-32 characters of a-z 0-9 _ -, starting with a letter or digit";

    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        if Self::is_valid(s) {
            Ok(ProjectName(s.to_string()))
        } else {
            Err(InvalidId {
                what: "project",
                rule: Self::RULE,
            })
        }
    }

    /// Whether `s` follows [`Self::RULE`]: a click checks the names in its token without
    /// allocating them.
    pub fn is_valid(s: &str) -> bool {
        let first_ok = s
            .bytes()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok = all_ascii(s, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-'
        });
        first_ok && rest_ok && s.len() <= 32
    }

    /// For a name already checked with [`Self::is_valid`].
    pub(crate) fn from_valid(s: &str) -> Self {
        debug_assert!(Self::is_valid(s));
        ProjectName(s.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A connected bot's id inside a project (Salebot's `group`): `[A-Za-z0-9_-]{1,64}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Group(String);

impl Group {
    pub const RULE: &'static str = "1-64 characters of A-Z a-z 0-9 _ -";

    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        if Self::is_valid(s) {
            Ok(Group(s.to_string()))
        } else {
            Err(InvalidId {
                what: "group",
                rule: Self::RULE,
            })
        }
    }

    /// Whether `s` follows [`Self::RULE`].
    pub fn is_valid(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= 64
            && all_ascii(s, |c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
    }

    /// For a name already checked with [`Self::is_valid`].
    pub(crate) fn from_valid(s: &str) -> Self {
        debug_assert!(Self::is_valid(s));
        Group(s.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A messenger's id for a user (Telegram's numeric id, Viber's base64 id, a PSID, a phone number).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

impl UserId {
    pub const RULE: &'static str = "1-128 printable characters";

    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        let ok = !s.is_empty()
            && s.len() <= 128
            && all_chars(s, |c| !c.is_control() && !c.is_whitespace());
        if ok {
            Ok(UserId(s.to_string()))
        } else {
            Err(InvalidId {
                what: "user id",
                rule: Self::RULE,
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A client card's number inside its project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientId(pub i64);

impl ClientId {
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        match s.parse::<i64>() {
            Ok(n) if n > 0 && !s.starts_with('+') => Ok(ClientId(n)),
            _ => Err(InvalidId {
                what: "client id",
                rule: "a positive integer",
            }),
        }
    }
}

macro_rules! string_id_impls {
    ($($t:ident),*) => {$(
        impl TryFrom<String> for $t {
            type Error = InvalidId;
            fn try_from(s: String) -> Result<Self, InvalidId> {
                $t::parse(&s)
            }
        }
        impl From<$t> for String {
            fn from(id: $t) -> String {
                id.0
            }
        }
        // Maps keyed by the id are looked up with a borrowed name (a click's, from its token).
        impl std::borrow::Borrow<str> for $t {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}
string_id_impls!(ProjectName, Group, UserId);

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names() {
        assert!(ProjectName::parse("acme").is_ok());
        assert!(ProjectName::parse("a-1_b").is_ok());
        assert!(ProjectName::parse(&"a".repeat(32)).is_ok());
        for bad in ["", "-a", "Acme", "a b", "a/b", &"a".repeat(33)] {
            assert!(ProjectName::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn groups() {
        assert!(Group::parse("12345").is_ok());
        assert!(Group::parse("bot_A-2").is_ok());
        for bad in ["", "a.b", "a/b", "ä", &"x".repeat(65)] {
            assert!(Group::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn user_ids_and_client_ids() {
        assert!(UserId::parse("01234567890A=").is_ok());
        assert!(UserId::parse("a b").is_err());
        assert!(UserId::parse("").is_err());
        assert_eq!(ClientId::parse("42"), Ok(ClientId(42)));
        for bad in ["0", "-1", "+3", "x", ""] {
            assert!(ClientId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn serde_validates() {
        assert!(serde_json::from_str::<Group>("\"ok\"").is_ok());
        assert!(serde_json::from_str::<Group>("\"not ok\"").is_err());
    }
}
