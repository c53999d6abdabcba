//! What every source of events is to the service: a [`Feed`], named by a
//! [`SourceId`], run the same way. The composition root starts each one
//! with [`Feeds::start`]: reported `recovering` until its first rebuild is
//! done, then run until the service stops; a vital feed that ends with an
//! error stops the service with it, any other is its own tenants' problem.
//! Adding a source is one module that implements `Feed`, and one line where
//! the service's feeds are listed.

use std::fmt;
use std::sync::{Arc, OnceLock};

use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::service::hub::Hub;
use crate::service::shard::{Closed, Router};
use crate::wire::Status;

/// A source as readiness, `/readyz` and `/metrics` name it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SourceId {
    /// The consumer group's member.
    Kafka,
    /// The snapshot topic (other instances' tenants).
    Snapshots,
    /// HTTP ingest's event log, read back at start.
    EventLog,
    /// The built-in simulated tenants.
    Simulator,
    /// A site's followed queue_log, of one tenant.
    QueueLog(Arc<str>),
}

impl fmt::Display for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceId::Kafka => f.write_str("kafka"),
            SourceId::Snapshots => f.write_str("snapshots"),
            SourceId::EventLog => f.write_str("event_log"),
            SourceId::Simulator => f.write_str("simulator"),
            SourceId::QueueLog(tenant) => write!(f, "queue_log:{tenant}"),
        }
    }
}

impl SourceId {
    /// The source in a sentence ("the event log stopped: ...").
    pub fn describe(&self) -> String {
        match self {
            SourceId::Kafka => "the kafka source".into(),
            SourceId::Snapshots => "the snapshot topic".into(),
            SourceId::EventLog => "the event log".into(),
            SourceId::Simulator => "the simulator".into(),
            SourceId::QueueLog(tenant) => format!("{tenant}'s queue_log"),
        }
    }
}

/// What a feed is given to run.
#[derive(Clone)]
pub struct FeedContext {
    pub router: Router,
    pub hub: Arc<Hub>,
    pub config: Arc<Config>,
    /// Cancelled when the service stops.
    pub stop: CancellationToken,
}

/// A source of events: rebuilds its tenants' state from its log, then
/// follows it, reporting its status through `Router::status` under
/// [`Feed::id`], until `stop`.
pub trait Feed: Send + 'static {
    fn id(&self) -> SourceId;
    /// Whether the service stops when this feed does (the Kafka consumer,
    /// the snapshot topic, the event log: without them it would serve
    /// figures silently incomplete). A site's queue_log is not vital: it
    /// fails alone, its tenant shown stale.
    fn vital(&self) -> bool;
    /// Runs until `ctx.stop`; an error is the reason it could not go on.
    fn run(self: Box<Self>, ctx: FeedContext) -> BoxFuture<'static, anyhow::Result<()>>;
}

/// The feeds of a service, started alike.
pub struct Feeds {
    /// The first reason a vital feed gave for stopping.
    pub fatal: Arc<OnceLock<String>>,
}

impl Feeds {
    pub fn new() -> Feeds {
        Feeds {
            fatal: Arc::default(),
        }
    }

    /// Marks every feed `recovering` (readiness waits for each one's first
    /// rebuild), then runs each on `tracker`. A vital feed that stops with
    /// an error records it and stops the service.
    pub async fn start(
        &self,
        feeds: Vec<Box<dyn Feed>>,
        ctx: &FeedContext,
        tracker: &TaskTracker,
    ) -> Result<(), Closed> {
        let ids: Vec<SourceId> = feeds.iter().map(|f| f.id()).collect();
        for id in &ids {
            ctx.router.status(id, Status::Recovering).await?;
        }
        for feed in feeds {
            let (id, vital) = (feed.id(), feed.vital());
            let (ctx, fatal) = (ctx.clone(), self.fatal.clone());
            tracker.spawn(async move {
                let stop = ctx.stop.clone();
                match feed.run(ctx).await {
                    Ok(()) => {}
                    Err(e) if vital => {
                        tracing::error!(source = %id, error = %format!("{e:#}"), "source stopped: the service stops");
                        let _ = fatal.set(format!("{} stopped: {e:#}", id.describe()));
                        stop.cancel();
                    }
                    Err(e) => {
                        tracing::warn!(source = %id, error = %format!("{e:#}"), "source stopped")
                    }
                }
            });
        }
        Ok(())
    }
}

impl Default for Feeds {
    fn default() -> Feeds {
        Feeds::new()
    }
}
