//! A shard: one task that owns an engine (the state of some tenants) and is
//! its only writer. Sources send it events; it publishes the snapshots of
//! changed tenants to the hub on a cadence, and of every tenant once a second
//! (waiting times and time in state grow without events).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::hub::Hub;
pub use super::router::{Closed, Pending, Refused, Router};
use crate::config::Config;
use crate::decode::refusal;
use crate::engine::{Census, Engine, HistoryBatch, Limit, Outcome, Whole};
use crate::event::{Event, Source};
use crate::telemetry::{
    CallsExpired, EventsApplied, EventsRejected, HistoryRoundDeferred, PublishRound, Signal,
    SnapshotPublished, Told,
};
use crate::time::now_ms;
use crate::wire::{Standing, Status};

/// What a shard is told.
#[derive(Debug)]
pub enum Input {
    Events {
        source: Source,
        events: Vec<Event<'static>>,
        /// What the source promises of the tenants these events create;
        /// `None`: the shard decides (see `Whole`): from yesterday during
        /// a rebuild, everything otherwise.
        whole: Option<Whole>,
        /// Told the events the engine refused, by their place in `events`.
        reply: Option<tokio::sync::oneshot::Sender<Vec<Refused>>>,
    },
    /// While recovering, the shard applies but does not publish.
    Status(Status),
    /// Drop these tenants' state (their partition moved to another member).
    Forget(Vec<Arc<str>>),
    /// Tenants' standing facts, before the events of a rebuild that reads
    /// only the last two days.
    Restore(Vec<Standing>),
    /// A tenant's own source fails (`true`: it is shown stale, whatever the
    /// service's status; its state is kept) or works again.
    TenantFailing { tenant: Arc<str>, failing: bool },
    /// Answered once every input sent before it is handled.
    Barrier(tokio::sync::oneshot::Sender<()>),
    /// The standing facts of these tenants now (those this shard holds).
    Standings {
        tenants: Vec<Arc<str>>,
        reply: tokio::sync::oneshot::Sender<Vec<Standing>>,
    },
}

/// Where a shard gives the interval rows changed since its last round (the
/// history writer's channel); bounded, and never waited on.
pub type HistorySink = mpsc::Sender<Vec<HistoryBatch>>;

/// How often a shard gives its changed interval rows to the history store.
pub const HISTORY_EVERY: Duration = Duration::from_secs(5);

/// Starts `n` shards, each on a thread of its own; returns the router that
/// feeds them, or why a thread could not be started. The tracker waits for
/// each to publish its last state.
pub fn start(
    n: usize,
    config: Arc<Config>,
    hub: Arc<Hub>,
    cadence: Duration,
    history: Option<HistorySink>,
    tracker: &tokio_util::task::TaskTracker,
    shutdown: CancellationToken,
) -> std::io::Result<Router> {
    // The deployment's bound on tenants holds across shards.
    let census = Arc::new(Census::default());
    let shards = (0..n.max(1))
        .map(|id| {
            // Bounded: a source that outruns the engine waits (backpressure).
            let (tx, rx) = mpsc::channel(1024);
            let shard = Shard {
                id,
                failing: HashSet::new(),
                engine: {
                    let engine = Engine::sharing(config.clone(), census.clone());
                    if history.is_some() {
                        engine.keeping_closed_days()
                    } else {
                        engine
                    }
                },
                limits_hit: LimitsHit::default(),
                hub: hub.clone(),
                status: Status::Live,
                steady: Steady::default(),
                cadence,
                history: history.clone(),
            };
            // A thread of its own: publishing every tenant once a second is
            // CPU work that would otherwise hold an async worker, and with it
            // health checks and websockets, for as long as it takes.
            let (done, stopped) = tokio::sync::oneshot::channel::<()>();
            let shutdown = shutdown.clone();
            std::thread::Builder::new()
                .name(format!("shard-{id}"))
                .spawn(move || {
                    match tokio::runtime::Builder::new_current_thread()
                        .enable_time()
                        .build()
                    {
                        Ok(rt) => rt.block_on(shard.run(rx, shutdown)),
                        Err(e) => tracing::error!(error = %e, shard = id, "a shard's runtime cannot be built"),
                    }
                    let _ = done.send(());
                })?;
            tracker.spawn(async move {
                let _ = stopped.await;
            });
            Ok(tx)
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    Ok(Router {
        shards,
        hub,
        census,
    })
}

/// Limits reached, told in the log at most once a minute each (not once an
/// event: a flood would flood the log too).
#[derive(Default)]
struct LimitsHit(std::collections::HashMap<Limit, Told>);

impl LimitsHit {
    fn note(&mut self, limit: Limit, tenant: &str) {
        let Some(refused) = self.0.entry(limit).or_default().due() else {
            return;
        };
        tracing::warn!(
            limit = limit.as_str(),
            tenant,
            refused,
            "events refused: a new one of the {} would pass [limits] max_{} (told once a minute)",
            limit.as_str(),
            limit.as_str()
        );
    }
}

/// While a source rebuilds: the tenants that were being published when it
/// began, and how. They go on being published; only the tenants the
/// rebuild brings (a partition newly assigned, a log read again) are held
/// until it ends.
struct Steady {
    tenants: HashSet<Arc<str>>,
    status: Status,
}

impl Default for Steady {
    fn default() -> Steady {
        Steady {
            tenants: HashSet::new(),
            status: Status::Live,
        }
    }
}

struct Shard {
    id: usize,
    engine: Engine,
    /// Tenants whose own source fails: shown stale.
    failing: HashSet<Arc<str>>,
    limits_hit: LimitsHit,
    hub: Arc<Hub>,
    status: Status,
    steady: Steady,
    cadence: Duration,
    history: Option<HistorySink>,
}

impl Shard {
    async fn run(mut self, mut rx: mpsc::Receiver<Input>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.cadence);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Every tenant is published once a second: every `full_every` ticks
        // (counted, not timed, so clock jitter cannot skip one).
        let full_every = (1000 / self.cadence.as_millis().max(1)).max(1) as u32;
        let mut ticks = 0u32;
        let mut history = tokio::time::interval(HISTORY_EVERY);
        history.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(msg) => self.handle(msg),
                    None => break,
                },
                _ = tick.tick() => {
                    ticks += 1;
                    let full = ticks >= full_every;
                    if full {
                        ticks = 0;
                    }
                    self.publish(full);
                }
                _ = history.tick(), if self.history.is_some() => self.give_history(),
                _ = shutdown.cancelled() => break,
            }
        }
        // Whatever was applied last is published before the task ends.
        while let Ok(msg) = rx.try_recv() {
            self.handle(msg);
        }
        self.publish(true);
        // The last rows are waited for: the writer is still running.
        if let Some(tx) = self.history.take()
            && self.status != Status::Recovering
        {
            let batches = self.engine.take_history(now_ms());
            if !batches.is_empty() {
                let _ = tx.send(batches).await;
            }
        }
        tracing::debug!(shard = self.id, "shard stopped");
    }

    /// Gives the interval rows changed since the last round to the history
    /// writer, if it has room; otherwise they stay marked for the next
    /// round. Not while recovering: the rebuild's end gives them all.
    fn give_history(&mut self) {
        let Some(tx) = &self.history else { return };
        if self.status == Status::Recovering {
            return;
        }
        let closed = match tx.try_reserve() {
            Ok(permit) => {
                let batches = self.engine.take_history(now_ms());
                if !batches.is_empty() {
                    permit.send(batches);
                }
                false
            }
            Err(mpsc::error::TrySendError::Full(())) => {
                HistoryRoundDeferred.emit();
                false
            }
            Err(mpsc::error::TrySendError::Closed(())) => true,
        };
        if closed {
            self.history = None;
        }
    }

    fn handle(&mut self, msg: Input) {
        match msg {
            Input::Events {
                source,
                events,
                whole,
                reply,
            } => {
                // A tenant a rebuild brings holds every event from the start
                // of yesterday on: the rebuild reads no further back.
                self.engine.set_whole(match whole {
                    Some(whole) => whole,
                    None if self.status == Status::Recovering => Whole::FromYesterday(now_ms()),
                    None => Whole::Everything,
                });
                let mut applied = EventsApplied::new(source);
                let mut refused = Vec::new();
                for (index, ev) in events.into_iter().enumerate() {
                    let outcome = self.engine.apply(&ev);
                    match outcome {
                        Outcome::Applied => applied.applied += 1,
                        Outcome::Duplicate => applied.duplicate += 1,
                        Outcome::Late => applied.late += 1,
                        Outcome::OverLimit(limit) => self.limits_hit.note(limit, &ev.tenant),
                        Outcome::NoEffect(_) => {}
                    }
                    match refusal(outcome) {
                        // Told to the sender, which counts it (or knows it
                        // counted it before: a message read again).
                        Some(reject) if reply.is_some() => refused.push(Refused {
                            index,
                            reject,
                            event: ev,
                        }),
                        Some(reject) => EventsRejected::one(source, reject.reason).emit(),
                        None if matches!(outcome, Outcome::NoEffect(_)) => applied.no_effect += 1,
                        None => {}
                    }
                }
                applied.emit();
                if let Some(reply) = reply {
                    let _ = reply.send(refused);
                }
            }
            Input::Status(status) => {
                let was = self.status;
                self.status = status;
                if status == Status::Recovering && was != Status::Recovering {
                    self.steady = Steady {
                        tenants: self.engine.tenant_names().into_iter().collect(),
                        status: was,
                    };
                } else if status != Status::Recovering {
                    self.steady = Steady::default();
                }
                if was != status {
                    self.publish(true);
                }
            }
            Input::Forget(tenants) => {
                for t in tenants {
                    self.steady.tenants.remove(&t);
                    self.engine.remove_tenant(&t);
                    self.hub.release(&t);
                }
            }
            Input::Restore(standings) => {
                for s in &standings {
                    self.engine.restore(s);
                }
            }
            Input::TenantFailing { tenant, failing } => {
                self.engine.tenant_mut(&tenant).dirty = true;
                if failing {
                    self.failing.insert(tenant);
                } else {
                    self.failing.remove(&tenant);
                }
            }
            Input::Barrier(done) => {
                let _ = done.send(());
            }
            Input::Standings { tenants, reply } => {
                let now = now_ms();
                let out = tenants
                    .iter()
                    .filter_map(|t| self.engine.standing(t, now))
                    .collect();
                let _ = reply.send(out);
            }
        }
    }

    /// Publishes changed tenants (or all of them); while a source rebuilds,
    /// only the steady ones (the others are published whole when it ends).
    fn publish(&mut self, all: bool) {
        let recovering = self.status == Status::Recovering;
        if recovering && self.steady.tenants.is_empty() {
            return;
        }
        let started = Instant::now();
        let now = now_ms();
        let steady = &self.steady.tenants;
        // Calls whose end event is overdue are counted as exited by the
        // snapshots built at `now`, never let go by the clock: only a
        // tenant's own events do that, so a backlog counts as replay does.
        let expired = self.engine.take_expired();
        CallsExpired {
            waiting: expired.waiting,
            answered: expired.answered,
        }
        .emit();
        let mut names = if all {
            self.engine.take_dirty();
            self.engine.tenant_names()
        } else {
            self.engine.take_dirty()
        };
        let status = if recovering {
            names.retain(|t| steady.contains(t));
            self.steady.status
        } else {
            self.status
        };
        for name in &names {
            let status = if self.failing.contains(name) {
                Status::Stale
            } else {
                status
            };
            if let Some(s) = self.engine.snapshot(name, now, status) {
                SnapshotPublished(&s).emit();
                self.hub.publish(s);
            }
        }
        if !names.is_empty() {
            PublishRound {
                took: started.elapsed(),
            }
            .emit();
        }
    }
}

#[cfg(test)]
mod tests;
