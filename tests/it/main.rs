//! The integration tests, one crate (so the heavy dependencies link once),
//! with shared support in [`support`]. Each module tests one face of the
//! product through its public interfaces.

mod support;

mod access;
mod backup;
mod cli;
mod definitions;
mod durability;
mod follow;
mod history;
mod kafka;
mod messages;
mod properties;
mod queue_log;
mod rebuild;
mod recent;
mod schemas;
mod scopes;
mod serve;
mod standing;
mod store;
mod tidy;
mod tls;
