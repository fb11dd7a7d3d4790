//! The HTML pages a click on `/mlink/<token>` may show, rendered per request.
//!
//! - [`landing`]: where a 302 is not enough: Viber (a desktop browser cannot follow `viber://`),
//!   WhatsApp (the prefilled code must be sent unchanged; desktops see the page) and Instagram
//!   (the client sends a code in the DM, so the page shows it with a copy button).
//! - [`problem`]: unknown (404), expired (410) and used (410) links.
//! - [`qr_svg`]: the QR code a desktop visitor scans to continue on their phone.
//!
//! Pages are self-contained: CSS inline, no fonts, images, trackers or third-party anything, and
//! the only script is the copy button's, which the page works without. Serve them with
//! [`RESPONSE_HEADERS`].

mod landing;
mod lang;
mod problem;
mod qr;
mod text;

pub use landing::{landing, Landing};
pub use lang::Lang;
pub use problem::{problem, Problem};
pub use qr::qr_svg;

/// Headers for every page. The script is allowed by its hash (a test keeps it in step with
/// `copy.js`); styles need `'unsafe-inline'` as each landing page sets its brand colours.
/// `no-store`: a landing page carries the client's code. `no-referrer`: the link's token must
/// not reach the messenger's site in `Referer`.
pub const RESPONSE_HEADERS: [(&str, &str); 5] = [
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; \
         script-src 'sha256-P7/IZNaOgmDCdZTzE+3mThCrgYzvBIC1k6N8mHqeu8Y='; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
];

const STYLE: &str = include_str!("style.css").trim_ascii();
const COPY_SCRIPT: &str = include_str!("copy.js").trim_ascii();

/// The parts of a page that differ; the shell around them is the same for all pages.
struct Document<'a> {
    lang: Lang,
    title: &'a str,
    /// Appended to the stylesheet: the brand's colours.
    extra_style: &'a str,
    body: &'a str,
    copy_script: bool,
}

impl Document<'_> {
    fn render(&self) -> String {
        let script = if self.copy_script { COPY_SCRIPT } else { "" };
        let mut html = String::with_capacity(STYLE.len() + script.len() + self.body.len() + 400);
        html.push_str("<!doctype html>\n<html lang=\"");
        html.push_str(self.lang.code());
        html.push_str(concat!(
            "\"><head><meta charset=\"utf-8\">",
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">",
            // The pages are per link: nothing to index, and the token must not leak.
            "<meta name=\"robots\" content=\"noindex\">",
            "<meta name=\"referrer\" content=\"no-referrer\">\n<title>",
        ));
        html.push_str(&escape(self.title));
        html.push_str("</title>\n<style>\n");
        html.push_str(STYLE);
        html.push('\n');
        html.push_str(self.extra_style);
        html.push_str("\n</style></head>\n<body><main>\n");
        html.push_str(self.body);
        html.push_str("</main>");
        if self.copy_script {
            html.push_str("\n<script>");
            html.push_str(script);
            html.push_str("</script>");
        }
        html.push_str("</body></html>\n");
        html
    }
}

/// Escapes text for HTML content and quoted attribute values alike.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// `url` if its scheme is one a deep link uses, else `#`: a `javascript:` or `data:` href would
/// run in our origin. Whitespace and control characters are refused outright because browsers
/// strip them, so `java\tscript:` would otherwise slip past the prefix check.
fn safe_href(url: &str) -> &str {
    const SCHEMES: [&str; 3] = ["https:", "viber:", "tg:"];
    let allowed = SCHEMES.iter().any(|scheme| {
        url.get(..scheme.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(scheme))
    });
    let clean = !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if allowed && clean {
        url
    } else {
        "#"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use sha2::{Digest, Sha256};

    /// What every page must be: a whole document in its language that loads nothing.
    pub(super) fn assert_self_contained(html: &str, lang: Lang) {
        assert!(html.starts_with("<!doctype html>\n<html lang=\""));
        assert!(html.contains(&format!("<html lang=\"{}\">", lang.code())));
        for part in ["<title>", "<main>", "<h1>", "name=\"viewport\"", "<style>"] {
            assert!(html.contains(part), "missing {part}");
        }
        for banned in [
            "<script src",
            "<link",
            "<img",
            "<iframe",
            "url(",
            "@import",
            "http://",
        ] {
            assert!(!html.contains(banned), "found {banned}");
        }
    }

    #[test]
    fn escape_covers_the_five_characters() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("привет"), "привет");
    }

    #[test]
    fn only_deep_link_schemes_reach_href() {
        for ok in [
            "https://wa.me/15551234567?text=cli7",
            "HTTPS://ig.me/m/shop?ref=x",
            "viber://pa?chatURI=shop&context=abc",
            "tg://resolve?domain=bot&start=abc",
        ] {
            assert_eq!(safe_href(ok), ok);
        }
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            " javascript:alert(1)",
            "java\tscript:alert(1)",
            "https:\n//x",
            "data:text/html,<script>alert(1)</script>",
            "http://example.com",
            "//example.com",
            "vbscript:x",
            "",
            "ht",
            "tg",
        ] {
            assert_eq!(safe_href(bad), "#", "{bad:?}");
        }
    }

    #[test]
    fn csp_allows_exactly_the_copy_script() {
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(COPY_SCRIPT));
        let csp = RESPONSE_HEADERS[4].1;
        assert!(
            csp.contains(&format!("'sha256-{hash}'")),
            "update the CSP's script hash to {hash}"
        );
    }

    #[test]
    fn shell_without_script_has_none() {
        let doc = Document {
            lang: Lang::Ru,
            title: "a<b",
            extra_style: "",
            body: "<h1>x</h1>",
            copy_script: false,
        };
        let html = doc.render();
        assert_self_contained(&html, Lang::Ru);
        assert!(html.contains("<title>a&lt;b</title>"));
        assert!(!html.contains("<script"));
    }
}
