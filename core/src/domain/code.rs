//! Merge codes: what a client types (or sends prefilled) on WhatsApp and Instagram, where a link
//! cannot carry a hidden payload. A code is a credential: whoever sends it joins the card, so it
//! must not be guessable within its lifetime.
//!
//! Shape: `cli` + 10 characters of Crockford's base32 (no i, l, o, u): 50 random bits. With the
//! limits in `service::webhook` (5 wrong codes per sender per day) and a 7-day lifetime, a guesser
//! needs on the order of 2^50 / pending-codes tries; each sender gets 35 in a week.

const PREFIX: &str = "cli";
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const LENGTH: usize = 10;

/// Bits of randomness in a code.
pub const CODE_BITS: u32 = 50;

/// A fresh random code.
pub fn new_code() -> String {
    let bytes = super::secrets::random_bytes::<8>();
    let mut bits = u64::from_le_bytes(bytes);
    let mut code = String::with_capacity(PREFIX.len() + LENGTH);
    code.push_str(PREFIX);
    for _ in 0..LENGTH {
        code.push(char::from(ALPHABET[(bits & 31) as usize]));
        bits >>= 5;
    }
    code
}

/// The canonical form of a message that is a code: trimmed, lowercase, and Crockford's
/// look-alikes read as digits (o → 0, i/l → 1), so a code read aloud or retyped still works.
pub fn parse_code(text: &str) -> Option<String> {
    let lower = text.trim().to_ascii_lowercase();
    let body = lower.strip_prefix(PREFIX)?;
    if body.chars().count() != LENGTH {
        return None;
    }
    let canonical: Option<String> = body
        .chars()
        .map(|c| match c {
            'o' => Some('0'),
            'i' | 'l' => Some('1'),
            c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => Some(c),
            _ => None,
        })
        .collect();
    Some(format!("{PREFIX}{}", canonical?))
}

/// Whether a message looks like an attempt at a code (it counts against the sender's limit when
/// no pending code matches): `cli` followed by 3 to 20 letters and digits, with a digit among
/// them or a code's length (so words like "client" are not attempts).
pub fn looks_like_code(text: &str) -> bool {
    let lower = text.trim().to_ascii_lowercase();
    lower.strip_prefix(PREFIX).is_some_and(|rest| {
        (3..=20).contains(&rest.len())
            && rest.chars().all(|c| c.is_ascii_alphanumeric())
            && (rest.len() == LENGTH || rest.chars().any(|c| c.is_ascii_digit()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_codes_have_the_shape_and_differ() {
        let a = new_code();
        assert_eq!(a.len(), 13);
        assert!(a.starts_with("cli"));
        assert_eq!(parse_code(&a), Some(a.clone()));
        let many: std::collections::HashSet<_> = (0..1000).map(|_| new_code()).collect();
        assert_eq!(many.len(), 1000);
    }

    #[test]
    fn parsing_is_forgiving_about_case_space_and_look_alikes() {
        assert_eq!(
            parse_code("  CLI7K3M9QX2PA \n"),
            Some("cli7k3m9qx2pa".into())
        );
        assert_eq!(parse_code("cliO1LIabcdef"), Some("cli0111abcdef".into()));
        assert_eq!(parse_code("cli7k3m9qx2p"), None, "too short");
        assert_eq!(parse_code("cli7k3m9qx2pab"), None, "too long");
        assert_eq!(parse_code("cli7k3m9qx2p!"), None);
        assert_eq!(
            parse_code("cli7k3m9qx2pu"),
            None,
            "u is not in the alphabet"
        );
        assert_eq!(parse_code("hello"), None);
        assert_eq!(parse_code("cli7k3m9qx2pä"), None);
    }

    #[test]
    fn attempts_are_recognised() {
        assert!(looks_like_code("cli123"));
        assert!(looks_like_code(" CLI7K3M9QX2PA "));
        assert!(!looks_like_code("client"), "a word is not an attempt");
        assert!(!looks_like_code("cli"));
        assert!(!looks_like_code("hello cli123"));
    }
}
