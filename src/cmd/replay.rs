//! `callboard replay`: the engine fed from a file instead of Kafka, printing
//! the final snapshots. Same decoder, same engine, same snapshot.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufRead, BufReader};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use crate::config::Config;
use crate::decode::{self, Format, QueueLogDecoder, Reason, Reject};
use crate::engine::{Engine, Outcome};
use crate::event::Event;
use crate::sources::lines::LineReader;
use crate::time::Millis;
use crate::wire::{IntervalRow, Snapshot, Status};

/// What to replay and how.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    pub format: Format,
    /// The tenant of queue_log input; for NDJSON, the one tenant to report.
    pub tenant: Option<String>,
    /// Evaluation time; default the latest event time in the input.
    pub at: Option<Millis>,
}

/// Counts of what happened to the input.
#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Non-blank lines read.
    pub lines: u64,
    /// Events decoded from them (a queue_log line may give several or none).
    pub events: u64,
    pub applied: u64,
    pub duplicates: u64,
    pub late: u64,
    /// Valid events that changed nothing, by reason.
    pub no_effect: BTreeMap<&'static str, u64>,
    /// Events of tenants other than `--tenant`.
    pub other_tenants: u64,
    /// Rejected lines, by reason.
    pub rejected: BTreeMap<Reason, u64>,
    /// Calls let go because their end event never came: still waiting past
    /// `max_wait_s` (counted as exited), or answered and never ended a day
    /// later (forgotten, their figures kept).
    pub expired: crate::engine::Expired,
}

impl Summary {
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// True when there was input and none of it was accepted.
    pub fn all_rejected(&self) -> bool {
        self.lines > 0 && self.rejected_total() == self.lines
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let no_effect: u64 = self.no_effect.values().sum();
        write!(
            f,
            "{} lines, {} events: {} applied, {} duplicate, {} late, {} without effect",
            self.lines, self.events, self.applied, self.duplicates, self.late, no_effect
        )?;
        if self.other_tenants > 0 {
            write!(f, ", {} of other tenants", self.other_tenants)?;
        }
        let crate::engine::Expired { waiting, answered } = self.expired;
        if waiting > 0 {
            write!(f, ", {waiting} calls exited unanswered past max_wait_s")?;
        }
        if answered > 0 {
            write!(f, ", {answered} answered calls never ended")?;
        }
        write!(f, "; {} rejected", self.rejected_total())?;
        if !self.rejected.is_empty() {
            let parts: Vec<String> = self
                .rejected
                .iter()
                .map(|(r, n)| format!("{r}: {n}"))
                .collect();
            write!(f, " ({})", parts.join(", "))?;
        }
        Ok(())
    }
}

/// Replays `input` and returns each tenant's final snapshot, sorted by
/// tenant. `on_reject` hears of each rejected line (1-based number).
pub fn replay<R: BufRead>(
    input: R,
    config: Arc<Config>,
    opts: &ReplayOptions,
    on_reject: impl FnMut(u64, &Reject),
) -> anyhow::Result<(Vec<Snapshot>, Summary)> {
    let done = replay_engine(input, config, opts, on_reject)?;
    Ok((done.snapshots(opts), done.summary))
}

/// The engine after a replay, and the time it was evaluated at.
pub struct Replayed {
    pub engine: Engine,
    /// "Now": `--at`, else the latest event time.
    pub now: Millis,
    pub summary: Summary,
}

impl Replayed {
    /// Each tenant's snapshot (only `--tenant`'s when given), sorted.
    pub fn snapshots(&self, opts: &ReplayOptions) -> Vec<Snapshot> {
        let mut snapshots = self.engine.snapshots(self.now, Status::Live);
        if let Some(t) = &opts.tenant {
            snapshots.retain(|s| *s.tenant == **t);
        }
        snapshots
    }

    /// Each tenant's interval rows (only `--tenant`'s when given), sorted
    /// by tenant, kind, key and start.
    pub fn intervals(&self, opts: &ReplayOptions) -> Vec<IntervalRow> {
        self.engine
            .tenant_names()
            .iter()
            .filter(|t| opts.tenant.as_deref().is_none_or(|only| ***t == *only))
            .filter_map(|t| self.engine.tenant(t))
            .flat_map(|t| t.intervals(self.now))
            .collect()
    }
}

/// Replays `input` into an engine, evaluated at `--at` or at the latest
/// event.
pub fn replay_engine<R: BufRead>(
    input: R,
    config: Arc<Config>,
    opts: &ReplayOptions,
    on_reject: impl FnMut(u64, &Reject),
) -> anyhow::Result<Replayed> {
    replay_with(input, config, opts, on_reject, |_| {})
}

/// Lines between two looks of [`replay_with`]'s `every`.
const LOOK_EVERY: u64 = 4096;

/// [`replay_engine`], handing the engine to `every` every few thousand
/// lines and once at the end of the input (before "now" is known): a caller
/// that takes the rows of days as they close (`callboard history rebuild`)
/// holds a day at a time, not the whole input's.
pub fn replay_with<R: BufRead>(
    input: R,
    config: Arc<Config>,
    opts: &ReplayOptions,
    mut on_reject: impl FnMut(u64, &Reject),
    mut every: impl FnMut(&mut Engine),
) -> anyhow::Result<Replayed> {
    let mut engine = Engine::new(config.clone()).keeping_closed_days();
    let mut summary = Summary::default();
    let mut reader = LineReader::new(input, config.max_event_bytes);
    if opts.format == Format::QueueLog {
        reader = reader.skipping_nul();
    }
    let mut queue_log = match opts.format {
        Format::QueueLog => {
            let Some(tenant) = opts.tenant.as_deref() else {
                anyhow::bail!(
                    "queue_log lines name no tenant: the replay's `tenant` must be given"
                );
            };
            crate::config::check_name(tenant)?;
            Some(QueueLogDecoder::new(tenant, &config.tenant(tenant)))
        }
        Format::Ndjson => None,
    };
    if let Some(t) = &opts.tenant {
        engine.tenant_mut(t);
    }

    // With `--at`, "now" is known: nothing may be dated past it (beyond the
    // allowed skew). Without it, "now" is the latest event, by definition.
    let not_ahead = |ev: &Event<'_>| match opts.at {
        Some(at) => decode::check_not_ahead(ev.ts, at, config.max_clock_skew_ms),
        None => Ok(()),
    };
    let mut line_no = 0u64;
    // An event past a configured bound rejects its line.
    let apply = |engine: &mut Engine, summary: &mut Summary, ev: &Event<'_>| {
        summary.events += 1;
        if let Some(t) = &opts.tenant
            && *ev.tenant != **t
        {
            summary.other_tenants += 1;
            return Ok(());
        }
        let outcome = engine.apply(ev);
        if let Some(refused) = decode::refusal(outcome) {
            return Err(refused);
        }
        match outcome {
            Outcome::Applied => summary.applied += 1,
            Outcome::Duplicate => summary.duplicates += 1,
            Outcome::Late => summary.late += 1,
            Outcome::NoEffect(r) => *summary.no_effect.entry(r.as_str()).or_default() += 1,
            Outcome::OverLimit(_) => {}
        }
        Ok(())
    };
    while let Some(line) = reader.next_line()? {
        line_no += 1;
        let result = match line.text(config.max_event_bytes) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => continue,
            Ok(bytes) => match &mut queue_log {
                // Matched, not chained: the event is not moved through
                // a `Result` at each step (a copy of its 200 bytes each).
                None => match decode::decode_json(bytes, config.max_event_bytes) {
                    Ok(ev) => not_ahead(&ev).and_then(|()| apply(&mut engine, &mut summary, &ev)),
                    Err(r) => Err(r),
                },
                Some(dec) => dec.decode_bytes(bytes).and_then(|evs| {
                    evs.iter().try_for_each(not_ahead)?;
                    evs.iter()
                        .try_for_each(|ev| apply(&mut engine, &mut summary, ev))
                }),
            },
            Err(r) => Err(r),
        };
        summary.lines += 1;
        if let Err(rej) = result {
            *summary.rejected.entry(rej.reason).or_default() += 1;
            on_reject(line_no, &rej);
        }
        if line_no % LOOK_EVERY == 0 {
            every(&mut engine);
        }
    }

    // ADDMEMBER lines held for the rest of their second, at the end of the
    // input.
    if let Some(dec) = &mut queue_log {
        for ev in dec.flush() {
            if let Err(rej) = not_ahead(&ev).and_then(|()| apply(&mut engine, &mut summary, &ev)) {
                *summary.rejected.entry(rej.reason).or_default() += 1;
            }
        }
    }

    every(&mut engine);
    let now = opts
        .at
        .or_else(|| engine.as_of())
        .or_else(|| queue_log.as_ref().and_then(QueueLogDecoder::latest))
        .unwrap_or_else(crate::time::now_ms);
    // Calls let go by later events, and those overdue at "now" (which the
    // snapshots count as exited).
    let expired = engine.take_expired();
    let overdue = engine.overdue_count(now);
    summary.expired = crate::engine::Expired {
        waiting: expired.waiting + overdue.waiting,
        answered: expired.answered + overdue.answered,
    };
    Ok(Replayed {
        engine,
        now,
        summary,
    })
}

/// Writes what `callboard replay` prints (snapshots, or interval rows):
/// one JSON object per line, or indented for reading.
pub fn write_json_lines<T: serde::Serialize>(
    mut out: impl std::io::Write,
    items: &[T],
    pretty: bool,
) -> std::io::Result<()> {
    for item in items {
        if pretty {
            serde_json::to_writer_pretty(&mut out, item)?;
        } else {
            serde_json::to_writer(&mut out, item)?;
        }
        out.write_all(b"\n")?;
    }
    out.flush()
}

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// Input file, or `-` for standard input.
    #[arg(long, short = 'i', value_name = "FILE|-")]
    input: PathBuf,
    /// Input format: contract events as NDJSON, or Asterisk queue_log lines.
    #[arg(long, short = 'f', value_enum, default_value = "ndjson")]
    format: Format,
    /// Tenant of queue_log input (required there); with NDJSON, report only
    /// this tenant.
    #[arg(long, short = 't', value_name = "NAME")]
    tenant: Option<String>,
    /// Time zone of tenants the config file does not name (IANA name).
    #[arg(long, value_name = "ZONE", env = "CALLBOARD_TZ")]
    tz: Option<String>,
    /// Seconds within which an answer counts as in service level, for queues
    /// the config file gives no threshold [default: 20].
    #[arg(long, value_name = "SECONDS")]
    sl_threshold: Option<u32>,
    /// Evaluation time ("now": which day is today, waiting ages), RFC 3339.
    /// Default: the latest event time in the input.
    #[arg(long, value_name = "RFC3339", value_parser = super::parse_at)]
    at: Option<Millis>,
    /// Configuration file (TOML): tenants, time zones, queue settings.
    #[arg(long, short = 'c', value_name = "FILE", env = "CALLBOARD_CONFIG")]
    config: Option<PathBuf>,
    /// Also print each rejected line's number and reason on stderr.
    #[arg(long, short = 'v')]
    verbose: bool,
    /// Indent the JSON for reading (then a snapshot spans many lines).
    #[arg(long)]
    pretty: bool,
    /// Print the interval statistics (queue, agent and callback rows, as
    /// the history store keeps them) instead of the snapshots.
    #[arg(long)]
    intervals: bool,
}

/// `callboard replay`: prints each tenant's final snapshot (or intervals),
/// the summary on stderr; exit 1 when every line was rejected.
pub fn execute(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let config = match &args.config {
        Some(path) => Config::load(path, args.tz.as_deref(), args.sl_threshold)?,
        None => Config::from_file(Default::default(), args.tz.as_deref(), args.sl_threshold)?,
    };
    anyhow::ensure!(
        args.format != Format::QueueLog || args.tenant.is_some(),
        "queue_log lines name no tenant: give it with --tenant NAME"
    );
    if let Some(t) = &args.tenant {
        crate::config::check_name(t).context("--tenant")?;
    }
    let opts = ReplayOptions {
        format: args.format,
        tenant: args.tenant,
        at: args.at,
    };
    let verbose = args.verbose;
    let on_reject = |line: u64, r: &Reject| {
        if verbose {
            eprintln!("line {line}: {r}");
        }
    };
    let done = if args.input.as_os_str() == "-" {
        replay_engine(io::stdin().lock(), config.shared(), &opts, on_reject)
            .context("cannot read standard input")?
    } else {
        let file = std::fs::File::open(&args.input)
            .with_context(|| format!("cannot open {}", args.input.display()))?;
        replay_engine(
            BufReader::with_capacity(1 << 20, file),
            config.shared(),
            &opts,
            on_reject,
        )
        .with_context(|| format!("cannot read {}", args.input.display()))?
    };
    // With NDJSON, `--tenant` picks one of the input's tenants: one it does
    // not hold is a mistake (a typo), not a tenant with no figures.
    if let (Format::Ndjson, Some(t)) = (opts.format, &opts.tenant)
        && done.summary.events == done.summary.other_tenants
        && done.summary.events > 0
    {
        eprintln!("callboard replay: {}", done.summary);
        eprintln!(
            "callboard replay: no event of tenant `{t}` in the input: all were of other tenants"
        );
        return Ok(ExitCode::from(1));
    }
    if args.intervals {
        write_json_lines(io::stdout().lock(), &done.intervals(&opts), args.pretty)?;
    } else {
        write_json_lines(io::stdout().lock(), &done.snapshots(&opts), args.pretty)?;
    }
    let summary = done.summary;
    eprintln!("callboard replay: {summary}");
    if summary.all_rejected() {
        if opts.format == Format::Ndjson && summary.rejected.contains_key(&Reason::InvalidJson) {
            eprintln!(
                "callboard replay: every line was rejected (is this queue_log? then add --format queue_log --tenant NAME)"
            );
        } else {
            eprintln!("callboard replay: every line was rejected");
        }
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
