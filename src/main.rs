//! The `callboard` command: parses arguments and calls the library.

use std::io::{self, BufReader};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use callboard::config::{Config, Role, ServeLayer};
use callboard::decode::Format;
use callboard::forward::ForwardSettings;
use callboard::replay::{self, ReplayOptions};
use callboard::settings::{
    DEFAULT_PEAK_CALLS_PER_HOUR, DEFAULT_SIMULATED_AGENTS, DEFAULT_TOPIC, ServeSettings,
};
use callboard::sim::{Profile, SimConfig, Simulator};
use callboard::sources::queue_log::QueueLogSource;
use callboard::time::{self, Millis};
use tokio_util::sync::CancellationToken;

/// Realtime statistics engine for contact centers.
///
/// With no subcommand, `callboard` serves (see `callboard serve --help`).
#[derive(Parser, Debug)]
#[command(
    name = "callboard",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the engine as a service (the default): events in, snapshots out
    /// over REST, websocket and Prometheus on one HTTP listener.
    ///
    /// With no event source configured, a built-in simulated contact center
    /// (tenant `demo`) feeds it, so a board is live out of the box. Settings
    /// come from flags, then `CALLBOARD_*` environment variables, then the
    /// config file's `[serve]` section, then the defaults.
    Serve(Box<ServeArgs>),
    /// Run the engine over a file of events and print each tenant's final
    /// snapshot, one JSON object per line, sorted by tenant.
    ///
    /// Rejected lines are counted and summarised on stderr; the exit code is
    /// non-zero only when every line was rejected.
    Replay(ReplayArgs),
    /// Write a simulated contact center's events as NDJSON to standard
    /// output: the demo tenant (three services, five queues), deterministic
    /// for a seed.
    Simulate(SimulateArgs),
    /// Follow an Asterisk queue_log and produce its events to Kafka (key =
    /// tenant), for a central callboard. Remembers how far it got in a state
    /// file; after a restart or a broker outage each line counts once.
    Forward(ForwardArgs),
    /// Make and hash access tokens for the config file.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The history store: days recomputed from a log.
    #[command(subcommand)]
    History(HistoryCommand),
    /// Exit 0 if an HTTP GET of URL answers 2xx within 3 s (a container
    /// healthcheck that needs no curl).
    Probe {
        /// e.g. http://127.0.0.1:8080/healthz
        url: String,
    },
}

/// What a long-running command reads first: its config file, the default
/// time zone, and how much it logs.
#[derive(clap::Args, Debug, Clone)]
struct Base {
    /// Configuration file (TOML): tenants, time zones, queues, members,
    /// `[serve]` and `[limits]`.
    #[arg(long, short = 'c', value_name = "FILE", env = "CALLBOARD_CONFIG")]
    config: Option<PathBuf>,
    /// Time zone of tenants the config file does not name (IANA name).
    #[arg(long, value_name = "ZONE", env = "CALLBOARD_TZ")]
    tz: Option<String>,
    /// Log filter (`info`, `debug`, `callboard=debug,warn`...).
    #[arg(
        long,
        value_name = "FILTER",
        env = "CALLBOARD_LOG",
        default_value = "info"
    )]
    log: String,
}

impl Base {
    /// Starts the logs and reads the config.
    fn start(&self) -> anyhow::Result<Config> {
        init_logs(&self.log)?;
        match &self.config {
            Some(path) => Config::load(path, self.tz.as_deref(), None),
            None => Config::from_file(Default::default(), self.tz.as_deref(), None),
        }
    }
}

#[derive(clap::Args, Debug, Clone)]
struct ServeArgs {
    #[command(flatten)]
    base: Base,
    #[command(flatten)]
    settings: ServeLayer,
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Make a new random token; prints it once with its SHA-256 and a
    /// `[[tokens]]` entry for the config file (which stores only the hash).
    New {
        /// A name for the token, shown in logs.
        #[arg(long, default_value = "wallboard")]
        name: String,
        /// `tenant`, `admin` or `metrics`.
        #[arg(long, value_enum, default_value = "tenant")]
        role: Role,
        /// The tenant a `tenant` token reads.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Print the SHA-256 of a token read from standard input.
    Hash,
}

#[derive(Subcommand, Debug)]
enum HistoryCommand {
    /// Recompute stored days from a log, through the same engine as
    /// `replay`: the rows of the days from --from to --to replace, each day
    /// in one transaction, what the store holds of them (days the source
    /// holds events of but no rows are emptied); other days and tenants are
    /// untouched. The source should begin a day before --from, so that the
    /// first day's calls and agents that began the evening before are read.
    #[command(
        after_help = "Example: a year of an Asterisk site's queue_log into the reports\n  \
        callboard history rebuild --from 2025-12-01 --to 2026-11-30 \\\n    \
        --input /var/log/asterisk/queue_log --format queue_log --tenant pbx"
    )]
    Rebuild(RebuildArgs),
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["input", "event_log", "kafka_brokers"])))]
struct RebuildArgs {
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

#[derive(clap::Args, Debug)]
struct SimulateArgs {
    /// Start of the simulated traffic: RFC 3339, or `today` (the demo
    /// tenant's local midnight).
    #[arg(long, value_name = "RFC3339|today", value_parser = parse_start)]
    start: Millis,
    /// How many hours to simulate.
    #[arg(long, default_value_t = 12.0)]
    hours: f64,
    /// Number of agents.
    #[arg(long, default_value_t = DEFAULT_SIMULATED_AGENTS)]
    agents: usize,
    /// Calls per hour at the busiest hour of the day.
    #[arg(long, default_value_t = DEFAULT_PEAK_CALLS_PER_HOUR)]
    peak_calls_per_hour: f64,
    /// How arrivals follow the local hour: `all-day` (a 24-hour center,
    /// busy at any hour) or `business` (office hours, quiet at night).
    #[arg(long, value_enum, default_value = "all-day")]
    profile: Profile,
    /// Seed of the random choices: the same seed gives the same events.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Simulated tenants: `demo`, `demo-2`, ..., each with the options
    /// above and its own seed (SEED, SEED+1, ...): each tenant's events
    /// as it alone would give them, the tenants interleaved by time.
    #[arg(long, value_name = "N", default_value_t = 1)]
    tenants: usize,
    /// Produce to Kafka (key = tenant) instead of writing to standard output.
    #[arg(long, value_name = "HOSTS", env = "CALLBOARD_KAFKA_BROKERS")]
    kafka_brokers: Option<String>,
    /// Topic to produce to (created if missing).
    #[arg(long, value_name = "TOPIC", default_value = DEFAULT_TOPIC)]
    topic: String,
    /// At most this many events per second (0: as fast as possible).
    #[arg(long, value_name = "N", default_value_t = 0)]
    rate: u64,
    /// Release each event when the wall clock reaches its time (what is
    /// already past goes at once): live demo traffic.
    #[arg(long)]
    realtime: bool,
}

#[derive(clap::Args, Debug)]
struct ForwardArgs {
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

#[derive(clap::Args, Debug)]
struct ReplayArgs {
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
    #[arg(long, value_name = "RFC3339", value_parser = parse_at)]
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

fn parse_start(s: &str) -> Result<Millis, String> {
    if s == "today" {
        let cfg = SimConfig::demo(0, 0);
        let now = jiff::Timestamp::now().as_millisecond();
        return Ok(callboard::sources::sim::start_of_today(&cfg.tz, now));
    }
    parse_at(s)
}

fn parse_at(s: &str) -> Result<Millis, String> {
    time::parse_rfc3339(s).ok_or_else(|| {
        format!("`{s}` is not RFC 3339 with an offset (e.g. 2026-11-21T18:00:00+09:00)")
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => run_serve(cli.serve),
        Some(Command::Serve(args)) => run_serve(*args),
        Some(Command::Replay(args)) => run_replay(args),
        Some(Command::Simulate(args)) => run_simulate(args),
        Some(Command::Forward(args)) => run_forward(args),
        Some(Command::Token(cmd)) => run_token(cmd),
        Some(Command::History(HistoryCommand::Rebuild(args))) => run_rebuild(args),
        Some(Command::Probe { url }) => run_probe(&url),
    };
    match result {
        Ok(code) => code,
        // The reader went away (`| head`): nothing left to say to it.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<io::Error>().map(io::Error::kind)
                    == Some(io::ErrorKind::BrokenPipe)
                    || c.downcast_ref::<serde_json::Error>()
                        .and_then(serde_json::Error::io_error_kind)
                        == Some(io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("callboard: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run_serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut config = args.base.start()?;
    let now = jiff::Timestamp::now().as_millisecond();
    let settings = ServeSettings::resolve(&args.settings, &mut config, now)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        tokio::spawn(callboard::serve::stop_on_signal(shutdown.clone()));
        callboard::serve::bind_and_run(config.shared(), settings, shutdown).await
    })?;
    Ok(ExitCode::SUCCESS)
}

fn run_rebuild(args: RebuildArgs) -> anyhow::Result<ExitCode> {
    use callboard::rebuild::{RebuildOptions, RebuildSource, rebuild};
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
            callboard::config::check_name(tenant).context("--tenant")?;
        }
        RebuildSource::Files {
            paths: args.input,
            format: args.format,
            tenant: args.tenant,
        }
    };
    let location = callboard::history::Location::parse(
        args.history
            .as_deref()
            .unwrap_or(callboard::settings::DEFAULT_HISTORY),
    )
    .map_err(anyhow::Error::msg)?
    .context("--history none: there is no store to rebuild")?;
    let opts = RebuildOptions {
        from: args.from,
        to: args.to.unwrap_or(args.from),
        source,
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let done = runtime.block_on(async move {
        let store = callboard::history::Store::open(&location)
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
    Ok(ExitCode::SUCCESS)
}

fn run_forward(args: ForwardArgs) -> anyhow::Result<ExitCode> {
    let config = args.base.start()?;
    callboard::config::check_name(&args.tenant).context("--tenant")?;
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
        tokio::spawn(callboard::serve::stop_on_signal(shutdown.clone()));
        callboard::forward::run(settings, config.shared(), shutdown).await
    })?;
    eprintln!("callboard forward: {n} events delivered");
    Ok(ExitCode::SUCCESS)
}

fn init_logs(filter: &str) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(filter)
                .with_context(|| format!("--log `{filter}` is not a log filter"))?,
        )
        .with_writer(io::stderr)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .init();
    Ok(())
}

fn run_token(cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    use callboard::http::auth::{hash_token, hex, new_token};
    match cmd {
        TokenCommand::New { name, role, tenant } => {
            anyhow::ensure!(
                (role == Role::Tenant) == tenant.is_some(),
                "a tenant token needs --tenant NAME; other roles take none"
            );
            let made = new_token(&name, role, tenant.as_deref())?;
            println!(
                "token (give it to the client; it is not stored): {}",
                made.token
            );
            println!();
            print!("{}", made.entry);
        }
        TokenCommand::Hash => {
            let mut token = String::new();
            io::stdin().read_line(&mut token)?;
            let token = token.trim();
            anyhow::ensure!(!token.is_empty(), "no token on standard input");
            println!("{}", hex(&hash_token(token)));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_probe(url: &str) -> anyhow::Result<ExitCode> {
    let ok = callboard::http::probe::probe(url, std::time::Duration::from_secs(3))?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn run_simulate(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.hours.is_finite() && args.hours > 0.0,
        "--hours must be a positive number"
    );
    anyhow::ensure!(args.tenants >= 1, "--tenants must be at least 1");
    let sims = (0..args.tenants)
        .map(|i| {
            let mut cfg = SimConfig::demo(args.start, args.seed + i as u64);
            if i > 0 {
                cfg.tenant = format!("demo-{}", i + 1);
            }
            cfg.agents = args.agents;
            cfg.peak_calls_per_hour = args.peak_calls_per_hour;
            cfg.profile = args.profile;
            Simulator::new(cfg)
        })
        .collect();
    let end = args.start + (args.hours * 3_600_000.0) as Millis;
    let events = callboard::sim::merged(sims).take_while(move |e| e.ts < end);
    if let Some(brokers) = &args.kafka_brokers {
        let runtime = tokio::runtime::Runtime::new()?;
        let n = runtime.block_on(callboard::kafka::produce(
            brokers,
            &args.topic,
            events,
            args.rate,
            args.realtime,
        ))?;
        eprintln!("callboard simulate: {n} events produced to {}", args.topic);
        return Ok(ExitCode::SUCCESS);
    }
    callboard::sim::write_ndjson(events, io::stdout().lock(), args.realtime)?;
    Ok(ExitCode::SUCCESS)
}

fn run_replay(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let config = match &args.config {
        Some(path) => Config::load(path, args.tz.as_deref(), args.sl_threshold)?,
        None => Config::from_file(Default::default(), args.tz.as_deref(), args.sl_threshold)?,
    };
    anyhow::ensure!(
        args.format != Format::QueueLog || args.tenant.is_some(),
        "queue_log lines name no tenant: give it with --tenant NAME"
    );
    let opts = ReplayOptions {
        format: args.format,
        tenant: args.tenant,
        at: args.at,
    };
    let verbose = args.verbose;
    let pretty = args.pretty;
    let on_reject = |line: u64, r: &callboard::decode::Reject| {
        if verbose {
            eprintln!("line {line}: {r}");
        }
    };
    let done = if args.input.as_os_str() == "-" {
        replay::replay_engine(io::stdin().lock(), config.shared(), &opts, on_reject)?
    } else {
        let file = std::fs::File::open(&args.input)
            .with_context(|| format!("cannot open {}", args.input.display()))?;
        replay::replay_engine(BufReader::new(file), config.shared(), &opts, on_reject)?
    };
    if args.intervals {
        replay::write_json_lines(io::stdout().lock(), &done.intervals(&opts), pretty)?;
    } else {
        replay::write_json_lines(io::stdout().lock(), &done.snapshots(&opts), pretty)?;
    }
    let summary = done.summary;
    eprintln!("callboard replay: {summary}");
    if summary.all_rejected() {
        if opts.format == Format::Ndjson
            && summary
                .rejected
                .contains_key(&callboard::decode::Reason::InvalidJson)
        {
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
