//! `[serve]`: the service's settings as one layer gives them (the file's
//! section, or the command line's flags).

use clap::builder::TypedValueParser as _;
use serde::Deserialize;

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
    /// Serve `/metrics`, `/healthz` and `/readyz` on this address too, open
    /// without a token (for a Prometheus and probes that hold none).
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
    /// Dead-letter topic for the messages refused (they do not decode,
    /// are dated ahead of the clock, or are keyed by another tenant than
    /// the one they name), each with its error; created if missing.
    /// [default: <topic>.dlq]
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
    /// Serve HTTPS and WSS on the main listener with this certificate
    /// chain (PEM); read again when it changes. Needs --tls-key.
    #[arg(long, value_name = "PEM", env = "CALLBOARD_TLS_CERT")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "PEM", env = "CALLBOARD_TLS_KEY")]
    pub tls_key: Option<std::path::PathBuf>,
    /// A TOML file of more `[[tokens]]` entries, read at start beside the
    /// config's (a mounted secret, a container's volume).
    #[arg(long, value_name = "FILE", env = "CALLBOARD_TOKENS_FILE")]
    pub tokens_file: Option<std::path::PathBuf>,
    /// When the tokens file does not exist: make it, with a new admin
    /// token whose hash it keeps, and print the token once to the log (a
    /// container's first start).
    #[arg(
        long,
        value_name = "BOOL",
        env = "CALLBOARD_INIT_ADMIN_TOKEN",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub init_admin_token: Option<bool>,
    /// Agents of each simulated tenant, at least 1. [default: 72, in three
    /// shifts]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..).map(|n| n as usize))]
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

crate::event::names!(Fsync {
    Always => "always",
    Never => "never",
});

impl Fsync {}

/// `[[serve.queue_logs]]`: an Asterisk queue_log to follow, and its tenant.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct QueueLogFile {
    pub path: std::path::PathBuf,
    pub tenant: String,
}
