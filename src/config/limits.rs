//! `[limits]`: bounds on input, each with a built-in default.

use serde::Deserialize;

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
