//! callboard: a realtime statistics engine for contact centers.
//!
//! Call, agent and callback events come in; per-tenant snapshots of the
//! wallboard figures go out. The modules, from the bottom layer up (see
//! ARCHITECTURE.md, whose layer list a test holds the imports to):
//!
//! - [`time`]: timestamps, the clock, and the tenants' local calendars.
//! - [`event`]: the decoded events the engine applies.
//! - [`config`]: the TOML file of tenants, time zones, queues, tokens and
//!   limits.
//! - [`wire`]: every type callboard serialises; matches `schemas/`.
//! - [`decode`]: the one place where bytes become [`event::Event`]s, for
//!   contract JSON and Asterisk `queue_log`; every rejection has a
//!   [`decode::Reason`].
//! - [`engine`]: per-tenant state, applying events in O(1), and building
//!   [`wire::Snapshot`]s. No I/O, no clock.
//! - [`sim`]: a simulated contact center producing contract events.
//! - [`telemetry`]: typed signals and every metric's name.
//! - [`service`]: the engine at work: shards, the `Router`, the snapshot hub.
//! - [`http`]: what every route shares: state, errors, authentication, the
//!   listener's bounds.
//! - [`history`]: the interval statistics in SQLite or PostgreSQL, and
//!   reports.
//! - [`sources`]: HTTP ingest and its event log, a followed queue_log, the
//!   live simulator.
//! - [`kafka`]: everything that speaks to a broker: the consumer-group
//!   source, the snapshot topic, producers.
//! - [`outputs`]: REST, websocket, the board's files, Prometheus.
//! - [`cmd`]: the commands (`serve`, `replay`, `simulate`, `forward`,
//!   `history rebuild`, `token`, `probe`).

pub mod cmd;
pub mod config;
pub mod decode;
pub mod engine;
pub mod event;
pub mod history;
pub mod http;
pub mod kafka;
pub mod outputs;
pub mod service;
pub mod sim;
pub mod sources;
pub mod telemetry;
pub mod time;
pub mod wire;
