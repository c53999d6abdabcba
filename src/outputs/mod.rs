//! Where snapshots go: REST, websocket, the board's files, Prometheus.
//! Outputs read the hub; they know nothing of Kafka or of the engine.

pub mod messages;
pub mod prometheus;
pub mod rest;
pub mod web;
pub mod ws;

use std::time::Duration;

/// The board's views that list agents: they get the snapshot whole.
const VIEWS_WITH_AGENTS: [&str; 3] = ["agent-list", "agent-stats", "full"];
/// The views that list none: they get it without `agent_list`, most of a
/// large tenant's snapshot.
const VIEWS_WITHOUT_AGENTS: [&str; 5] = [
    "overview",
    "services",
    "agents",
    "dashboard",
    "waiting-calls",
];

/// Whether a client asking for `view` (`?view=`, a board view's name) gets
/// the agent list; no view is the whole snapshot.
pub fn view_wants_agents(view: Option<&str>) -> Result<bool, crate::http::ApiError> {
    match view {
        None => Ok(true),
        Some(v) if VIEWS_WITH_AGENTS.contains(&v) => Ok(true),
        Some(v) if VIEWS_WITHOUT_AGENTS.contains(&v) => Ok(false),
        Some(v) => Err(crate::http::ApiError::BadRequest(format!(
            "unknown view `{v}`: one of {} (without the agent list), or {} (with it)",
            VIEWS_WITHOUT_AGENTS.join(", "),
            VIEWS_WITH_AGENTS.join(", ")
        ))),
    }
}

/// How often a websocket client of `view` may be sent a snapshot (`None`:
/// each one published). The board's agent views take about one a second:
/// a large tenant's agent list is most of its bytes (a 2,000-agent
/// tenant's, compressed, is 139 KB a message), its durations are whole
/// seconds and the board advances them itself between messages. A client
/// of the whole snapshot (`full`, or no view) gets every one.
///
/// 0.9 s rather than 1 s: at the default 250 ms cadence that is still
/// every fourth snapshot, and at a one-a-second cadence each snapshot goes
/// out as it is published instead of waiting most of a second for the
/// client's own rhythm.
pub fn view_every(view: Option<&str>) -> Option<Duration> {
    matches!(view, Some("agent-list" | "agent-stats")).then_some(Duration::from_millis(900))
}
