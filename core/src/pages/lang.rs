//! The page's language, chosen from the browser's `Accept-Language`.

/// The languages the pages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Ru,
}

/// Where a language stands in the header: its weight (q × 1000, so no floats are compared)
/// and its position, which breaks ties (browsers list equal weights by preference).
#[derive(Debug, Clone, Copy)]
struct Rank {
    weight: u16,
    position: usize,
}

impl Lang {
    /// The `lang` attribute value.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ru => "ru",
        }
    }

    /// Russian when, of Russian and English, the browser prefers Russian; English otherwise
    /// (missing header, neither listed, garbage). `*` stands for English only when English is
    /// not listed itself, as RFC 9110 says a wildcard covers the languages not named.
    pub fn from_accept_language(header: Option<&str>) -> Lang {
        let (mut ru, mut en, mut any) = (None, None, None);
        for (position, item) in header.unwrap_or_default().split(',').enumerate() {
            let Some((primary, weight)) = parse_item(item) else {
                continue;
            };
            let slot = match primary.as_str() {
                "ru" => &mut ru,
                "en" => &mut en,
                "*" => &mut any,
                _ => continue,
            };
            keep_best(slot, Rank { weight, position });
        }
        match (ru, en.or(any)) {
            (Some(ru), Some(en)) if prefers(ru, en) => Lang::Ru,
            (Some(ru), None) if ru.weight > 0 => Lang::Ru,
            _ => Lang::En,
        }
    }
}

fn prefers(a: Rank, b: Rank) -> bool {
    a.weight > b.weight || (a.weight > 0 && a.weight == b.weight && a.position < b.position)
}

/// A language listed twice (`ru-RU, ru;q=0.9`) counts with its best weight.
fn keep_best(slot: &mut Option<Rank>, rank: Rank) {
    if slot.is_none_or(|best| rank.weight > best.weight) {
        *slot = Some(rank);
    }
}

/// `ru-RU;q=0.8` → `("ru", 800)`. `None` for anything malformed, which is then ignored.
fn parse_item(item: &str) -> Option<(String, u16)> {
    let mut parts = item.split(';');
    let tag = parts.next()?.trim();
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '-';
    if tag.is_empty() || !(tag == "*" || tag.chars().all(valid)) {
        return None;
    }
    let mut weight = 1000;
    for param in parts {
        let (name, value) = param.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("q") {
            weight = parse_weight(value.trim())?;
        }
    }
    let primary = tag.split('-').next()?.to_ascii_lowercase();
    Some((primary, weight))
}

/// A q-value as RFC 9110 writes it (`0`, `1`, `0.8`, `1.000`, at most three decimals), in
/// thousandths. Read by hand: a float parser would add kilobytes to the wasm module.
fn parse_weight(value: &str) -> Option<u16> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if !matches!(whole, "0" | "1") || fraction.len() > 3 || !digits(fraction) {
        return None;
    }
    let thousandths: u16 = format!("{fraction:0<3}").parse().ok()?;
    let weight = if whole == "1" {
        1000 + thousandths
    } else {
        thousandths
    };
    (weight <= 1000).then_some(weight)
}

#[cfg(test)]
mod tests {
    use super::Lang::{En, Ru};
    use super::*;

    fn lang(header: &str) -> Lang {
        Lang::from_accept_language(Some(header))
    }

    #[test]
    fn plain_preferences() {
        assert_eq!(Lang::from_accept_language(None), En);
        assert_eq!(lang(""), En);
        assert_eq!(lang("ru"), Ru);
        assert_eq!(lang("ru-RU"), Ru);
        assert_eq!(lang("RU-ru"), Ru);
        assert_eq!(lang("en"), En);
        assert_eq!(lang("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7"), Ru);
        assert_eq!(lang("en-US,en;q=0.9,ru;q=0.8"), En);
    }

    #[test]
    fn only_russian_and_english_compete() {
        assert_eq!(lang("uk"), En, "Ukrainian is not Russian");
        assert_eq!(lang("uk,ru;q=0.9"), Ru);
        assert_eq!(lang("de,en;q=0.5,ru;q=0.4"), En);
        assert_eq!(lang("be, kk;q=0.9, ru;q=0.1"), Ru);
    }

    #[test]
    fn weights_beat_order_and_order_breaks_ties() {
        assert_eq!(lang("ru;q=0.5,en;q=0.8"), En);
        assert_eq!(lang("en;q=0.5,ru"), Ru);
        assert_eq!(lang("ru , en"), Ru);
        assert_eq!(lang("en,ru"), En);
        assert_eq!(lang("en;q=0.5,ru-RU;q=0.4,ru;q=0.9"), Ru);
        assert_eq!(lang("ru ; Q=0.9 , en;q=0.3"), Ru);
    }

    #[test]
    fn zero_means_not_acceptable() {
        assert_eq!(lang("ru;q=0"), En);
        assert_eq!(lang("ru;q=0,en;q=0"), En);
        assert_eq!(lang("en;q=0,ru;q=0.1"), Ru);
    }

    #[test]
    fn wildcard_stands_for_unlisted_english() {
        assert_eq!(lang("*"), En);
        assert_eq!(lang("ru;q=0.5,*;q=0.8"), En);
        assert_eq!(lang("ru,*"), Ru);
        assert_eq!(lang("*,ru"), En);
        assert_eq!(lang("en;q=0,ru;q=0.2,*"), Ru, "English refused by name");
    }

    #[test]
    fn garbage_is_ignored() {
        for header in [
            ";;;,,,", "ru;q=abc", "ru;q=2", "ru;q=-1", "ru;q=NaN", "ru;q=inf",
        ] {
            assert_eq!(lang(header), En, "{header:?}");
        }
        assert_eq!(lang("русский"), En);
        assert_eq!(lang("ru;q"), En);
        assert_eq!(lang("ru_RU"), En);
        assert_eq!(lang("en;q=bad,ru;q=0.1"), Ru);
        assert_eq!(lang(&"x,".repeat(10_000)), En);
    }
}
