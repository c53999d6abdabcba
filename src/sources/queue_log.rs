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

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use notify::{RecursiveMode, Watcher};
use tokio_util::sync::CancellationToken;

use super::lines::{Line, LineReader};
use crate::config::Config;
use crate::decode::{QueueLogDecoder, check_not_ahead};
use crate::event::{Event, Source};
use crate::service::shard::{Closed, Router, now_ms};
use crate::telemetry::{EventsRejected, Signal};
use crate::time::Millis;
use crate::wire::Status;

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
    pub fn id(&self) -> String {
        format!("queue_log:{}", self.tenant)
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

/// Decodes a whole (rotated) file, `.gz` or not, into `events`.
fn read_file(
    path: &Path,
    lines: &mut LineDecoder,
    events: &mut Vec<Event<'static>>,
) -> io::Result<()> {
    regular(path)?;
    let file = File::open(path)?;
    let input: Box<dyn BufRead> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    let mut reader = LineReader::new(input, lines.max).skipping_nul();
    let now = now_ms();
    while let Some(line) = reader
        .next_line()
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?
    {
        lines.take(line, now, events);
    }
    Ok(())
}

/// The file at `path`, if there is one: only a regular file is followed (a
/// directory, a device such as `/dev/zero` or a named pipe is an error that
/// says so, and is never opened: a pipe would block the open).
fn regular(path: &Path) -> io::Result<Option<fs::Metadata>> {
    match fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(Some(m)),
        Ok(m) => {
            let ft = m.file_type();
            let what = if ft.is_dir() {
                "a directory"
            } else if std::os::unix::fs::FileTypeExt::is_fifo(&ft) {
                "a named pipe"
            } else if std::os::unix::fs::FileTypeExt::is_char_device(&ft)
                || std::os::unix::fs::FileTypeExt::is_block_device(&ft)
            {
                "a device"
            } else {
                "not a regular file"
            };
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is {what}: only regular files are followed",
                    path.display()
                ),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    }
}

/// Most bytes one look reads: a file written faster than that (or a huge
/// one found at once) is read on at the next look, which comes at once.
const LOOK_BYTES: u64 = 16 * 1024 * 1024;

/// What one look at the followed file gave.
pub(crate) struct Looked {
    /// The events of the lines read.
    pub events: Vec<Event<'static>>,
    /// The look stopped at [`LOOK_BYTES`]: there is more to read now.
    pub more: bool,
    /// Why the file could not be read (what was read before is in
    /// `events`).
    pub error: Option<io::Error>,
}

/// A tenant's queue_log decoder with the bounds its lines are held to.
pub(crate) struct LineDecoder {
    decoder: QueueLogDecoder,
    /// Longest line, in bytes.
    max: usize,
    /// How far ahead of the clock a line may be dated, in ms.
    skew: i64,
    /// Lines before this time were handled before (by a forwarder that
    /// stopped): they are decoded, and their events dropped.
    skip_before: Millis,
}

impl LineDecoder {
    /// Decodes one line into `events`; a refused line is counted.
    fn take(&mut self, line: Line<'_>, now: Millis, events: &mut Vec<Event<'static>>) {
        let result = match line.text(self.max) {
            Ok(b) if b.iter().all(u8::is_ascii_whitespace) => return,
            Ok(b) => self.decoder.decode_bytes(b).and_then(|evs| {
                evs.iter()
                    .try_for_each(|ev| check_not_ahead(ev.ts, now, self.skew))?;
                Ok(evs)
            }),
            Err(r) => Err(r),
        };
        match result {
            // A line before the resume point was handled before: it only
            // tells the decoder what happened.
            Ok(_)
                if self
                    .decoder
                    .last_line()
                    .is_some_and(|t| t < self.skip_before) => {}
            Ok(evs) => events.extend(evs),
            Err(r) => EventsRejected::one(Source::QueueLog, r.reason).emit(),
        }
    }

    /// Releases the lines held for a second that is over on the clock.
    fn release_due(&mut self, now: Millis, events: &mut Vec<Event<'static>>) {
        let Some(t) = self.decoder.holding() else {
            return;
        };
        if now < t + HELD_FOR.as_millis() as Millis {
            return;
        }
        let released = self.decoder.flush();
        // Lines before the resume point were delivered before.
        if t >= self.skip_before {
            events.extend(released);
        }
    }
}

/// The followed file: where reading got to, in which file (by inode).
pub(crate) struct Follower {
    path: PathBuf,
    lines: LineDecoder,
    file: Option<File>,
    inode: u64,
    offset: u64,
    /// Bytes of a line not finished yet.
    partial: Vec<u8>,
}

impl Follower {
    pub(crate) fn new(src: &QueueLogSource, config: &Config) -> Follower {
        Follower {
            path: src.path.clone(),
            lines: LineDecoder {
                decoder: QueueLogDecoder::new(&src.tenant, &config.tenant(&src.tenant)),
                max: config.max_event_bytes,
                skew: config.max_clock_skew_ms,
                skip_before: Millis::MIN,
            },
            file: None,
            inode: 0,
            offset: 0,
            partial: Vec::new(),
        }
    }

    /// Lines before `t` only feed the decoder: their events were delivered
    /// before (a forwarder resuming).
    pub(crate) fn skip_before(&mut self, t: Millis) {
        self.lines.skip_before = t;
    }

    /// Reads the rotated predecessors last written since `since`, then the
    /// file up to its end; returns how many predecessors, and the events.
    pub(crate) fn read_past(
        &mut self,
        since: SystemTime,
    ) -> io::Result<(usize, Vec<Event<'static>>)> {
        let files = predecessors(&self.path, since)?;
        let mut events = Vec::new();
        for f in &files {
            read_file(f, &mut self.lines, &mut events)?;
        }
        loop {
            let looked = self.poll();
            events.extend(looked.events);
            if let Some(e) = looked.error {
                return Err(e);
            }
            if !looked.more {
                break;
            }
        }
        Ok((files.len(), events))
    }

    /// Whether lines are held for their second (the caller looks again
    /// soon).
    pub(crate) fn holding(&self) -> bool {
        self.lines.decoder.holding().is_some()
    }

    /// Time of the latest line read.
    pub(crate) fn latest(&self) -> Option<Millis> {
        self.lines.decoder.latest()
    }

    /// Reads what was written since the last look (at most
    /// [`LOOK_BYTES`]), following a rotation or a truncation; the events of
    /// the complete lines, and why the file could not be read, if so. Only
    /// a regular file is opened: a path that became a directory, a device
    /// or a pipe is an error until it is a file again, and the file it was
    /// is finished first.
    pub(crate) fn poll(&mut self) -> Looked {
        let mut looked = Looked {
            events: Vec::new(),
            more: false,
            error: None,
        };
        if let Err(e) = self.poll_into(&mut looked) {
            looked.error = Some(e);
        }
        self.lines.release_due(now_ms(), &mut looked.events);
        looked
    }

    fn poll_into(&mut self, looked: &mut Looked) -> io::Result<()> {
        let events = &mut looked.events;
        let meta = match regular(&self.path) {
            Ok(m) => m,
            Err(e) => {
                // What the file it was still holds is read, then let go.
                if self.file.is_some() {
                    let _ = self.read_on(events);
                    self.finish_partial(events);
                    self.file = None;
                }
                return Err(e);
            }
        };
        match &meta {
            // Renamed away (and perhaps not yet created again): what the old
            // file still gets is read through the open handle.
            Some(m) if self.file.is_some() && m.ino() != self.inode => {
                let _ = self.read_on(events);
                self.finish_partial(events);
                self.file = None;
                self.open(m.ino())?;
            }
            // Truncated in place (copytruncate): start again at its start.
            Some(m) if self.file.is_some() && m.len() < self.offset => {
                self.partial.clear();
                self.offset = 0;
                if let Some(f) = &mut self.file {
                    f.seek(SeekFrom::Start(0))?;
                }
            }
            Some(m) if self.file.is_none() => self.open(m.ino())?,
            _ => {}
        }
        looked.more = self.read_on(events)?;
        Ok(())
    }

    fn open(&mut self, inode: u64) -> io::Result<()> {
        let file = File::open(&self.path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path.display())))?;
        self.file = Some(file);
        self.inode = inode;
        self.offset = 0;
        self.partial.clear();
        Ok(())
    }

    /// Reads the open file from where reading got to, up to its end or
    /// [`LOOK_BYTES`]; true when it stopped at the bound.
    fn read_on(&mut self, events: &mut Vec<Event<'static>>) -> io::Result<bool> {
        let max = self.lines.max;
        let Some(file) = &mut self.file else {
            return Ok(false);
        };
        let mut buf = vec![0u8; 64 * 1024];
        let now = now_ms();
        let mut read = 0u64;
        loop {
            if read >= LOOK_BYTES {
                return Ok(true);
            }
            let n = file.read(&mut buf)?;
            if n == 0 {
                return Ok(false);
            }
            read += n as u64;
            self.offset += n as u64;
            for &b in &buf[..n] {
                match b {
                    0 => {}
                    b'\n' => {
                        let line = std::mem::take(&mut self.partial);
                        let line = line.strip_suffix(b"\r").unwrap_or(&line);
                        let line = if line.len() > max {
                            Line::TooLong { bytes: line.len() }
                        } else {
                            Line::Text(line)
                        };
                        self.lines.take(line, now, events);
                    }
                    // Past the bound the rest of the line is dropped: the
                    // line is refused as too large.
                    _ if self.partial.len() > max => {}
                    b => self.partial.push(b),
                }
            }
        }
    }

    /// A file left behind ends its last line even without a newline.
    fn finish_partial(&mut self, events: &mut Vec<Event<'static>>) {
        if self.partial.is_empty() {
            return;
        }
        let line = std::mem::take(&mut self.partial);
        self.lines.take(Line::Text(&line), now_ms(), events);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path, age: Duration) {
        fs::write(path, b"").unwrap();
        let f = File::options().write(true).open(path).unwrap();
        f.set_modified(SystemTime::now() - age).unwrap();
    }

    /// A live interface's ADDMEMBER waits for the rest of its second, and
    /// comes out once that second is over on the clock even if nothing
    /// else is written.
    #[test]
    fn a_held_addmember_comes_out_when_its_second_is_over() {
        let dir = std::env::temp_dir().join(format!("callboard-held-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("queue_log");
        let now = now_ms();
        fs::write(
            &path,
            format!("{}|MANAGER|q1|SIP/1|ADDMEMBER|\n", now / 1000),
        )
        .unwrap();
        let src = QueueLogSource {
            path,
            tenant: "pbx".into(),
        };
        let mut f = Follower::new(&src, &Config::default());
        let looked = f.poll();
        assert!(looked.error.is_none());
        let events = looked.events;
        assert!(events.is_empty() && f.holding(), "{events:?}");
        let mut events = Vec::new();
        f.lines.release_due(now / 1000 * 1000 + 1000, &mut events);
        assert!(events.is_empty(), "still within its second and the margin");
        f.lines.release_due(now / 1000 * 1000 + 2000, &mut events);
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(!f.holding());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rotated_predecessors_come_oldest_first_and_old_ones_are_skipped() {
        let dir = std::env::temp_dir().join(format!("callboard-pred-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let h = Duration::from_secs(3600);
        touch(&dir.join("queue_log"), Duration::ZERO);
        touch(&dir.join("queue_log.1"), h);
        touch(&dir.join("queue_log.2.gz"), 20 * h);
        touch(&dir.join("queue_log-20261101.gz"), 400 * h);
        touch(&dir.join("queue_log.bak~"), h);
        touch(&dir.join("other_log.1"), h);
        let found = predecessors(&dir.join("queue_log"), SystemTime::now() - KEPT).unwrap();
        let names: Vec<_> = found
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["queue_log.2.gz", "queue_log.1"]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
