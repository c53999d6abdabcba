//! Standing facts: what outlives the two days the engine keeps.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// What a tenant's state holds that is older than the two days the engine
/// keeps, as of a local midnight (`as_of`, the start of yesterday): each
/// agent's state, membership and name with the versions that set them,
/// and the callbacks still open then. Restored before the events from
/// `as_of` on are read again, it makes those events give the state that
/// reading the whole log would (see `Tenant::standing`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Standing {
    /// Format version: 1.
    pub v: u8,
    pub tenant: Arc<str>,
    /// The instant the facts are as of (ms since the epoch).
    pub as_of: i64,
    #[serde(default)]
    pub agents: Vec<StandingAgent>,
    #[serde(default)]
    pub callbacks: Vec<StandingCallback>,
}

/// When an attribute was set: the event time (ms) and the hashes of the
/// ids of the events of that time that set it (the tie rule).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct StandingVersion {
    pub ts: i64,
    pub ids: Vec<u64>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct StandingAgent {
    pub agent: Arc<str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StandingState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<StandingServices>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<StandingName>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct StandingState {
    pub state: crate::event::AgentState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Arc<str>>,
    /// When the state began (ms).
    pub since: i64,
    pub ver: StandingVersion,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct StandingServices {
    pub services: Vec<Arc<str>>,
    pub ver: StandingVersion,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct StandingName {
    pub name: Option<Arc<str>>,
    pub ver: StandingVersion,
}

/// A callback open at `as_of`: requested before it and not closed then.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct StandingCallback {
    pub callback: Arc<str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Arc<str>>,
    /// The local day it was requested (days since 1970-01-01).
    pub day: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<Arc<str>>,
    pub assigned_ever: bool,
    /// The `ts` of its earliest assignment (absent in facts written before
    /// it was kept: `assigned_ever` then says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_at: Option<i64>,
    /// The `ts` of its newest assignment or unassignment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_at: Option<i64>,
    /// First seen by another event than its `callback.requested`, which had
    /// not come yet.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub awaiting_request: bool,
}
