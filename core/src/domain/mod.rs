//! The vocabulary of mlink: who is who, which messenger, and the credentials that travel in links
//! and callbacks.

pub mod callback;
pub mod client_type;
pub mod code;
pub mod ids;
pub mod secrets;
pub mod time;
pub mod token;
pub mod window;

pub use client_type::ClientType;
pub use ids::{ClientId, Group, ProjectName, UserId};
