//! What the HTTP side shares, whatever a route serves (snapshots, events,
//! metrics): the state every handler reaches, the error body, access
//! control ([`auth`]), the bounded listener ([`listener`]) and the websocket
//! handshake ([`websocket`]). It knows no
//! route: outputs and the ingest source bring their own.

pub mod auth;
pub mod listener;
pub mod tls;
pub mod websocket;

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
    /// The history store reports read (`None`: history is off).
    pub history: Option<crate::history::Store>,
    /// Reports that may run at once (`limits.max_reports`).
    pub reports: Arc<tokio::sync::Semaphore>,
    /// Messages to the floor (in the history store, else in memory).
    pub messages: Arc<crate::history::messages::Messages>,
}

/// Why a request failed. Each kind has its status; the body is
/// `{"error": "<message>"}`. Handlers return `Result<_, ApiError>`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No token, or one not configured: 401, with `WWW-Authenticate`.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The request's access does not cover what it asks: 403.
    #[error("{0}")]
    Forbidden(String),
    /// No published tenant of that name: 404.
    #[error("no tenant `{0}`")]
    NoTenant(String),
    /// History was asked of an instance that keeps none: 404.
    #[error("this instance keeps no history (it was started with --history none)")]
    NoHistory,
    /// The body is not what the route takes: 400.
    #[error("{0}")]
    BadRequest(String),
    /// No such thing (other than a tenant): 404.
    #[error("{0}")]
    NotFound(String),
    /// The request clashes with what is there: 409.
    #[error("{0}")]
    Conflict(String),
    /// The body is over its limit: 413.
    #[error("{0}")]
    TooLarge(String),
    /// The body comes in a form the route does not read (compressed): 415.
    #[error("{0}")]
    UnsupportedMedia(String),
    /// The engine is stopping and takes no more events: 503.
    #[error("the engine is shutting down")]
    ShuttingDown,
    /// Something the request needs cannot be used now (the event log
    /// cannot be written): 503, nothing of the request was accepted.
    #[error("{0}")]
    Unavailable(String),
    /// A websocket request on a connection that cannot be upgraded: 426.
    #[error("this connection cannot be upgraded to a websocket")]
    UpgradeRequired,
    /// Work handed to a blocking thread did not finish: 500.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// A tenant the request's access does not cover: the same answer
    /// whether the tenant exists or not.
    pub fn forbidden_tenant(tenant: &str) -> ApiError {
        ApiError::Forbidden(format!("this token cannot read tenant `{tenant}`"))
    }

    /// A starting cluster instance has not yet read the snapshot topic up
    /// to where it ended: what it holds may be older than what a board
    /// shows.
    pub fn reading_snapshots() -> ApiError {
        ApiError::Unavailable(
            "this instance is still reading the other instances' snapshots (it just started): try again in a few seconds".into(),
        )
    }

    /// A tenant not found while the instance reads its events back.
    pub fn recovering(tenant: &str) -> ApiError {
        ApiError::Unavailable(format!(
            "this instance is reading back its events (recovering; /readyz says when it is done): tenant `{tenant}` is not there yet, try again in a few seconds"
        ))
    }

    pub fn forbidden_service(service: &str) -> ApiError {
        ApiError::Forbidden(format!(
            "this token cannot read service `{service}`: it is limited to other services"
        ))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NoTenant(_) | ApiError::NoHistory | ApiError::NotFound(_) => {
                StatusCode::NOT_FOUND
            }
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMedia(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::ShuttingDown | ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::UpgradeRequired => StatusCode::UPGRADE_REQUIRED,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status(),
            axum::Json(json!({ "error": self.to_string() })),
        )
            .into_response();
        if matches!(self, ApiError::Unauthorized(_)) {
            r.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        r
    }
}

/// Middleware: every client error goes out as `{"error": "<message>"}`,
/// those the HTTP layer makes itself too (an unreadable query or path, a
/// body over its limit: plain text; a method not allowed: no body; an
/// unknown route is the router's fallback's own 404), so that a client reads one shape of error from every route. A
/// JSON error passes as it is, and so does anything that is not a client
/// error.
pub async fn errors_as_json(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use axum::http::{HeaderValue, header};
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let res = next.run(req).await;
    let status = res.status();
    let json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !status.is_client_error() || json {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    // The HTTP layer's own messages are a line of text.
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if !text.is_empty() {
        text
    } else if status == StatusCode::METHOD_NOT_ALLOWED {
        format!("{method} is not allowed on {path}")
    } else {
        status
            .canonical_reason()
            .unwrap_or("bad request")
            .to_string()
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(
        parts,
        axum::body::Body::from(json!({ "error": message }).to_string()),
    )
}
