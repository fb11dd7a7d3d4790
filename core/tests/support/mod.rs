//! Shared by the integration tests: a rusqlite backend for the store, and a small world builder.
//! Each test crate uses a different part of it, hence the allowance.
#![allow(dead_code)]

pub mod sqlite;
pub mod world;
