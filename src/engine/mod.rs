//! The engine: per-tenant state, the rules that apply events to it, and the
//! snapshots built from it.
//!
//! It does no I/O and reads no clock: events carry their time, and the caller
//! says what "now" is when it asks for a snapshot. The same engine runs under
//! `callboard replay` and the service.

pub mod erlang;
mod ring;
mod snapshot;
pub use snapshot::{mean_s, ratio, sl_base};
mod tenant;

use std::sync::Arc;
use std::sync::RwLock;

use hashbrown::HashMap;

pub use tenant::{Expired, Tenant, Whole};

use crate::config::Config;
use crate::event::Event;
use crate::time::Millis;
use crate::wire::{Snapshot, Status};

/// What applying an event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The event changed the state.
    Applied,
    /// An event with this id was applied before.
    Duplicate,
    /// An agent event older than what the agent already shows.
    Late,
    /// A valid event that changes nothing, for the reason given.
    NoEffect(NoEffect),
    /// Refused: it names a new tenant, service, queue, agent or reason past
    /// the configured bound. Changes nothing.
    OverLimit(Limit),
}

impl Outcome {
    /// Whether the event is refused (told to its sender as an error, and
    /// counted as rejected): past a bound, or of a closed day.
    pub fn is_refusal(self) -> bool {
        matches!(
            self,
            Outcome::OverLimit(_) | Outcome::NoEffect(NoEffect::TooOld)
        )
    }
}

/// Why a valid event changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NoEffect {
    /// A call event for a call the engine does not know and cannot start.
    UnknownCall,
    /// The call is not in a phase this event can follow (e.g. answered twice).
    CallNotWaiting,
    /// `call.queued` or `call.dialing` for a call already in progress, or
    /// dated before the end of the call it starts (it came late).
    CallAlreadyLive,
    /// A callback event for a callback the engine does not hold.
    UnknownCallback,
    /// `callback.requested` for a callback already known.
    CallbackKnown,
    /// An event for a callback dated after its close (or a second close at
    /// the same time).
    CallbackClosed,
    /// A callback assignment or unassignment older than the callback's
    /// newest (or a repeat of it): its time decides, not its delivery.
    CallbackStale,
    /// A call or callback event dated before yesterday, or a wait-ending
    /// event of a call never seen queued whose `queued_ts` is: its day is
    /// closed.
    TooOld,
}

crate::event::names!(NoEffect {
    UnknownCall => "unknown_call",
    CallNotWaiting => "call_not_waiting",
    CallAlreadyLive => "call_already_live",
    UnknownCallback => "unknown_callback",
    CallbackKnown => "callback_known",
    CallbackClosed => "callback_closed",
    CallbackStale => "callback_stale",
    TooOld => "too_old",
});

/// Which bound an event would have crossed (`[limits]` in the config).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Limit {
    Tenants,
    Services,
    Queues,
    Agents,
    Reasons,
}

crate::event::names!(Limit {
    Tenants => "tenants",
    Services => "services",
    Queues => "queues",
    Agents => "agents",
    Reasons => "reasons",
});

impl Limit {}

impl NoEffect {}

/// A tenant's rows for the history store, from one look.
#[derive(Debug, Clone)]
pub struct HistoryBatch {
    pub tenant: Arc<str>,
    /// Set on the first look at a tenant's state: its agent rows from this
    /// instant on replace whatever the store holds there.
    pub restate_agents_from: Option<Millis>,
    pub rows: Vec<crate::wire::IntervalRow>,
}

/// All tenants of one shard (or of a whole replay).
#[derive(Debug)]
pub struct Engine {
    config: Arc<Config>,
    /// Tenants held by every engine of the deployment (the shards share it).
    census: Arc<Census>,
    /// Tenant name -> index into `tenants`.
    index: HashMap<Arc<str>, usize>,
    tenants: Vec<Tenant>,
    /// Where the last event's tenant was: events come in runs of one
    /// tenant, and a name compare is cheaper than a lookup. (Checked by
    /// name each time, so a tenant moved or removed is never mistaken.)
    last: usize,
    /// What the source promises of the tenants it creates (see [`Whole`]).
    whole: Whole,
    /// Whether tenants keep the rows of the days that close for the owner
    /// (the history store, `replay --intervals`).
    keep_closed: bool,
}

/// The tenants every engine of a deployment holds (the shards share it):
/// the bound on tenants is checked against it, and the router asks it
/// which tenants are new.
#[derive(Debug, Default)]
pub struct Census {
    names: RwLock<hashbrown::HashSet<Arc<str>>>,
}

impl Census {
    fn names(&self) -> std::sync::RwLockReadGuard<'_, hashbrown::HashSet<Arc<str>>> {
        self.names.read().unwrap_or_else(|e| e.into_inner())
    }

    fn names_mut(&self) -> std::sync::RwLockWriteGuard<'_, hashbrown::HashSet<Arc<str>>> {
        self.names.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether some engine holds the tenant.
    pub fn knows(&self, tenant: &str) -> bool {
        self.names().contains(tenant)
    }

    /// How many tenants the engines hold.
    pub fn len(&self) -> usize {
        self.names().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes a place for a new tenant if fewer than `limit` are held.
    fn take(&self, tenant: &str, limit: usize) -> bool {
        let mut names = self.names_mut();
        if names.len() >= limit {
            return false;
        }
        names.insert(Arc::from(tenant));
        true
    }

    /// Counts a tenant whatever the bound (one the config names).
    fn add(&self, tenant: &str) {
        self.names_mut().insert(Arc::from(tenant));
    }

    fn release(&self, tenant: &str) {
        self.names_mut().remove(tenant);
    }
}

impl Engine {
    pub fn new(config: Arc<Config>) -> Engine {
        Engine::sharing(config, Arc::default())
    }

    /// An engine counting its tenants with others' (a shard of a service).
    pub fn sharing(config: Arc<Config>, census: Arc<Census>) -> Engine {
        Engine {
            config,
            census,
            index: HashMap::new(),
            tenants: Vec::new(),
            last: 0,
            whole: Whole::Everything,
            keep_closed: false,
        }
    }

    /// Tenants keep the rows of the days that close until they are taken
    /// ([`Engine::take_history`]) or read ([`Tenant::intervals`]).
    pub fn keeping_closed_days(mut self) -> Engine {
        self.keep_closed = true;
        self
    }

    /// What the events applied from now on promise of the tenants they
    /// create (see [`Whole`]).
    pub fn set_whole(&mut self, whole: Whole) {
        self.whole = whole;
    }

    /// Applies one decoded event to its tenant. An event that would take a
    /// new tenant or name past a configured bound changes nothing.
    pub fn apply(&mut self, ev: &Event<'_>) -> Outcome {
        // One lookup at most for the tenant of nearly every event, which
        // is known.
        let last = self.tenants.get(self.last).map(|t| &*t.name);
        let found = if last == Some(&*ev.tenant) {
            Some(self.last)
        } else {
            self.index.get(&*ev.tenant).copied()
        };
        let (t, created) = match found {
            Some(i) => {
                self.last = i;
                (&mut self.tenants[i], false)
            }
            None if self.config.tenant_names().any(|t| t == ev.tenant) => {
                (self.tenant_mut(&ev.tenant), true)
            }
            None => {
                // A place among the deployment's tenants is taken in one
                // step, so shards creating tenants at once cannot pass the
                // bound together.
                if !self.census.take(&ev.tenant, self.config.limits.tenants) {
                    return Outcome::OverLimit(Limit::Tenants);
                }
                (self.create(&ev.tenant), true)
            }
        };
        let outcome = match t.over_limit(ev) {
            Some(limit) => Outcome::OverLimit(limit),
            None => t.apply(ev),
        };
        // A refused event changes nothing: a tenant its first event made
        // is not there after that event is refused (nor does it keep a
        // place among the tenants).
        if created && outcome.is_refusal() {
            self.remove_tenant(&ev.tenant);
        }
        outcome
    }

    /// Tenants changed since the last call, sorted; clears the marks.
    pub fn take_dirty(&mut self) -> Vec<Arc<str>> {
        let mut v: Vec<Arc<str>> = self
            .tenants
            .iter_mut()
            .filter_map(|t| std::mem::take(&mut t.dirty).then(|| t.name.clone()))
            .collect();
        v.sort_unstable();
        v
    }

    /// The tenant's state, created (empty, with its configured settings) if
    /// new.
    pub fn tenant_mut(&mut self, name: &str) -> &mut Tenant {
        match self.index.get(name) {
            Some(&i) => &mut self.tenants[i],
            None => {
                self.census.add(name);
                self.create(name)
            }
        }
    }

    /// A new tenant, already counted.
    fn create(&mut self, name: &str) -> &mut Tenant {
        let mut t = Tenant::new(name, self.config.tenant(name), self.config.limits);
        t.begin(self.whole, self.keep_closed);
        self.index.insert(t.name.clone(), self.tenants.len());
        self.tenants.push(t);
        self.tenants.last_mut().expect("just pushed")
    }

    /// Drops a tenant's state; true if it was there.
    pub fn remove_tenant(&mut self, name: &str) -> bool {
        let Some(i) = self.index.remove(name) else {
            return false;
        };
        self.census.release(name);
        self.tenants.swap_remove(i);
        if let Some(moved) = self.tenants.get(i) {
            self.index.insert(moved.name.clone(), i);
        }
        true
    }

    /// What the tenant's state holds from before yesterday, as of the start
    /// of yesterday (`now`'s local day before): what a rebuild that reads
    /// only the events from then on needs first.
    pub fn standing(&mut self, tenant: &str, now: Millis) -> Option<crate::wire::Standing> {
        let i = *self.index.get(tenant)?;
        Some(self.tenants[i].standing(now))
    }

    /// Restores a tenant's standing facts (the tenant is created if new).
    pub fn restore(&mut self, standing: &crate::wire::Standing) {
        self.tenant_mut(&standing.tenant).restore(standing);
    }

    pub fn tenant(&self, name: &str) -> Option<&Tenant> {
        self.index.get(name).map(|&i| &self.tenants[i])
    }

    /// Names of the tenants this engine holds, sorted.
    pub fn tenant_names(&self) -> Vec<Arc<str>> {
        let mut v: Vec<Arc<str>> = self.index.keys().cloned().collect();
        v.sort_unstable();
        v
    }

    /// A tenant's snapshot at `now`.
    pub fn snapshot(&self, tenant: &str, now: Millis, status: Status) -> Option<Snapshot> {
        self.tenant(tenant).map(|t| t.snapshot(now, status))
    }

    /// Every tenant's snapshot at `now`, sorted by tenant.
    pub fn snapshots(&self, now: Millis, status: Status) -> Vec<Snapshot> {
        self.tenant_names()
            .iter()
            .filter_map(|t| self.snapshot(t, now, status))
            .collect()
    }

    /// Lets go of calls, in every tenant, whose end event is overdue at
    /// `now` (see [`Tenant::expire`]). Figures built at `now` count them so
    /// already (see `Tenant::overdue`), so this changes no figure; the
    /// service never calls it: only events let calls go.
    pub fn expire(&mut self, now: Millis) -> Expired {
        for t in &mut self.tenants {
            t.expire(now);
        }
        self.take_expired()
    }

    /// Calls let go since the last call, in every tenant, because an event
    /// passed their deadline (or [`Engine::expire`] did).
    pub fn take_expired(&mut self) -> Expired {
        let mut total = Expired::default();
        for t in &mut self.tenants {
            let e = std::mem::take(&mut t.expired);
            total.waiting += e.waiting;
            total.answered += e.answered;
        }
        total
    }

    /// Calls, in every tenant, whose end is overdue at `now` and that the
    /// state still follows (no later event has let them go).
    pub fn overdue_count(&self, now: Millis) -> Expired {
        self.tenants
            .iter()
            .map(|t| t.overdue_count(now))
            .fold(Expired::default(), |a, b| Expired {
                waiting: a.waiting + b.waiting,
                answered: a.answered + b.answered,
            })
    }

    /// Every tenant's interval rows changed since the last call (see
    /// [`Tenant::take_changed_intervals`]).
    /// What the history store is to be given now: per tenant, the rows
    /// changed since the last look, and on the first look the instant from
    /// which its agent rows are restated whole.
    pub fn take_history(&mut self, now: Millis) -> Vec<HistoryBatch> {
        self.tenants
            .iter_mut()
            .filter_map(|t| {
                let restate_agents_from = t.restates_agents_from();
                let rows = t.take_changed_intervals(now);
                (!rows.is_empty() || restate_agents_from.is_some()).then(|| HistoryBatch {
                    tenant: t.name.clone(),
                    restate_agents_from,
                    rows,
                })
            })
            .collect()
    }

    /// Every tenant's rows of the days that closed since the last call
    /// (kept only by an engine [`Engine::keeping_closed_days`]).
    pub fn take_closed_days(&mut self) -> Vec<crate::wire::IntervalRow> {
        self.tenants
            .iter_mut()
            .filter_map(|t| t.closed.as_mut().map(std::mem::take))
            .flatten()
            .filter(|r| !r.is_empty())
            .collect()
    }

    pub fn take_changed_intervals(&mut self, now: Millis) -> Vec<crate::wire::IntervalRow> {
        self.tenants
            .iter_mut()
            .flat_map(|t| t.take_changed_intervals(now))
            .collect()
    }

    /// The latest event time applied to any tenant.
    pub fn as_of(&self) -> Option<Millis> {
        self.tenants.iter().filter_map(Tenant::as_of).max()
    }
}
