//! The edge: everything `GET /mlink/<token>` needs, for a module that does no I/O itself.
//!
//! The worker's JS entry owns the I/O: it hands each click to [`Edge::click`] and carries out
//! the [`Answer`] (a redirect, a page, or "look this bot up in KV, else ask its project, then
//! ask me again"). Kept apart from the API and webhooks so the click's path is a small module
//! compiled for speed (see `edge/` and README, "Measured").

use super::redirect::{problem_status, Click, Decision, Device, EdgeMemory};
use crate::domain::time::Millis;
use crate::domain::token::{LinkId, LinkKey};
use crate::domain::{ClientType, Group, ProjectName};
use crate::http::path_and_query;
use crate::messengers::PublicBot;
use crate::pages::{self, Landing, Lang, Problem};
use crate::service::routes::Route;
use crate::service::MAX_BODY_BYTES;

/// How long an isolate trusts what it learned about a bot.
pub const BOT_TTL_MS: Millis = 60_000;

/// Internal path on a project's object: a bot's public redirect data (its record, 404 if none).
pub const PUBLIC_BOT_PATH: &str = "/internal/public-bot/";
/// Internal path on a project's object: a link's first click in an isolate (the funnel).
pub const OPENED_PATH: &str = "/internal/opened/";
/// Header by which the project's object tells the edge which links a webhook used up.
pub const USED_LINKS_HEADER: &str = "x-mlink-used-links";

/// The KV key under which a bot's public redirect data is kept.
pub fn bot_key(project: &ProjectName, group: &Group) -> String {
    format!("bot:{project}/{group}")
}

/// The object URL behind an internal path (Durable Object stubs ignore the host).
fn object_url(path: &str, rest: &str) -> String {
    format!("https://project.invalid{path}{rest}")
}

/// What the JS entry must do with a click.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 302 to `location`.
    Redirect {
        location: String,
        open: Option<Open>,
    },
    /// An HTML page, which the worker's module renders from the spec (pages stay out of the
    /// click's module: see `edge/`).
    Page {
        status: u16,
        spec: PageSpec,
        open: Option<Open>,
    },
    /// Click again with the User-Agent: the way depends on the device.
    NeedDevice,
    /// Read `kv_key` from KV (else fetch `object_url` from `project`'s object: 200 with the
    /// record, or 404), hand the record to [`Edge::learn_bot`], and click again.
    LookUpBot {
        project: ProjectName,
        group: Group,
        kv_key: String,
        object_url: String,
    },
}

/// What [`Edge::slot_or_click`] answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clicked {
    /// The common click: the slot of its bot's deep-link prefix.
    Slot(u32),
    Answer(Answer),
}

/// A link's first click here, to report to its project after answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    pub project: ProjectName,
    pub url: String,
}

impl Answer {
    /// The answer as one string for the JS entry, cheap to produce and to read:
    /// an optional `O<project> <url>\n` line (report an open), then `R<location>`,
    /// `P<status><page spec>`, `D` (click again with the User-Agent) or
    /// `B<project> <group> <kv key> <object url>`.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        self.encode_into(&mut out);
        out
    }

    /// [`Self::encode`], appended to `out`: the edge module reuses one buffer for every click.
    pub fn encode_into(&self, out: &mut String) {
        use std::fmt::Write;
        // Writing into a String cannot fail.
        let open_line = |out: &mut String, open: &Option<Open>| {
            if let Some(Open { project, url }) = open {
                let _ = writeln!(out, "O{project} {url}");
            }
        };
        match self {
            Answer::Redirect { location, open } => {
                open_line(out, open);
                out.push('R');
                out.push_str(location);
            }
            Answer::Page { status, spec, open } => {
                open_line(out, open);
                let _ = write!(out, "P{status}{}", spec.encode());
            }
            Answer::NeedDevice => out.push('D'),
            Answer::LookUpBot {
                project,
                group,
                kv_key,
                object_url,
            } => {
                let _ = write!(out, "B{project} {group} {kv_key} {object_url}");
            }
        }
    }
}

/// Which page to show; encoded by the edge, rendered by the worker's module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageSpec {
    Problem(Problem),
    Landing {
        client_type: ClientType,
        deep_link: String,
        code: Option<String>,
        /// The link itself, for the QR code.
        link_url: String,
    },
}

impl PageSpec {
    fn status(&self) -> u16 {
        match self {
            PageSpec::Problem(problem) => problem_status(*problem),
            PageSpec::Landing { .. } => 200,
        }
    }

    /// `unknown`, `expired`, `used`, `unavailable`, or
    /// `landing <client_type> <code or -> <link url> <deep link>` (the deep link last: only it
    /// could ever hold a space).
    pub fn encode(&self) -> String {
        match self {
            PageSpec::Problem(problem) => problem_name(*problem).to_string(),
            PageSpec::Landing {
                client_type,
                deep_link,
                code,
                link_url,
            } => {
                let code = code.as_deref().unwrap_or(NO_CODE);
                format!(
                    "landing {} {code} {link_url} {deep_link}",
                    client_type.code()
                )
            }
        }
    }

    pub fn decode(spec: &str) -> Option<PageSpec> {
        let Some(landing) = spec.strip_prefix("landing ") else {
            let problem = PROBLEMS.into_iter().find(|p| problem_name(*p) == spec)?;
            return Some(PageSpec::Problem(problem));
        };
        let mut parts = landing.splitn(4, ' ');
        let client_type = ClientType::from_code(parts.next()?.parse().ok()?).ok()?;
        let code = Some(parts.next()?).filter(|c| *c != NO_CODE);
        let link_url = parts.next()?.to_string();
        let deep_link = parts.next().filter(|d| !d.is_empty())?.to_string();
        Some(PageSpec::Landing {
            client_type,
            deep_link,
            code: code.map(str::to_string),
            link_url,
        })
    }

    /// The status and HTML document, in the language the browser prefers.
    pub fn render(&self, accept_language: Option<&str>) -> (u16, String) {
        let lang = Lang::from_accept_language(accept_language);
        let html = match self {
            PageSpec::Problem(problem) => pages::problem(*problem, lang),
            PageSpec::Landing {
                client_type,
                deep_link,
                code,
                link_url,
            } => pages::landing(&Landing {
                client_type: *client_type,
                deep_link,
                code: code.as_deref(),
                link_url,
                lang,
            }),
        };
        (self.status(), html)
    }
}

const NO_CODE: &str = "-";

const PROBLEMS: [Problem; 4] = [
    Problem::Unknown,
    Problem::Expired,
    Problem::Used,
    Problem::Unavailable,
];

fn problem_name(problem: Problem) -> &'static str {
    match problem {
        Problem::Unknown => "unknown",
        Problem::Expired => "expired",
        Problem::Used => "used",
        Problem::Unavailable => "unavailable",
    }
}

/// One isolate's edge: the link key, the public base URL (for the QR code), and what the
/// isolate has learned.
pub struct Edge {
    key: LinkKey,
    public_base_url: String,
    memory: EdgeMemory,
}

impl Edge {
    pub fn new(link_secret: &str, public_base_url: &str) -> Result<Edge, &'static str> {
        if link_secret.is_empty() {
            return Err("the LINK_SECRET secret is not set");
        }
        if public_base_url.is_empty() {
            return Err("the PUBLIC_BASE_URL var is not set");
        }
        Ok(Edge {
            key: LinkKey::new(link_secret.as_bytes()),
            public_base_url: public_base_url.trim_end_matches('/').to_string(),
            memory: EdgeMemory::new(BOT_TTL_MS),
        })
    }

    /// `tail` is what follows `/mlink/` in the request's URL, up to its end (a query string and
    /// fragment are dropped here); anything but a token is an unknown link. `user_agent`: `None`
    /// while the header is unread; most clicks do not need it ([`Answer::NeedDevice`] asks).
    pub fn click(&mut self, tail: &str, now: Millis, user_agent: Option<Option<&str>>) -> Answer {
        let Some(token) = token_in(tail) else {
            return page(PageSpec::Problem(Problem::Unknown), None);
        };
        let device = user_agent.map(Device::from_user_agent);
        let click = self.memory.click(token, &self.key, now, device);
        self.answer(token, click)
    }

    /// The common click as a slot ([`EdgeMemory::redirect_slot`]: its deep link is
    /// [`Self::redirect_prefix`] of the slot followed by the token's payload, and the token
    /// starts `tail`), else [`Self::click`]'s answer without the device.
    pub fn slot_or_click(&mut self, tail: &str, now: Millis) -> Clicked {
        let Some(token) = token_in(tail) else {
            return Clicked::Answer(page(PageSpec::Problem(Problem::Unknown), None));
        };
        match self.memory.slot_or_click(token, &self.key, now) {
            Ok(slot) => Clicked::Slot(slot),
            Err(click) => Clicked::Answer(self.answer(token, click)),
        }
    }

    fn answer(&self, token: &str, click: Click) -> Answer {
        let Click {
            decision,
            first_open,
        } = click;
        let open = first_open.map(|(project, link)| Open {
            url: object_url(OPENED_PATH, &link.to_payload()),
            project,
        });
        match decision {
            Decision::Redirect(location) => Answer::Redirect { location, open },
            Decision::Landing {
                client_type,
                deep_link,
                code,
            } => {
                let link_url = format!("{}/mlink/{token}", self.public_base_url);
                let spec = PageSpec::Landing {
                    client_type,
                    deep_link,
                    code,
                    link_url,
                };
                page(spec, open)
            }
            Decision::Page(problem) => page(PageSpec::Problem(problem), open),
            Decision::NeedDevice => Answer::NeedDevice,
            Decision::LookUpBot(project, group) => Answer::LookUpBot {
                kv_key: bot_key(&project, &group),
                object_url: object_url(PUBLIC_BOT_PATH, group.as_str()),
                project,
                group,
            },
        }
    }

    /// Learns a bot from its record in KV or its project's object ([`PublicBot::to_record`];
    /// `None`: no such bot).
    pub fn learn_bot(
        &mut self,
        project: &str,
        group: &str,
        record: Option<&str>,
        now: Millis,
    ) -> Result<(), &'static str> {
        let project = ProjectName::parse(project).map_err(|_| "not a project name")?;
        let group = Group::parse(group).map_err(|_| "not a bot name")?;
        let bot = match record {
            None => None,
            Some(record) => Some(PublicBot::from_record(record).ok_or("not a bot's record")?),
        };
        self.memory.learn_bot(project, group, bot, now);
        Ok(())
    }

    /// The deep-link prefix in `slot` ([`Self::slot_or_click`]).
    pub fn redirect_prefix(&self, slot: u32) -> Option<&str> {
        self.memory.prefix(slot)
    }

    /// Learns the links a webhook used up (the [`USED_LINKS_HEADER`] list).
    pub fn learn_used(&mut self, ids: &str) {
        ids.split(',')
            .filter_map(LinkId::from_payload)
            .for_each(|id| self.memory.learn_used(id));
    }
}

/// The project whose object takes this request straight from the JS entry: a messenger's
/// webhook (`POST`) that declares a body within the limit. The object checks everything else
/// (the route again, the bot, the signature); all other requests, and every error answer, go
/// through the worker's module.
pub fn webhook_project(
    method: &str,
    url: &str,
    content_length: Option<&str>,
) -> Option<ProjectName> {
    if method != "POST" {
        return None;
    }
    let declared: usize = content_length?.trim().parse().ok()?;
    if declared > MAX_BODY_BYTES {
        return None;
    }
    Route::webhook_path(path_and_query(url).0).map(|(project, _)| project)
}

/// The answer when the bot could not be looked up (storage unreachable).
pub fn unavailable() -> Answer {
    page(PageSpec::Problem(Problem::Unavailable), None)
}

fn page(spec: PageSpec, open: Option<Open>) -> Answer {
    Answer::Page {
        status: spec.status(),
        spec,
        open,
    }
}

/// The token in what follows `/mlink/` in a URL, without a query or fragment.
fn token_in(tail: &str) -> Option<&str> {
    let token = tail.split(['?', '#']).next().unwrap_or_default();
    (!token.is_empty() && !token.contains('/')).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhooks_within_the_size_limit_go_straight_to_their_project() {
        let url = "https://m.example/webhooks/acme/botB";
        let acme = ProjectName::parse("acme").ok();
        assert_eq!(webhook_project("POST", url, Some("120")), acme);
        assert_eq!(
            webhook_project("POST", url, Some(&MAX_BODY_BYTES.to_string())),
            acme
        );
        // Everything else takes the worker's module, which answers the errors.
        let too_big = (MAX_BODY_BYTES + 1).to_string();
        assert_eq!(webhook_project("POST", url, Some(&too_big)), None);
        assert_eq!(webhook_project("POST", url, None), None, "chunked");
        assert_eq!(webhook_project("POST", url, Some("12x")), None);
        assert_eq!(
            webhook_project("GET", url, Some("0")),
            None,
            "Meta's handshake"
        );
        let other = "https://m.example/api/v1/projects/acme";
        assert_eq!(webhook_project("POST", other, Some("2")), None);
    }
    use crate::domain::token::{LinkToken, PAYLOAD_CHARS};

    const SECRET: &str = "edge test secret";
    const BASE: &str = "https://m.example";
    const DESKTOP: Option<Option<&str>> = Some(Some("Mozilla/5.0 (X11; Linux x86_64)"));

    fn link(client_type: ClientType, code: Option<&str>) -> (String, LinkId) {
        let id = LinkId::random();
        let token = LinkToken {
            link_id: id,
            expires_at: 2_000_000_000,
            client_type,
            project: ProjectName::parse("acme").unwrap(),
            group: Group::parse("b").unwrap(),
            code: code.map(str::to_string),
        };
        let key = LinkKey::new(SECRET.as_bytes());
        (format!("{BASE}/mlink/{}", token.encode(&key)), id)
    }

    /// What the entry hands the edge: the URL after `/mlink/`.
    fn tail(url: &str) -> &str {
        url.split_once("/mlink/").unwrap().1
    }

    fn edge() -> Edge {
        Edge::new(SECRET, "https://m.example/").unwrap()
    }

    const TELEGRAM_BOT: &str = "telegram AcmeBot";

    #[test]
    fn looks_up_then_redirects_and_reports_the_first_open_once() {
        let mut edge = edge();
        let (url, id) = link(ClientType::Telegram, None);
        assert_eq!(
            edge.click(tail(&url), 1_000, DESKTOP).encode(),
            "Bacme b bot:acme/b https://project.invalid/internal/public-bot/b"
        );
        edge.learn_bot("acme", "b", Some(TELEGRAM_BOT), 1_000)
            .unwrap();
        let location = format!("https://t.me/AcmeBot?start={}", id.to_payload());
        assert_eq!(
            edge.click(tail(&url), 2_000, DESKTOP).encode(),
            format!(
                "Oacme https://project.invalid/internal/opened/{}\nR{location}",
                id.to_payload()
            )
        );
        assert_eq!(
            edge.click(tail(&url), 3_000, DESKTOP).encode(),
            format!("R{location}")
        );
        // The same click, answered as a slot: the prefix, then the token's payload (the token
        // starts the tail, query string or not).
        let token = tail(&url);
        let Clicked::Slot(slot) = edge.slot_or_click(token, 3_000) else {
            panic!("no slot for an opened link");
        };
        let prefix = edge.redirect_prefix(slot).unwrap();
        assert_eq!(format!("{prefix}{}", &token[PAYLOAD_CHARS]), location);
        assert_eq!(
            edge.slot_or_click(&format!("{token}?utm=x"), 3_000),
            Clicked::Slot(slot)
        );
        assert_eq!(edge.redirect_prefix(slot + 1), None);
        // After the bot's minute in memory, the isolate asks again.
        assert!(matches!(
            edge.click(tail(&url), 1_000 + BOT_TTL_MS, DESKTOP),
            Answer::LookUpBot { .. }
        ));
        assert!(matches!(
            edge.slot_or_click(token, 1_000 + BOT_TTL_MS),
            Clicked::Answer(Answer::LookUpBot { .. })
        ));
    }

    #[test]
    fn unknown_bots_bad_tokens_and_used_links_get_problem_pages() {
        let mut edge = edge();
        let (url, id) = link(ClientType::Telegram, None);
        edge.learn_bot("acme", "b", None, 0).unwrap();
        assert_eq!(edge.click(tail(&url), 0, DESKTOP).encode(), "P404unknown");
        edge.learn_bot("acme", "b", Some(TELEGRAM_BOT), 0).unwrap();
        edge.learn_used(&format!("junk,{}", id.to_payload()));
        assert_eq!(edge.click(tail(&url), 0, DESKTOP).encode(), "P410used");
        assert_eq!(
            edge.click(tail(&format!("{url}x")), 0, DESKTOP).encode(),
            "P404unknown"
        );
        assert_eq!(edge.click("a/b", 0, DESKTOP).encode(), "P404unknown");
        assert_eq!(unavailable().encode(), "P503unavailable");
    }

    #[test]
    fn landing_pages_carry_the_code_and_the_link_for_the_qr_code() {
        let mut edge = edge();
        let (url, _) = link(ClientType::Instagram, Some("cli7k3m9qx2pa"));
        edge.learn_bot("acme", "b", Some("instagram acme"), 0)
            .unwrap();
        let encoded = edge.click(tail(&url), 0, DESKTOP).encode();
        let (open, page) = encoded.split_once('\n').unwrap();
        assert!(
            !matches!(edge.click(tail(&url), 0, None), Answer::NeedDevice),
            "Instagram: a page"
        );
        assert!(open.starts_with("Oacme https://project.invalid/internal/opened/"));
        let spec = PageSpec::decode(page.strip_prefix("P200").unwrap()).unwrap();
        let PageSpec::Landing {
            client_type,
            deep_link,
            code,
            link_url,
        } = &spec
        else {
            panic!("{spec:?}");
        };
        assert_eq!(*client_type, ClientType::Instagram);
        assert!(deep_link.starts_with("https://ig.me/m/acme"), "{deep_link}");
        assert_eq!(code.as_deref(), Some("cli7k3m9qx2pa"));
        assert_eq!(link_url, &url);
        let (status, html) = spec.render(Some("ru-RU,ru;q=0.9"));
        assert_eq!(status, 200);
        assert!(html.contains("cli7k3m9qx2pa") && html.contains("lang=\"ru\""));
    }

    #[test]
    fn whatsapp_asks_for_the_device_before_deciding() {
        let mut edge = edge();
        let (url, _) = link(ClientType::WhatsApp, Some("cli7k3m9qx2pa"));
        edge.learn_bot("acme", "b", Some("whatsapp 15551234567"), 0)
            .unwrap();
        assert_eq!(edge.click(tail(&url), 0, None).encode(), "D");
        let iphone = Some(Some(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
        ));
        let phone = edge.click(tail(&url), 0, iphone).encode();
        assert!(
            phone.contains("\nRhttps://wa.me/15551234567?text="),
            "{phone}"
        );
        assert!(edge
            .click(tail(&url), 0, DESKTOP)
            .encode()
            .starts_with("P200landing 6 "));
    }

    #[test]
    fn page_specs_round_trip_and_junk_is_refused() {
        let landing = PageSpec::Landing {
            client_type: ClientType::Viber,
            deep_link: "viber://pa?chatURI=acme&context=x y".into(),
            code: None,
            link_url: "https://m.example/mlink/t".into(),
        };
        for spec in PROBLEMS.map(PageSpec::Problem).into_iter().chain([landing]) {
            assert_eq!(PageSpec::decode(&spec.encode()), Some(spec.clone()));
            let (status, html) = spec.render(None);
            assert_eq!(status, spec.status());
            assert!(html.starts_with("<!doctype html>"), "{html}");
        }
        for junk in [
            "",
            "gone",
            "used x",
            "landing 99 - a b",
            "landing 1 - a",
            "landing 1 - a ",
        ] {
            assert_eq!(PageSpec::decode(junk), None, "{junk}");
        }
    }

    #[test]
    fn refuses_bad_settings_and_bad_bots() {
        assert!(Edge::new("", BASE).is_err());
        assert!(Edge::new(SECRET, "").is_err());
        let mut edge = edge();
        assert!(edge.learn_bot("acme", "b", Some("fax 123"), 0).is_err());
        assert!(edge.learn_bot("no such/project", "b", None, 0).is_err());
    }

    #[test]
    fn tokens_from_what_follows_mlink() {
        assert_eq!(token_in("abc"), Some("abc"));
        assert_eq!(token_in("abc?x=1#f"), Some("abc"));
        assert_eq!(token_in("abc#f?x=1"), Some("abc"));
        assert_eq!(token_in(""), None);
        assert_eq!(token_in("?x=1"), None);
        assert_eq!(token_in("a/b"), None);
    }
}
