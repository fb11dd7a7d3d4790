//! When a business may write to a client freely: Meta's messengers allow free-form messages for
//! 24 hours after the client's last message; Telegram has no window; Viber needs the user to be
//! subscribed, which writing to the bot does. Moving a client to a channel without a window is
//! what mlink is for, so the owner API shows this per dialog.

use super::time::{rfc3339, Millis};
use super::ClientType;
use serde_json::{json, Value};

pub const META_WINDOW_MS: Millis = 24 * 3600 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    None,
    Subscription,
    Hours24,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub rule: Rule,
    pub free_form: bool,
    /// Until when free-form messages are allowed (24-hour rule only).
    pub until: Option<Millis>,
}

impl Window {
    pub fn of(client_type: ClientType, last_inbound_at: Option<Millis>, now: Millis) -> Window {
        match client_type {
            ClientType::Telegram => Window {
                rule: Rule::None,
                free_form: true,
                until: None,
            },
            ClientType::Viber => Window {
                rule: Rule::Subscription,
                free_form: last_inbound_at.is_some(),
                until: None,
            },
            ClientType::Facebook | ClientType::WhatsApp | ClientType::Instagram => {
                let until = last_inbound_at.map(|at| at + META_WINDOW_MS);
                Window {
                    rule: Rule::Hours24,
                    free_form: until.is_some_and(|until| now < until),
                    until,
                }
            }
        }
    }

    pub fn to_json(self) -> Value {
        let rule = match self.rule {
            Rule::None => "none",
            Rule::Subscription => "subscription",
            Rule::Hours24 => "24h",
        };
        json!({"free_form": self.free_form, "until": self.until.map(rfc3339), "rule": rule})
    }

    /// Ordering key for "the best dialog to reach the client now": open dialogs first, and among
    /// them those that stay open (no window) before those that will close.
    pub fn preference(self) -> u8 {
        match (self.free_form, self.rule) {
            (true, Rule::None) => 0,
            (true, Rule::Subscription) => 1,
            (true, Rule::Hours24) => 2,
            (false, _) => 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_messenger_has_its_rule() {
        let now = 1_000_000_000;
        let telegram = Window::of(ClientType::Telegram, None, now);
        assert!(telegram.free_form && telegram.until.is_none());
        assert!(!Window::of(ClientType::Viber, None, now).free_form);
        assert!(Window::of(ClientType::Viber, Some(1), now).free_form);
        let open = Window::of(ClientType::WhatsApp, Some(now - 1000), now);
        assert!(open.free_form);
        assert_eq!(open.until, Some(now - 1000 + META_WINDOW_MS));
        let closed = Window::of(ClientType::Instagram, Some(now - META_WINDOW_MS), now);
        assert!(!closed.free_form, "the window closes at exactly 24 hours");
        assert!(!Window::of(ClientType::Facebook, None, now).free_form);
        assert!(telegram.preference() < open.preference());
        assert!(open.preference() < closed.preference());
    }
}
