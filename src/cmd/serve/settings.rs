//! `callboard serve`'s settings, resolved: one struct per component, each
//! field from the flags (or their `CALLBOARD_*` environment variables),
//! else the config file's `[serve]`, else its named default. Both layers
//! are one declaration, [`ServeLayer`]; the binary only parses and calls
//! [`ServeSettings::resolve`].

use std::net::SocketAddr;
use std::time::Duration;

use crate::config::{Config, ServeLayer};
use crate::history::Location;
use crate::http::listener::ConnectionLimits;
use crate::kafka::KafkaOptions;
use crate::sim::SimConfig;
use crate::sources::event_log::{self, EventLogSettings, Fsync};
use crate::sources::queue_log::QueueLogSource;
use crate::sources::simulated::demo_tenants;
use crate::time::Millis;
use anyhow::Context;

/// Where the HTTP listener binds when nothing says otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// How often changed tenants are published.
pub const DEFAULT_PUBLISH_INTERVAL: Duration = Duration::from_millis(250);
/// How long connections and tasks get to finish once shutdown is asked.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// The topic of contract events.
pub const DEFAULT_TOPIC: &str = "callboard.events";
/// The consumer group: one per deployment.
pub const DEFAULT_GROUP: &str = "callboard";
/// The compacted topic through which a cluster shares its snapshots.
pub const DEFAULT_SNAPSHOT_TOPIC: &str = "callboard.snapshots";
/// Agents of each simulated tenant.
pub const DEFAULT_SIMULATED_AGENTS: usize = 24;
/// Agents of the built-in demo tenant: three shifts, about 25 at a time.
pub const DEFAULT_DEMO_AGENTS: usize = 72;
/// Calls per hour of each simulated tenant at its busiest hour.
pub const DEFAULT_PEAK_CALLS_PER_HOUR: f64 = 360.0;

/// Most open connections one may ask for (each holds a file descriptor and
/// a task).
pub const MAX_CONNECTIONS_BOUND: usize = 1_000_000;
/// History reports made at once by default (each holds a database
/// connection and a core while it runs).
pub const DEFAULT_MAX_REPORTS: usize = 2;
/// Most shards one may ask for (each is a thread).
pub const MAX_SHARDS: usize = 256;

/// Where history is kept when nothing says otherwise: a file in the
/// working directory.
pub const DEFAULT_HISTORY: &str = "callboard-history.sqlite";
/// Days of history kept.
pub const DEFAULT_HISTORY_RETENTION_DAYS: u32 = 400;
/// Where HTTP ingest's event log is kept when nothing says otherwise (and
/// no Kafka topic is the log): a folder in the working directory, beside
/// the default history file.
pub const DEFAULT_EVENT_LOG: &str = "callboard-events";

/// The history store: where, and for how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistorySettings {
    pub location: Location,
    pub retention_days: u32,
}

/// The HTTP side: where it listens and how it bounds its clients.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpSettings {
    /// The main listener (REST, websocket, ingest, the board).
    pub listen: SocketAddr,
    /// A second listener for `/metrics` only, open without a token.
    pub metrics_listen: Option<SocketAddr>,
    /// Origins allowed to open websockets besides the service's own.
    pub allowed_origins: Vec<String>,
    /// The listener's bounds on connections (pending and authenticated),
    /// and their timeouts.
    pub connections: ConnectionLimits,
    /// History reports made at once; one more is answered 503.
    pub max_reports: usize,
    /// Longest wait for connections and tasks once shutdown is asked.
    pub shutdown_grace: Duration,
    /// TLS on the main listener: the certificate chain and key files.
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            listen: DEFAULT_LISTEN.parse().expect("the default address parses"),
            metrics_listen: None,
            allowed_origins: Vec::new(),
            connections: ConnectionLimits::default(),
            max_reports: DEFAULT_MAX_REPORTS,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            tls: None,
        }
    }
}

/// The engine's shards and their publishing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineSettings {
    /// Shards (threads), each owning some tenants.
    pub shards: usize,
    /// Cadence at which changed tenants are published.
    pub publish_interval: Duration,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            shards: std::thread::available_parallelism().map_or(2, |n| n.get()),
            publish_interval: DEFAULT_PUBLISH_INTERVAL,
        }
    }
}

/// Everything `callboard serve` runs with, resolved.
#[derive(Clone, Debug, Default)]
pub struct ServeSettings {
    pub http: HttpSettings,
    pub engine: EngineSettings,
    /// The Kafka source, if brokers are configured.
    pub kafka: Option<KafkaOptions>,
    /// Simulated tenants fed to the engine (empty: none).
    pub simulate: Vec<SimConfig>,
    /// Asterisk queue_logs followed, one tenant each.
    pub queue_logs: Vec<QueueLogSource>,
    /// The history store (`None`: interval statistics are not kept).
    pub history: Option<HistorySettings>,
    /// HTTP ingest's event log (`None`: its state is memory only).
    pub event_log: Option<EventLogSettings>,
}

/// A setting given as text, from the flags, else the file.
fn pick(flag: &Option<String>, file: &Option<String>) -> Option<String> {
    flag.clone().or(file.clone())
}

/// Reads `tokens_file` (flag, environment or `[serve]`) into the config's
/// tokens. When it does not exist and `init_admin_token` is set, it is
/// made first with a new admin token, kept as its hash, the token itself
/// printed once on stderr, unless the config has tokens of its own: a
/// container's first start is safe and usable.
pub fn read_tokens_file(flags: &ServeLayer, config: &mut Config) -> anyhow::Result<()> {
    let file = config.serve();
    let Some(path) = flags.tokens_file.clone().or(file.tokens_file.clone()) else {
        anyhow::ensure!(
            flags.init_admin_token.or(file.init_admin_token) != Some(true),
            "init_admin_token needs tokens_file: the file the new token's hash is kept in"
        );
        return Ok(());
    };
    let init = flags.init_admin_token.or(file.init_admin_token) == Some(true);
    if !path.exists() {
        if !config.tokens.is_empty() {
            // The config has tokens of its own: they are used, no admin
            // token is made.
            tracing::info!(file = %path.display(), "no tokens file: the config's tokens are used");
            return Ok(());
        }
        anyhow::ensure!(
            init,
            "tokens file {} does not exist, and the config has no tokens (give --init-admin-token to make it with a new admin token)",
            path.display()
        );
        let made = crate::http::auth::new_token("admin", crate::config::Role::Admin, None, &[])?;
        let text = format!(
            "# Made at callboard's first start: an admin token, kept as its hash.\n\
             # Add more with `callboard token new`.\n{}",
            made.entry
        );
        write_new_private(&path, text.as_bytes())
            .with_context(|| format!("making the tokens file {}", path.display()))?;
        // Not `eprintln!`, which panics when stderr is closed.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "callboard: a new admin token, shown this once (its hash is kept in {}): {}\n\
             callboard: open the board at http://HOST:PORT/?token={}",
            path.display(),
            made.token,
            made.token
        );
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the tokens file {}", path.display()))?;
    config.add_tokens(&text, &path)
}

/// Writes a file that must not exist yet, readable by its owner only.
fn write_new_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// A topic setting: `none` turns it off, nothing gives the default.
fn topic_or_none(given: Option<String>, default: String) -> Option<String> {
    match given {
        Some(t) if t == "none" => None,
        Some(t) => Some(t),
        None => Some(default),
    }
}

impl ServeSettings {
    /// Resolves the service's settings: each from the flags (or their
    /// environment variables), else the config file's `[serve]`, else its
    /// default; bounds from `[limits]`. Simulated tenants start at
    /// yesterday's local midnight of `now`. Errors name the setting. The
    /// config is read, not changed: [`ServeSettings::name_zones`] gives the
    /// simulated tenants their zones.
    pub fn resolve(flags: &ServeLayer, config: &Config, now: Millis) -> anyhow::Result<Self> {
        let file = config.serve();
        let kafka = kafka_options(flags, file, config);
        let queue_logs = queue_logs(flags, file)?;
        // The simulator feeds the engine when nothing else does.
        let simulate = simulated(flags, file, kafka.is_none() && queue_logs.is_empty(), now)?;
        Ok(ServeSettings {
            http: HttpSettings::resolve(flags, file, config)?,
            engine: EngineSettings::resolve(flags, file)?,
            event_log: event_log(flags, file, kafka.is_some())?,
            history: history(flags, file)?,
            kafka,
            simulate,
            queue_logs,
        })
    }

    /// Gives each simulated tenant the zone its traffic follows and Korean
    /// labels for its away reasons, unless the config file names the tenant.
    pub fn name_zones(&self, config: &mut Config) {
        for sim in &self.simulate {
            if config.default_tenant_tz(&sim.tenant, &sim.tz) {
                config.default_reason_labels(&sim.tenant, "ko", crate::sim::REASON_LABELS_KO);
            }
        }
    }
}

impl HttpSettings {
    fn resolve(flags: &ServeLayer, file: &ServeLayer, config: &Config) -> anyhow::Result<Self> {
        let mut http = HttpSettings::default();
        if let Some(listen) = pick(&flags.listen, &file.listen) {
            http.listen = listen
                .parse()
                .with_context(|| format!("listen: `{listen}` is not IP:PORT"))?;
        }
        anyhow::ensure!(
            !config.tokens.is_empty() || http.listen.ip().is_loopback(),
            "listen address {} is not loopback, and no access tokens are configured: \
             add [[tokens]] to the config file (see `callboard token new`) to serve beyond this machine",
            http.listen
        );
        http.tls = match (
            flags.tls_cert.clone().or(file.tls_cert.clone()),
            flags.tls_key.clone().or(file.tls_key.clone()),
        ) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => anyhow::bail!("tls_cert and tls_key go together: give both, or neither"),
        };
        if let Some(m) = pick(&flags.metrics_listen, &file.metrics_listen) {
            http.metrics_listen = Some(
                m.parse()
                    .with_context(|| format!("metrics_listen: `{m}` is not IP:PORT"))?,
            );
        }
        http.allowed_origins = if flags.allowed_origins.is_empty() {
            file.allowed_origins.clone()
        } else {
            flags.allowed_origins.clone()
        };
        let limits = config.limits();
        let conns = &mut http.connections;
        bounded_count(
            "max_connections",
            limits.max_connections,
            &mut conns.max_connections,
        )?;
        bounded_count(
            "max_pending_connections",
            limits.max_pending_connections,
            &mut conns.max_pending,
        )?;
        bounded_count(
            "max_pending_per_address",
            limits.max_pending_per_address,
            &mut conns.max_pending_per_address,
        )?;
        bounded_seconds(
            "idle_timeout_s",
            limits.idle_timeout_s,
            &mut conns.idle_timeout,
        )?;
        bounded_seconds(
            "request_timeout_s",
            limits.request_timeout_s,
            &mut conns.request_timeout,
        )?;
        if let Some(n) = limits.max_reports {
            anyhow::ensure!(
                (1..=64).contains(&n),
                "limits.max_reports must be 1 to 64, got {n}"
            );
            http.max_reports = n;
        }
        Ok(http)
    }
}

/// A `[limits]` count of connections, if given, within its bounds.
fn bounded_count(name: &str, given: Option<usize>, into: &mut usize) -> anyhow::Result<()> {
    if let Some(n) = given {
        anyhow::ensure!(
            (1..=MAX_CONNECTIONS_BOUND).contains(&n),
            "limits.{name} must be 1 to {MAX_CONNECTIONS_BOUND}, got {n}"
        );
        *into = n;
    }
    Ok(())
}

/// A `[limits]` duration in seconds, if given: a second to a day.
fn bounded_seconds(name: &str, given: Option<u64>, into: &mut Duration) -> anyhow::Result<()> {
    if let Some(s) = given {
        anyhow::ensure!(
            (1..=86_400).contains(&s),
            "limits.{name} must be 1 to 86400 (a day), got {s}"
        );
        *into = Duration::from_secs(s);
    }
    Ok(())
}

impl EngineSettings {
    fn resolve(flags: &ServeLayer, file: &ServeLayer) -> anyhow::Result<Self> {
        let mut engine = EngineSettings::default();
        if let Some(ms) = flags.publish_interval_ms.or(file.publish_interval_ms) {
            anyhow::ensure!(
                (1..=60_000).contains(&ms),
                "publish_interval_ms must be 1 to 60000 (a minute), got {ms}"
            );
            engine.publish_interval = Duration::from_millis(ms);
        }
        if let Some(n) = flags.shards.or(file.shards) {
            anyhow::ensure!(
                (1..=MAX_SHARDS).contains(&n),
                "shards must be 1 to {MAX_SHARDS} (a thread each), got {n}"
            );
            engine.shards = n;
        }
        Ok(engine)
    }
}

/// The Kafka source, if brokers are given.
fn kafka_options(flags: &ServeLayer, file: &ServeLayer, config: &Config) -> Option<KafkaOptions> {
    let brokers = pick(&flags.kafka_brokers, &file.kafka_brokers)?;
    let topic = pick(&flags.topic, &file.topic).unwrap_or_else(|| DEFAULT_TOPIC.into());
    Some(KafkaOptions {
        brokers,
        state_topic: topic_or_none(
            pick(&flags.state_topic, &file.state_topic),
            format!("{topic}.state"),
        ),
        snapshot_topic: topic_or_none(
            pick(&flags.snapshot_topic, &file.snapshot_topic),
            DEFAULT_SNAPSHOT_TOPIC.into(),
        ),
        dlq_topic: pick(&flags.dlq_topic, &file.dlq_topic)
            .unwrap_or_else(|| format!("{topic}.dlq")),
        group: pick(&flags.group, &file.group).unwrap_or_else(|| DEFAULT_GROUP.into()),
        topic,
        rebuild_margin_ms: config.longest_max_wait_ms() + config.max_clock_skew_ms,
        max_event_bytes: config.max_event_bytes,
        max_clock_skew_ms: config.max_clock_skew_ms,
    })
}

/// The queue_logs followed: the command line's, else the config file's;
/// a tenant is followed once.
fn queue_logs(flags: &ServeLayer, file: &ServeLayer) -> anyhow::Result<Vec<QueueLogSource>> {
    anyhow::ensure!(
        flags.queue_log.len() == flags.queue_log_tenant.len(),
        "each queue_log needs its tenant: {} files for {} tenants",
        flags.queue_log.len(),
        flags.queue_log_tenant.len()
    );
    let queue_logs: Vec<QueueLogSource> = if flags.queue_log.is_empty() {
        file.queue_logs
            .iter()
            .map(|q| QueueLogSource {
                path: q.path.clone(),
                tenant: q.tenant.clone(),
            })
            .collect()
    } else {
        flags
            .queue_log
            .iter()
            .zip(&flags.queue_log_tenant)
            .map(|(path, tenant)| QueueLogSource {
                path: path.clone(),
                tenant: tenant.clone(),
            })
            .collect()
    };
    for (i, q) in queue_logs.iter().enumerate() {
        crate::config::check_name(&q.tenant)
            .with_context(|| format!("queue_logs: tenant `{}`", q.tenant))?;
        anyhow::ensure!(
            !queue_logs[..i].iter().any(|o| o.tenant == q.tenant),
            "queue_logs: tenant `{}` is followed twice; one file per tenant",
            q.tenant
        );
    }
    Ok(queue_logs)
}

/// The simulated tenants: one by default when `alone` (no other source),
/// none otherwise, unless told how many.
fn simulated(
    flags: &ServeLayer,
    file: &ServeLayer,
    alone: bool,
    now: Millis,
) -> anyhow::Result<Vec<SimConfig>> {
    let tenants = flags
        .simulate_tenants
        .or(file.simulate_tenants)
        .unwrap_or(usize::from(alone));
    let agents = flags
        .simulate_agents
        .or(file.simulate_agents)
        .unwrap_or(DEFAULT_DEMO_AGENTS);
    anyhow::ensure!(
        agents >= 1,
        "simulate_agents must be at least 1: a simulated tenant needs agents to take its calls"
    );
    let peak = flags
        .simulate_peak_calls_per_hour
        .or(file.simulate_peak_calls_per_hour)
        .unwrap_or(DEFAULT_PEAK_CALLS_PER_HOUR);
    anyhow::ensure!(
        peak.is_finite() && peak >= 0.0,
        "simulate_peak_calls_per_hour must be a number of calls, got {peak}"
    );
    Ok(demo_tenants(now, tenants, agents, peak))
}

/// The history store, unless `none`.
fn history(flags: &ServeLayer, file: &ServeLayer) -> anyhow::Result<Option<HistorySettings>> {
    let location = Location::parse(
        &pick(&flags.history, &file.history).unwrap_or_else(|| DEFAULT_HISTORY.into()),
    )
    .map_err(anyhow::Error::msg)?;
    let retention_days = flags
        .history_retention_days
        .or(file.history_retention_days)
        .unwrap_or(DEFAULT_HISTORY_RETENTION_DAYS);
    anyhow::ensure!(
        (1..=36_500).contains(&retention_days),
        "history_retention_days must be 1 to 36500, got {retention_days}"
    );
    Ok(location.map(|location| HistorySettings {
        location,
        retention_days,
    }))
}

/// HTTP ingest's event log. With Kafka the topic is the log; HTTP ingest
/// keeps one of its own otherwise, unless told `none`.
fn event_log(
    flags: &ServeLayer,
    file: &ServeLayer,
    kafka: bool,
) -> anyhow::Result<Option<EventLogSettings>> {
    let dir = match pick(&flags.event_log, &file.event_log) {
        Some(p) if p == "none" => None,
        Some(p) if p.is_empty() => anyhow::bail!("event_log: give a folder, or `none`"),
        Some(p) => Some(std::path::PathBuf::from(p)),
        None if kafka => None,
        None => Some(std::path::PathBuf::from(DEFAULT_EVENT_LOG)),
    };
    let retention_days = flags
        .event_log_retention_days
        .or(file.event_log_retention_days)
        .unwrap_or(event_log::DEFAULT_RETENTION_DAYS);
    anyhow::ensure!(
        (2..=3_650).contains(&retention_days),
        "event_log_retention_days must be 2 to 3650 (a start reads back two days), got {retention_days}"
    );
    Ok(dir.map(|dir| EventLogSettings {
        dir,
        fsync: flags
            .event_log_fsync
            .or(file.event_log_fsync)
            .unwrap_or(Fsync::Always),
        retention_days,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(flags: ServeLayer, file: &str) -> anyhow::Result<ServeSettings> {
        let config = Config::parse(file, None, None)?;
        ServeSettings::resolve(&flags, &config, 0)
    }

    #[test]
    fn defaults_when_nothing_is_given() {
        let s = resolve(ServeLayer::default(), "").unwrap();
        assert_eq!(s.http, HttpSettings::default());
        assert_eq!(s.http.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(s.engine.publish_interval, DEFAULT_PUBLISH_INTERVAL);
        assert!(s.kafka.is_none());
        assert_eq!(
            s.simulate.len(),
            1,
            "the demo feeds an engine with no source"
        );
        assert_eq!(s.simulate[0].agents, DEFAULT_DEMO_AGENTS);
    }

    #[test]
    fn a_simulated_tenant_without_agents_is_refused() {
        let e = resolve(ServeLayer::default(), "[serve]\nsimulate_agents = 0").unwrap_err();
        assert!(
            format!("{e:#}").contains("simulate_agents must be at least 1"),
            "{e:#}"
        );
    }

    #[test]
    fn a_flag_wins_over_the_file_and_the_file_over_the_default() {
        let file = "[serve]\nlisten = \"127.0.0.1:9000\"\npublish_interval_ms = 100\nshards = 3\n\
                    kafka_brokers = \"k:9092\"\ntopic = \"events\"\nsimulate_agents = 5";
        let flags = ServeLayer {
            listen: Some("127.0.0.1:9100".into()),
            topic: Some("flagged".into()),
            ..ServeLayer::default()
        };
        let s = resolve(flags, file).unwrap();
        assert_eq!(s.http.listen.port(), 9100, "flag over file");
        assert_eq!(
            s.engine.publish_interval,
            Duration::from_millis(100),
            "file over default"
        );
        assert_eq!(s.engine.shards, 3);
        let k = s.kafka.unwrap();
        assert_eq!(
            (k.brokers.as_str(), k.topic.as_str()),
            ("k:9092", "flagged")
        );
        assert_eq!(
            k.dlq_topic, "flagged.dlq",
            "derived from the resolved topic"
        );
        assert_eq!(k.group, DEFAULT_GROUP);
        assert_eq!(k.snapshot_topic.as_deref(), Some(DEFAULT_SNAPSHOT_TOPIC));
        assert!(
            s.simulate.is_empty(),
            "no simulator next to Kafka unless asked"
        );
    }

    #[test]
    fn limits_bound_the_listener() {
        let s = resolve(
            ServeLayer::default(),
            "[limits]\nmax_connections = 10\nidle_timeout_s = 3",
        )
        .unwrap();
        assert_eq!(s.http.connections.max_connections, 10);
        assert_eq!(s.http.connections.idle_timeout, Duration::from_secs(3));
    }

    #[test]
    fn errors_name_the_setting() {
        for (flags, file, says) in [
            (
                ServeLayer {
                    listen: Some("nowhere".into()),
                    ..ServeLayer::default()
                },
                "",
                "listen: `nowhere`",
            ),
            (
                ServeLayer::default(),
                "[serve]\nshards = 0",
                "shards must be",
            ),
            (
                ServeLayer::default(),
                "[serve]\npublish_interval_ms = 0",
                "publish_interval_ms",
            ),
            (
                ServeLayer::default(),
                "[serve]\nshards = 1000",
                "shards must be 1 to 256",
            ),
            (
                ServeLayer::default(),
                "[limits]\nmax_connections = 3000000000000000000",
                "limits.max_connections must be 1 to 1000000",
            ),
            (
                ServeLayer::default(),
                "[limits]\nidle_timeout_s = 9223372036854775807",
                "limits.idle_timeout_s must be 1 to 86400",
            ),
            (
                ServeLayer::default(),
                "[serve]\nmetrics_listen = \"x\"",
                "metrics_listen",
            ),
            (
                ServeLayer::default(),
                "[serve]\nlisten = \"0.0.0.0:8080\"",
                "no access tokens",
            ),
        ] {
            let e = resolve(flags, file).unwrap_err();
            assert!(format!("{e:#}").contains(says), "{e:#} should say {says}");
        }
    }

    #[test]
    fn simulated_tenants_keep_their_zone_unless_the_file_names_them() {
        let mut config = Config::parse("[tenants.demo]\ntz = \"UTC\"", None, None).unwrap();
        let flags = ServeLayer {
            simulate_tenants: Some(2),
            ..ServeLayer::default()
        };
        let s = ServeSettings::resolve(&flags, &config, 0).unwrap();
        s.name_zones(&mut config);
        assert_eq!(s.simulate.len(), 2);
        assert_eq!(config.tenant("demo").tz.iana_name(), Some("UTC"));
        assert_eq!(
            config.tenant("demo-2").tz.iana_name(),
            Some(s.simulate[1].tz.as_str())
        );
    }
}
