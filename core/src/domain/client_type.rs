//! Salebot's numbering of messengers (`client_type`), kept so owners' scenarios port unchanged.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub enum ClientType {
    Telegram = 1,
    Viber = 2,
    Facebook = 3,
    WhatsApp = 6,
    Instagram = 10,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("client_type must be one of 1 (telegram), 2 (viber), 3 (facebook), 6 (whatsapp), 10 (instagram)")]
pub struct UnknownClientType;

impl ClientType {
    pub const ALL: [ClientType; 5] = [
        ClientType::Telegram,
        ClientType::Viber,
        ClientType::Facebook,
        ClientType::WhatsApp,
        ClientType::Instagram,
    ];

    pub fn code(self) -> i64 {
        self as i64
    }

    pub fn from_code(code: i64) -> Result<Self, UnknownClientType> {
        Self::ALL
            .into_iter()
            .find(|t| t.code() == code)
            .ok_or(UnknownClientType)
    }

    /// The lowercase name used in API bodies and in `switch_to_<name>` callbacks.
    pub fn name(self) -> &'static str {
        match self {
            ClientType::Telegram => "telegram",
            ClientType::Viber => "viber",
            ClientType::Facebook => "facebook",
            ClientType::WhatsApp => "whatsapp",
            ClientType::Instagram => "instagram",
        }
    }
}

impl TryFrom<i64> for ClientType {
    type Error = UnknownClientType;
    fn try_from(code: i64) -> Result<Self, UnknownClientType> {
        Self::from_code(code)
    }
}

impl From<ClientType> for i64 {
    fn from(t: ClientType) -> i64 {
        t.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_others_are_refused() {
        for t in ClientType::ALL {
            assert_eq!(ClientType::from_code(t.code()), Ok(t));
        }
        for bad in [0, 4, 5, 7, 8, 11, -1] {
            assert!(ClientType::from_code(bad).is_err());
        }
        assert_eq!(ClientType::WhatsApp.name(), "whatsapp");
    }
}
