//! Where snapshots go: REST, websocket, the board's files, Prometheus.
//! Outputs read the hub; they know nothing of Kafka or of the engine.

pub mod messages;
pub mod prometheus;
pub mod rest;
pub mod web;
pub mod ws;
