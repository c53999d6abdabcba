//! The engine at work: shards that each own some tenants' state, fed
//! events by the [`router::Router`], and the [`hub::Hub`] of their latest
//! snapshots that every reader shares; the [`feed::Feed`] every source is
//! to it. It knows no source and no output.

pub mod feed;
pub mod hub;
pub mod router;
pub mod shard;
