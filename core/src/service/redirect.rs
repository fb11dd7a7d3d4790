//! `GET /mlink/<token>`: where a click goes. Decided from the sealed token and what this isolate
//! already knows, so the common case reads no storage at all.

use crate::domain::time::Millis;
use crate::domain::token::{LinkId, LinkKey, LinkToken, TokenError};
use crate::domain::{Group, ProjectName};
use crate::messengers::PublicBot;
use std::collections::{HashMap, HashSet};

/// The friendly pages in `www/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// Forged, altered or for a bot that is gone: 404.
    Unknown,
    /// Past its expiry: 410.
    Expired,
    /// Known (in this isolate) to be used already: 410.
    Used,
}

impl Page {
    pub fn status(self) -> u16 {
        match self {
            Page::Unknown => 404,
            Page::Expired | Page::Used => 410,
        }
    }

    /// The asset path (served by the assets binding; `.html` is implied).
    pub fn path(self) -> &'static str {
        match self {
            Page::Unknown => "/link-unknown",
            Page::Expired => "/link-expired",
            Page::Used => "/link-used",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// 302 to this deep link.
    Redirect(String),
    Page(Page),
    /// The token is good but this isolate does not know the bot yet: look it up, then
    /// [`EdgeMemory::learn_bot`] and decide again.
    LookUpBot(ProjectName, Group),
}

/// Per-isolate memory of the redirect: bots (with a time to live, so a reconnected bot is seen
/// within a minute) and links this isolate saw being used.
pub struct EdgeMemory {
    bots: HashMap<(ProjectName, Group), (Option<PublicBot>, Millis)>,
    used: HashSet<[u8; 16]>,
    bot_ttl_ms: Millis,
}

/// Bounds the isolate's memory; past it, the set starts over (the bot still refuses a used link).
const MAX_USED: usize = 100_000;

impl EdgeMemory {
    pub fn new(bot_ttl_ms: Millis) -> Self {
        EdgeMemory {
            bots: HashMap::new(),
            used: HashSet::new(),
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
        self.bots
            .insert((project, group), (bot, now + self.bot_ttl_ms));
    }

    pub fn learn_used(&mut self, link: LinkId) {
        if self.used.len() >= MAX_USED {
            self.used.clear();
        }
        self.used.insert(link.0);
    }

    pub fn decide(&self, token: &str, key: &LinkKey, now: Millis) -> Decision {
        let now_s = u64::try_from(now / 1000).unwrap_or(0);
        let link = match LinkToken::decode(token, key, now_s) {
            Ok(link) => link,
            Err(TokenError::Expired(_)) => return Decision::Page(Page::Expired),
            Err(_) => return Decision::Page(Page::Unknown),
        };
        if self.used.contains(&link.link_id.0) {
            return Decision::Page(Page::Used);
        }
        match self.bots.get(&(link.project.clone(), link.group.clone())) {
            Some((_, expires)) if *expires <= now => Decision::LookUpBot(link.project, link.group),
            Some((Some(bot), _)) if bot.client_type() == link.client_type => {
                Decision::Redirect(bot.deep_link(&link.link_id.to_payload()))
            }
            Some(_) => Decision::Page(Page::Unknown),
            None => Decision::LookUpBot(link.project, link.group),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ClientType;

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
            memory.decide(&token, &key(), 1_000),
            Decision::LookUpBot(p.clone(), g.clone())
        );
        memory.learn_bot(p, g, bot(), 1_000);
        assert_eq!(
            memory.decide(&token, &key(), 2_000),
            Decision::Redirect(format!("https://t.me/AcmeBot?start={}", id.to_payload()))
        );
        // After the bot's time to live, the isolate asks again.
        assert!(matches!(
            memory.decide(&token, &key(), 61_000),
            Decision::LookUpBot(..)
        ));
    }

    #[test]
    fn pages_for_bad_expired_used_and_gone() {
        let mut memory = EdgeMemory::new(60_000);
        let (p, g) = acme_b();
        memory.learn_bot(p.clone(), g.clone(), bot(), 0);
        assert_eq!(
            memory.decide("garbage", &key(), 0),
            Decision::Page(Page::Unknown)
        );
        let (expired, _) = token(10);
        assert_eq!(
            memory.decide(&expired, &key(), 10_000),
            Decision::Page(Page::Expired)
        );
        let (live, id) = token(2_000_000_000);
        memory.learn_used(id);
        assert_eq!(memory.decide(&live, &key(), 0), Decision::Page(Page::Used));
        let (other, _) = token(2_000_000_000);
        memory.learn_bot(p, g, None, 0);
        assert_eq!(
            memory.decide(&other, &key(), 0),
            Decision::Page(Page::Unknown)
        );
        assert_eq!(Page::Expired.status(), 410);
    }
}
