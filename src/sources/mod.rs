//! Where events come from, apart from Kafka (`crate::kafka`): HTTP ingest
//! and its event log, a followed Asterisk queue_log, the simulator, and the
//! line reader they share. Each yields bytes (or, for the simulator, events
//! it makes itself); decoding is always `crate::decode`'s.

pub mod event_log;
pub mod ingest;
pub mod lines;
pub mod queue_log;
pub mod simulated;
