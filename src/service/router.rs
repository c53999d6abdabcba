//! The `Router`: the one way into the shards. It sends each event to the
//! shard that owns its tenant, asks the shards for what they hold, and
//! carries each source's status to the hub and every shard.

use std::sync::Arc;

use tokio::sync::mpsc;
use xxhash_rust::xxh3::xxh3_64;

use super::feed::SourceId;
use super::hub::Hub;
use super::shard::Input;
use crate::decode::Reject;
use crate::engine::{Census, Whole};
use crate::event::{Event, Source};
use crate::telemetry::{Recovering, Signal, SourceFailing};
use crate::wire::{Standing, Status};

/// Sends events to the shard that owns their tenant.
#[derive(Clone, Debug)]
pub struct Router {
    pub(super) shards: Vec<mpsc::Sender<Input>>,
    pub(super) hub: Arc<Hub>,
    /// The tenants the shards hold.
    pub(super) census: Arc<Census>,
}

/// An event the engine refused (past a bound, or of a closed day): it
/// changed nothing.
#[derive(Debug)]
pub struct Refused {
    /// Its place among the events sent.
    pub index: usize,
    pub reject: Reject,
    pub event: Event<'static>,
}

/// Events handed to their shards, whose answers are still to come.
#[derive(Debug, Default)]
pub struct Pending {
    /// Per shard: the places of its events among those sent, and its answer.
    answers: Vec<(Vec<usize>, tokio::sync::oneshot::Receiver<Vec<Refused>>)>,
    /// What was refused of the events already answered.
    refused: Vec<Refused>,
}

impl Pending {
    /// The events the engine refused, by their place among those sent.
    pub async fn refused(self) -> Result<Vec<Refused>, Closed> {
        let mut refused = self.refused;
        for (places, answer) in self.answers {
            for mut r in answer.await.map_err(|_| Closed)? {
                r.index = places[r.index];
                refused.push(r);
            }
        }
        refused.sort_by_key(|r| r.index);
        Ok(refused)
    }
}

/// The shard task is gone (the service is stopping).
#[derive(Debug, thiserror::Error)]
#[error("the engine is shutting down")]
pub struct Closed;

impl Router {
    pub fn shard_of(&self, tenant: &str) -> usize {
        (xxh3_64(tenant.as_bytes()) % self.shards.len() as u64) as usize
    }

    /// Items split by the shard of their tenant, in their order: each
    /// shard that has any, with its items.
    fn per_shard<T>(&self, items: Vec<T>, tenant: impl Fn(&T) -> &str) -> Vec<(usize, Vec<T>)> {
        if self.shards.len() == 1 {
            return if items.is_empty() {
                Vec::new()
            } else {
                vec![(0, items)]
            };
        }
        let mut per: Vec<Vec<T>> = (0..self.shards.len()).map(|_| Vec::new()).collect();
        for item in items {
            per[self.shard_of(tenant(&item))].push(item);
        }
        per.into_iter()
            .enumerate()
            .filter(|(_, items)| !items.is_empty())
            .collect()
    }

    /// Sends items to the shards of their tenants, each shard's as one input.
    async fn to_shards<T>(
        &self,
        items: Vec<T>,
        tenant: impl Fn(&T) -> &str,
        input: impl Fn(Vec<T>) -> Input,
    ) -> Result<(), Closed> {
        for (i, items) in self.per_shard(items, tenant) {
            self.shards[i]
                .send(input(items))
                .await
                .map_err(|_| Closed)?;
        }
        Ok(())
    }

    /// Routes events to their shards, keeping each tenant's order.
    pub async fn send(&self, source: Source, events: Vec<Event<'static>>) -> Result<(), Closed> {
        self.send_whole(source, events, None).await
    }

    /// [`Router::send`], from a source that promises `whole` of the
    /// tenants it brings (see [`Whole`]; `None`: the shard decides).
    pub async fn send_whole(
        &self,
        source: Source,
        events: Vec<Event<'static>>,
        whole: Option<Whole>,
    ) -> Result<(), Closed> {
        // As in `submit`: the first event of a tenant no shard holds waits
        // until those before it are applied, and is applied before those
        // after it, so that tenants are made in the stream's order (a
        // read-back of the event log makes the same tenants as the
        // requests did).
        let mut events = events;
        let input = |events| Input::Events {
            source,
            events,
            whole,
            reply: None,
        };
        while let Some(cut) = self.first_new_tenant(&events, |ev| &ev.tenant) {
            let mut rest = events.split_off(cut);
            let after = rest.split_off(1);
            self.to_shards(events, |ev| &ev.tenant, input).await?;
            self.applied().await?;
            self.to_shards(rest, |ev| &ev.tenant, input).await?;
            self.applied().await?;
            events = after;
        }
        self.to_shards(events, |ev| &ev.tenant, input).await
    }

    /// Waits until every shard has handled what was sent to it before.
    async fn applied(&self) -> Result<(), Closed> {
        let mut answers = Vec::new();
        for s in &self.shards {
            let (done, answer) = tokio::sync::oneshot::channel();
            s.send(Input::Barrier(done)).await.map_err(|_| Closed)?;
            answers.push(answer);
        }
        for a in answers {
            a.await.map_err(|_| Closed)?;
        }
        Ok(())
    }

    /// [`Router::send_whole`], answered once the engine has applied them:
    /// the events it refused (past a bound, of a closed day), by their
    /// place in `events`. The caller counts them (`EventsRejected`).
    pub async fn apply(
        &self,
        source: Source,
        events: Vec<Event<'static>>,
        whole: Option<Whole>,
    ) -> Result<Vec<Refused>, Closed> {
        self.submit(source, events, whole).await?.refused().await
    }

    /// [`Router::apply`] in two steps: the events are handed to their
    /// shards now, and the answer is awaited when the caller wants it (a
    /// reader goes on reading meanwhile).
    pub async fn submit(
        &self,
        source: Source,
        events: Vec<Event<'static>>,
        whole: Option<Whole>,
    ) -> Result<Pending, Closed> {
        let mut indexed: Vec<(usize, Event<'static>)> = events.into_iter().enumerate().collect();
        let mut pending = Pending {
            answers: Vec::new(),
            refused: Vec::new(),
        };
        // A tenant is made (or refused, past the bound) by its first event
        // in the order of the stream, as in a replay: events from the first
        // of a tenant the shards do not hold on wait until all before them
        // are applied. Only the first event of a new tenant waits.
        while let Some(cut) = self.first_new_tenant(&indexed, |(_, ev)| &ev.tenant) {
            let mut rest = indexed.split_off(cut);
            self.hand_over(source, indexed, whole, &mut pending).await?;
            let done = std::mem::take(&mut pending).refused().await?;
            pending.refused = done;
            // The new tenant's event goes alone, and is waited for too.
            let after = rest.split_off(1);
            self.hand_over(source, rest, whole, &mut pending).await?;
            let done = std::mem::take(&mut pending).refused().await?;
            pending.refused = done;
            indexed = after;
        }
        self.hand_over(source, indexed, whole, &mut pending).await?;
        Ok(pending)
    }

    /// Where the first event of a tenant that no shard holds is, if any
    /// (with one shard, order is kept anyway: `None`).
    fn first_new_tenant<T>(&self, items: &[T], tenant: impl Fn(&T) -> &str) -> Option<usize> {
        if self.shards.len() == 1 {
            return None;
        }
        let mut last: Option<&str> = None;
        items.iter().position(|item| {
            let t = tenant(item);
            if last == Some(t) {
                return false;
            }
            last = Some(t);
            !self.census.knows(t)
        })
    }

    /// Hands events to their shards, adding their answers to `pending`.
    async fn hand_over(
        &self,
        source: Source,
        indexed: Vec<(usize, Event<'static>)>,
        whole: Option<Whole>,
        pending: &mut Pending,
    ) -> Result<(), Closed> {
        for (i, items) in self.per_shard(indexed, |(_, ev)| &ev.tenant) {
            let (places, events): (Vec<usize>, Vec<Event<'static>>) = items.into_iter().unzip();
            let (reply, answer) = tokio::sync::oneshot::channel();
            self.shards[i]
                .send(Input::Events {
                    source,
                    events,
                    whole,
                    reply: Some(reply),
                })
                .await
                .map_err(|_| Closed)?;
            pending.answers.push((places, answer));
        }
        Ok(())
    }

    /// A source's status changed: the one path by which readiness, the
    /// `recovering` gauge and the shards' publishing (held while any source
    /// rebuilds) learn of it.
    pub async fn status(&self, source: &SourceId, status: Status) -> Result<(), Closed> {
        let all = self.hub.set_status(source, status);
        Recovering(all == Status::Recovering).emit();
        for s in &self.shards {
            s.send(Input::Status(all)).await.map_err(|_| Closed)?;
        }
        Ok(())
    }

    /// Restores tenants' standing facts, each in its shard, before any
    /// event sent after this call.
    pub async fn restore(&self, standings: Vec<Standing>) -> Result<(), Closed> {
        self.to_shards(standings, |s| &s.tenant, Input::Restore)
            .await
    }

    /// The standing facts of these tenants now (of those the engine holds).
    pub async fn standings(&self, tenants: Vec<Arc<str>>) -> Result<Vec<Standing>, Closed> {
        let mut out = Vec::new();
        for (i, tenants) in self.per_shard(tenants, |t| t) {
            let (reply, answer) = tokio::sync::oneshot::channel();
            self.shards[i]
                .send(Input::Standings { tenants, reply })
                .await
                .map_err(|_| Closed)?;
            out.extend(answer.await.map_err(|_| Closed)?);
        }
        Ok(out)
    }

    /// A source that feeds one tenant (a site's queue_log) fails, with its
    /// error, or works again (`None`): the hub tells it (readiness,
    /// `/metrics`), and the tenant is shown stale while it fails, with
    /// the state it has (created empty if it has none, so its board says
    /// stale, not unknown). Other tenants are not touched.
    pub async fn source_failing(
        &self,
        source: &SourceId,
        tenant: &str,
        error: Option<String>,
    ) -> Result<(), Closed> {
        let failing = error.is_some();
        let all = self.hub.set_failure(source, error);
        SourceFailing {
            source: &source.to_string(),
            failing,
        }
        .emit();
        Recovering(all == Status::Recovering).emit();
        // A source that failed in its rebuild rebuilds no more.
        for s in &self.shards {
            s.send(Input::Status(all)).await.map_err(|_| Closed)?;
        }
        let tenant: Arc<str> = Arc::from(tenant);
        self.shards[self.shard_of(&tenant)]
            .send(Input::TenantFailing { tenant, failing })
            .await
            .map_err(|_| Closed)
    }

    /// Drops tenants' state; their snapshots are released (see
    /// [`Hub::release`]).
    pub async fn forget(&self, tenants: Vec<Arc<str>>) -> Result<(), Closed> {
        self.to_shards(tenants, |t| t, Input::Forget).await
    }
}
