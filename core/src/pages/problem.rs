//! The pages for a link that cannot be followed.

use super::text::words;
use super::{escape, Document, Lang};

/// Why a link cannot be followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Problem {
    /// Forged, mistyped, or for a bot that is gone (404).
    Unknown,
    /// Past its expiry (410).
    Expired,
    /// Already used (410).
    Used,
    /// The link's bot could not be looked up just now (503).
    Unavailable,
}

/// The whole HTML document: what happened and what to do about it.
pub fn problem(problem: Problem, lang: Lang) -> String {
    let words = words(lang);
    let (title, hint) = match problem {
        Problem::Unknown => words.unknown,
        Problem::Expired => words.expired,
        Problem::Used => words.used,
        Problem::Unavailable => words.unavailable,
    };
    let body = format!("<h1>{}</h1>\n<p>{}</p>\n", escape(title), escape(hint));
    Document {
        lang,
        title,
        extra_style: "",
        body: &body,
        copy_script: false,
    }
    .render()
}

#[cfg(test)]
mod tests {
    use super::super::tests::assert_self_contained;
    use super::*;

    const ALL: [Problem; 4] = [
        Problem::Unknown,
        Problem::Expired,
        Problem::Used,
        Problem::Unavailable,
    ];

    #[test]
    fn each_page_says_what_happened_in_its_language() {
        let expected = [
            (
                Problem::Unknown,
                Lang::En,
                "We don&#39;t know this link",
                "ask the bot for a new one",
            ),
            (
                Problem::Expired,
                Lang::En,
                "This link has expired",
                "in the messenger you use",
            ),
            (
                Problem::Used,
                Lang::En,
                "This link has already been used",
                "If it was you, just open the messenger",
            ),
            (
                Problem::Unavailable,
                Lang::En,
                "This link cannot be opened right now",
                "Try again in a minute",
            ),
            (
                Problem::Unknown,
                Lang::Ru,
                "Мы не знаем такой ссылки",
                "попросите у бота новую",
            ),
            (
                Problem::Expired,
                Lang::Ru,
                "Срок действия ссылки истёк",
                "в том мессенджере",
            ),
            (
                Problem::Used,
                Lang::Ru,
                "Эта ссылка уже использована",
                "Если это были вы, просто откройте мессенджер",
            ),
            (
                Problem::Unavailable,
                Lang::Ru,
                "Сейчас ссылку не открыть",
                "Попробуйте через минуту",
            ),
        ];
        for (problem_kind, lang, title, hint) in expected {
            let html = problem(problem_kind, lang);
            assert_self_contained(&html, lang);
            assert!(html.contains(&format!("<title>{title}</title>")), "{html}");
            assert!(html.contains(&format!("<h1>{title}</h1>")), "{html}");
            assert!(html.contains(hint), "{html}");
            assert!(!html.contains("<script") && !html.contains("href="));
        }
    }

    #[test]
    fn pages_differ_and_stay_small() {
        for lang in [Lang::En, Lang::Ru] {
            let pages = ALL.map(|p| problem(p, lang));
            assert!(pages[0] != pages[1] && pages[1] != pages[2] && pages[2] != pages[3]);
            for (kind, html) in ALL.iter().zip(&pages) {
                println!("problem {kind:?} {lang:?}: {} bytes", html.len());
                assert!(html.len() < 3 * 1024);
            }
        }
    }
}
