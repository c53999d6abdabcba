//! REST: snapshots, the tenants' list, health, readiness, `/metrics` and
//! the API's own documents.

use axum::Extension;
use axum::Router as Routes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use serde_json::json;

use crate::http::auth::Access;
use crate::http::{ApiError, AppState};

/// The REST routes that hold data: behind the caller's `auth` layer.
pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/metrics", get(metrics))
        .route("/api/v1/tenants", get(tenants))
        .route("/api/v1/tenants/{tenant}/snapshot", get(snapshot))
}

/// Routes that hold no data, served without a token: health, readiness,
/// and the API's description with the schemas it refers to (so tools can
/// resolve them).
pub fn public_routes() -> Routes<AppState> {
    Routes::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/openapi.json", get(|| async { json_file(OPENAPI) }))
        .route(
            "/api/v1/snapshot.schema.json",
            get(|| async { json_file(SNAPSHOT_SCHEMA) }),
        )
        .route(
            "/api/v1/event.schema.json",
            get(|| async { json_file(EVENT_SCHEMA) }),
        )
}

/// Routes of a separate metrics listener: `/metrics` only, no token.
pub fn metrics_routes(state: AppState) -> Routes {
    Routes::new()
        .route("/metrics", get(open_metrics))
        .with_state(state)
}

/// The API's description and the schemas it refers to, as committed.
pub const OPENAPI: &str = include_str!("../../schemas/openapi.json");
pub const SNAPSHOT_SCHEMA: &str = include_str!("../../schemas/snapshot.schema.json");
pub const EVENT_SCHEMA: &str = include_str!("../../schemas/event.schema.json");

fn json_file(text: &'static str) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        text,
    )
        .into_response()
}

async fn healthz() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}

async fn readyz(State(st): State<AppState>) -> Response {
    if st.hub.is_ready() {
        axum::Json(json!({ "ready": true })).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "ready": false, "reason": "recovering" })),
        )
            .into_response()
    }
}

async fn metrics(
    State(st): State<AppState>,
    Extension(access): Extension<Access>,
) -> Result<Response, ApiError> {
    if !access.can_read_metrics() {
        return Err(ApiError::Forbidden("this token cannot read metrics".into()));
    }
    open_metrics(State(st)).await
}

async fn open_metrics(State(st): State<AppState>) -> Result<Response, ApiError> {
    // Rendering many series takes a while: not on an async worker.
    let handle = st.metrics.clone();
    let text = tokio::task::spawn_blocking(move || handle.render())
        .await
        .map_err(|e| ApiError::Internal(format!("rendering stopped: {e}")))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response())
}

#[derive(Serialize)]
struct TenantEntry<'a> {
    tenant: &'a str,
    seq: u64,
    status: crate::wire::Status,
    day: &'a str,
    as_of: Option<crate::wire::Instant>,
}

async fn tenants(State(st): State<AppState>, Extension(access): Extension<Access>) -> Response {
    let published = st.hub.tenants();
    let list: Vec<TenantEntry<'_>> = published
        .iter()
        .filter(|p| access.can_read(&p.snapshot.tenant))
        .map(|p| TenantEntry {
            tenant: &p.snapshot.tenant,
            seq: p.seq,
            status: p.snapshot.status,
            day: &p.snapshot.day,
            as_of: p.snapshot.as_of,
        })
        .collect();
    axum::Json(json!({ "tenants": list })).into_response()
}

async fn snapshot(
    State(st): State<AppState>,
    Extension(access): Extension<Access>,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    if !access.can_read(&tenant) {
        return Err(ApiError::forbidden_tenant(&tenant));
    }
    match st.hub.latest(&tenant) {
        Some(p) => Ok((
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (
                    header::HeaderName::from_static("x-callboard-seq"),
                    HeaderValue::from(p.seq),
                ),
            ],
            p.json.clone(),
        )
            .into_response()),
        None => Err(ApiError::NoTenant(tenant)),
    }
}
