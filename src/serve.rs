//! `callboard serve`, put together: engine shards and the hub (`service`),
//! the sources that feed them, the outputs that read them, and the HTTP
//! listener that carries both. The only module that knows them all.
//!
//! `run` takes a bound listener and a shutdown token, so tests drive the
//! whole service in-process over real sockets.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use anyhow::Context;
use axum::Router as Routes;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::event::Source;
use crate::history::{Store, backfill, writer};
use crate::http::AppState;
use crate::http::auth::{self, Tokens};
use crate::http::listener::{Bounded, ConnectionLimits, Peer};
use crate::outputs::{prometheus, rest, web, ws};
use crate::service::hub::Hub;
use crate::service::shard;
use crate::settings::ServeSettings;
use crate::sources::{self, ingest};
use crate::telemetry::{ProcessSeries, Recovering, Signal, WebsocketClients};
use crate::wire::Status;

/// Every route of the main listener: those that hold data behind access
/// control, the rest open.
pub fn routes(state: AppState, intake: ingest::Intake) -> Routes {
    let authenticate = axum::middleware::from_fn_with_state(state.clone(), auth::authenticate);
    rest::routes()
        .merge(ws::routes())
        .merge(ingest::routes(intake))
        .layer(authenticate)
        .merge(rest::public_routes())
        .merge(web::routes())
        .layer(tower_http::compression::CompressionLayer::new())
        .with_state(state)
}

/// Binds the configured listeners, says in the log what is served and how
/// it is protected, then [`run`]s.
pub async fn bind_and_run(
    config: Arc<Config>,
    settings: ServeSettings,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let addr = settings.http.listen;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let metrics_listener = match settings.http.metrics_listen {
        Some(m) => Some(
            TcpListener::bind(m)
                .await
                .with_context(|| format!("cannot listen on {m}"))?,
        ),
        None => None,
    };
    if config.tokens.is_empty() {
        tracing::warn!(
            %addr,
            "no access tokens configured: serving on loopback only, open to every local client"
        );
    } else {
        tracing::info!(tokens = config.tokens.len(), "access tokens required");
    }
    if let Some(m) = settings.http.metrics_listen
        && !m.ip().is_loopback()
    {
        tracing::warn!(
            metrics_listen = %m,
            "/metrics is served on a non-loopback address without a token: whoever reaches it reads every tenant's figures; bind it to loopback or a private network, or firewall it"
        );
    }
    if let Some(k) = &settings.kafka {
        tracing::info!(brokers = %k.brokers, topic = %k.topic, group = %k.group, "consuming from kafka");
    }
    for q in &settings.queue_logs {
        tracing::info!(path = %q.path.display(), tenant = %q.tenant, "following queue_log");
    }
    match &settings.event_log {
        Some(log) => tracing::info!(
            dir = %log.dir.display(),
            fsync = log.fsync.as_str(),
            retention_days = log.retention_days,
            "HTTP ingest: events logged before they are acknowledged, read back at start"
        ),
        None => tracing::warn!(
            "HTTP ingest keeps its state in memory only (--event-log none): a restart forgets what it was sent, and history is written only from the interval after each tenant's next event"
        ),
    }
    if !settings.simulate.is_empty() {
        tracing::info!(
            tenants = settings.simulate.len(),
            "no event source configured: simulating demo traffic; snapshot at http://{addr}/api/v1/tenants/demo/snapshot"
        );
    }
    run_with_metrics_listener(listener, metrics_listener, config, settings, shutdown).await
}

/// Serves until `shutdown` is cancelled, then stops sources, publishes the
/// last state, closes websockets and returns.
pub async fn run(
    listener: TcpListener,
    config: Arc<Config>,
    settings: ServeSettings,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    run_with_metrics_listener(listener, None, config, settings, shutdown).await
}

/// [`run`], with `/metrics` on a listener of its own (open, no token).
pub async fn run_with_metrics_listener(
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    config: Arc<Config>,
    settings: ServeSettings,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let metrics = prometheus::install();
    WebsocketClients { open: 0 }.emit();
    // A task that cannot go on says why here before it stops the service,
    // which then ends with that error (a non-zero exit).
    let fatal: Arc<std::sync::OnceLock<String>> = Arc::default();
    let hub = Hub::new();
    let tracker = TaskTracker::new();
    let engine_stop = CancellationToken::new();
    // The history store, opened (and its schema migrated) before anything
    // runs: a store that cannot be opened stops the start with its reason.
    let (store, history_sink) = match &settings.history {
        Some(h) => {
            let store = Store::open(&h.location).await.with_context(|| {
                format!(
                    "history: cannot open {} (give another with --history, or --history none)",
                    h.location.describe()
                )
            })?;
            tracing::info!(store = %h.location.describe(), retention_days = h.retention_days, "history: writing interval statistics");
            let (tx, rx) = tokio::sync::mpsc::channel(writer::CHANNEL_ROUNDS);
            tracker.spawn(writer::run(store.clone(), rx, h.retention_days));
            (Some(store), Some(tx))
        }
        None => (None, None),
    };
    // The demo starts with a week of history (days the store lacks).
    if let Some(store) = &store
        && !settings.simulate.is_empty()
    {
        let (store, config, tenants) = (store.clone(), config.clone(), settings.simulate.clone());
        tracker.spawn(async move {
            match backfill::simulated_past(&store, config, &tenants, shard::now_ms()).await {
                Ok(0) => {}
                Ok(days) => {
                    tracing::info!(days, "history: the demo's past days simulated and written")
                }
                Err(e) => {
                    tracing::warn!(error = %e, "history: the demo's past days could not be written")
                }
            }
        });
    }
    let router = shard::start(
        settings.engine.shards,
        config.clone(),
        hub.clone(),
        settings.engine.publish_interval,
        history_sink,
        &tracker,
        engine_stop.clone(),
    )
    .with_context(|| {
        format!(
            "cannot start {} engine shards (a thread each): give fewer with --shards",
            settings.engine.shards
        )
    })?;

    // Not ready until every configured source has rebuilt its state: each
    // is recovering from the start, and says so itself when it is done.
    if let Some(kafka) = settings.kafka.clone() {
        router
            .status(Source::Kafka.as_str(), Status::Recovering)
            .await?;
        if let Some(topic) = kafka.snapshot_topic.clone() {
            router
                .status(sources::kafka::snapshots::SOURCE, Status::Recovering)
                .await?;
            let (router, stop, hub) = (router.clone(), shutdown.clone(), hub.clone());
            let fatal = fatal.clone();
            let (brokers, events) = (kafka.brokers.clone(), kafka.topic.clone());
            tracker.spawn(async move {
                // As many partitions as the events, for as many readers.
                let partitions = tokio::task::block_in_place(|| {
                    crate::kafka::partition_count(&brokers, &events)
                })
                .ok()
                .flatten()
                .unwrap_or(1);
                let run = sources::kafka::snapshots::run(
                    brokers,
                    topic,
                    partitions,
                    hub,
                    router,
                    stop.clone(),
                );
                if let Err(e) = run.await {
                    tracing::error!(error = %e, "snapshot topic stopped");
                    let _ = fatal.set(format!("the snapshot topic stopped: {e:#}"));
                    stop.cancel();
                }
            });
        }
        let (router, stop, fatal) = (router.clone(), shutdown.clone(), fatal.clone());
        tracker.spawn(async move {
            if let Err(e) = sources::kafka::run(kafka, router, stop.clone()).await {
                tracing::error!(error = %e, "kafka source stopped");
                let _ = fatal.set(format!("the kafka source stopped: {e:#}"));
                stop.cancel();
            }
        });
    }
    for src in settings.queue_logs.clone() {
        router.status(&src.id(), Status::Recovering).await?;
        let (router, stop, config) = (router.clone(), shutdown.clone(), config.clone());
        // It ends only with the service: a file it cannot read is its
        // tenant's problem (stale, retried), not the service's.
        tracker.spawn(async move {
            let _ = sources::queue_log::run(src, config, router, stop).await;
        });
    }
    // HTTP ingest: through its event log (read back first), or in memory.
    let intake = match settings.event_log.clone() {
        Some(log) => {
            router
                .status(ingest::LOG_SOURCE, Status::Recovering)
                .await?;
            let (tx, rx) = tokio::sync::mpsc::channel(ingest::APPEND_QUEUE);
            let (router, stop, fatal) = (router.clone(), shutdown.clone(), fatal.clone());
            tracker.spawn(async move {
                if let Err(e) = ingest::run_log(log, router, rx, stop.clone()).await {
                    tracing::error!(error = %format!("{e:#}"), "event log stopped: HTTP ingest is refused");
                    let _ = fatal.set(format!("the event log stopped: {e:#}"));
                    stop.cancel();
                }
            });
            ingest::Intake::Logged(tx)
        }
        None => ingest::Intake::Memory,
    };
    if !settings.simulate.is_empty() {
        router
            .status(Source::Simulator.as_str(), Status::Recovering)
            .await?;
        let (router, stop) = (router.clone(), shutdown.clone());
        let tenants = settings.simulate.clone();
        tracker.spawn(async move {
            if let Err(e) = sources::sim::run(tenants, router, stop).await {
                tracing::warn!(error = %e, "simulator stopped");
            }
        });
    }
    Recovering(hub.is_rebuilding()).emit();

    // The process's own series stay on /metrics while tenants' series that
    // are no longer exported (revoked, forgotten) go idle and leave.
    let ws_clients = Arc::new(AtomicUsize::new(0));
    {
        let (hub, clients, stop) = (hub.clone(), ws_clients.clone(), shutdown.clone());
        tracker.spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(30));
            loop {
                tokio::select! {
                    _ = every.tick() => ProcessSeries {
                        websocket_clients: clients.load(std::sync::atomic::Ordering::Relaxed),
                        recovering: hub.is_rebuilding(),
                    }
                    .emit(),
                    _ = stop.cancelled() => break,
                }
            }
        });
    }
    let state = AppState {
        hub: hub.clone(),
        router: router.clone(),
        tokens: Arc::new(Tokens::new(&config.tokens)),
        allowed_origins: Arc::new(settings.http.allowed_origins.clone()),
        config,
        metrics,
        ws_clients,
        shutdown: shutdown.clone(),
        history: store,
        reports: Arc::new(tokio::sync::Semaphore::new(settings.http.max_reports)),
    };
    if let Some(ml) = metrics_listener {
        let app = rest::metrics_routes(state.clone());
        tracing::info!(addr = %ml.local_addr()?, "metrics listening");
        let stop = shutdown.clone();
        // Its own small bounds: scrapers and probes only, never
        // authenticated, each connection at most the request timeout.
        let ml = Bounded::new(
            ml,
            "metrics",
            ConnectionLimits {
                max_pending: 256,
                max_pending_per_address: 64,
                ..settings.http.connections
            },
        );
        tracker.spawn(async move {
            if let Err(e) = axum::serve(ml, app.into_make_service_with_connect_info::<Peer>())
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
            {
                tracing::error!(error = %e, "metrics listener failed");
            }
        });
    }
    let app = routes(state, intake);
    let addr: SocketAddr = listener.local_addr()?;
    tracing::info!(%addr, "listening");
    let listener = Bounded::new(listener, "main", settings.http.connections);
    let server = axum::serve(listener, app.into_make_service_with_connect_info::<Peer>())
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .into_future();
    // Connections get the grace period to finish what they are doing after
    // shutdown is asked; whatever a client still holds open then is cut, so
    // the last state is published and the process exits whatever clients do.
    let grace = settings.http.shutdown_grace;
    let cut_off = async {
        shutdown.cancelled().await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        served = server => served?,
        () = cut_off => tracing::warn!("connections still open after the grace period: closed"),
    }

    // Sources have stopped (same token); let shards publish and end.
    engine_stop.cancel();
    tracker.close();
    if tokio::time::timeout(settings.http.shutdown_grace, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("some tasks did not stop within the grace period");
    }
    match fatal.get() {
        Some(why) => anyhow::bail!("stopped: {why}"),
        None => {
            tracing::info!("stopped");
            Ok(())
        }
    }
}

/// Cancels `token` on SIGINT or SIGTERM. SIGHUP (a closed terminal, or a
/// reload some supervisors send) is ignored and said so: the service reads
/// its config at start only.
pub async fn stop_on_signal(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::warn!(
                    "SIGHUP ignored: the config (tokens included) is read at start; restart the service to apply a change"
                );
            }
        });
    }
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    token.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
    token.cancel();
}
