//! HTTP ingest: `POST /api/v1/events`, NDJSON or a JSON array of contract
//! events, decoded off the async workers and routed to the shards.

use std::collections::BTreeMap;

use axum::Extension;
use axum::Router as Routes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::decode::{Reason, Reject, check_not_ahead, decode_json};
use crate::event::{Event, Source};
use crate::http::auth::Access;
use crate::http::{ApiError, AppState};
use crate::service::shard::now_ms;
use crate::telemetry::{EventsRejected, Signal};

/// Largest accepted ingest body.
pub const MAX_INGEST_BYTES: usize = 16 * 1024 * 1024;

/// The ingest route (access is checked by the caller's `auth` layer, the
/// role by the handler before the body is read).
pub fn routes() -> Routes<AppState> {
    Routes::new().route(
        "/api/v1/events",
        post(ingest).layer(DefaultBodyLimit::max(MAX_INGEST_BYTES)),
    )
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
        EventsRejected::one(Source::Http, r.reason).emit();
        self.rejected += 1;
        *self.reasons.entry(r.reason.as_str()).or_default() += 1;
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
) -> Result<Response, ApiError> {
    if !access.can_ingest() {
        return Err(ApiError::Forbidden(
            "only an admin token may ingest events".into(),
        ));
    }
    let body = match axum::body::to_bytes(body, MAX_INGEST_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            EventsRejected::one(Source::Http, Reason::TooLarge).emit();
            return Err(ApiError::TooLarge(format!(
                "too_large: a request body holds at most {MAX_INGEST_BYTES} bytes"
            )));
        }
    };
    let (max, skew) = (st.config.max_event_bytes, st.config.max_clock_skew_ms);
    let decoded =
        tokio::task::spawn_blocking(move || decode_body(&body, max, now_ms(), skew)).await;
    let (events, places, mut report) = decoded
        .map_err(|e| ApiError::Internal(format!("decoding stopped: {e}")))?
        .map_err(ApiError::BadRequest)?;
    if events.is_empty() && report.rejected == 0 {
        return Err(ApiError::BadRequest(
            "empty: the body holds no event (NDJSON lines, or a JSON array of events)".into(),
        ));
    }
    // The events are kept in memory only: a tenant first seen after a start
    // holds nothing of what came before it.
    let whole = crate::engine::Whole::AfterFirstEvent;
    if !events.is_empty() {
        // Answered once the engine has applied them: what it refused is
        // counted as rejected, with its reason.
        let refused = st
            .router
            .apply(Source::Http, events, whole)
            .await
            .map_err(|_| ApiError::ShuttingDown)?;
        report.accepted -= refused.len();
        for r in refused {
            report.reject(places[r.index], r.reject);
        }
        report.errors.sort_by_key(|e| e.index);
    }
    let status = if report.accepted == 0 && report.rejected > 0 {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(report)).into_response())
}

/// Decodes an ingest body: NDJSON line by line, or a JSON array element by
/// element as the parser reaches it (never a list of the whole array). The
/// error is for a body that is not an array at all.
fn decode_body(
    body: &[u8],
    max: usize,
    now: crate::time::Millis,
    skew: crate::time::Millis,
) -> Result<(Vec<Event<'static>>, Vec<usize>, IngestReport), String> {
    let mut report = IngestReport::default();
    let mut events: Vec<Event<'static>> = Vec::new();
    // Each event's place in the body (line or element).
    let mut places: Vec<usize> = Vec::new();
    let mut take = |i: usize, bytes: &[u8], report: &mut IngestReport| match decode_json(bytes, max)
        .and_then(|ev| check_not_ahead(ev.ts, now, skew).map(|()| ev))
    {
        Ok(ev) => {
            events.push(ev.into_owned());
            places.push(i);
        }
        Err(r) => report.reject(i, r),
    };
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        let mut de = serde_json::Deserializer::from_slice(body);
        let each =
            EachElement(|i: usize, raw: &RawValue| take(i, raw.get().as_bytes(), &mut report));
        if let Err(e) = serde::Deserializer::deserialize_seq(&mut de, each).and_then(|()| de.end())
        {
            EventsRejected::one(Source::Http, Reason::InvalidJson).emit();
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
    Ok((events, places, report))
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
