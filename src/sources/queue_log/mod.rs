//! Following an Asterisk `queue_log` as Asterisk writes it, as `tail -F`
//! does: new lines as they come, a file renamed away and a new one created
//! (rotation), a file truncated in place (logrotate's `copytruncate`), a
//! file that does not exist yet.
//!
//! At start the tenant's state is rebuilt from the rotated predecessors
//! beside the file (`queue_log.1`, `queue_log-20261120`, and `.gz` ones)
//! and from the file itself, with publishing held (status `recovering`);
//! then the follower goes live. The directory is watched (inotify on
//! Linux), so an idle file costs nothing; a slow timer is the safety net
//! where the watch sees nothing (network file systems).
//!
//! Lines are decoded by the tenant's [`QueueLogDecoder`], whose event ids
//! come from the line's bytes: a line read twice counts once.

use std::fs::{self};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;
use notify::{RecursiveMode, Watcher};
use tokio_util::sync::CancellationToken;

mod follower;

use crate::config::Config;
use crate::event::{Event, Source};
use crate::service::feed::{Feed, FeedContext, SourceId};
use crate::service::shard::{Closed, Router};
use crate::wire::Status;
pub(crate) use follower::{Follower, Looked};

/// How often the file is looked at when the watch reports nothing.
const SAFETY_NET: Duration = Duration::from_secs(5);

/// How long past the start of its second a line held for that second waits
/// for the rest of it (Asterisk writes a second's lines within it).
const HELD_FOR: Duration = Duration::from_millis(1500);

/// Predecessors last written more than this before now are not read: every
/// line in them is older than the two days the engine keeps.
pub(crate) const KEPT: Duration = Duration::from_secs(3 * 86_400);

/// One followed file and the tenant its lines belong to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueLogSource {
    pub path: PathBuf,
    pub tenant: String,
}

impl QueueLogSource {
    /// The source's name for readiness.
    pub fn id(&self) -> SourceId {
        SourceId::QueueLog(Arc::from(self.tenant.as_str()))
    }
}

/// The rotated predecessors of `path` in its directory, oldest first:
/// `NAME.N` (higher N is older), `NAME-SUFFIX` (logrotate's dateext), each
/// possibly `.gz`. Those last written before `since` are left out.
pub fn predecessors(path: &Path, since: SystemTime) -> io::Result<Vec<PathBuf>> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Ok(Vec::new());
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let mut found = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let file = entry.file_name();
        let Some(file) = file.to_str() else { continue };
        let Some(rest) = file.strip_prefix(name) else {
            continue;
        };
        let rest = rest.strip_suffix(".gz").unwrap_or(rest);
        let rotated = rest
            .strip_prefix('.')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            || rest
                .strip_prefix('-')
                .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric()));
        if !rotated {
            continue;
        }
        let meta = entry.metadata()?;
        let modified = meta.modified()?;
        if meta.is_file() && modified >= since {
            found.push((modified, entry.path()));
        }
    }
    // Last written first is newest: a rotated file is not written again.
    found.sort();
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

/// Follows `src` until `shutdown`. Whatever fails (the path is a
/// directory or a device, a file cannot be read, a rotated `.gz` is cut
/// short while logrotate writes it) is this source's failure only: its
/// tenant is shown stale with the state it has, `/readyz` and `/metrics`
/// say so, and the source is tried again, with a growing pause, until it
/// works. Only the service stopping ends it.
pub async fn run(
    src: QueueLogSource,
    config: Arc<Config>,
    router: Router,
    shutdown: CancellationToken,
) -> Result<(), Closed> {
    let id = src.id();
    let mut pause = RETRY_FIRST;
    let mut told = crate::telemetry::Told::default();
    loop {
        let failure = match follow(&src, &config, &router, &shutdown).await {
            Ok(()) => return Ok(()),
            Err(Stop::Closed(c)) => return Err(c),
            Err(Stop::Failed(e)) => e,
        };
        if told.due().is_some() {
            tracing::error!(
                error = %failure,
                path = %src.path.display(),
                tenant = %src.tenant,
                retry_in_s = pause.as_secs(),
                "queue_log: cannot rebuild from the file; its tenant is shown stale and the file tried again (told once a minute)"
            );
        }
        router
            .source_failing(&id, &src.tenant, Some(failure))
            .await?;
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.cancelled() => return Ok(()),
        }
        pause = (pause * 2).min(RETRY_MOST);
    }
}

/// A site's queue_log as a feed of the service. Not vital: a file that
/// cannot be read is its tenant's problem (stale, tried again), and
/// [`run`] ends only with the service.
impl Feed for QueueLogSource {
    fn id(&self) -> SourceId {
        QueueLogSource::id(self)
    }

    fn vital(&self) -> bool {
        false
    }

    fn run(self: Box<Self>, ctx: FeedContext) -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(async move { Ok(run(*self, ctx.config, ctx.router, ctx.stop).await?) })
    }
}

/// The first pause before a failed source is tried again, and the longest.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MOST: Duration = Duration::from_secs(60);

/// Why following stopped.
enum Stop {
    /// The engine is gone: the service is stopping.
    Closed(Closed),
    /// The file could not be read at the start: tried again.
    Failed(String),
}

impl From<Closed> for Stop {
    fn from(c: Closed) -> Stop {
        Stop::Closed(c)
    }
}

/// Rebuilds the tenant from the rotated predecessors and the file, then
/// follows the file until `shutdown`. A look at the file that fails while
/// following makes the source failing until a look works again.
async fn follow(
    src: &QueueLogSource,
    config: &Config,
    router: &Router,
    shutdown: &CancellationToken,
) -> Result<(), Stop> {
    let id = src.id();
    router.status(&id, Status::Recovering).await?;
    // The past, off the async workers: rotated predecessors, then the file
    // as it is now.
    let mut follower = Follower::new(src, config);
    let since = SystemTime::now() - KEPT;
    let (mut follower, past) = tokio::task::spawn_blocking(move || {
        let past = follower.read_past(since);
        (follower, past)
    })
    .await
    .map_err(|e| Stop::Failed(format!("reading stopped: {e}")))?;
    let (rotated, events) = past.map_err(|e| Stop::Failed(e.to_string()))?;
    let rebuilt = events.len();
    send(router, events).await?;
    router.status(&id, Status::Live).await?;
    router.source_failing(&id, &src.tenant, None).await?;
    tracing::info!(
        path = %src.path.display(),
        tenant = %src.tenant,
        rotated_files = rotated,
        events = rebuilt,
        "queue_log: rebuilt, following"
    );

    let mut wake = Wake::new(&src.path);
    let mut failing = false;
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
        send(router, looked.events).await?;
        match looked.error {
            Some(e) => {
                if told.due().is_some() {
                    tracing::warn!(error = %e, path = %src.path.display(), "queue_log: cannot read; its tenant is shown stale until it can (told once a minute)");
                }
                if !failing {
                    failing = true;
                    router
                        .source_failing(&id, &src.tenant, Some(e.to_string()))
                        .await?;
                }
            }
            None if failing => {
                failing = false;
                tracing::info!(path = %src.path.display(), "queue_log: readable again");
                router.source_failing(&id, &src.tenant, None).await?;
            }
            None => {}
        }
    }
    Ok(())
}

/// One look at the file, off the async workers (a file system can block).
pub(crate) async fn look(mut follower: Follower) -> (Follower, Looked) {
    match tokio::task::spawn_blocking(move || {
        let looked = follower.poll();
        (follower, looked)
    })
    .await
    {
        Ok(done) => done,
        // The blocking task panicked: nothing here does, but the follower
        // is gone with it, and a new one starts from the file's start.
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Wakes a follower when the file's directory changes (a write, a rename,
/// a new file), and every [`SAFETY_NET`] in case the watch sees nothing.
pub(crate) struct Wake {
    _watcher: Option<notify::RecommendedWatcher>,
    woken: tokio::sync::mpsc::Receiver<()>,
    net: tokio::time::Interval,
}

impl Wake {
    pub(crate) fn new(path: &Path) -> Wake {
        let (tx, woken) = tokio::sync::mpsc::channel::<()>(1);
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let watcher = notify::recommended_watcher(move |_: notify::Result<notify::Event>| {
            let _ = tx.try_send(());
        })
        .and_then(|mut w| w.watch(dir, RecursiveMode::NonRecursive).map(|()| w));
        if let Err(e) = &watcher {
            tracing::warn!(error = %e, dir = %dir.display(), "queue_log: cannot watch the directory; looking every few seconds");
        }
        Wake {
            _watcher: watcher.ok(),
            woken,
            net: tokio::time::interval(SAFETY_NET),
        }
    }

    /// Until something may have changed, or shortly when `soon` (lines
    /// held for their second are due).
    pub(crate) async fn next(&mut self, soon: bool) {
        tokio::select! {
            _ = self.woken.recv() => {}
            _ = self.net.tick() => {}
            _ = tokio::time::sleep(HELD_FOR / 2), if soon => {}
        }
    }
}

async fn send(router: &Router, events: Vec<Event<'static>>) -> Result<(), Closed> {
    for chunk in events.chunks(4096) {
        router.send(Source::QueueLog, chunk.to_vec()).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
