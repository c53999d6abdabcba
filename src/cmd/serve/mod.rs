//! `callboard serve`, put together: engine shards and the hub (`service`),
//! the sources that feed them, the outputs that read them, and the HTTP
//! listener that carries both. The only module that knows them all.
//!
//! `run` takes a bound listener and a shutdown token, so tests drive the
//! whole service in-process over real sockets.

pub mod settings;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use anyhow::Context;
use axum::Router as Routes;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cmd::Base;
use crate::config::{Config, ServeLayer};
use crate::history::{Store, backfill, writer};
use crate::http::AppState;
use crate::http::auth::{self, Tokens};
use crate::http::listener::{Bounded, ConnectionLimits, Peer};
use crate::kafka::snapshots::SnapshotFeed;
use crate::kafka::source::KafkaFeed;
use crate::outputs::{messages, prometheus, rest, web, ws};
use crate::service::feed::{Feed, FeedContext, Feeds};
use crate::service::hub::Hub;
use crate::service::shard;
use crate::sources::ingest::{self, LogFeed};
use crate::sources::simulated::SimulatedFeed;
use crate::telemetry::{ProcessSeries, Recovering, Signal, WebsocketClients};
use settings::ServeSettings;

/// `callboard serve`'s arguments: what every command reads, and the
/// `[serve]` settings as flags.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub base: Base,
    #[command(flatten)]
    pub settings: ServeLayer,
}

/// `callboard serve`: runs until SIGINT or SIGTERM.
pub fn execute(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut config = args.base.start()?;
    settings::read_tokens_file(&args.settings, &mut config)?;
    let settings = ServeSettings::resolve(&args.settings, &config, crate::time::now_ms())?;
    settings.name_zones(&mut config);
    let runtime = tokio::runtime::Runtime::new()?;
    let served = runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        tokio::spawn(stop_on_signal(shutdown.clone()));
        bind_and_run(config.shared(), settings, shutdown).await
    });
    // By now the last state is published and written. Blocking work still
    // running (a Kafka call waiting on a broker that is away) must not
    // hold the exit: dropping the runtime would wait for it without end,
    // past any stop timeout (systemd's, Kubernetes' grace).
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    served?;
    Ok(ExitCode::SUCCESS)
}

/// Every route of the main listener: those that hold data behind access
/// control, the rest open.
pub fn routes(state: AppState, intake: ingest::Intake) -> Routes {
    let authenticate = axum::middleware::from_fn_with_state(state.clone(), auth::authenticate);
    rest::routes()
        .merge(messages::routes())
        .merge(ws::routes())
        .merge(ingest::routes(intake))
        .layer(authenticate)
        .merge(rest::public_routes())
        .merge(web::routes())
        .fallback(|uri: axum::http::Uri| async move {
            crate::http::ApiError::NotFound(format!("no such route: {}", uri.path()))
        })
        .layer(axum::middleware::from_fn(crate::http::errors_as_json))
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
    // A source that cannot go on says why here before it stops the
    // service, which then ends with that error (a non-zero exit).
    let sources = Feeds::new();
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
            match backfill::simulated_past(&store, config, &tenants, crate::time::now_ms()).await {
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

    // Every source started alike; not ready until each has rebuilt.
    let (list, intake) = feeds(&settings);
    let ctx = FeedContext {
        router: router.clone(),
        hub: hub.clone(),
        config: config.clone(),
        stop: shutdown.clone(),
    };
    // Sources on a tracker of their own: at shutdown they end before the
    // engine does (see below).
    let source_tasks = TaskTracker::new();
    sources.start(list, &ctx, &source_tasks).await?;
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
        messages: Arc::new(crate::history::messages::Messages::new(store.clone())),
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
    let mut listener = Bounded::new(listener, "main", settings.http.connections);
    match &settings.http.tls {
        Some((cert, key)) => {
            let tls = crate::http::tls::Tls::load(cert, key)?;
            tls.clone().watch(shutdown.clone());
            listener = listener.with_tls(tls);
            tracing::info!(%addr, tls = true, "listening");
        }
        None => tracing::info!(%addr, "listening"),
    }
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

    // Sources stop on the same token, and may still be handing the engine
    // what they hold (a consumer's goodbye to its group moves partitions,
    // whose notes go through the engine): they end first, so none of them
    // finds the engine gone (which would fail the stop). Then the shards
    // publish and end.
    source_tasks.close();
    if tokio::time::timeout(settings.http.shutdown_grace, source_tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("some sources did not stop within the grace period");
    }
    engine_stop.cancel();
    tracker.close();
    if tokio::time::timeout(settings.http.shutdown_grace, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("some tasks did not stop within the grace period");
    }
    match sources.fatal.get() {
        Some(why) => anyhow::bail!("stopped: {why}"),
        None => {
            tracing::info!("stopped");
            Ok(())
        }
    }
}

/// The service's sources, in the order they start (the snapshot topic
/// before the consumer, so remote tenants are there when local ones move),
/// and where HTTP ingest hands what it accepts.
fn feeds(settings: &ServeSettings) -> (Vec<Box<dyn Feed>>, ingest::Intake) {
    let mut feeds: Vec<Box<dyn Feed>> = Vec::new();
    if let Some(kafka) = &settings.kafka {
        if let Some(topic) = &kafka.snapshot_topic {
            feeds.push(Box::new(SnapshotFeed {
                brokers: kafka.brokers.clone(),
                topic: topic.clone(),
                events_topic: kafka.topic.clone(),
            }));
        }
        feeds.push(Box::new(KafkaFeed(kafka.clone())));
    }
    for queue_log in &settings.queue_logs {
        feeds.push(Box::new(queue_log.clone()));
    }
    // HTTP ingest: through its event log (read back first), or in memory.
    let intake = match settings.event_log.clone() {
        Some(log) => {
            let (feed, intake) = LogFeed::new(log);
            feeds.push(Box::new(feed));
            intake
        }
        None => ingest::Intake::Memory,
    };
    if !settings.simulate.is_empty() {
        feeds.push(Box::new(SimulatedFeed(settings.simulate.clone())));
    }
    (feeds, intake)
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
