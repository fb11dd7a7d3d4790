//! The landing page: one big button into the messenger, what to do there, and a QR code of the
//! link for a visitor on a computer.

use super::qr::qr_svg_labelled;
use super::text::{words, Words};
use super::{escape, safe_href, Document, Lang};
use crate::domain::ClientType;

/// What a landing page shows.
#[derive(Debug, Clone, Copy)]
pub struct Landing<'a> {
    pub client_type: ClientType,
    /// The big button's target: `viber://…`, `https://wa.me/…?text=…`, `https://ig.me/m/…`.
    pub deep_link: &'a str,
    /// WhatsApp and Instagram: the code the client must send.
    pub code: Option<&'a str>,
    /// The `https://<host>/mlink/<token>` URL itself, for the QR code.
    pub link_url: &'a str,
    pub lang: Lang,
}

/// A messenger's name and button colours.
///
/// The button text is 1.25rem bold (20px), which WCAG 2 counts as large text (≥ 18.66px bold),
/// so AA asks 3:1 of it. White text gives: Telegram #229ED9 3.02:1, Messenger #0084FF 3.66:1,
/// Instagram's darkest-to-lightest stops 6.50 to 4.34:1, Viber #7360F2 4.48:1; these rely on
/// the 3:1 large-text rule. White on WhatsApp #25D366 is 1.98:1 and fails even that, so its
/// button has dark #111 text: 9.52:1, which passes 4.5:1. A test recomputes all of these.
struct Brand {
    name: &'static str,
    /// A CSS colour or gradient.
    background: &'static str,
    text: &'static str,
}

fn brand(client_type: ClientType) -> Brand {
    let (name, background, text) = match client_type {
        ClientType::Telegram => ("Telegram", "#229ED9", "#fff"),
        ClientType::Viber => ("Viber", "#7360F2", "#fff"),
        ClientType::Facebook => ("Messenger", "#0084FF", "#fff"),
        ClientType::WhatsApp => ("WhatsApp", "#25D366", "#111"),
        ClientType::Instagram => (
            "Instagram",
            "linear-gradient(45deg,#833AB4,#C13584,#E1306C)",
            "#fff",
        ),
    };
    Brand {
        name,
        background,
        text,
    }
}

/// The whole HTML document.
pub fn landing(page: &Landing) -> String {
    let words = words(page.lang);
    let brand = brand(page.client_type);
    let title = words.continue_in.replace("{m}", brand.name);
    let mut body = format!("<h1>{}</h1>\n", escape(&title));
    let code = page.code.filter(|_| takes_code(page.client_type));
    match (page.client_type, code) {
        (ClientType::Viber, _) => {
            paragraph(&mut body, words.viber_next);
            button(&mut body, page, &brand, words);
        }
        (ClientType::WhatsApp, Some(code)) => {
            paragraph(&mut body, words.whatsapp_next);
            button(&mut body, page, &brand, words);
            paragraph(&mut body, words.whatsapp_code);
            code_block(&mut body, code, words);
        }
        (ClientType::Instagram, Some(code)) => {
            paragraph(&mut body, words.instagram_next);
            code_block(&mut body, code, words);
            button(&mut body, page, &brand, words);
        }
        // Telegram and Messenger are normally a 302; WhatsApp or Instagram without a code
        // have nothing to explain either.
        _ => {
            paragraph(&mut body, &words.other_next.replace("{m}", brand.name));
            button(&mut body, page, &brand, words);
        }
    }
    qr_section(&mut body, page.link_url, words);
    let extra_style = format!(":root{{--b:{};--f:{}}}", brand.background, brand.text);
    Document {
        lang: page.lang,
        title: &title,
        extra_style: &extra_style,
        body: &body,
        copy_script: code.is_some(),
    }
    .render()
}

fn takes_code(client_type: ClientType) -> bool {
    matches!(client_type, ClientType::WhatsApp | ClientType::Instagram)
}

fn paragraph(body: &mut String, text: &str) {
    body.push_str(&format!("<p>{}</p>\n", escape(text)));
}

fn button(body: &mut String, page: &Landing, brand: &Brand, words: &Words) {
    body.push_str(&format!(
        "<p><a class=\"btn\" href=\"{}\">{}</a></p>\n",
        escape(safe_href(page.deep_link)),
        escape(&words.open_in.replace("{m}", brand.name)),
    ));
}

/// The code as selectable text; the copy button stays hidden until the script shows it, so a
/// page without JavaScript shows no dead button.
fn code_block(body: &mut String, code: &str, words: &Words) {
    body.push_str(&format!(
        concat!(
            "<p class=\"code\"><code id=\"code\">{}</code> ",
            "<button type=\"button\" id=\"copy\" data-done=\"{}\" data-fail=\"{}\" hidden>{}",
            "</button></p>\n<p class=\"mu\" id=\"status\" aria-live=\"polite\"></p>\n",
        ),
        escape(code),
        escape(words.copied),
        escape(words.copy_failed),
        escape(words.copy),
    ));
}

fn qr_section(body: &mut String, link_url: &str, words: &Words) {
    let svg = qr_svg_labelled(link_url, words.qr_label);
    if svg.is_empty() {
        return;
    }
    body.push_str(&format!(
        "<section class=\"qr\"><h2>{}</h2>\n<p class=\"mu\">{}</p>\n{svg}</section>\n",
        escape(words.qr_heading),
        escape(words.qr_hint),
    ));
}

#[cfg(test)]
mod tests {
    use super::super::tests::assert_self_contained;
    use super::*;

    /// As long as a real link: a token of ~71 bytes (project, bot, code, MAC) is 95 characters.
    const LINK: &str = concat!(
        "https://mlink.example.workers.dev/mlink/",
        "AQ3k9vZp0Q7mX2c8LrT5yWbN1hJ4sDfG6aK0eU_oIqP-VxYzR2nM8tB5cL7jH3gF9dS1aQ4wE6rT0yU2iO8pA5sD7fG3hJ"
    );

    fn page(client_type: ClientType, deep_link: &'static str, lang: Lang) -> String {
        landing(&Landing {
            client_type,
            deep_link,
            code: Some("cli7k3m9qx2pab"),
            link_url: LINK,
            lang,
        })
    }

    fn all_pages() -> Vec<(ClientType, Lang, &'static str, String)> {
        let links = [
            (
                ClientType::Telegram,
                "tg://resolve?domain=shop_bot&start=abc",
            ),
            (ClientType::Viber, "viber://pa?chatURI=shop&context=abc"),
            (ClientType::Facebook, "https://m.me/shop?ref=abc"),
            (
                ClientType::WhatsApp,
                "https://wa.me/15551234567?text=cli7k3m9qx2pab",
            ),
            (ClientType::Instagram, "https://ig.me/m/shop?ref=abc&x=1"),
        ];
        let mut pages = Vec::new();
        for (client_type, link) in links {
            for lang in [Lang::En, Lang::Ru] {
                pages.push((client_type, lang, link, page(client_type, link, lang)));
            }
        }
        pages
    }

    fn count(html: &str, needle: &str) -> usize {
        html.matches(needle).count()
    }

    #[test]
    fn every_page_has_name_colour_button_and_qr() {
        for (client_type, lang, link, html) in all_pages() {
            let brand = brand(client_type);
            let context = format!("{client_type:?} {lang:?}");
            assert_self_contained(&html, lang);
            assert!(html.contains(brand.name), "{context}");
            assert!(
                html.contains(&format!("--b:{}", brand.background)),
                "{context}"
            );
            let href = format!("<a class=\"btn\" href=\"{}\">", escape(link));
            assert_eq!(count(&html, &href), 1, "{context}");
            assert_eq!(count(&html, "<svg role=\"img\""), 1, "{context}");
            assert_eq!(count(&html, "href="), 1, "{context}: one link only");
            // Nothing is loaded from anywhere: the button's is the only URL in the page.
            let expected_https = usize::from(link.starts_with("https:"));
            assert_eq!(count(&html, "https:"), expected_https, "{context}");
        }
    }

    #[test]
    fn href_is_escaped_and_ampersands_survive() {
        let html = page(
            ClientType::Instagram,
            "https://ig.me/m/shop?ref=a&b=\"c\"",
            Lang::En,
        );
        assert!(html.contains("href=\"https://ig.me/m/shop?ref=a&amp;b=&quot;c&quot;\""));
    }

    #[test]
    fn dangerous_deep_links_become_hash() {
        for link in ["javascript:alert(1)", "data:text/html,x", "http://wa.me/1"] {
            let html = page(ClientType::WhatsApp, link, Lang::En);
            assert!(html.contains("<a class=\"btn\" href=\"#\">"), "{link}");
            assert!(!html.contains("javascript:") && !html.contains("data:"));
        }
    }

    #[test]
    fn code_and_copy_button_only_for_whatsapp_and_instagram() {
        for (client_type, lang, _, html) in all_pages() {
            let with_code = takes_code(client_type);
            let context = format!("{client_type:?} {lang:?}");
            assert_eq!(
                html.contains("<code id=\"code\">cli7k3m9qx2pab</code>"),
                with_code,
                "{context}"
            );
            assert_eq!(
                html.contains("<button type=\"button\" id=\"copy\""),
                with_code,
                "{context}"
            );
            assert_eq!(
                html.contains("aria-live=\"polite\""),
                with_code,
                "{context}"
            );
            assert_eq!(
                count(&html, "<script>"),
                usize::from(with_code),
                "{context}"
            );
            assert_eq!(html.contains("navigator.clipboard"), with_code, "{context}");
        }
    }

    #[test]
    fn texts_follow_the_language() {
        let en = page(ClientType::Instagram, "https://ig.me/m/shop", Lang::En);
        assert!(en.contains("Open Instagram and send this code in the chat, unchanged"));
        assert!(en.contains(">Copy code</button>") && en.contains("data-done=\"Copied\""));
        assert!(en.contains("<title>Continue in Instagram</title>"));
        let ru = page(ClientType::Instagram, "https://ig.me/m/shop", Lang::Ru);
        assert!(ru.contains("Откройте Instagram и отправьте в чат этот код без изменений"));
        assert!(
            ru.contains(">Скопировать код</button>") && ru.contains("data-done=\"Скопировано\"")
        );
        assert!(ru.contains("Открыть в Instagram</a>"));
        let wa = page(ClientType::WhatsApp, "https://wa.me/1?text=x", Lang::En);
        assert!(wa.contains("WhatsApp opens with a message already typed: send it unchanged."));
        let viber = page(ClientType::Viber, "viber://pa?chatURI=x", Lang::Ru);
        assert!(viber.contains("Вы за компьютером?") && viber.contains("камеру телефона"));
        let messenger = page(ClientType::Facebook, "https://m.me/x", Lang::En);
        assert!(messenger.contains("Open in Messenger</a>"));
    }

    #[test]
    fn without_a_code_instagram_falls_back_to_a_plain_button() {
        let html = landing(&Landing {
            client_type: ClientType::Instagram,
            deep_link: "https://ig.me/m/shop",
            code: None,
            link_url: LINK,
            lang: Lang::En,
        });
        assert!(html.contains("Tap the button to open the chat in Instagram."));
        assert!(!html.contains("<code") && !html.contains("<script"));
    }

    #[test]
    fn code_is_escaped() {
        let html = landing(&Landing {
            client_type: ClientType::WhatsApp,
            deep_link: "https://wa.me/1",
            code: Some("<b>&"),
            link_url: LINK,
            lang: Lang::En,
        });
        assert!(html.contains("<code id=\"code\">&lt;b&gt;&amp;</code>"));
    }

    /// WCAG 2 relative luminance of `#RRGGBB`.
    fn luminance(hex: &str) -> f64 {
        let channel = |i: usize| {
            let c = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap()) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5)
    }

    fn contrast(a: &str, b: &str) -> f64 {
        let (a, b) = (luminance(a), luminance(b));
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    fn long_hex(short: &str) -> String {
        short.chars().flat_map(|c| [c, c]).skip(1).collect()
    }

    #[test]
    fn button_text_meets_wcag_aa_for_large_bold_text() {
        // The large-text rule holds only while the button text stays 20px bold.
        let style = super::super::STYLE;
        assert!(style.contains("font-size:1.25rem;font-weight:700"));
        assert!(style.contains(
            ".btn{display:flex;align-items:center;justify-content:center;min-height:3.25rem"
        ));
        for client_type in ClientType::ALL {
            let brand = brand(client_type);
            let text = long_hex(brand.text);
            let stops: Vec<&str> = brand
                .background
                .split('#')
                .skip(1)
                .map(|s| &s[..6])
                .collect();
            assert!(!stops.is_empty());
            for stop in stops {
                let ratio = contrast(&format!("#{stop}"), &text);
                assert!(ratio >= 3.0, "{client_type:?} #{stop}: {ratio:.2}");
            }
        }
        assert!(contrast("#25D366", &long_hex("#111")) >= 4.5);
        assert!(
            contrast("#25D366", "#FFFFFF") < 3.0,
            "why WhatsApp has dark text"
        );
    }

    #[test]
    fn sizes() {
        for (client_type, lang, _, html) in all_pages() {
            let svg_start = html.find("<svg").unwrap();
            let svg_len = html[svg_start..].find("</svg>").unwrap() + "</svg>".len();
            let without_qr = html.len() - svg_len;
            println!(
                "landing {client_type:?} {lang:?}: {} bytes, {without_qr} without the QR",
                html.len()
            );
            assert!(
                without_qr < 6 * 1024,
                "{client_type:?} {lang:?}: {without_qr}"
            );
        }
    }
}
