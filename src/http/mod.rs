//! What the HTTP side shares, whatever a route serves (snapshots, events,
//! metrics): the state every handler reaches, the error body, access
//! control ([`auth`]) and the bounded listener ([`listener`]). It knows no
//! route: outputs and the ingest source bring their own.

pub mod auth;
pub mod listener;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::service::hub::Hub;
use crate::service::shard::Router;
use auth::Tokens;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub hub: Arc<Hub>,
    pub router: Router,
    pub config: Arc<Config>,
    pub metrics: PrometheusHandle,
    /// Open websocket connections.
    pub ws_clients: Arc<AtomicUsize>,
    /// Cancelled when the service stops: websockets close on it.
    pub shutdown: CancellationToken,
    /// Configured access tokens (none: open, loopback only).
    pub tokens: Arc<Tokens>,
    /// Origins allowed to open websockets besides the service's own.
    pub allowed_origins: Arc<Vec<String>>,
}

/// A JSON error body with a status.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}
