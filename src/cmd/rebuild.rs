//! `callboard history rebuild`: stored days recomputed from a log through
//! the same engine as `replay`, never patched by hand.
//!
//! The source (NDJSON or queue_log files, `.gz` or not; HTTP ingest's event
//! log; a Kafka topic from a time) is read in order into an engine that
//! keeps the rows of each day as the day closes; the rows of the days asked
//! for replace, day by day and each in one transaction, what the store
//! holds of them. Days the source holds events of but no rows are emptied;
//! days outside what it holds are left as they are, and so are other
//! tenants and other days.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use jiff::civil::Date;

use crate::cmd::Base;
use crate::cmd::replay::{ReplayOptions, Summary, replay_with};
use crate::cmd::serve::settings::{DEFAULT_HISTORY, DEFAULT_TOPIC};
use crate::config::Config;
use crate::decode::Format;
use crate::history::Store;
use crate::sources::{event_log, queue_log};
use crate::time::Millis;
use crate::wire::IntervalRow;

/// Where the events of the days to rebuild are.
#[derive(Clone, Debug)]
pub enum RebuildSource {
    /// Files, read in the order given (`.gz` ones decompressed). A single
    /// queue_log is read after its rotated predecessors, oldest first.
    Files {
        paths: Vec<PathBuf>,
        format: Format,
        /// The tenant of queue_log lines; with NDJSON, the one tenant to
        /// rebuild.
        tenant: Option<String>,
    },
    /// HTTP ingest's event log (read only: the service may be writing it).
    EventLog(PathBuf),
    /// A Kafka topic, every partition from two days before the first day
    /// asked for (by the messages' times) to its end when the rebuild
    /// starts.
    Kafka { brokers: String, topic: String },
}

/// What to rebuild.
#[derive(Clone, Debug)]
pub struct RebuildOptions {
    /// The local days asked for, inclusive.
    pub from: Date,
    pub to: Date,
    pub source: RebuildSource,
}

/// What a rebuild did.
#[derive(Debug, Default)]
pub struct Rebuilt {
    /// Per tenant: the days replaced (with rows, or emptied).
    pub days: BTreeMap<String, BTreeSet<String>>,
    pub rows: u64,
    /// Per tenant: the local day of its first event, when that is one of
    /// the days asked for (its rows hold only what the source holds).
    pub starts_within: BTreeMap<String, String>,
    pub summary: Summary,
    pub took: Duration,
}

/// The local day (`YYYY-MM-DD`) a row belongs to.
fn day_of(row: &IntervalRow) -> &str {
    match row {
        IntervalRow::Queue(q) => &q.start[..10],
        IntervalRow::Agent(a) => &a.start[..10],
        IntervalRow::Callback(c) => &c.day,
    }
}

/// Recomputes the days `opts` asks for from its source and replaces them in
/// `store`.
pub async fn rebuild(
    store: &Store,
    config: Arc<Config>,
    opts: RebuildOptions,
) -> anyhow::Result<Rebuilt> {
    anyhow::ensure!(
        opts.from <= opts.to,
        "--from {} is after --to {}",
        opts.from,
        opts.to
    );
    let started = Instant::now();
    let (from, to) = (opts.from.to_string(), opts.to.to_string());
    let (format, tenant) = match &opts.source {
        RebuildSource::Files { format, tenant, .. } => (*format, tenant.clone()),
        _ => (Format::Ndjson, None),
    };
    let replay_opts = ReplayOptions {
        format,
        tenant,
        at: None,
    };
    let in_range = {
        let (from, to, only) = (from.clone(), to.clone(), replay_opts.tenant.clone());
        move |r: &IntervalRow| {
            let d = day_of(r);
            d >= from.as_str()
                && d <= to.as_str()
                && (format == Format::QueueLog || only.as_deref().is_none_or(|t| t == r.tenant()))
        }
    };
    // The engine runs on a blocking thread; its rows come here a few days
    // at a time, to be written while it goes on.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<IntervalRow>>(4);
    let source = opts.source.clone();
    let first_day = opts.from;
    let engine = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let input = open(&source, first_day)?;
        let done = replay_with(
            input,
            config,
            &replay_opts,
            |_, _| {},
            |engine| {
                let rows: Vec<IntervalRow> = engine
                    .take_closed_days()
                    .into_iter()
                    .filter(&in_range)
                    .collect();
                if !rows.is_empty() {
                    let _ = tx.blocking_send(rows);
                }
            },
        )?;
        let rest: Vec<IntervalRow> = done
            .intervals(&replay_opts)
            .into_iter()
            .filter(|r| !r.is_empty() && in_range(r))
            .collect();
        let _ = tx.blocking_send(rest);
        // Per tenant, the days it has events on.
        let mut spans = BTreeMap::new();
        for name in done.engine.tenant_names() {
            if let Some(t) = done.engine.tenant(&name)
                && let (Some(first), Some(last)) = (t.first_ts(), t.as_of())
                && replay_opts
                    .tenant
                    .as_deref()
                    .is_none_or(|only| only == &*name)
            {
                spans.insert(name.to_string(), (t.day_of(first), t.day_of(last)));
            }
        }
        Ok((done.summary, spans))
    });

    let mut out = Rebuilt::default();
    while let Some(rows) = rx.recv().await {
        let mut by_day: BTreeMap<(String, String), Vec<IntervalRow>> = BTreeMap::new();
        for r in rows {
            by_day
                .entry((r.tenant().to_string(), day_of(&r).to_string()))
                .or_default()
                .push(r);
        }
        for ((tenant, day), rows) in by_day {
            store
                .replace_days(&tenant, &day, &day, &rows)
                .await
                .with_context(|| format!("writing {tenant}'s rows of {day}"))?;
            out.rows += rows.len() as u64;
            out.days.entry(tenant).or_default().insert(day);
        }
    }
    let (summary, spans) = engine.await.context("the rebuild's engine stopped")??;
    // Days the source holds events of, asked for, that gave no row: what
    // the store holds of them goes.
    for (tenant, (first, last)) in spans {
        let first_text = crate::time::format_day(first);
        if first_text >= from && first_text <= to {
            out.starts_within.insert(tenant.clone(), first_text);
        }
        for day in first..=last {
            let day = crate::time::format_day(day);
            if day < from || day > to || out.days.get(&tenant).is_some_and(|d| d.contains(&day)) {
                continue;
            }
            store.replace_days(&tenant, &day, &day, &[]).await?;
            out.days.entry(tenant.clone()).or_default().insert(day);
        }
    }
    out.summary = summary;
    out.took = started.elapsed();
    Ok(out)
}

/// The source as lines, in order.
fn open(source: &RebuildSource, from: Date) -> anyhow::Result<Box<dyn BufRead + Send>> {
    match source {
        RebuildSource::Files {
            paths,
            format,
            tenant: _,
        } => {
            let mut files = Vec::new();
            if *format == Format::QueueLog && paths.len() == 1 {
                files.extend(
                    queue_log::predecessors(&paths[0], SystemTime::UNIX_EPOCH).with_context(
                        || format!("listing the rotated files beside {}", paths[0].display()),
                    )?,
                );
            }
            files.extend(paths.iter().cloned());
            let mut chain: Box<dyn Read + Send> = Box::new(io::empty());
            for path in files {
                let file = open_file(&path)?;
                // A file that does not end its last line does not run it
                // into the next file's first.
                chain = Box::new(chain.chain(file).chain(&b"\n"[..]));
            }
            Ok(Box::new(BufReader::with_capacity(1 << 20, chain)))
        }
        RebuildSource::EventLog(dir) => {
            anyhow::ensure!(dir.is_dir(), "no event log in {}", dir.display());
            let dir = dir.clone();
            Ok(Box::new(BufReader::new(Chunks::from_thread(move |send| {
                let mut buf = Vec::with_capacity(1 << 20);
                let read = event_log::read(&dir, |record| {
                    buf.extend_from_slice(record);
                    buf.push(b'\n');
                    if buf.len() >= 1 << 20 {
                        send(std::mem::take(&mut buf));
                    }
                })
                .map_err(|e| format!("reading the event log in {}: {e}", dir.display()))?;
                send(buf);
                if read.torn > 0 {
                    tracing::warn!(dir = %dir.display(), records = read.torn, "the event log has records that fail their checksum: the rest of their segments is not read");
                }
                Ok(())
            }))))
        }
        RebuildSource::Kafka { brokers, topic } => {
            // Two days before the first day asked for (UTC), so that its
            // first hours and the agents' states then are read too.
            let since = from
                .checked_sub(jiff::Span::new().days(2))
                .ok()
                .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
                .map_or(Millis::MIN, |z| z.timestamp().as_millisecond());
            let (brokers, topic) = (brokers.clone(), topic.clone());
            let partitions = crate::kafka::partition_count(&brokers, &topic)?
                .with_context(|| format!("no topic {topic} on {brokers}"))?;
            Ok(Box::new(BufReader::new(Chunks::from_thread(move |send| {
                read_topic(&brokers, &topic, partitions, since, send).map_err(|e| format!("{e:#}"))
            }))))
        }
    }
}

fn open_file(path: &Path) -> anyhow::Result<Box<dyn Read + Send>> {
    if path == Path::new("-") {
        return Ok(Box::new(io::stdin()));
    }
    let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(file)
    })
}

/// Every message of `topic` from the first sent at `since` to the end each
/// partition had when reading began, partition after partition, as lines.
fn read_topic(
    brokers: &str,
    topic: &str,
    partitions: i32,
    since: Millis,
    mut send: impl FnMut(Vec<u8>),
) -> anyhow::Result<()> {
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    use rdkafka::{Offset, TopicPartitionList};
    let timeout = Duration::from_secs(10);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "callboard-history-rebuild")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()?;
    for p in 0..partitions {
        let (low, high) = consumer.fetch_watermarks(topic, p, timeout)?;
        let start = crate::kafka::offset_at_time(brokers, topic, p, since, (low, high), timeout)?;
        if start == low && low > 0 {
            tracing::warn!(
                topic,
                partition = p,
                "history rebuild: the partition's retained log begins after the time asked for: the first days hold only what it holds"
            );
        }
        if start >= high {
            continue;
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, p, Offset::Offset(start))?;
        consumer.assign(&tpl)?;
        let mut buf = Vec::with_capacity(1 << 20);
        let mut idle = Instant::now();
        loop {
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => {
                    idle = Instant::now();
                    if let Some(payload) = m.payload() {
                        buf.extend(
                            payload
                                .iter()
                                .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
                        );
                        buf.push(b'\n');
                    }
                    if buf.len() >= 1 << 20 {
                        send(std::mem::take(&mut buf));
                    }
                    if m.offset() + 1 >= high {
                        break;
                    }
                }
                Some(Err(e)) => anyhow::bail!("reading {topic}/{p}: {e}"),
                None if idle.elapsed() > timeout => {
                    anyhow::bail!("{topic}/{p}: no message for {timeout:?} before offset {high}")
                }
                None => {}
            }
        }
        send(buf);
    }
    Ok(())
}

/// Bytes a thread of its own produces, read as a stream; the thread's
/// error, if it fails, is the stream's.
struct Chunks {
    rx: std::sync::mpsc::Receiver<Result<Vec<u8>, String>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Chunks {
    /// Runs `produce` on a thread, handing it the function that sends a
    /// chunk (at most a few are held at once).
    fn from_thread(
        produce: impl FnOnce(&mut dyn FnMut(Vec<u8>)) -> Result<(), String> + Send + 'static,
    ) -> Chunks {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<u8>, String>>(4);
        std::thread::spawn(move || {
            let mut send = |chunk: Vec<u8>| {
                let _ = tx.send(Ok(chunk));
            };
            if let Err(e) = produce(&mut send) {
                let _ = tx.send(Err(e));
            }
        });
        Chunks {
            rx,
            chunk: Vec::new(),
            at: 0,
        }
    }
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at >= self.chunk.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.at = 0;
                }
                Ok(Err(e)) => return Err(io::Error::other(e)),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["input", "event_log", "kafka_brokers"])))]
pub struct RebuildArgs {
    /// The first local day to rebuild (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    from: jiff::civil::Date,
    /// The last local day to rebuild (YYYY-MM-DD). [default: --from]
    #[arg(long, value_name = "DATE")]
    to: Option<jiff::civil::Date>,
    /// Files of events, read in the order given (`.gz` ones decompressed;
    /// `-` is standard input). One queue_log is read after its rotated
    /// predecessors beside it (`queue_log.2.gz`, `queue_log.1`, ...), oldest
    /// first.
    #[arg(long, short = 'i', value_name = "FILE", num_args = 1..)]
    input: Vec<PathBuf>,
    /// Format of the files: contract events as NDJSON, or Asterisk
    /// queue_log lines.
    #[arg(
        long,
        short = 'f',
        value_enum,
        default_value = "ndjson",
        requires = "input"
    )]
    format: Format,
    /// Tenant of queue_log lines (required there); with NDJSON, rebuild
    /// only this tenant.
    #[arg(long, short = 't', value_name = "NAME")]
    tenant: Option<String>,
    /// HTTP ingest's event log (the folder `serve --event-log` writes).
    #[arg(long, value_name = "DIR")]
    event_log: Option<PathBuf>,
    /// Read the events from Kafka: every partition of --topic from two days
    /// before --from (by the messages' times) to its end.
    #[arg(long, value_name = "HOSTS")]
    kafka_brokers: Option<String>,
    /// Topic of contract events.
    #[arg(long, value_name = "TOPIC", default_value = DEFAULT_TOPIC, requires = "kafka_brokers")]
    topic: String,
    /// The history store: an SQLite file or a `postgres://` URL.
    /// [default: callboard-history.sqlite]
    #[arg(long, value_name = "PATH|URL", env = "CALLBOARD_HISTORY")]
    history: Option<String>,
    #[command(flatten)]
    base: Base,
}

/// `callboard history rebuild`: the days replaced, a summary on stderr.
pub fn execute(args: RebuildArgs) -> anyhow::Result<ExitCode> {
    let config = args.base.start()?;
    let source = if let Some(dir) = args.event_log {
        RebuildSource::EventLog(dir)
    } else if let Some(brokers) = args.kafka_brokers {
        RebuildSource::Kafka {
            brokers,
            topic: args.topic,
        }
    } else {
        if args.format == Format::QueueLog {
            let tenant = args
                .tenant
                .as_deref()
                .context("queue_log lines name no tenant: give --tenant")?;
            crate::config::check_name(tenant).context("--tenant")?;
        }
        // Each file is checked before the store is opened (or created): a
        // path that cannot be read leaves nothing behind.
        for path in args.input.iter().filter(|p| p.as_os_str() != "-") {
            let meta = std::fs::metadata(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            anyhow::ensure!(
                !meta.is_dir(),
                "cannot read {}: it is a directory; give the files in it",
                path.display()
            );
        }
        RebuildSource::Files {
            paths: args.input,
            format: args.format,
            tenant: args.tenant,
        }
    };
    let location =
        crate::history::Location::parse(args.history.as_deref().unwrap_or(DEFAULT_HISTORY))
            .map_err(anyhow::Error::msg)?
            .context("--history none: there is no store to rebuild")?;
    let opts = RebuildOptions {
        from: args.from,
        to: args.to.unwrap_or(args.from),
        source,
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let done = runtime.block_on(async move {
        let store = Store::open(&location)
            .await
            .with_context(|| format!("history: cannot open {}", location.describe()))?;
        let done = rebuild(&store, config.shared(), opts).await;
        store.close().await;
        done
    })?;
    for (tenant, day) in &done.starts_within {
        eprintln!(
            "callboard history rebuild: warning: {tenant}'s events begin on {day}: that day's rows hold only what the source holds (calls and agents' states from the evening before are not in it)"
        );
    }
    let days: usize = done.days.values().map(|d| d.len()).sum();
    eprintln!(
        "callboard history rebuild: {days} days of {} tenant{} replaced ({}), {} rows written in {:.1} s; input: {}",
        done.days.len(),
        if done.days.len() == 1 { "" } else { "s" },
        done.days
            .iter()
            .map(|(t, d)| format!("{t}: {}", d.len()))
            .collect::<Vec<_>>()
            .join(", "),
        done.rows,
        done.took.as_secs_f64(),
        done.summary
    );
    if done.summary.all_rejected() {
        // Nothing was replaced: no tenant had an event to replace days with.
        eprintln!("callboard history rebuild: every line was rejected, and the store is unchanged");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
