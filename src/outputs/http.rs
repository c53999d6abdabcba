//! The HTTP listener: REST snapshots, event ingest, health, readiness and
//! `/metrics`. One router, one shared state (`AppState`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use axum::Extension;
use axum::Router as Routes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use serde_json::json;
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

use super::auth::{Access, Tokens, forbidden_tenant};
use super::prometheus as prom;
use crate::config::Config;
use crate::decode::{Reason, Reject, check_not_ahead, decode_json};
use crate::event::Event;
use crate::service::hub::Hub;
use crate::service::shard::{Router, Source, now_ms};

/// Largest accepted ingest body.
pub const MAX_INGEST_BYTES: usize = 16 * 1024 * 1024;

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

pub fn routes(state: AppState) -> Routes {
    let auth = axum::middleware::from_fn_with_state(state.clone(), super::auth::authenticate);
    Routes::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/tenants", get(tenants))
        .route("/api/v1/tenants/{tenant}/snapshot", get(snapshot))
        .route(
            "/api/v1/events",
            post(ingest).layer(DefaultBodyLimit::max(MAX_INGEST_BYTES)),
        )
        .route("/api/v1/ws", get(super::ws::upgrade))
        .route("/api/v1/openapi.json", get(|| async { json_file(OPENAPI) }))
        .route(
            "/api/v1/snapshot.schema.json",
            get(|| async { json_file(SNAPSHOT_SCHEMA) }),
        )
        .route(
            "/api/v1/event.schema.json",
            get(|| async { json_file(EVENT_SCHEMA) }),
        )
        .merge(super::web::routes())
        .layer(auth)
        .layer(tower_http::compression::CompressionLayer::new())
        .with_state(state)
}

/// Routes of a separate metrics listener: `/metrics` only, no token.
pub fn metrics_routes(state: AppState) -> Routes {
    Routes::new()
        .route("/metrics", get(open_metrics))
        .with_state(state)
}

/// True for the API's description and the schemas it refers to: served
/// without a token.
pub fn is_public_document(path: &str) -> bool {
    matches!(
        path,
        "/api/v1/openapi.json" | "/api/v1/snapshot.schema.json" | "/api/v1/event.schema.json"
    )
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

/// A JSON error body with a status.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
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

async fn metrics(State(st): State<AppState>, Extension(access): Extension<Access>) -> Response {
    if !access.can_read_metrics() {
        return error(StatusCode::FORBIDDEN, "this token cannot read metrics");
    }
    open_metrics(State(st)).await
}

async fn open_metrics(State(st): State<AppState>) -> Response {
    // Rendering many series takes a while: not on an async worker.
    let handle = st.metrics.clone();
    let text = match tokio::task::spawn_blocking(move || handle.render()).await {
        Ok(text) => text,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("rendering stopped: {e}"),
            );
        }
    };
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
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
) -> Response {
    if !access.can_read(&tenant) {
        return forbidden_tenant(&tenant);
    }
    match st.hub.latest(&tenant) {
        Some(p) => (
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
            .into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no tenant `{tenant}`")),
    }
}

/// The answer to an ingest request.
#[derive(Serialize, Default)]
struct IngestReport {
    accepted: usize,
    rejected: usize,
    /// Rejections by reason.
    reasons: BTreeMap<&'static str, usize>,
    /// The first rejections, with their position (0-based line or array index).
    errors: Vec<IngestError>,
}

#[derive(Serialize)]
struct IngestError {
    index: usize,
    reason: &'static str,
    detail: String,
}

const MAX_REPORTED_ERRORS: usize = 20;

impl IngestReport {
    fn reject(&mut self, index: usize, r: Reject) {
        self.rejected += 1;
        *self.reasons.entry(r.reason.as_str()).or_default() += 1;
        prom::record_rejected(Source::Http, r.reason, 1);
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(IngestError {
                index,
                reason: r.reason.as_str(),
                detail: r.detail,
            });
        }
    }
}

/// `POST /api/v1/events`: NDJSON, or one JSON array of events.
///
/// The role is checked before the body is read; the body is then read up to
/// its limit and decoded on a blocking thread, so a large or malformed body
/// never holds up the async workers (health, websockets, publishing).
async fn ingest(
    State(st): State<AppState>,
    Extension(access): Extension<Access>,
    body: axum::body::Body,
) -> Response {
    if !access.can_ingest() {
        return error(
            StatusCode::FORBIDDEN,
            "only an admin token may ingest events",
        );
    }
    let body = match axum::body::to_bytes(body, MAX_INGEST_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            prom::record_rejected(Source::Http, Reason::TooLarge, 1);
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("too_large: a request body holds at most {MAX_INGEST_BYTES} bytes"),
            );
        }
    };
    let (max, skew) = (st.config.max_event_bytes, st.config.max_clock_skew_ms);
    let decoded =
        tokio::task::spawn_blocking(move || decode_body(&body, max, now_ms(), skew)).await;
    let (events, report) = match decoded {
        Ok(Ok(d)) => d,
        Ok(Err(refusal)) => return error(StatusCode::BAD_REQUEST, refusal),
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("decoding stopped: {e}"),
            );
        }
    };
    if !events.is_empty() && st.router.send(Source::Http, events).await.is_err() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the engine is shutting down",
        );
    }
    let status = if report.accepted == 0 && report.rejected > 0 {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    (status, axum::Json(report)).into_response()
}

/// Decodes an ingest body: NDJSON line by line, or a JSON array element by
/// element as the parser reaches it (never a list of the whole array). The
/// error is for a body that is not an array at all.
fn decode_body(
    body: &[u8],
    max: usize,
    now: crate::time::Millis,
    skew: crate::time::Millis,
) -> Result<(Vec<Event<'static>>, IngestReport), String> {
    let mut report = IngestReport::default();
    let mut events: Vec<Event<'static>> = Vec::new();
    let mut take = |i: usize, bytes: &[u8], report: &mut IngestReport| match decode_json(bytes, max)
        .and_then(|ev| check_not_ahead(ev.ts, now, skew).map(|()| ev))
    {
        Ok(ev) => events.push(ev.into_owned()),
        Err(r) => report.reject(i, r),
    };
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        let mut de = serde_json::Deserializer::from_slice(body);
        let each =
            EachElement(|i: usize, raw: &RawValue| take(i, raw.get().as_bytes(), &mut report));
        if let Err(e) = serde::Deserializer::deserialize_seq(&mut de, each).and_then(|()| de.end())
        {
            prom::record_rejected(Source::Http, Reason::InvalidJson, 1);
            return Err(format!(
                "invalid_json: the body is not a JSON array of events: {e}"
            ));
        }
    } else {
        for (i, line) in body.split(|&b| b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            take(i, line, &mut report);
        }
    }
    report.accepted = events.len();
    Ok((events, report))
}

/// A visitor of a JSON array that hands each element (unparsed) to a
/// function as it is reached.
struct EachElement<F>(F);

impl<'de, F: FnMut(usize, &RawValue)> serde::de::Visitor<'de> for EachElement<F> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of events")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            (self.0)(i, raw);
            i += 1;
        }
        Ok(())
    }
}
