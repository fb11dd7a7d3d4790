//! `GET /mlink/<token>`: where a click goes. Decided from the sealed token and what this isolate
//! already knows, so the common case reads no storage at all.

use crate::domain::time::Millis;
use crate::domain::token::{
    payload_leads, LinkId, LinkKey, LinkTokenView, TokenBuffer, TokenError, TOKEN_BUFFER,
};
use crate::domain::{ClientType, Group, ProjectName};
use crate::messengers::PublicBot;
use crate::pages::Problem;
// A click hashes up to four keys; they come from MAC-checked tokens and our own records, so a
// fast hash is safe from crafted collisions, and std's SipHash is code a cold click must load.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

/// The HTTP status of a problem page.
pub fn problem_status(problem: Problem) -> u16 {
    match problem {
        Problem::Unknown => 404,
        Problem::Expired | Problem::Used => 410,
        Problem::Unavailable => 503,
    }
}

/// What kind of device clicked, from its User-Agent: phones can follow app deep links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    Phone,
    Desktop,
}

impl Device {
    /// Phones and tablets name themselves in the User-Agent ("Mobi" is the convention browsers
    /// follow; Android and iOS devices cover the rest, iPadOS aside).
    pub fn from_user_agent(user_agent: Option<&str>) -> Device {
        let ua = user_agent.unwrap_or_default();
        let phone = ["Mobi", "Android", "iPhone", "iPad", "iPod"]
            .iter()
            .any(|mark| ua.contains(mark));
        if phone {
            Device::Phone
        } else {
            Device::Desktop
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// 302 to this deep link.
    Redirect(String),
    /// A page with the deep link (and the code to send, for WhatsApp and Instagram).
    Landing {
        client_type: ClientType,
        deep_link: String,
        code: Option<String>,
    },
    Page(Problem),
    /// The token is good but this isolate does not know the bot yet: look it up, then
    /// [`EdgeMemory::learn_bot`] and decide again.
    LookUpBot(ProjectName, Group),
    /// The way depends on the device (WhatsApp, Viber): decide again with the User-Agent.
    /// Other clicks never read it.
    NeedDevice,
}

/// A click's outcome: where it goes, and the link to report as opened (its first click here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Click {
    pub decision: Decision,
    pub first_open: Option<(ProjectName, LinkId)>,
}

impl Click {
    fn no_open(decision: Decision) -> Self {
        Click {
            decision,
            first_open: None,
        }
    }
}

/// Per-isolate memory of the redirect: bots (with a time to live, so a reconnected bot is seen
/// within a minute) and links this isolate saw being used.
pub struct EdgeMemory {
    /// Keyed by project, then bot, so a click looks up borrowed names without allocating.
    bots: HashMap<ProjectName, HashMap<Group, KnownBot>>,
    /// The bots' deep links up to the payload ([`PublicBot::payload_prefix`]), each once, by
    /// slot: [`Self::redirect_slot`] answers with a slot. Never reordered, so a slot names the
    /// same prefix for the isolate's life.
    prefixes: Vec<String>,
    used: HashSet<[u8; 16]>,
    opened: HashSet<[u8; 16]>,
    bot_ttl_ms: Millis,
}

/// A bot as this isolate knows it (`None`: the project has no such bot).
struct KnownBot {
    bot: Option<PublicBot>,
    expires: Millis,
    prefix_slot: Option<u32>,
}

/// Bounds the isolate's memory; past it, the set starts over (the bot still refuses a used link).
const MAX_USED: usize = 100_000;
/// Bounds the prefixes (one per bot name this isolate has met); past it, new bots' clicks take
/// the slower way, [`EdgeMemory::click`].
const MAX_PREFIXES: usize = 4_096;

/// Where a link goes, before its deep link is written out.
enum Way<'m> {
    /// To the bot's deep link, or first a page that shows it.
    DeepLink {
        bot: &'m PublicBot,
        prefix_slot: Option<u32>,
        page_first: bool,
    },
    Decided(Decision),
}

impl EdgeMemory {
    pub fn new(bot_ttl_ms: Millis) -> Self {
        EdgeMemory {
            bots: HashMap::default(),
            prefixes: Vec::new(),
            used: HashSet::default(),
            opened: HashSet::default(),
            bot_ttl_ms,
        }
    }

    pub fn learn_bot(
        &mut self,
        project: ProjectName,
        group: Group,
        bot: Option<PublicBot>,
        now: Millis,
    ) {
        let prefix = bot.as_ref().and_then(PublicBot::payload_prefix);
        let prefix_slot = prefix.and_then(|prefix| self.prefix_slot(prefix));
        let known = KnownBot {
            bot,
            expires: now + self.bot_ttl_ms,
            prefix_slot,
        };
        self.bots.entry(project).or_default().insert(group, known);
    }

    fn prefix_slot(&mut self, prefix: String) -> Option<u32> {
        let slot = match self.prefixes.iter().position(|known| *known == prefix) {
            Some(slot) => slot,
            None if self.prefixes.len() < MAX_PREFIXES => {
                self.prefixes.push(prefix);
                self.prefixes.len() - 1
            }
            None => return None,
        };
        u32::try_from(slot).ok()
    }

    /// The deep-link prefix in `slot` ([`Self::redirect_slot`]).
    pub fn prefix(&self, slot: u32) -> Option<&str> {
        let slot = usize::try_from(slot).ok()?;
        self.prefixes.get(slot).map(String::as_str)
    }

    /// The common click, answered without writing a string: a version 3 token whose link this
    /// isolate has already reported opened, redirected to its bot's deep link. That deep link is
    /// [`Self::prefix`] of the slot returned, followed by the token's characters
    /// [`PAYLOAD_CHARS`](crate::domain::token::PAYLOAD_CHARS) (its payload). `None`: any other
    /// click; ask [`Self::click`].
    pub fn redirect_slot(&self, token: &str, key: &LinkKey, now: Millis) -> Option<u32> {
        if !payload_leads(token) {
            return None;
        }
        let mut buffer = TOKEN_BUFFER;
        let link = open(token, key, now, &mut buffer).ok()?;
        self.slot(token, &link, now)
    }

    /// [`Self::redirect_slot`] if the click has one, else [`Self::click`] without the device:
    /// the token is opened once either way (a link's first click here takes both).
    pub fn slot_or_click(&mut self, token: &str, key: &LinkKey, now: Millis) -> Result<u32, Click> {
        let mut buffer = TOKEN_BUFFER;
        let link = match open(token, key, now, &mut buffer) {
            Ok(link) => link,
            Err(problem) => return Err(Click::no_open(Decision::Page(problem))),
        };
        match self.slot(token, &link, now) {
            Some(slot) => Ok(slot),
            None => Err(self.click_link(&link, now, None)),
        }
    }

    fn slot(&self, token: &str, link: &LinkTokenView, now: Millis) -> Option<u32> {
        if !payload_leads(token) || !self.opened.contains(&link.link_id.0) {
            return None;
        }
        match self.way(link, now, None) {
            Way::DeepLink {
                prefix_slot,
                page_first: false,
                ..
            } => prefix_slot,
            _ => None,
        }
    }

    pub fn learn_used(&mut self, link: LinkId) {
        if self.used.len() >= MAX_USED {
            self.used.clear();
        }
        self.used.insert(link.0);
    }

    /// `device`: `None` until the click's User-Agent is read (only when the answer is
    /// [`Decision::NeedDevice`]).
    pub fn decide(
        &self,
        token: &str,
        key: &LinkKey,
        now: Millis,
        device: Option<Device>,
    ) -> Decision {
        let mut buffer = TOKEN_BUFFER;
        match open(token, key, now, &mut buffer) {
            Ok(link) => self.decide_link(&link, now, device),
            Err(problem) => Decision::Page(problem),
        }
    }

    /// [`Self::decide`], and whether this is the link's first click in this isolate (the funnel
    /// counts opened links; later clicks need not be reported again).
    pub fn click(
        &mut self,
        token: &str,
        key: &LinkKey,
        now: Millis,
        device: Option<Device>,
    ) -> Click {
        // The token is opened on the stack and its names borrowed: a click allocates only the
        // deep link it answers with.
        let mut buffer = TOKEN_BUFFER;
        match open(token, key, now, &mut buffer) {
            Ok(link) => self.click_link(&link, now, device),
            Err(problem) => Click::no_open(Decision::Page(problem)),
        }
    }

    fn click_link(&mut self, link: &LinkTokenView, now: Millis, device: Option<Device>) -> Click {
        let decision = self.decide_link(link, now, device);
        let followed = matches!(decision, Decision::Redirect(_) | Decision::Landing { .. });
        if !followed || !self.first_open(link.link_id) {
            return Click::no_open(decision);
        }
        Click {
            decision,
            first_open: Some((ProjectName::from_valid(link.project), link.link_id)),
        }
    }

    fn first_open(&mut self, link: LinkId) -> bool {
        if self.opened.len() >= MAX_USED {
            self.opened.clear();
        }
        self.opened.insert(link.0)
    }

    fn decide_link(&self, link: &LinkTokenView, now: Millis, device: Option<Device>) -> Decision {
        match self.way(link, now, device) {
            Way::DeepLink {
                bot, page_first, ..
            } => {
                let mut payload = [0; 22];
                let payload = link.link_id.payload_in(&mut payload);
                let deep_link = bot.deep_link(payload, link.code);
                route(link.client_type, deep_link, link.code, page_first)
            }
            Way::Decided(decision) => decision,
        }
    }

    fn way(&self, link: &LinkTokenView, now: Millis, device: Option<Device>) -> Way<'_> {
        if self.used.contains(&link.link_id.0) {
            return Way::Decided(Decision::Page(Problem::Used));
        }
        let look_up = || {
            let project = ProjectName::from_valid(link.project);
            Way::Decided(Decision::LookUpBot(project, Group::from_valid(link.group)))
        };
        let known = self
            .bots
            .get(link.project)
            .and_then(|bots| bots.get(link.group));
        let Some(known) = known else {
            return look_up();
        };
        if known.expires <= now {
            return look_up();
        }
        match &known.bot {
            Some(bot) if bot.client_type() == link.client_type => {
                match page_first(link.client_type, device) {
                    Some(page_first) => Way::DeepLink {
                        bot,
                        prefix_slot: known.prefix_slot,
                        page_first,
                    },
                    None => Way::Decided(Decision::NeedDevice),
                }
            }
            _ => Way::Decided(Decision::Page(Problem::Unknown)),
        }
    }
}

fn open<'a>(
    token: &str,
    key: &LinkKey,
    now: Millis,
    buffer: &'a mut TokenBuffer,
) -> Result<LinkTokenView<'a>, Problem> {
    let now_s = u64::try_from(now / 1000).unwrap_or(0);
    LinkTokenView::open(token, key, now_s, buffer).map_err(|e| match e {
        TokenError::Expired(_) => Problem::Expired,
        _ => Problem::Unknown,
    })
}

/// Telegram and Messenger links work anywhere: redirect. WhatsApp and Viber deep links need the
/// app: phones go straight there, computers get a page (with a QR code to continue on the
/// phone); `None` until the device is known. Instagram needs the code typed in: always the page
/// that shows it.
fn page_first(client_type: ClientType, device: Option<Device>) -> Option<bool> {
    match client_type {
        ClientType::Telegram | ClientType::Facebook => Some(false),
        ClientType::WhatsApp | ClientType::Viber => device.map(|d| d == Device::Desktop),
        ClientType::Instagram => Some(true),
    }
}

fn route(
    client_type: ClientType,
    deep_link: String,
    code: Option<&str>,
    page_first: bool,
) -> Decision {
    if page_first {
        Decision::Landing {
            client_type,
            deep_link,
            code: code.map(str::to_string),
        }
    } else {
        Decision::Redirect(deep_link)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::token::LinkToken;
    use crate::domain::ClientType;

    const PHONE: Option<Device> = Some(Device::Phone);

    fn key() -> LinkKey {
        LinkKey::new(b"k")
    }

    fn token(expires_at: u32) -> (String, LinkId) {
        let id = LinkId::random();
        let t = LinkToken {
            link_id: id,
            expires_at,
            client_type: ClientType::Telegram,
            project: ProjectName::parse("acme").unwrap(),
            group: Group::parse("b").unwrap(),
            code: None,
        };
        (t.encode(&key()), id)
    }

    fn bot() -> Option<PublicBot> {
        Some(PublicBot::Telegram {
            username: "AcmeBot".into(),
        })
    }

    fn acme_b() -> (ProjectName, Group) {
        (
            ProjectName::parse("acme").unwrap(),
            Group::parse("b").unwrap(),
        )
    }

    #[test]
    fn unknown_bot_is_looked_up_then_redirected() {
        let mut memory = EdgeMemory::new(60_000);
        let (token, id) = token(2_000_000_000);
        let (p, g) = acme_b();
        assert_eq!(
            memory.decide(&token, &key(), 1_000, PHONE),
            Decision::LookUpBot(p.clone(), g.clone())
        );
        memory.learn_bot(p, g, bot(), 1_000);
        assert_eq!(
            memory.decide(&token, &key(), 2_000, PHONE),
            Decision::Redirect(format!("https://t.me/AcmeBot?start={}", id.to_payload()))
        );
        // After the bot's time to live, the isolate asks again.
        assert!(matches!(
            memory.decide(&token, &key(), 61_000, PHONE),
            Decision::LookUpBot(..)
        ));
    }

    #[test]
    fn pages_for_bad_expired_used_and_gone() {
        let mut memory = EdgeMemory::new(60_000);
        let (p, g) = acme_b();
        memory.learn_bot(p.clone(), g.clone(), bot(), 0);
        assert_eq!(
            memory.decide("garbage", &key(), 0, PHONE),
            Decision::Page(Problem::Unknown)
        );
        let (expired, _) = token(10);
        assert_eq!(
            memory.decide(&expired, &key(), 10_000, PHONE),
            Decision::Page(Problem::Expired)
        );
        let (live, id) = token(2_000_000_000);
        memory.learn_used(id);
        assert_eq!(
            memory.decide(&live, &key(), 0, PHONE),
            Decision::Page(Problem::Used)
        );
        let (other, _) = token(2_000_000_000);
        memory.learn_bot(p, g, None, 0);
        assert_eq!(
            memory.decide(&other, &key(), 0, PHONE),
            Decision::Page(Problem::Unknown)
        );
        assert_eq!(problem_status(Problem::Expired), 410);
    }

    #[test]
    fn devices_from_user_agents() {
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148";
        let android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36";
        let desktop =
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36";
        assert_eq!(Device::from_user_agent(Some(iphone)), Device::Phone);
        assert_eq!(Device::from_user_agent(Some(android)), Device::Phone);
        assert_eq!(Device::from_user_agent(Some(desktop)), Device::Desktop);
        assert_eq!(Device::from_user_agent(None), Device::Desktop);
    }

    #[test]
    fn which_messengers_get_a_page() {
        use ClientType::*;
        for device in [None, Some(Device::Phone), Some(Device::Desktop)] {
            assert_eq!(page_first(Telegram, device), Some(false));
            assert_eq!(page_first(Facebook, device), Some(false));
            assert_eq!(page_first(Instagram, device), Some(true));
        }
        for messenger in [WhatsApp, Viber] {
            assert_eq!(page_first(messenger, Some(Device::Phone)), Some(false));
            assert_eq!(page_first(messenger, Some(Device::Desktop)), Some(true));
            assert_eq!(page_first(messenger, None), None, "{messenger:?}");
        }
        let page = route(Viber, "viber://x".into(), None, true);
        assert!(matches!(page, Decision::Landing { .. }));
        assert_eq!(
            route(Viber, "viber://x".into(), None, false),
            Decision::Redirect("viber://x".into())
        );
    }

    #[test]
    fn only_whatsapp_and_viber_clicks_read_the_device() {
        let mut memory = EdgeMemory::new(60_000);
        let (p, g) = acme_b();
        memory.learn_bot(p, g, bot(), 0);
        let (telegram, _) = token(2_000_000_000);
        assert!(matches!(
            memory.decide(&telegram, &key(), 0, None),
            Decision::Redirect(_)
        ));
        let viber = LinkToken {
            link_id: LinkId::random(),
            expires_at: 2_000_000_000,
            client_type: ClientType::Viber,
            project: ProjectName::parse("acme").unwrap(),
            group: Group::parse("v").unwrap(),
            code: None,
        }
        .encode(&key());
        let (p, _) = acme_b();
        let viber_bot = Some(PublicBot::Viber { uri: "acme".into() });
        memory.learn_bot(p, Group::parse("v").unwrap(), viber_bot, 0);
        let click = memory.click(&viber, &key(), 0, None);
        assert_eq!(click.decision, Decision::NeedDevice);
        assert_eq!(
            click.first_open, None,
            "not followed until the device is known"
        );
        assert!(matches!(
            memory.click(&viber, &key(), 0, PHONE).decision,
            Decision::Redirect(location) if location.starts_with("viber://")
        ));
    }

    /// What [`EdgeMemory::click`] redirects to, for links this isolate saw opened.
    fn redirected(memory: &mut EdgeMemory, token: &str, now: Millis) -> Option<String> {
        match memory.click(token, &key(), now, PHONE).decision {
            Decision::Redirect(location) => Some(location),
            _ => None,
        }
    }

    fn the_fast_way(memory: &EdgeMemory, token: &str, now: Millis) -> Option<String> {
        let slot = memory.redirect_slot(token, &key(), now)?;
        Some(memory.prefix(slot)?.to_string() + &token[crate::domain::token::PAYLOAD_CHARS])
    }

    #[test]
    fn a_slot_and_the_payload_make_the_same_redirect() {
        let mut memory = EdgeMemory::new(60_000);
        let (p, g) = acme_b();
        let (token, _) = token(2_000_000_000);
        assert_eq!(the_fast_way(&memory, &token, 0), None, "the bot is unknown");
        memory.learn_bot(p.clone(), g.clone(), bot(), 0);
        assert_eq!(
            the_fast_way(&memory, &token, 0),
            None,
            "not reported opened"
        );
        let location = redirected(&mut memory, &token, 0).unwrap();
        assert_eq!(the_fast_way(&memory, &token, 0), Some(location.clone()));
        // Every bot of the same name shares the slot; a renamed bot gets a new one.
        memory.learn_bot(p.clone(), Group::parse("c").unwrap(), bot(), 0);
        assert_eq!(memory.prefixes.len(), 1);
        let renamed = Some(PublicBot::Telegram {
            username: "AcmeTwoBot".into(),
        });
        memory.learn_bot(p.clone(), g.clone(), renamed, 0);
        let moved = the_fast_way(&memory, &token, 0).unwrap();
        assert_eq!(Some(moved.clone()), redirected(&mut memory, &token, 0));
        assert_ne!(moved, location);
        // Anything else takes the slower way: expired, used, a bot's time to live over.
        assert_eq!(the_fast_way(&memory, &token, 60_000), None);
        assert_eq!(the_fast_way(&memory, &token, 2_000_000_000_000), None);
        let (used, id) = self::token(2_000_000_000);
        redirected(&mut memory, &used, 0).unwrap();
        memory.learn_used(id);
        assert_eq!(the_fast_way(&memory, &used, 0), None);
    }

    #[test]
    fn one_opening_decides_a_first_click_and_the_ones_after() {
        let mut memory = EdgeMemory::new(60_000);
        let (p, g) = acme_b();
        memory.learn_bot(p.clone(), g, bot(), 0);
        let (token, id) = token(2_000_000_000);
        let first = memory.slot_or_click(&token, &key(), 0).unwrap_err();
        assert!(matches!(first.decision, Decision::Redirect(_)));
        assert_eq!(first.first_open, Some((p, id)));
        let slot = memory.slot_or_click(&token, &key(), 0).unwrap();
        assert_eq!(memory.redirect_slot(&token, &key(), 0), Some(slot));
        let junk = memory.slot_or_click("junk", &key(), 0).unwrap_err();
        assert_eq!(junk.decision, Decision::Page(Problem::Unknown));
    }

    #[test]
    fn past_the_prefix_bound_new_bots_take_the_slower_way() {
        let mut memory = EdgeMemory::new(60_000);
        let (p, g) = acme_b();
        for n in 0..MAX_PREFIXES {
            let other = Some(PublicBot::Telegram {
                username: format!("Bot{n}"),
            });
            memory.learn_bot(p.clone(), Group::parse(&format!("g{n}")).unwrap(), other, 0);
        }
        memory.learn_bot(p, g, bot(), 0);
        assert_eq!(memory.prefixes.len(), MAX_PREFIXES);
        let (token, _) = token(2_000_000_000);
        assert!(redirected(&mut memory, &token, 0).is_some());
        assert_eq!(the_fast_way(&memory, &token, 0), None);
    }

    #[test]
    fn pages_device_choices_and_older_tokens_take_the_slower_way() {
        let mut memory = EdgeMemory::new(60_000);
        let (p, _) = acme_b();
        let link = |client_type, group: &str| LinkToken {
            link_id: LinkId::random(),
            expires_at: 2_000_000_000,
            client_type,
            project: p.clone(),
            group: Group::parse(group).unwrap(),
            code: Some("cli7k3m9qx2pa".into()),
        };
        let bots = [
            ("v", PublicBot::Viber { uri: "acme".into() }),
            (
                "w",
                PublicBot::WhatsApp {
                    phone: "1555".into(),
                },
            ),
            (
                "i",
                PublicBot::Instagram {
                    username: "acme".into(),
                },
            ),
        ];
        for (group, bot) in bots {
            let token = link(bot.client_type(), group).encode(&key());
            memory.learn_bot(p.clone(), Group::parse(group).unwrap(), Some(bot), 0);
            memory.click(&token, &key(), 0, Some(Device::Desktop));
            assert_eq!(memory.redirect_slot(&token, &key(), 0), None, "{group}");
        }
        let version_2 = "AgcHBwcHBwcHBwcHBwcHBwd3NZQAAQRhY21lBGJvdEIAXqQfqn25e_heset53KZ92A";
        memory.learn_bot(p.clone(), Group::parse("botB").unwrap(), bot(), 0);
        let old_key = LinkKey::new(b"test link secret");
        let click = memory.click(version_2, &old_key, 0, PHONE);
        assert!(matches!(click.decision, Decision::Redirect(_)));
        assert_eq!(memory.redirect_slot(version_2, &old_key, 0), None);
    }

    #[test]
    fn the_first_followed_click_is_reported_once() {
        let mut memory = EdgeMemory::new(60_000);
        let (p, g) = acme_b();
        let (token, id) = token(2_000_000_000);
        let first = memory.click(&token, &key(), 0, PHONE);
        assert_eq!(
            first.first_open, None,
            "not followed yet: the bot is unknown"
        );
        memory.learn_bot(p.clone(), g, bot(), 0);
        let click = memory.click(&token, &key(), 0, PHONE);
        assert!(matches!(click.decision, Decision::Redirect(_)));
        assert_eq!(click.first_open, Some((p, id)));
        assert_eq!(memory.click(&token, &key(), 0, PHONE).first_open, None);
        assert_eq!(memory.click("junk", &key(), 0, PHONE).first_open, None);
    }
}
