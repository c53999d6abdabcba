//! Where events come from. Each source yields bytes (or, for the simulator,
//! events it makes itself); decoding is always `crate::decode`'s.

pub mod event_log;
pub mod ingest;
pub mod kafka;
pub mod lines;
pub mod queue_log;
pub mod sim;
