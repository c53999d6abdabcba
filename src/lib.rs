//! callboard: a realtime statistics engine for contact centers.
//!
//! Call, agent and callback events come in; per-tenant snapshots of the
//! wallboard figures go out. The modules follow the flow:
//!
//! - [`sources`]: where events come from (files, stdin, the live simulator).
//! - [`decode`]: the one place where bytes become [`event::Event`]s, for
//!   contract JSON and Asterisk `queue_log`; every rejection has a [`decode::Reason`].
//! - [`engine`]: per-tenant state, applying events in O(1), and building
//!   [`wire::Snapshot`]s. No I/O, no clock.
//! - [`wire`]: every type callboard serialises; matches `schemas/`.
//! - [`config`]: the TOML file of tenants, time zones and queue settings.
//! - [`time`]: timestamps and the tenants' local calendars.
//! - [`replay`]: `callboard replay`, the engine run over a file.
//! - [`rebuild`]: `callboard history rebuild`, stored days recomputed from a log.
//! - [`service`]: `callboard serve`: engine shards, the snapshot hub.
//! - [`outputs`]: HTTP (REST, ingest, health), websocket, Prometheus.
//! - [`sim`]: a simulated contact center producing contract events.

pub mod config;
pub mod decode;
pub mod engine;
pub mod event;
pub mod forward;
pub mod history;
pub mod http;
pub mod kafka;
pub mod outputs;
pub mod rebuild;
pub mod replay;
pub mod serve;
pub mod service;
pub mod settings;
pub mod sim;
pub mod sources;
pub mod telemetry;
pub mod time;
pub mod wire;
