//! REST: snapshots, the tenants' list, health, readiness, `/metrics` and
//! the API's own documents.

use axum::Extension;
use axum::Router as Routes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use serde_json::json;

use crate::history::{export, report};
use crate::http::auth::Access;
use crate::http::{ApiError, AppState};

/// The REST routes that hold data: behind the caller's `auth` layer.
pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/metrics", get(metrics))
        .route("/api/v1/tenants", get(tenants))
        .route("/api/v1/tenants/{tenant}/snapshot", get(snapshot))
        .route("/api/v1/tenants/{tenant}/history", get(history))
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
        .route(
            "/api/v1/report.schema.json",
            get(|| async { json_file(REPORT_SCHEMA) }),
        )
        .route(
            "/api/v1/interval.schema.json",
            get(|| async { json_file(INTERVAL_SCHEMA) }),
        )
}

/// Routes of a separate metrics listener: `/metrics` only, no token.
pub fn metrics_routes(state: AppState) -> Routes {
    Routes::new()
        .route("/metrics", get(open_metrics))
        // Probes here are never held up by the main listener's clients.
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(|uri: axum::http::Uri| async move {
            ApiError::NotFound(format!(
                "no such route: {} (this listener serves /metrics, /healthz and /readyz)",
                uri.path()
            ))
        })
        .layer(axum::middleware::from_fn(crate::http::errors_as_json))
        .with_state(state)
}

/// The API's description and the schemas it refers to, as committed.
pub const OPENAPI: &str = include_str!("../../schemas/openapi.json");
pub const SNAPSHOT_SCHEMA: &str = include_str!("../../schemas/snapshot.schema.json");
pub const EVENT_SCHEMA: &str = include_str!("../../schemas/event.schema.json");
pub const REPORT_SCHEMA: &str = include_str!("../../schemas/report.schema.json");
pub const INTERVAL_SCHEMA: &str = include_str!("../../schemas/interval.schema.json");

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
        // Ready, and what fails: a source of one tenant (a site's
        // queue_log) failing holds no one else's boards.
        let failing: serde_json::Map<String, serde_json::Value> = st
            .hub
            .failures()
            .into_iter()
            .map(|(source, error)| (source, json!(error)))
            .collect();
        if failing.is_empty() {
            axum::Json(json!({ "ready": true })).into_response()
        } else {
            axum::Json(json!({ "ready": true, "failing": failing })).into_response()
        }
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
    let (handle, hub) = (st.metrics.clone(), st.hub.clone());
    let text = tokio::task::spawn_blocking(move || {
        super::prometheus::only_computed_here(&handle.render(), |t| hub.is_local(t))
    })
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
    if !access.reads_tenants() {
        return ApiError::Forbidden("a metrics token reads /metrics only".into()).into_response();
    }
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

/// `?view=`: a board view's name (views that list no agents get the
/// snapshot without its agent list).
#[derive(serde::Deserialize)]
struct SnapshotQuery {
    view: Option<String>,
    /// Read by the auth middleware; named here so it is accepted.
    #[allow(dead_code)]
    token: Option<String>,
}

async fn snapshot(
    State(st): State<AppState>,
    Extension(access): Extension<Access>,
    Path(tenant): Path<String>,
    Query(q): Query<SnapshotQuery>,
) -> Result<Response, ApiError> {
    if !access.can_read(&tenant) {
        return Err(ApiError::forbidden_tenant(&tenant));
    }
    let agents = super::view_wants_agents(q.view.as_deref())?;
    if st.hub.reading_snapshots() {
        return Err(ApiError::reading_snapshots());
    }
    let Some(p) = st.hub.latest(&tenant) else {
        // Not read back yet: the tenant may well be there in a moment.
        if st.hub.is_rebuilding() {
            return Err(ApiError::recovering(&tenant));
        }
        // A tenant the config names exists before its first event (a
        // board set up before the first call): it has no figures yet,
        // which is not "no such tenant".
        if st.config.names_tenant(&tenant) {
            return Err(ApiError::Unavailable(format!(
                "tenant `{tenant}` has no figures yet: no event of it has come since this instance started (a board's websocket waits for the first)"
            )));
        }
        return Err(ApiError::NoTenant(tenant));
    };
    let json = p
        .view_message(access.scope(), None, agents)
        .map(|m| p.json_in(&m))
        .ok_or_else(|| {
            ApiError::Unavailable(
                "this token's services have no figures yet: the instance computing the tenant runs another config".into(),
            )
        })?;
    Ok((
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
        json,
    )
        .into_response())
}

/// A history report: `from`, `to` (the tenant's local dates), `by`, `step`,
/// and `format=csv`, or without `format` `Accept: text/csv`, for CSV.
async fn history(
    State(st): State<AppState>,
    Extension(access): Extension<Access>,
    Path(tenant): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    if !access.can_read(&tenant) {
        return Err(ApiError::forbidden_tenant(&tenant));
    }
    let Some(store) = &st.history else {
        return Err(ApiError::NoHistory);
    };
    let settings = st.config.tenant(&tenant);
    let today = jiff::Timestamp::now().to_zoned(settings.tz.clone()).date();
    let mut query = report::Query::parse(&tenant, &params, today).map_err(ApiError::BadRequest)?;
    if let Some(scope) = access.scope() {
        // A scoped token reads its services' rows, and the agents that
        // serve them now (as its board shows them).
        query.only.services = Some(scope.clone());
        if query.by == crate::wire::By::Agent {
            let agents = st
                .hub
                .latest(&tenant)
                .map(|p| {
                    p.snapshot
                        .agent_list
                        .iter()
                        .filter(|a| a.services.iter().any(|s| scope.contains(s)))
                        .map(|a| a.agent.clone())
                        .collect()
                })
                .unwrap_or_default();
            query.only.agents = Some(std::sync::Arc::new(agents));
        }
    }
    let wants_csv = query.wants_csv(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    if st.hub.latest(&tenant).is_none()
        && !st.config.names_tenant(&tenant)
        && !report::has_tenant(store, &tenant)
            .await
            .map_err(|e| ApiError::Internal(format!("history: {e}")))?
    {
        return Err(ApiError::NoTenant(tenant));
    }
    // A few reports at once: each holds a database connection and a
    // core while it runs.
    let Ok(permit) = st.reports.clone().try_acquire_owned() else {
        return Ok((
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, HeaderValue::from_static("5"))],
            axum::Json(json!({
                "error": "too many reports are being made at once (limits.max_reports): try again in a few seconds"
            })),
        )
            .into_response());
    };
    // Streamed: rows go out as they are read, never all held.
    let chunks = export::stream(store.clone(), query.clone(), settings, wants_csv, permit);
    let body = axum::body::Body::from_stream(tokio_stream_of(chunks));
    if !wants_csv {
        return Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response());
    }
    let report = &query;
    let file = format!(
        "attachment; filename=\"callboard-{}-{}-{}-{}-{}.csv\"",
        tenant.replace(
            |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_',
            "_"
        ),
        report.by.as_str(),
        report.step.as_str(),
        report.from,
        report.to
    );
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&file).map_err(|e| ApiError::Internal(e.to_string()))?,
            ),
        ],
        body,
    )
        .into_response())
}

/// A channel's items as a stream (for a streamed body).
fn tokio_stream_of<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
