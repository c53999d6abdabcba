//! HTTP ingest: `POST /api/v1/events`, NDJSON or a JSON array of contract
//! events, decoded off the async workers, appended to the event log (see
//! `event_log`) and routed to the shards; answered once the engine has
//! applied them. A start rebuilds the tenants the log holds.

use std::collections::BTreeMap;

use axum::Extension;
use axum::Router as Routes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use serde_json::value::RawValue;

use std::time::Duration;

use anyhow::Context;
use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::event_log::{self, EventLog, EventLogSettings};
use crate::decode::{Reason, Reject, check_not_ahead, decode_json};
use crate::engine::Whole;
use crate::event::{Event, Source};
use crate::http::auth::Access;
use crate::http::{ApiError, AppState};
use crate::service::feed::{Feed, FeedContext, SourceId};
use crate::service::shard::{Pending, Router};
use crate::telemetry::{EventsRejected, IngestIncomplete, LogRebuilt, LogWriteFailed, Signal};
use crate::time::now_ms;
use crate::wire::Status;

/// Largest accepted ingest body.
pub const MAX_INGEST_BYTES: usize = 16 * 1024 * 1024;

/// The ingest route (access is checked by the caller's `auth` layer, the
/// role by the handler before the body is read); accepted events reach the
/// engine through `intake`.
pub fn routes(intake: Intake) -> Routes<AppState> {
    Routes::new()
        .route(
            "/api/v1/events",
            post(ingest).layer(DefaultBodyLimit::max(MAX_INGEST_BYTES)),
        )
        .layer(Extension(intake))
}

/// How accepted events reach the engine.
#[derive(Clone, Debug)]
pub enum Intake {
    /// Straight to the shards: the state is memory only, a restart forgets
    /// it (`--event-log none`).
    Memory,
    /// Appended to the event log first, by the task [`run_log`] runs.
    Logged(mpsc::Sender<Append>),
}

/// One request's accepted events, for the log's task.
#[derive(Debug)]
pub struct Append {
    /// The events' records, framed for the log.
    framed: Vec<u8>,
    events: Vec<Event<'static>>,
    /// The events handed to their shards, or why they could not be logged.
    reply: oneshot::Sender<Result<Pending, String>>,
}

/// Requests waiting for the log's task at most (each holds its events).
pub const APPEND_QUEUE: usize = 16;
/// Requests written with one `fdatasync` at most.
const GROUP: usize = 64;
/// How often segments past the retention are looked for.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// Events per batch handed to the shards while the log is read at start.
const REBUILD_BATCH: usize = 4096;

/// HTTP ingest's event log as a feed of the service: what ingest accepted
/// comes through `requests` (the [`Intake::Logged`] side). Vital: without
/// its log, ingest would acknowledge what a restart forgets.
pub struct LogFeed {
    pub settings: EventLogSettings,
    pub requests: mpsc::Receiver<Append>,
}

impl LogFeed {
    /// The feed, and the intake the ingest route hands requests to.
    pub fn new(settings: EventLogSettings) -> (LogFeed, Intake) {
        let (tx, requests) = mpsc::channel(APPEND_QUEUE);
        (LogFeed { settings, requests }, Intake::Logged(tx))
    }
}

impl Feed for LogFeed {
    fn id(&self) -> SourceId {
        SourceId::EventLog
    }

    fn vital(&self) -> bool {
        true
    }

    fn run(self: Box<Self>, ctx: FeedContext) -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(run_log(self.settings, ctx.router, self.requests, ctx.stop))
    }
}

/// Opens the event log and rebuilds the tenants it holds (publishing held,
/// `/readyz` 503 until done), then appends what ingest accepts, one batch of
/// requests per write and sync, and hands each request's events to the
/// shards in the order they were written, until `shutdown`. Requests that
/// come during the rebuild wait for it.
pub async fn run_log(
    settings: EventLogSettings,
    router: Router,
    mut requests: mpsc::Receiver<Append>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    router
        .status(&SourceId::EventLog, Status::Recovering)
        .await?;
    let started = std::time::Instant::now();
    // What the log promises of the tenants it brings back: every event,
    // unless retention deleted some (then from the day after the newest).
    let whole = match event_log::pruned_through(&settings.dir) {
        None => Whole::Everything,
        Some(t) => Whole::FromDayAfter(t),
    };
    let (batches, mut rebuilt) = mpsc::channel::<Vec<Event<'static>>>(4);
    let dir = settings.dir.clone();
    let reading = tokio::task::spawn_blocking(move || {
        let mut batch = Vec::with_capacity(REBUILD_BATCH);
        let mut undecodable = 0u64;
        let opened = EventLog::open(settings, |bytes| {
            match event_log::decode_record(bytes) {
                Some(ev) => batch.push(ev),
                None => undecodable += 1,
            }
            if batch.len() >= REBUILD_BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(REBUILD_BATCH));
                let _ = batches.blocking_send(full);
            }
        });
        if !batch.is_empty() {
            let _ = batches.blocking_send(batch);
        }
        (opened, undecodable)
    });
    let mut events = 0usize;
    while let Some(batch) = rebuilt.recv().await {
        events += batch.len();
        router.send_whole(Source::Http, batch, Some(whole)).await?;
    }
    let (opened, undecodable) = reading.await?;
    let (mut log, read) =
        opened.with_context(|| format!("event log: cannot open {}", dir.display()))?;
    router.status(&SourceId::EventLog, Status::Live).await?;
    LogRebuilt {
        events: events as u64,
        took: started.elapsed(),
    }
    .emit();
    tracing::info!(
        dir = %dir.display(),
        segments = read.segments,
        events,
        undecodable,
        torn = read.torn,
        took_s = format!("{:.2}", started.elapsed().as_secs_f64()),
        "event log: rebuilt, live"
    );

    let mut prune = tokio::time::interval(PRUNE_EVERY);
    prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let first = tokio::select! {
            r = requests.recv() => match r {
                Some(r) => r,
                None => break,
            },
            _ = prune.tick() => {
                let pruned = tokio::task::spawn_blocking(move || {
                    let r = log.prune(std::time::SystemTime::now());
                    (log, r)
                })
                .await?;
                log = pruned.0;
                match pruned.1 {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(segments = n, "event log: segments past the retention deleted"),
                    Err(e) => tracing::warn!(error = %e, "event log: old segments could not be deleted"),
                }
                continue;
            }
            _ = shutdown.cancelled() => break,
        };
        let mut group = vec![first];
        while group.len() < GROUP {
            match requests.try_recv() {
                Ok(r) => group.push(r),
                Err(_) => break,
            }
        }
        // Written and synced off the async workers; each request's events
        // count as written only if its write and the sync after it succeed.
        let framed: Vec<(Vec<u8>, u64)> = group
            .iter_mut()
            .map(|a| (std::mem::take(&mut a.framed), a.events.len() as u64))
            .collect();
        let (back, written) = tokio::task::spawn_blocking(move || {
            let mut written = Vec::with_capacity(framed.len());
            for (bytes, n) in &framed {
                written.push(log.append(bytes, *n).map_err(|e| e.to_string()));
            }
            if let Err(e) = log.sync() {
                let e = e.to_string();
                for w in &mut written {
                    *w = Err(e.clone());
                }
            }
            (log, written)
        })
        .await?;
        log = back;
        for (a, written) in group.into_iter().zip(written) {
            let answer = match written {
                Ok(()) => Ok(router
                    .submit(Source::Http, a.events, Some(Whole::Everything))
                    .await?),
                Err(e) => {
                    LogWriteFailed.emit();
                    tracing::error!(error = %e, "event log: cannot write; the request is refused");
                    Err(e)
                }
            };
            let _ = a.reply.send(answer);
        }
    }
    let _ = tokio::task::spawn_blocking(move || log.sync()).await;
    Ok(())
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
    Extension(intake): Extension<Intake>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    if !access.can_ingest() {
        return Err(ApiError::Forbidden(
            "only an admin token may ingest events".into(),
        ));
    }
    // A compressed body would be read as garbage lines, each refused.
    if let Some(encoding) = headers
        .get(axum::http::header::CONTENT_ENCODING)
        .map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|e| !e.is_empty() && e != "identity")
    {
        return Err(ApiError::UnsupportedMedia(format!(
            "the body is sent with Content-Encoding `{encoding}`: events are taken uncompressed (NDJSON or a JSON array); nothing was accepted"
        )));
    }
    let body = match axum::body::to_bytes(body, MAX_INGEST_BYTES).await {
        Ok(b) => b,
        Err(e) if over_the_limit(&e) => {
            EventsRejected::one(Source::Http, Reason::TooLarge).emit();
            return Err(ApiError::TooLarge(format!(
                "too_large: a request body holds at most {MAX_INGEST_BYTES} bytes"
            )));
        }
        // The client stopped sending (or was silent past the idle
        // timeout): no event of it was read, none is rejected.
        Err(_) => {
            IngestIncomplete.emit();
            return Err(ApiError::BadRequest(
                "incomplete: the body ended before the length it announced; nothing of it was accepted"
                    .into(),
            ));
        }
    };
    let (max, skew) = (st.config.max_event_bytes, st.config.max_clock_skew_ms);
    let logged = matches!(intake, Intake::Logged(_));
    let decoded =
        tokio::task::spawn_blocking(move || decode_body(&body, max, now_ms(), skew, logged)).await;
    let (Decoded { events, framed }, places, mut report) = decoded
        .map_err(|e| ApiError::Internal(format!("decoding stopped: {e}")))?
        .map_err(ApiError::BadRequest)?;
    if events.is_empty() && report.rejected == 0 {
        return Err(ApiError::BadRequest(
            "empty: the body holds no event (NDJSON lines, or a JSON array of events)".into(),
        ));
    }
    if !events.is_empty() {
        // Answered once the engine has applied them: what it refused is
        // counted as rejected, with its reason.
        let pending = match intake {
            // In memory only: a tenant first seen after a start holds
            // nothing of what came before it.
            Intake::Memory => st
                .router
                .submit(Source::Http, events, Some(Whole::AfterFirstEvent))
                .await
                .map_err(|_| ApiError::ShuttingDown)?,
            Intake::Logged(log) => {
                let (reply, answer) = oneshot::channel();
                log.send(Append {
                    framed,
                    events,
                    reply,
                })
                .await
                .map_err(|_| ApiError::ShuttingDown)?;
                answer
                    .await
                    .map_err(|_| ApiError::ShuttingDown)?
                    .map_err(|e| {
                        ApiError::Unavailable(format!(
                            "the event log cannot be written ({e}): nothing of this request was accepted; send it again"
                        ))
                    })?
            }
        };
        let refused = pending
            .refused()
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

/// The events a body holds, and their records for the log.
#[derive(Default)]
struct Decoded {
    events: Vec<Event<'static>>,
    framed: Vec<u8>,
}

/// Whether reading a body failed for its size, not for the client going
/// away.
pub(crate) fn over_the_limit(e: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// Decodes an ingest body: NDJSON line by line, or a JSON array element by
/// element as the parser reaches it (never a list of the whole array). The
/// error is for a body that is not an array at all. With `logged`, each
/// accepted event's bytes are framed for the event log as well.
fn decode_body(
    body: &[u8],
    max: usize,
    now: crate::time::Millis,
    skew: crate::time::Millis,
    logged: bool,
) -> Result<(Decoded, Vec<usize>, IngestReport), String> {
    // A byte-order mark before the first event is not part of it.
    let body = body
        .strip_prefix(crate::sources::lines::BOM)
        .unwrap_or(body);
    let mut report = IngestReport::default();
    let mut out = Decoded::default();
    // Each event's place in the body (line or element).
    let mut places: Vec<usize> = Vec::new();
    let mut take = |i: usize, bytes: &[u8], report: &mut IngestReport| match decode_json(bytes, max)
        .and_then(|ev| check_not_ahead(ev.ts, now, skew).map(|()| ev))
    {
        Ok(ev) => {
            out.events.push(ev.into_owned());
            if logged {
                event_log::frame(&mut out.framed, bytes.trim_ascii());
            }
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
    report.accepted = out.events.len();
    Ok((out, places, report))
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
