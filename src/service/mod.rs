//! The engine at work: shards that each own some tenants' state and are fed
//! events by the [`shard::Router`], and the [`hub::Hub`] of their latest
//! snapshots that every reader shares. It knows no source and no output.

pub mod hub;
pub mod shard;
