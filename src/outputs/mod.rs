//! Where snapshots go: HTTP (REST, ingest, health), websocket, Prometheus.

pub mod auth;
pub mod http;
pub mod listener;
pub mod prometheus;
pub mod web;
pub mod ws;
