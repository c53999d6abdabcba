//! `callboard forward`: an Asterisk site's `queue_log`, followed as the
//! service follows it, produced to the events topic as contract events
//! (key = tenant), so that many sites feed one central cluster.
//!
//! It remembers how far it got in a small state file: the time of the last
//! line whose events the broker acknowledged. After a restart it reads the
//! log again (the decoder needs the past to know open calls and members)
//! and sends only lines of that second or later. Event ids come from the
//! line's bytes, so the lines of that one second that are sent again are
//! duplicates the engine ignores: each line counts once. While the broker
//! is away, librdkafka keeps the messages and retries; the state file moves
//! only when they are delivered.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context;
use futures_util::StreamExt;
use rdkafka::config::ClientConfig;
use rdkafka::producer::FutureProducer;
use tokio_util::sync::CancellationToken;

use crate::cmd::Base;
use crate::cmd::serve::settings::DEFAULT_TOPIC;
use crate::config::Config;
use crate::event::Event;
use crate::kafka::{Deliveries, delivery_ok, enqueue, ensure_topic};
use crate::sources::queue_log::{Follower, KEPT, QueueLogSource, Wake, look};
use crate::time::Millis;

/// Where and what to forward.
#[derive(Clone, Debug)]
pub struct ForwardSettings {
    pub source: QueueLogSource,
    /// `host:port[,host:port...]`
    pub brokers: String,
    pub topic: String,
    /// The state file (default: beside the log, `<log>.callboard-forward`).
    pub state: PathBuf,
}

impl ForwardSettings {
    /// The default state file of a log.
    pub fn default_state(log: &Path) -> PathBuf {
        let mut name = log.as_os_str().to_owned();
        name.push(".callboard-forward");
        PathBuf::from(name)
    }
}

/// What the state file holds.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
struct State {
    /// Time (ms) of the last line whose events were delivered.
    delivered_to: Millis,
}

fn load(path: &Path) -> anyhow::Result<Option<State>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(serde_json::from_str(&text).with_context(|| {
            format!(
                "state file {} is not callboard's; move it away to start over",
                path.display()
            )
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read state file {}", path.display())),
    }
}

/// Written whole or not at all (a temporary file renamed over it).
fn save(path: &Path, state: State) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, serde_json::to_vec(&state)?)
        .with_context(|| format!("cannot write state file {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot replace state file {}", path.display()))?;
    Ok(())
}

/// Forwards until `shutdown`; returns how many events were delivered.
pub async fn run(
    settings: ForwardSettings,
    config: Arc<Config>,
    shutdown: CancellationToken,
) -> anyhow::Result<u64> {
    ensure_topic(&settings.brokers, &settings.topic, 4).await?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &settings.brokers)
        // Kept and retried while the broker is away, however long.
        .set("message.timeout.ms", "0")
        .set("max.in.flight.requests.per.connection", "1")
        .set("linger.ms", "5")
        .create()?;
    let mut state = load(&settings.state)?;
    let mut follower = Follower::new(&settings.source, &config);
    // Lines of the last delivered second are sent again: their events are
    // duplicates the engine ignores, and none of that second is lost.
    let resume = state.map_or(Millis::MIN, |s| s.delivered_to);
    follower.skip_before(resume);
    let since = SystemTime::now() - KEPT;
    let (mut follower, past) = tokio::task::spawn_blocking(move || {
        let past = follower.read_past(since);
        (follower, past)
    })
    .await?;
    let (_, events) = past?;
    let upto = follower.latest();
    let mut delivered = send(&producer, &settings, events, upto, &mut state).await?;
    tracing::info!(
        path = %settings.source.path.display(),
        topic = %settings.topic,
        resumed_at = resume,
        events = delivered,
        "forward: caught up, following"
    );
    let mut wake = Wake::new(&settings.source.path);
    let mut told = crate::telemetry::Told::default();
    let mut more = false;
    loop {
        if !more {
            tokio::select! {
                _ = wake.next(follower.holding()) => {}
                _ = shutdown.cancelled() => break,
            }
        } else if shutdown.is_cancelled() {
            break;
        }
        let (back, looked) = look(follower).await;
        follower = back;
        more = looked.more;
        let upto = follower.latest();
        delivered += send(&producer, &settings, looked.events, upto, &mut state).await?;
        if let Some(e) = looked.error
            && told.due().is_some()
        {
            tracing::warn!(error = %e, path = %settings.source.path.display(), "forward: cannot read; trying again (told once a minute)")
        }
    }
    Ok(delivered)
}

/// Produces events and waits for their delivery, then records that every
/// line up to `upto` (the latest line read) is handled.
async fn send(
    producer: &FutureProducer,
    settings: &ForwardSettings,
    events: Vec<Event<'static>>,
    upto: Option<Millis>,
    state: &mut Option<State>,
) -> anyhow::Result<u64> {
    // Handed to librdkafka in order; with one request in flight per
    // connection, retries keep that order.
    let mut pending = Deliveries::new();
    let mut n = 0u64;
    for ev in &events {
        n += enqueue(producer, &settings.topic, ev, &mut pending).await?;
    }
    while let Some(r) = pending.next().await {
        n += delivery_ok(r).context("the broker refused an event")?;
    }
    if let Some(last) = upto
        && state.is_none_or(|s| s.delivered_to < last)
    {
        let next = State { delivered_to: last };
        save(&settings.state, next)?;
        *state = Some(next);
    }
    Ok(n)
}

#[derive(clap::Args, Debug)]
pub struct ForwardArgs {
    /// The queue_log to follow.
    #[arg(long = "queue-log", value_name = "PATH")]
    queue_log: PathBuf,
    /// The tenant its lines belong to.
    #[arg(long, value_name = "NAME")]
    tenant: String,
    /// Kafka bootstrap servers (`host:port,...`).
    #[arg(long, value_name = "HOSTS", env = "CALLBOARD_KAFKA_BROKERS")]
    kafka_brokers: String,
    /// Topic of contract events (created if missing).
    #[arg(long, value_name = "TOPIC", env = "CALLBOARD_TOPIC", default_value = DEFAULT_TOPIC)]
    topic: String,
    /// Where to remember how far it got. [default: <queue-log>.callboard-forward]
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    #[command(flatten)]
    base: Base,
}

/// `callboard forward`: runs until SIGINT or SIGTERM.
pub fn execute(args: ForwardArgs) -> anyhow::Result<ExitCode> {
    let config = args.base.start()?;
    crate::config::check_name(&args.tenant).context("--tenant")?;
    let settings = ForwardSettings {
        state: args
            .state
            .unwrap_or_else(|| ForwardSettings::default_state(&args.queue_log)),
        source: QueueLogSource {
            path: args.queue_log,
            tenant: args.tenant,
        },
        brokers: args.kafka_brokers,
        topic: args.topic,
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let n = runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        tokio::spawn(crate::cmd::serve::stop_on_signal(shutdown.clone()));
        run(settings, config.shared(), shutdown).await
    })?;
    eprintln!("callboard forward: {n} events delivered");
    Ok(ExitCode::SUCCESS)
}
