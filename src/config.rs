//! The configuration file (TOML): tenants, their time zones, and per-queue
//! settings. Shared by `callboard replay` and the service.
//!
//! A setting is looked up on the queue, then on its tenant, then in
//! `[defaults]`, then in the built-in default.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::time;

/// Built-in SL threshold: answered within 20 s counts as in service level.
pub const DEFAULT_SL_THRESHOLD_S: u32 = 20;

/// History intervals, in minutes: the default and the lengths allowed.
pub const DEFAULT_INTERVAL_MINUTES: u32 = 15;
pub const INTERVAL_MINUTES: [u32; 3] = [15, 30, 60];
/// Built-in short-abandon threshold: 0, so no abandon is "short".
pub const DEFAULT_SHORT_ABANDON_S: u32 = 0;
/// Built-in longest wait: a call still waiting 4 hours after it was queued
/// lost its end event.
pub const DEFAULT_MAX_WAIT_S: u32 = 4 * 3600;
/// Built-in largest accepted event, in bytes.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 64 * 1024;
/// Built-in largest accepted lead of an event's time over the clock.
pub const DEFAULT_MAX_CLOCK_SKEW_S: u64 = 300;

/// How `service_level` is computed from a queue's counts.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum SlFormula {
    /// answered_in_sl / inbound (the guides' formula).
    #[default]
    Offered,
    /// answered_in_sl / answered.
    Answered,
    /// answered_in_sl / (inbound - short_abandoned).
    OfferedMinusShortAbandons,
}

/// The file as written.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Settings for every tenant that does not set its own.
    #[serde(default)]
    pub defaults: Settings,
    /// Per-tenant settings, keyed by tenant name.
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantFile>,
    /// Settings of `callboard serve` (flags and environment take precedence).
    #[serde(default)]
    pub serve: ServeLayer,
    /// Access tokens (`[[tokens]]`). With none, the service serves loopback
    /// only and is open there.
    #[serde(default)]
    pub tokens: Vec<TokenFile>,
    /// What the engine accepts (`[limits]`).
    #[serde(default)]
    pub limits: LimitsFile,
}

/// `[limits]`: bounds on input, each with a built-in default.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    /// Largest accepted event (a message, a line), in bytes. Default 65536.
    pub max_event_bytes: Option<usize>,
    /// How far ahead of the clock an event's `ts` may be, in seconds
    /// (producers' clocks drift). Default 300.
    pub max_clock_skew_s: Option<u64>,
    /// Authenticated HTTP connections (boards, API clients) open at once;
    /// one more is refused with a 503. Default 4096 (keep the sum with
    /// `max_pending_connections` under the process's file descriptor
    /// limit).
    pub max_connections: Option<usize>,
    /// Connections not yet authenticated (every new one, health checks and
    /// the board's files) open at once; more wait in the kernel's backlog.
    /// Default 1024.
    pub max_pending_connections: Option<usize>,
    /// Of those, from one client address; past it, its new connections are
    /// closed at once. Default 64.
    pub max_pending_per_address: Option<usize>,
    /// Seconds a new connection has to be authenticated, however steadily
    /// it trickles its request. Default 10.
    pub request_timeout_s: Option<u64>,
    /// Seconds a connection may send nothing before it is closed (a
    /// half-sent request, an idle keep-alive). Default 30.
    pub idle_timeout_s: Option<u64>,
    /// History reports made at once (each streams its rows, holding a
    /// database connection while it runs); one more gets a 503. Default 2.
    pub max_reports: Option<usize>,
    /// Tenants in the whole deployment (configured ones always fit).
    /// Default 10000.
    pub max_tenants: Option<usize>,
    /// Per tenant: services, queues (configured ones always fit), agents
    /// and away reasons. Defaults 500, 2000, 20000, 200.
    pub max_services: Option<usize>,
    pub max_queues: Option<usize>,
    pub max_agents: Option<usize>,
    pub max_reasons: Option<usize>,
}

/// How many names of each kind the engine keeps, resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub tenants: usize,
    pub services: usize,
    pub queues: usize,
    pub agents: usize,
    pub reasons: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            tenants: 10_000,
            services: 500,
            queues: 2_000,
            agents: 20_000,
            reasons: 200,
        }
    }
}

/// What a token may do.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read one tenant's snapshots (REST and websocket).
    Tenant,
    /// Read every tenant, ingest events, read metrics.
    Admin,
    /// Read `/metrics` only.
    Metrics,
}

/// `[[tokens]]`: one access token, stored hashed.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct TokenFile {
    /// A name for logs; never the token itself.
    pub name: String,
    /// SHA-256 of the token in hex (`callboard token new` prints both).
    pub sha256: String,
    pub role: Role,
    /// The tenant a `tenant` token reads.
    pub tenant: Option<String>,
    /// Client addresses allowed to use the token (IPs or CIDR ranges);
    /// empty: any.
    #[serde(default)]
    pub allow: Vec<String>,
}

/// A validated token.
#[derive(Clone, Debug)]
pub struct Token {
    pub name: String,
    pub sha256: [u8; 32],
    pub role: Role,
    pub tenant: Option<String>,
    pub allow: Vec<ipnet::IpNet>,
}

fn parse_net(s: &str) -> Option<ipnet::IpNet> {
    s.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    let b = hex.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

/// The service's settings as one layer gives them: every field optional.
/// The command line reads it as flags (each with its environment variable),
/// the config file as its `[serve]` section.
#[derive(clap::Args, Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct ServeLayer {
    /// Address of the HTTP listener (REST, websocket, /metrics). Without
    /// access tokens only a loopback address is allowed.
    /// [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR", env = "CALLBOARD_LISTEN")]
    pub listen: Option<String>,
    /// Serve `/metrics` on this address too, open without a token (for a
    /// Prometheus that holds none).
    #[arg(long, value_name = "ADDR", env = "CALLBOARD_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Origins (`https://board.example.com`) allowed to open websockets and
    /// write besides the service's own (config file only).
    #[arg(skip)]
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Milliseconds between publications of changed tenants. [default: 250]
    #[arg(long, value_name = "MS", env = "CALLBOARD_PUBLISH_INTERVAL_MS")]
    pub publish_interval_ms: Option<u64>,
    /// Engine shards, each owning some tenants. [default: number of cores]
    #[arg(long, value_name = "N", env = "CALLBOARD_SHARDS")]
    pub shards: Option<usize>,
    /// Kafka bootstrap servers (`host:port,...`). Without them the built-in
    /// simulator feeds the engine.
    #[arg(long, value_name = "HOSTS", env = "CALLBOARD_KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,
    /// Topic of contract events (key = tenant). [default: callboard.events]
    #[arg(long, value_name = "TOPIC", env = "CALLBOARD_TOPIC")]
    pub topic: Option<String>,
    /// Consumer group, one per deployment. [default: callboard]
    #[arg(long, value_name = "GROUP", env = "CALLBOARD_GROUP")]
    pub group: Option<String>,
    /// Dead-letter topic for messages that do not decode (created if
    /// missing). [default: <topic>.dlq]
    #[arg(long, value_name = "TOPIC", env = "CALLBOARD_DLQ_TOPIC")]
    pub dlq_topic: Option<String>,
    /// Compacted topic where owners keep each tenant's standing facts
    /// (agents' state, membership and name; open callbacks) as of the start
    /// of yesterday, so that a rebuild reads the last two days of events
    /// instead of the whole retained log (created if missing); `none` to
    /// read the whole log on every assignment. [default: <topic>.state]
    #[arg(long, value_name = "TOPIC", env = "CALLBOARD_STATE_TOPIC")]
    pub state_topic: Option<String>,
    /// Compacted topic through which instances share their snapshots
    /// (key = tenant): each writes the tenants it computes and serves every
    /// tenant from it, so a cluster serves any tenant from any instance
    /// (created if missing); `none` to serve only this instance's
    /// tenants. [default: callboard.snapshots]
    #[arg(long, value_name = "TOPIC", env = "CALLBOARD_SNAPSHOT_TOPIC")]
    pub snapshot_topic: Option<String>,
    /// Simulated demo tenants (`demo`, `demo-2`, ...); 0 for none. [default:
    /// 1 without Kafka, 0 with it]
    #[arg(long, value_name = "N", env = "CALLBOARD_SIMULATE_TENANTS")]
    pub simulate_tenants: Option<usize>,
    /// Follow this Asterisk queue_log (repeat with --tenant for several
    /// sites: the first --tenant names the first file's tenant, and so on).
    #[arg(long = "queue-log", value_name = "PATH", requires = "queue_log_tenant")]
    #[serde(skip)]
    pub queue_log: Vec<std::path::PathBuf>,
    /// The tenant of each --queue-log, in the same order.
    #[arg(long = "tenant", value_name = "NAME", requires = "queue_log")]
    #[serde(skip)]
    pub queue_log_tenant: Vec<String>,
    /// Followed queue_logs (config file): `[[serve.queue_logs]]` with
    /// `path` and `tenant`.
    #[arg(skip)]
    #[serde(default)]
    pub queue_logs: Vec<QueueLogFile>,
    /// Where interval statistics are kept: an SQLite file (created if
    /// missing), a `postgres://` URL, or `none`.
    /// [default: callboard-history.sqlite]
    #[arg(long, value_name = "PATH|URL|none", env = "CALLBOARD_HISTORY")]
    pub history: Option<String>,
    /// Days of interval statistics kept; older rows are pruned every hour.
    /// [default: 400]
    #[arg(long, value_name = "DAYS", env = "CALLBOARD_HISTORY_RETENTION_DAYS")]
    pub history_retention_days: Option<u32>,
    /// Folder of HTTP ingest's event log: every accepted event is written
    /// there before the request is answered, and a start reads it back, so
    /// nothing acknowledged is lost; `none` keeps ingest's state in memory
    /// only. [default: callboard-events; none with Kafka, whose topic is the
    /// log]
    #[arg(long, value_name = "PATH|none", env = "CALLBOARD_EVENT_LOG")]
    pub event_log: Option<String>,
    /// When an acknowledged event is durable: `always` syncs each batch of
    /// requests to disk before answering (survives a power loss); `never`
    /// leaves it to the kernel (survives the process being killed).
    /// [default: always]
    #[arg(long, value_name = "WHEN", env = "CALLBOARD_EVENT_LOG_FSYNC")]
    pub event_log_fsync: Option<Fsync>,
    /// Days of events the event log keeps (a start reads them all back).
    /// [default: 8]
    #[arg(long, value_name = "DAYS", env = "CALLBOARD_EVENT_LOG_RETENTION_DAYS")]
    pub event_log_retention_days: Option<u32>,
    /// Agents of each simulated tenant. [default: 24]
    #[arg(long, value_name = "N")]
    pub simulate_agents: Option<usize>,
    /// Calls per hour of each simulated tenant at its busiest hour.
    /// [default: 360]
    #[arg(long, value_name = "N")]
    pub simulate_peak_calls_per_hour: Option<f64>,
}

/// When an appended record is made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fsync {
    /// `fdatasync` before the requests of a batch are answered: an
    /// acknowledged event survives a power loss.
    Always,
    /// Written to the kernel before the answer: an acknowledged event
    /// survives the process being killed, not a power loss.
    Never,
}

impl Fsync {
    pub fn as_str(self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::Never => "never",
        }
    }
}

/// `[[serve.queue_logs]]`: an Asterisk queue_log to follow, and its tenant.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct QueueLogFile {
    pub path: std::path::PathBuf,
    pub tenant: String,
}

/// Settings that can be given at every level.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// IANA time zone of the tenant's day (only at `[defaults]` and tenant level).
    pub tz: Option<String>,
    /// Seconds within which an answered call counts as in service level.
    pub sl_threshold_s: Option<u32>,
    /// Abandons with a wait under this many seconds are "short".
    pub short_abandon_s: Option<u32>,
    /// `offered` (default), `answered` or `offered_minus_short_abandons`.
    pub sl_formula: Option<SlFormula>,
    /// Seconds after which a call still waiting is taken out as `exited`
    /// (reason `expired`): its end event was lost. 0: never.
    pub max_wait_s: Option<u32>,
    /// Board thresholds (in `[defaults]`: for tenants that set none).
    pub thresholds: Option<Thresholds>,
    /// Length of the history's intervals in minutes: 15 (default), 30 or 60.
    pub interval_minutes: Option<u32>,
    /// Per-queue settings, keyed by queue name (tenants only).
    #[serde(default)]
    pub queues: BTreeMap<String, QueueFile>,
    /// queue_log members by interface (`"PJSIP/1001" = "alice"`, or
    /// `{ agent = "alice", name = "Alice Kim" }`): one person, named one
    /// way (tenants only).
    #[serde(default)]
    pub members: BTreeMap<String, MemberFile>,
}

/// A queue_log member's agent, and optionally its display name.
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
pub enum MemberFile {
    Agent(String),
    Named { agent: String, name: Option<String> },
}

impl MemberFile {
    fn resolved(&self) -> (String, Option<String>) {
        match self {
            MemberFile::Agent(a) => (a.clone(), None),
            MemberFile::Named { agent, name } => (agent.clone(), name.clone()),
        }
    }
}

/// A tenant's section (`[tenants.NAME]`): the same settings as
/// `[defaults]`, plus its queues.
pub type TenantFile = Settings;

/// Board thresholds: where a figure turns amber (warn) and red (alert).
/// Ratios are percentages; a missing value never colours.
#[derive(Deserialize, Serialize, Debug, Default, Clone, Copy, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Service level under this is amber.
    pub service_level_warn: Option<f64>,
    /// Service level under this is red.
    pub service_level_alert: Option<f64>,
    /// Answer rate under this is amber.
    pub answer_rate_warn: Option<f64>,
    /// Answer rate under this is red.
    pub answer_rate_alert: Option<f64>,
    /// Waiting customers above this are amber.
    pub waiting_warn: Option<u64>,
    /// Waiting customers above this are red.
    pub waiting_alert: Option<u64>,
    /// Longest wait above this many seconds is amber.
    pub longest_wait_warn_s: Option<u64>,
    /// Longest wait above this many seconds is red.
    pub longest_wait_alert_s: Option<u64>,
}

impl Thresholds {
    /// Sensible defaults for a board that sets none: SL 80/60 %, answer rate
    /// 90/80 %, 5/10 waiting, 60/120 s longest wait.
    pub const DEFAULT: Thresholds = Thresholds {
        service_level_warn: Some(80.0),
        service_level_alert: Some(60.0),
        answer_rate_warn: Some(90.0),
        answer_rate_alert: Some(80.0),
        waiting_warn: Some(5),
        waiting_alert: Some(10),
        longest_wait_warn_s: Some(60),
        longest_wait_alert_s: Some(120),
    };
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct QueueFile {
    /// The service this queue belongs to (else the event's `service`, else
    /// the queue's own name).
    pub service: Option<String>,
    pub sl_threshold_s: Option<u32>,
    pub short_abandon_s: Option<u32>,
    pub sl_formula: Option<SlFormula>,
    pub max_wait_s: Option<u32>,
}

/// A queue's resolved settings, in the units the engine uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueSettings {
    pub sl_threshold_s: u32,
    pub short_abandon_s: u32,
    pub sl_formula: SlFormula,
    /// 0: a waiting call never expires.
    pub max_wait_s: u32,
}

/// Resolved settings of one tenant.
#[derive(Clone, Debug)]
pub struct TenantSettings {
    pub tz: TimeZone,
    /// Board thresholds (the tenant's, else `[defaults.thresholds]`, else
    /// [`Thresholds::DEFAULT`]).
    pub thresholds: Thresholds,
    /// Settings of queues the config does not name.
    pub queue_defaults: QueueSettings,
    /// Queues the config names: their service (if set) and settings.
    pub queues: BTreeMap<String, (Option<String>, QueueSettings)>,
    /// queue_log member (an interface or a member name) -> agent id and
    /// display name.
    pub members: BTreeMap<String, (String, Option<String>)>,
    /// Length of the history's intervals, in minutes (15, 30 or 60).
    pub interval_minutes: u32,
}

/// The whole configuration, validated and resolved: what the engine reads.
#[derive(Clone, Debug)]
pub struct Config {
    file: ConfigFile,
    /// Access tokens, validated.
    pub tokens: Vec<Token>,
    default_tz: TimeZone,
    default_queue: QueueSettings,
    /// Largest accepted event in bytes.
    pub max_event_bytes: usize,
    /// Largest accepted lead of an event's time over the clock, in ms.
    pub max_clock_skew_ms: i64,
    /// How many tenants, and names per tenant, the engine keeps.
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Config::from_file(ConfigFile::default(), None, None).expect("built-in defaults are valid")
    }
}

fn merge(base: QueueSettings, s: &Settings) -> QueueSettings {
    QueueSettings {
        sl_threshold_s: s.sl_threshold_s.unwrap_or(base.sl_threshold_s),
        short_abandon_s: s.short_abandon_s.unwrap_or(base.short_abandon_s),
        sl_formula: s.sl_formula.unwrap_or(base.sl_formula),
        max_wait_s: s.max_wait_s.unwrap_or(base.max_wait_s),
    }
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(
        path: &Path,
        tz_override: Option<&str>,
        sl_override: Option<u32>,
    ) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Config::parse(&text, tz_override, sl_override)
            .with_context(|| format!("invalid config file {}", path.display()))
    }

    /// Parses config text; `tz_override` and `sl_override` (the command
    /// line's `--tz` and `--sl-threshold`) replace the `[defaults]` values.
    pub fn parse(
        text: &str,
        tz_override: Option<&str>,
        sl_override: Option<u32>,
    ) -> anyhow::Result<Config> {
        let file: ConfigFile = toml::from_str(text)?;
        Config::from_file(file, tz_override, sl_override)
    }

    pub fn from_file(
        mut file: ConfigFile,
        tz_override: Option<&str>,
        sl_override: Option<u32>,
    ) -> anyhow::Result<Config> {
        if let Some(tz) = tz_override {
            file.defaults.tz = Some(tz.to_string());
        }
        if let Some(sl) = sl_override {
            file.defaults.sl_threshold_s = Some(sl);
        }
        if let Some(q) = file.defaults.queues.keys().next() {
            bail!("defaults.queues.{q}: queues are set per tenant, in [tenants.NAME.queues.{q}]");
        }
        if let Some(m) = file.defaults.members.keys().next() {
            bail!(
                "defaults.members.`{m}`: members are named per tenant, in [tenants.NAME.members]"
            );
        }
        let interval_ok = |at: &str, m: Option<u32>| match m {
            Some(m) if !INTERVAL_MINUTES.contains(&m) => {
                bail!("{at}.interval_minutes must be 15, 30 or 60, got {m}")
            }
            _ => Ok(()),
        };
        interval_ok("defaults", file.defaults.interval_minutes)?;
        for (name, t) in &file.tenants {
            interval_ok(&format!("tenants.{name}"), t.interval_minutes)?;
        }
        let default_tz = time::zone(file.defaults.tz.as_deref().unwrap_or("UTC"))
            .map_err(anyhow::Error::msg)
            .context("defaults.tz")?;
        for (name, t) in &file.tenants {
            check_name(name).with_context(|| format!("tenant `{name}`"))?;
            if let Some(tz) = &t.tz {
                time::zone(tz)
                    .map_err(anyhow::Error::msg)
                    .with_context(|| format!("tenants.{name}.tz"))?;
            }
            for (m, f) in &t.members {
                let (agent, _) = f.resolved();
                check_name(&agent).with_context(|| format!("tenants.{name}.members.`{m}`"))?;
                anyhow::ensure!(
                    !m.contains('|'),
                    "tenants.{name}.members.`{m}`: a queue_log member has no `|`"
                );
            }
            for (q, qf) in &t.queues {
                check_name(q).with_context(|| format!("tenants.{name}.queues: queue `{q}`"))?;
                if let Some(s) = &qf.service {
                    check_name(s).with_context(|| format!("tenants.{name}.queues.{q}.service"))?;
                }
            }
        }
        let builtin = QueueSettings {
            sl_threshold_s: DEFAULT_SL_THRESHOLD_S,
            short_abandon_s: DEFAULT_SHORT_ABANDON_S,
            sl_formula: SlFormula::Offered,
            max_wait_s: DEFAULT_MAX_WAIT_S,
        };
        let default_queue = merge(builtin, &file.defaults);
        let mut tokens = Vec::new();
        for (i, t) in file.tokens.iter().enumerate() {
            let at = format!("tokens[{i}] ({:?})", t.name);
            check_name(&t.name).with_context(|| format!("{at}: name"))?;
            if let Some(tenant) = &t.tenant {
                check_name(tenant).with_context(|| format!("{at}: tenant"))?;
            }
            let sha256 = parse_sha256(&t.sha256)
                .with_context(|| format!("{at}: sha256 must be 64 hex digits"))?;
            if tokens.iter().any(|o: &Token| o.sha256 == sha256) {
                bail!("{at}: the same token hash is configured twice");
            }
            match (t.role, &t.tenant) {
                (Role::Tenant, None) => bail!("{at}: a `tenant` token needs `tenant = \"NAME\"`"),
                (Role::Admin | Role::Metrics, Some(_)) => {
                    bail!("{at}: only `tenant` tokens name a tenant")
                }
                _ => {}
            }
            let allow = t
                .allow
                .iter()
                .map(|a| {
                    parse_net(a)
                        .with_context(|| format!("{at}: `{a}` is not an IP address or CIDR range"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            tokens.push(Token {
                name: t.name.clone(),
                sha256,
                role: t.role,
                tenant: t.tenant.clone(),
                allow,
            });
        }
        let limits = &file.limits;
        let max_event_bytes = limits.max_event_bytes.unwrap_or(DEFAULT_MAX_EVENT_BYTES);
        if !(256..=16 << 20).contains(&max_event_bytes) {
            bail!("limits.max_event_bytes must be between 256 and 16777216, got {max_event_bytes}");
        }
        let skew_s = limits.max_clock_skew_s.unwrap_or(DEFAULT_MAX_CLOCK_SKEW_S);
        if skew_s > 7 * 86_400 {
            bail!("limits.max_clock_skew_s must be at most 604800 (a week), got {skew_s}");
        }
        let max_clock_skew_ms = skew_s as i64 * 1000;
        let d = Limits::default();
        let limits = Limits {
            tenants: limits.max_tenants.unwrap_or(d.tenants),
            services: limits.max_services.unwrap_or(d.services),
            queues: limits.max_queues.unwrap_or(d.queues),
            agents: limits.max_agents.unwrap_or(d.agents),
            reasons: limits.max_reasons.unwrap_or(d.reasons),
        };
        Ok(Config {
            tokens,
            file,
            default_tz,
            default_queue,
            max_event_bytes,
            max_clock_skew_ms,
            limits,
        })
    }

    /// The `[limits]` section as written.
    pub fn limits(&self) -> &LimitsFile {
        &self.file.limits
    }

    /// Resolved settings of a tenant (named in the file or not).
    pub fn tenant(&self, name: &str) -> TenantSettings {
        let default_thresholds = self.file.defaults.thresholds.unwrap_or(Thresholds::DEFAULT);
        let Some(t) = self.file.tenants.get(name) else {
            return TenantSettings {
                thresholds: default_thresholds,
                tz: self.default_tz.clone(),
                queue_defaults: self.default_queue,
                queues: BTreeMap::new(),
                members: BTreeMap::new(),
                interval_minutes: self.default_interval(),
            };
        };
        let tz =
            t.tz.as_deref()
                .and_then(|z| time::zone(z).ok())
                .unwrap_or_else(|| self.default_tz.clone());
        let queue_defaults = merge(self.default_queue, t);
        let queues = t
            .queues
            .iter()
            .map(|(q, qf)| {
                let s = QueueSettings {
                    sl_threshold_s: qf.sl_threshold_s.unwrap_or(queue_defaults.sl_threshold_s),
                    short_abandon_s: qf.short_abandon_s.unwrap_or(queue_defaults.short_abandon_s),
                    sl_formula: qf.sl_formula.unwrap_or(queue_defaults.sl_formula),
                    max_wait_s: qf.max_wait_s.unwrap_or(queue_defaults.max_wait_s),
                };
                (q.clone(), (qf.service.clone(), s))
            })
            .collect();
        TenantSettings {
            thresholds: t.thresholds.unwrap_or(default_thresholds),
            tz,
            queue_defaults,
            queues,
            members: t
                .members
                .iter()
                .map(|(m, f)| (m.clone(), f.resolved()))
                .collect(),
            interval_minutes: t.interval_minutes.unwrap_or(self.default_interval()),
        }
    }

    /// The longest any queue of any tenant the file names lets a call
    /// wait (its `max_wait_s`; 0, never, counts as the default), in ms.
    pub fn longest_max_wait_ms(&self) -> i64 {
        let mut most = self.default_queue.max_wait_s;
        for name in self.file.tenants.keys() {
            let t = self.tenant(name);
            most = most.max(t.queue_defaults.max_wait_s);
            for (_, s) in t.queues.values() {
                most = most.max(s.max_wait_s);
            }
        }
        if most == 0 {
            most = DEFAULT_MAX_WAIT_S;
        }
        i64::from(most) * 1000
    }

    fn default_interval(&self) -> u32 {
        self.file
            .defaults
            .interval_minutes
            .unwrap_or(DEFAULT_INTERVAL_MINUTES)
    }

    /// Gives a tenant the file does not name its own time zone (simulated
    /// tenants keep the zone their traffic follows). Returns false when the
    /// file names the tenant (its settings win) or the zone is unknown.
    pub fn default_tenant_tz(&mut self, tenant: &str, tz: &str) -> bool {
        if self.file.tenants.contains_key(tenant) || time::zone(tz).is_err() {
            return false;
        }
        self.file.tenants.insert(
            tenant.to_string(),
            TenantFile {
                tz: Some(tz.to_string()),
                ..TenantFile::default()
            },
        );
        true
    }

    /// The file's `[serve]` section.
    pub fn serve(&self) -> &ServeLayer {
        &self.file.serve
    }

    /// Tenants the file names, sorted.
    pub fn tenant_names(&self) -> impl Iterator<Item = &str> {
        self.file.tenants.keys().map(String::as_str)
    }

    pub fn shared(self) -> Arc<Config> {
        Arc::new(self)
    }
}

/// Names are 1 to 128 bytes of UTF-8 with no control character, as every
/// entrance checks them (see [`crate::event::check_text`]).
pub fn check_name(name: &str) -> anyhow::Result<()> {
    crate::event::check_text("name", name, true).map_err(anyhow::Error::msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
        [defaults]
        tz = "Asia/Seoul"
        sl_threshold_s = 30

        [tenants.acme]
        short_abandon_s = 5
        [tenants.acme.queues.vip]
        service = "sales"
        sl_threshold_s = 10
        sl_formula = "answered"

        [tenants.globex]
        tz = "Europe/Berlin"
    "#;

    #[test]
    fn a_name_with_a_control_character_is_refused() {
        let e = Config::parse("[tenants.\"ac\\u0000me\"]\n", None, None).unwrap_err();
        assert!(format!("{e:#}").contains("control characters"), "{e:#}");
        let e = Config::parse(
            "[tenants.acme.queues.\"q\\nline\"]\nservice = \"sales\"\n",
            None,
            None,
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("control characters"), "{e:#}");
    }

    #[test]
    fn queue_overrides_tenant_overrides_defaults() {
        let c = Config::parse(SAMPLE, None, None).unwrap();
        let acme = c.tenant("acme");
        assert_eq!(acme.tz.iana_name(), Some("Asia/Seoul"));
        assert_eq!(acme.queue_defaults.sl_threshold_s, 30);
        assert_eq!(acme.queue_defaults.short_abandon_s, 5);
        let (svc, vip) = &acme.queues["vip"];
        assert_eq!(svc.as_deref(), Some("sales"));
        assert_eq!(
            *vip,
            QueueSettings {
                sl_threshold_s: 10,
                short_abandon_s: 5,
                sl_formula: SlFormula::Answered,
                max_wait_s: DEFAULT_MAX_WAIT_S,
            }
        );
        assert_eq!(c.tenant("globex").tz.iana_name(), Some("Europe/Berlin"));
        assert_eq!(c.tenant("unnamed").tz.iana_name(), Some("Asia/Seoul"));
    }

    #[test]
    fn command_line_overrides_replace_defaults_only() {
        let c = Config::parse(SAMPLE, Some("UTC"), Some(15)).unwrap();
        assert_eq!(c.tenant("unnamed").tz.iana_name(), Some("UTC"));
        assert_eq!(c.tenant("unnamed").queue_defaults.sl_threshold_s, 15);
        assert_eq!(c.tenant("globex").tz.iana_name(), Some("Europe/Berlin"));
        assert_eq!(c.tenant("acme").queues["vip"].1.sl_threshold_s, 10);
    }

    #[test]
    fn tokens_are_validated() {
        let hash = "a".repeat(64);
        let ok = format!(
            "[[tokens]]\nname = \"wall\"\nsha256 = \"{hash}\"\nrole = \"tenant\"\ntenant = \"acme\"\nallow = [\"10.0.0.0/8\", \"127.0.0.1\"]"
        );
        let c = Config::parse(&ok, None, None).unwrap();
        assert_eq!(c.tokens.len(), 1);
        assert_eq!(c.tokens[0].allow.len(), 2);
        for (bad, says) in [
            ("sha256 = \"abc\"\nrole = \"admin\"", "64 hex"),
            (
                &*format!("sha256 = \"{hash}\"\nrole = \"tenant\""),
                "needs `tenant",
            ),
            (
                &*format!("sha256 = \"{hash}\"\nrole = \"admin\"\nallow = [\"nowhere\"]"),
                "not an IP",
            ),
        ] {
            let e =
                Config::parse(&format!("[[tokens]]\nname = \"x\"\n{bad}"), None, None).unwrap_err();
            assert!(format!("{e:#}").contains(says), "{e:#}");
        }
    }

    #[test]
    fn errors_name_the_bad_setting() {
        let e = Config::parse("[tenants.a]\ntz = \"Mars/Olympus\"", None, None).unwrap_err();
        assert!(format!("{e:#}").contains("tenants.a.tz"), "{e:#}");
        assert!(format!("{e:#}").contains("Mars/Olympus"), "{e:#}");
        let e = Config::parse("[defaults]\nsl_treshold_s = 3", None, None).unwrap_err();
        assert!(format!("{e:#}").contains("sl_treshold_s"), "{e:#}");
        let e = Config::parse("[tenants.a.queues.q]\nsl_formula = \"x\"", None, None).unwrap_err();
        assert!(format!("{e:#}").contains("sl_formula"), "{e:#}");
        let e = Config::parse("[defaults.queues.q]\nsl_threshold_s = 3", None, None).unwrap_err();
        assert!(format!("{e:#}").contains("per tenant"), "{e:#}");
    }
}
