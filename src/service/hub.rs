//! The hub: the latest published snapshot of each tenant, for every reader.
//!
//! One `watch` channel per tenant: a reader always sees the newest value and
//! never a queue of old ones, so a slow websocket client skips to the latest
//! snapshot and can neither grow memory nor slow the shard that publishes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use dashmap::DashMap;
use tokio::sync::{mpsc, watch};

use crate::config::Scope;
use crate::service::feed::SourceId;
use crate::telemetry::{Signal, SnapshotNotShared};
use crate::wire::{Snapshot, Status};

/// A snapshot as published: numbered, and serialised once for every reader.
#[derive(Debug)]
pub struct Published {
    /// Per tenant, starting at 1 and increasing by one with each publish.
    pub seq: u64,
    pub snapshot: Snapshot,
    /// `snapshot` as JSON.
    pub json: Bytes,
    /// The websocket message carrying it: `{"type":"snapshot","seq":N,"snapshot":...}`,
    /// built once and shared by every client.
    pub message: Bytes,
    /// The whole snapshot's message, and compressed.
    whole: Arc<ViewMessage>,
    /// Messages of views (a scope's, a service's), each built by the
    /// first client that asks and shared by the others.
    views: std::sync::Mutex<std::collections::HashMap<String, Arc<ViewMessage>>>,
}

/// One view's websocket message, and the same compressed for clients that
/// took `permessage-deflate`: each made once, by the first client that asks.
#[derive(Debug)]
pub struct ViewMessage {
    pub text: Bytes,
    deflated: OnceLock<Bytes>,
}

impl ViewMessage {
    fn new(text: Bytes) -> Arc<ViewMessage> {
        Arc::new(ViewMessage {
            text,
            deflated: OnceLock::new(),
        })
    }

    /// The message compressed, as a frame's payload (made on first use).
    pub fn deflated(&self) -> Bytes {
        self.deflated
            .get_or_init(|| crate::wire::deflate(&self.text))
            .clone()
    }
}

impl Published {
    /// The websocket message of a view of the snapshot: a scope's (a
    /// scoped token's services), narrowed to one service if asked, with or
    /// without the agent list (`agents`: a board view that lists no agents
    /// gets none). Each view is built by the first client that asks and
    /// shared by the others. `None` when the snapshot has no figures for
    /// the scope.
    pub fn view_message(
        &self,
        scope: Option<&Scope>,
        service: Option<&str>,
        agents: bool,
    ) -> Option<Bytes> {
        Some(self.view(scope, service, agents)?.text.clone())
    }

    /// [`Published::view_message`], with its compressed form beside it.
    pub fn view(
        &self,
        scope: Option<&Scope>,
        service: Option<&str>,
        agents: bool,
    ) -> Option<Arc<ViewMessage>> {
        let (scope, service) = match (scope, service) {
            (None, None) if agents => return Some(self.whole.clone()),
            // A service that is the whole scope: the scope's view.
            (Some(sc), Some(svc)) if sc.len() == 1 && *sc[0] == *svc => (Some(sc), None),
            other => other,
        };
        let mut key = String::from(if agents { "a\n" } else { "-\n" });
        for name in scope.iter().flat_map(|s| s.iter()) {
            key.push_str(name);
            key.push('\0');
        }
        key.push('\n');
        key.push_str(service.unwrap_or(""));
        let mut views = self.views.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = views.get(&key) {
            return Some(m.clone());
        }
        let scoped = match scope {
            Some(sc) => Some(self.snapshot.for_scope(sc)?),
            None => None,
        };
        let base = scoped.as_ref().unwrap_or(&self.snapshot);
        let narrowed = service.map(|svc| base.for_service(svc));
        let view = narrowed.as_ref().unwrap_or(base);
        let json = if agents {
            to_json(view)
        } else {
            to_json(&view.without_agents())
        };
        let m = ViewMessage::new(envelope(self.seq, &json));
        // Bounded by the snapshot's services and scopes, twice, plus the
        // names clients made up.
        if views.len() < 512 {
            views.insert(key, m.clone());
        }
        Some(m)
    }

    /// The snapshot JSON inside one of its websocket messages.
    pub fn json_in(&self, message: &Bytes) -> Bytes {
        json_in(self.seq, message)
    }
}

/// What a snapshot's websocket message starts with; the snapshot's JSON
/// and a closing `}` follow.
fn head(seq: u64) -> String {
    format!(r#"{{"type":"snapshot","seq":{seq},"snapshot":"#)
}

impl Published {
    /// A snapshot and its websocket message (`head(seq)`, the JSON, `}`):
    /// the REST body is a slice of the message.
    fn new(seq: u64, snapshot: Snapshot, message: Bytes) -> Arc<Published> {
        let json = json_in(seq, &message);
        Arc::new(Published {
            seq,
            snapshot,
            json,
            whole: ViewMessage::new(message.clone()),
            message,
            views: Default::default(),
        })
    }
}

/// The snapshot JSON inside the websocket message numbered `seq`.
fn json_in(seq: u64, message: &Bytes) -> Bytes {
    message.slice(head(seq).len()..message.len() - 1)
}

/// The websocket envelope of a snapshot's JSON.
pub fn envelope(seq: u64, json: &[u8]) -> Bytes {
    let head = head(seq);
    let mut v = Vec::with_capacity(head.len() + json.len() + 1);
    v.extend_from_slice(head.as_bytes());
    v.extend_from_slice(json);
    v.push(b'}');
    Bytes::from(v)
}

fn to_json(snapshot: &Snapshot) -> Vec<u8> {
    serde_json::to_vec(snapshot)
        .expect("a snapshot is plain strings and numbers, which always serialise")
}

type Slot = watch::Sender<Option<Arc<Published>>>;

/// A remote tenant whose owner has published nothing for this long is
/// served marked `stale` (owners publish every tenant once a second).
pub const STALE_AFTER: Duration = Duration::from_secs(5);

/// One tenant's channel, and whose snapshots it carries.
#[derive(Debug)]
struct Entry {
    tx: Slot,
    /// This process computes the tenant (its shard publishes it).
    local: bool,
    /// The highest number seen from another process for this tenant: a
    /// remote snapshot must pass it, and a local one follows it, so that
    /// numbers keep increasing when a tenant moves between processes.
    remote_seq: u64,
    /// When the last remote snapshot arrived (or the tenant left this
    /// process).
    heard: std::time::Instant,
}

impl Entry {
    fn new() -> Entry {
        Entry {
            tx: watch::channel(None).0,
            local: false,
            remote_seq: 0,
            heard: std::time::Instant::now(),
        }
    }
}

/// What became of a remote snapshot.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    /// It is served now.
    pub taken: bool,
    /// When its owner built it.
    pub at: crate::time::Millis,
}

/// Why a message of the snapshot topic was not taken.
#[derive(Debug, thiserror::Error)]
#[error("not a snapshot message: {0}")]
pub struct NotASnapshot(String);

/// Latest snapshots of all tenants, shared by shards (writers) and outputs.
///
/// A tenant's snapshots are local (this process's shard computes them) or
/// remote (read from the snapshot topic, published by the tenant's owner in
/// a cluster). A local tenant ignores remote snapshots; a tenant that
/// leaves this process keeps its last snapshot, marked `stale` once its new
/// owner has been silent for [`STALE_AFTER`], until the owner's snapshots
/// arrive.
#[derive(Debug, Default)]
pub struct Hub {
    tenants: DashMap<Arc<str>, Entry>,
    /// Each source's status, by the source's name, and whether it has
    /// finished its first rebuild.
    sources: Mutex<BTreeMap<SourceId, SourceState>>,
    /// Where local publications go to be written to the snapshot topic;
    /// set when snapshots are shared, and then tenants that leave keep
    /// being served from the topic instead of being removed.
    outbox: OnceLock<mpsc::Sender<Arc<Published>>>,
}

impl Hub {
    pub fn new() -> Arc<Hub> {
        Arc::new(Hub::default())
    }

    /// Shares snapshots through a topic: local publications are sent to
    /// the returned receiver (bounded; when it is full a publication is
    /// skipped, the next one a second later carries everything), and
    /// tenants that leave stay, served from the topic.
    pub fn share(&self, capacity: usize) -> mpsc::Receiver<Arc<Published>> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let _ = self.outbox.set(tx);
        rx
    }

    /// Publishes a tenant's new snapshot, computed here; returns its
    /// sequence number.
    pub fn publish(&self, snapshot: Snapshot) -> u64 {
        let (tx, seq, size) = {
            let mut e = self
                .tenants
                .entry(snapshot.tenant.clone())
                .or_insert_with(Entry::new);
            e.local = true;
            // A tenant has one writer (its shard), so its next number is
            // known before the value is swapped in.
            let (seq, size) =
                e.tx.borrow()
                    .as_ref()
                    .map_or((0, 0), |p| (p.seq, p.message.len()));
            (e.tx.clone(), seq.max(e.remote_seq) + 1, size)
        };
        // The websocket message is serialised once, straight into a buffer
        // of the last one's size, and the REST body is a slice of it.
        let mut buf = Vec::with_capacity(size + size / 8 + 64);
        buf.extend_from_slice(head(seq).as_bytes());
        serde_json::to_writer(&mut buf, &snapshot)
            .expect("a snapshot is plain strings and numbers, which always serialise");
        buf.push(b'}');
        let published = Published::new(seq, snapshot, Bytes::from(buf));
        if let Some(out) = self.outbox.get()
            && out.try_send(published.clone()).is_err()
        {
            SnapshotNotShared.emit();
        }
        tx.send_replace(Some(published));
        seq
    }

    /// Takes a snapshot published by another process (a message of the
    /// snapshot topic: the websocket envelope). It is served unless this
    /// process computes the tenant or it is not newer than the last one
    /// taken.
    pub fn publish_remote(&self, message: Bytes) -> Result<Received, NotASnapshot> {
        #[derive(serde::Deserialize)]
        struct Envelope {
            seq: u64,
            snapshot: Snapshot,
        }
        let env: Envelope =
            serde_json::from_slice(&message).map_err(|e| NotASnapshot(e.to_string()))?;
        let mut e = self
            .tenants
            .entry(env.snapshot.tenant.clone())
            .or_insert_with(Entry::new);
        let ignored = Received {
            taken: false,
            at: env.snapshot.at.0,
        };
        if env.seq <= e.remote_seq {
            return Ok(ignored);
        }
        e.remote_seq = env.seq;
        if e.local {
            // Our own, or an older owner's: only the number is kept.
            return Ok(ignored);
        }
        e.heard = std::time::Instant::now();
        let mut snapshot = env.snapshot;
        let at = snapshot.at.0;
        // Built longer ago than an owner's silence may last (read back
        // after a restart, or held in a producer while the broker was
        // frozen): it is not live news, whatever it says.
        let old = crate::time::now_ms() - at > STALE_AFTER.as_millis() as i64;
        let stale = old && snapshot.status == Status::Live;
        if stale {
            snapshot.status = Status::Stale;
        }
        let message =
            if !stale && message.starts_with(head(env.seq).as_bytes()) && message.ends_with(b"}") {
                message
            } else {
                // Changed, or another spelling of the same envelope: ours is
                // rebuilt.
                envelope(env.seq, &to_json(&snapshot))
            };
        e.tx.send_replace(Some(Published::new(env.seq, snapshot, message)));
        Ok(Received { taken: true, at })
    }

    /// Marks `stale` the remote tenants whose owner has published nothing
    /// for `after` (the same snapshot and number, its status changed).
    /// Returns how many were marked.
    pub fn mark_silent(&self, after: Duration) -> usize {
        let mut marked = 0;
        for e in self.tenants.iter() {
            if e.local || e.heard.elapsed() < after {
                continue;
            }
            let Some(p) = e.tx.borrow().clone() else {
                continue;
            };
            if p.snapshot.status == Status::Stale {
                continue;
            }
            let mut snapshot = p.snapshot.clone();
            snapshot.status = Status::Stale;
            let message = envelope(p.seq, &to_json(&snapshot));
            e.tx.send_replace(Some(Published::new(p.seq, snapshot, message)));
            marked += 1;
        }
        marked
    }

    /// The latest snapshot of a tenant, if it has one.
    pub fn latest(&self, tenant: &str) -> Option<Arc<Published>> {
        self.tenants.get(tenant).and_then(|e| e.tx.borrow().clone())
    }

    /// Whether this process computes the tenant (its metrics are exported
    /// here).
    pub fn is_local(&self, tenant: &str) -> bool {
        self.tenants.get(tenant).is_some_and(|e| e.local)
    }

    /// Follows a tenant's snapshots. `None` if the tenant has never been
    /// published (and `create` is false).
    pub fn subscribe(
        &self,
        tenant: &str,
        create: bool,
    ) -> Option<watch::Receiver<Option<Arc<Published>>>> {
        if let Some(e) = self.tenants.get(tenant) {
            return Some(e.tx.subscribe());
        }
        create.then(|| {
            self.tenants
                .entry(Arc::from(tenant))
                .or_insert_with(Entry::new)
                .tx
                .subscribe()
        })
    }

    /// Tenants with a published snapshot, sorted.
    pub fn tenants(&self) -> Vec<Arc<Published>> {
        let mut v: Vec<Arc<Published>> = self
            .tenants
            .iter()
            .filter_map(|e| e.tx.borrow().clone())
            .collect();
        v.sort_by(|a, b| a.snapshot.tenant.cmp(&b.snapshot.tenant));
        v
    }

    /// A tenant's state moved to another process. Alone, its snapshots are
    /// gone (followers see the channel close); sharing, the last one stays
    /// and the new owner's follow it.
    pub fn release(&self, tenant: &str) {
        if self.outbox.get().is_none() {
            self.tenants.remove(tenant);
            return;
        }
        if let Some(mut e) = self.tenants.get_mut(tenant) {
            e.local = false;
            e.heard = std::time::Instant::now();
            let seq = e.tx.borrow().as_ref().map_or(0, |p| p.seq);
            e.remote_seq = e.remote_seq.max(seq);
        }
    }

    /// Records a source's status; returns the service's: recovering while
    /// any source is, else stale while any source is, else live.
    pub fn set_status(&self, source: &SourceId, status: Status) -> Status {
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        let s = sources.entry(source.clone()).or_default();
        s.status = status;
        s.rebuilt_once |= status != Status::Recovering;
        overall(sources.values().map(|s| s.status))
    }

    /// Records that a source failed (its error), or works again (`None`).
    /// A failing source holds no one's readiness: the instance serves what
    /// it has, and the tenants of that source are shown stale.
    /// Returns the service's status, as [`Hub::set_status`] does.
    pub fn set_failure(&self, source: &SourceId, error: Option<String>) -> Status {
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        let s = sources.entry(source.clone()).or_default();
        if error.is_some() {
            s.rebuilt_once = true;
            if s.status == Status::Recovering {
                s.status = Status::Live;
            }
        }
        s.error = error;
        overall(sources.values().map(|s| s.status))
    }

    /// The sources failing now, with their errors, by name.
    pub fn failures(&self) -> Vec<(String, String)> {
        let sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<(String, String)> = sources
            .iter()
            .filter_map(|(id, s)| s.error.clone().map(|e| (id.to_string(), e)))
            .collect();
        v.sort();
        v
    }

    /// Ready once every source has finished its first rebuild. A later
    /// rebuild (partitions a rebalance gives) keeps the instance ready: it
    /// serves what it had all along, and the new tenants' last snapshots
    /// from the snapshot topic.
    pub fn is_ready(&self) -> bool {
        let sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        sources.values().all(|s| s.rebuilt_once)
    }

    /// Whether the snapshot topic is still being read up to where it
    /// ended at start: until then what the hub holds of other instances'
    /// tenants may be older than what a board already shows.
    pub fn reading_snapshots(&self) -> bool {
        let sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        sources
            .get(&SourceId::Snapshots)
            .is_some_and(|s| !s.rebuilt_once)
    }

    /// Whether any source is rebuilding now.
    pub fn is_rebuilding(&self) -> bool {
        let sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        overall(sources.values().map(|s| s.status)) == Status::Recovering
    }
}

/// A source as the hub knows it.
#[derive(Debug)]
struct SourceState {
    status: Status,
    rebuilt_once: bool,
    /// Why it fails now, if it does.
    error: Option<String>,
}

impl Default for SourceState {
    fn default() -> SourceState {
        SourceState {
            status: Status::Recovering,
            rebuilt_once: false,
            error: None,
        }
    }
}

fn overall(statuses: impl Iterator<Item = Status>) -> Status {
    statuses.fold(Status::Live, |all, s| match (all, s) {
        (Status::Recovering, _) | (_, Status::Recovering) => Status::Recovering,
        (Status::Stale, _) | (_, Status::Stale) => Status::Stale,
        _ => Status::Live,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_source_has_recovered() {
        let hub = Hub::new();
        assert!(hub.is_ready(), "no source: ready");
        hub.set_status(&SourceId::Kafka, Status::Recovering);
        hub.set_status(&SourceId::Simulator, Status::Recovering);
        // The simulator going live must not make a recovering Kafka ready.
        let all = hub.set_status(&SourceId::Simulator, Status::Live);
        assert_eq!(all, Status::Recovering);
        assert!(!hub.is_ready());
        assert_eq!(
            hub.set_status(&SourceId::Kafka, Status::Stale),
            Status::Stale
        );
        assert!(hub.is_ready(), "stale serves what it has");
        assert_eq!(hub.set_status(&SourceId::Kafka, Status::Live), Status::Live);
        hub.set_status(&SourceId::Kafka, Status::Recovering);
        assert!(hub.is_rebuilding(), "a rebalance rebuilds what it gives");
        assert!(hub.is_ready(), "and what was served goes on being served");
        hub.set_status(&SourceId::QueueLog("acme".into()), Status::Recovering);
        assert!(!hub.is_ready(), "a source not yet rebuilt once");
    }

    fn snapshot(tenant: &str, inbound: u64) -> Snapshot {
        let mut engine = crate::engine::Engine::new(std::sync::Arc::new(Default::default()));
        for i in 0..inbound {
            let line = format!(
                r#"{{"v":1,"id":"{i}","ts":0,"tenant":"{tenant}","type":"call.queued","call":"c{i}","queue":"q","service":"s"}}"#
            );
            engine.apply(&crate::decode::decode_json(line.as_bytes(), 1 << 16).unwrap());
        }
        let mut s = engine.snapshot(tenant, 0, Status::Live).unwrap();
        // Built now, as an owner's publications are.
        s.at = crate::wire::Instant(crate::time::now_ms());
        s
    }

    /// A snapshot read back after a restart, or delivered late after a
    /// broker froze, is not news: served `stale`, never `live`.
    #[test]
    fn an_old_snapshot_from_the_topic_is_served_stale() {
        let (a, b) = (Hub::new(), Hub::new());
        let mut out = a.share(16);
        let mut old = snapshot("t", 1);
        old.at = crate::wire::Instant(crate::time::now_ms() - 60_000);
        a.publish(old);
        a.publish(snapshot("t", 2));
        let first = out.try_recv().unwrap();
        assert!(b.publish_remote(first.message.clone()).unwrap().taken);
        let shown = b.latest("t").unwrap();
        assert_eq!(shown.snapshot.status, Status::Stale);
        let body: serde_json::Value = serde_json::from_slice(&shown.json).unwrap();
        assert_eq!(body["status"], "stale", "the bytes served say so too");
        // The fresh one that follows is live.
        assert!(
            b.publish_remote(out.try_recv().unwrap().message.clone())
                .unwrap()
                .taken
        );
        assert_eq!(b.latest("t").unwrap().snapshot.status, Status::Live);
    }

    /// Until the snapshot topic is read up to where it ended at start, the
    /// instance says so (websocket and REST refuse with 503).
    #[test]
    fn reading_the_snapshot_topic_until_caught_up() {
        let hub = Hub::new();
        assert!(
            !hub.reading_snapshots(),
            "no snapshot topic: nothing to wait for"
        );
        hub.set_status(&SourceId::Snapshots, Status::Recovering);
        assert!(hub.reading_snapshots());
        hub.set_status(&SourceId::Snapshots, Status::Live);
        assert!(!hub.reading_snapshots());
        // A later rebuild of another source does not take it back.
        hub.set_status(&SourceId::Snapshots, Status::Recovering);
        assert!(
            !hub.reading_snapshots(),
            "read once: boards keep being served"
        );
    }

    /// A cluster: `a` computes the tenant and writes what it publishes to
    /// the topic, `b` serves it from there; then the tenant moves to `b`.
    #[test]
    fn a_tenant_moves_between_processes_without_its_numbers_going_back() {
        let (a, b) = (Hub::new(), Hub::new());
        let (mut out_a, mut out_b) = (a.share(16), b.share(16));
        a.publish(snapshot("t", 1));
        a.publish(snapshot("t", 2));
        let mut rx = b.subscribe("t", true).unwrap();
        while let Ok(p) = out_a.try_recv() {
            assert!(b.publish_remote(p.message.clone()).unwrap().taken);
        }
        let seen = b.latest("t").unwrap();
        assert_eq!((seen.seq, seen.snapshot.totals.calls.inbound), (2, 2));
        assert!(!b.is_local("t") && a.is_local("t"));
        // A message read twice, or an older one, changes nothing.
        let first = a.latest("t").unwrap().message.clone();
        assert!(!b.publish_remote(first).unwrap().taken);
        assert_eq!(b.latest("t").unwrap().seq, 2);

        // `a` dies: after a silence `b` serves the last one as stale, same
        // number, and its followers see it without reconnecting.
        assert_eq!(b.mark_silent(Duration::ZERO), 1);
        let stale = b.latest("t").unwrap();
        assert_eq!((stale.seq, stale.snapshot.status), (2, Status::Stale));
        assert!(rx.has_changed().unwrap());
        rx.mark_unchanged();
        assert_eq!(b.mark_silent(Duration::ZERO), 0, "marked once");

        // `b` owns it now: its numbers follow the last one served.
        assert_eq!(b.publish(snapshot("t", 3)), 3);
        assert!(b.is_local("t"));
        assert!(rx.has_changed().unwrap());
        let live = b.latest("t").unwrap();
        assert_eq!(
            (live.snapshot.status, live.snapshot.totals.calls.inbound),
            (Status::Live, 3)
        );
        assert_eq!(
            b.mark_silent(Duration::ZERO),
            0,
            "a local tenant is never marked"
        );
        // `a`, back, reads b's snapshots: newer than its own, taken.
        a.release("t");
        while let Ok(p) = out_b.try_recv() {
            assert!(a.publish_remote(p.message.clone()).unwrap().taken);
        }
        assert_eq!(a.latest("t").unwrap().seq, 3);
        assert!(!a.is_local("t"));
    }

    #[test]
    fn a_late_message_of_the_old_owner_raises_the_new_owner_s_numbers() {
        let (a, b) = (Hub::new(), Hub::new());
        let mut out_a = a.share(16);
        b.share(16);
        for n in 1..=5 {
            a.publish(snapshot("t", n));
        }
        // `b` computes the tenant before reading a's last snapshots.
        assert_eq!(b.publish(snapshot("t", 5)), 1);
        while let Ok(p) = out_a.try_recv() {
            assert!(
                !b.publish_remote(p.message.clone()).unwrap().taken,
                "b computes it"
            );
        }
        assert_eq!(b.latest("t").unwrap().seq, 1, "its own snapshot is kept");
        assert_eq!(
            b.publish(snapshot("t", 6)),
            6,
            "and its next number passes a's"
        );
    }

    #[test]
    fn alone_a_tenant_that_leaves_is_gone_and_its_followers_see_the_end() {
        let hub = Hub::new();
        hub.publish(snapshot("t", 1));
        let mut rx = hub.subscribe("t", false).unwrap();
        hub.release("t");
        assert!(hub.latest("t").is_none());
        assert!(rx.borrow_and_update().is_some());
        assert!(rx.has_changed().is_err(), "the channel is closed");
    }

    #[test]
    fn a_message_that_is_not_a_snapshot_is_refused_and_changes_nothing() {
        let hub = Hub::new();
        hub.share(1);
        for bad in [
            &b"{}"[..],
            b"not json",
            br#"{"type":"snapshot","seq":1,"snapshot":{}}"#,
        ] {
            assert!(hub.publish_remote(Bytes::from_static(bad)).is_err());
        }
        assert!(hub.tenants().is_empty());
    }

    #[test]
    fn the_rest_body_is_the_websocket_message_s_snapshot_and_views_are_built_once() {
        let mut engine = crate::engine::Engine::new(std::sync::Arc::new(Default::default()));
        let ev = crate::decode::decode_json(
            br#"{"v":1,"id":"1","ts":0,"tenant":"t","type":"call.queued","call":"c","queue":"q","service":"s"}"#,
            1 << 16,
        )
        .unwrap();
        engine.apply(&ev);
        let hub = Hub::new();
        hub.publish(engine.snapshot("t", 0, crate::wire::Status::Live).unwrap());
        let p = hub.latest("t").unwrap();
        let msg: serde_json::Value = serde_json::from_slice(&p.message).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&p.json).unwrap();
        assert_eq!((msg["seq"].as_u64(), &msg["snapshot"]), (Some(1), &json));
        // Every client of one service shares one serialisation.
        let view = || p.view_message(None, Some("s"), true).unwrap();
        let (a, b) = (view(), view());
        assert_eq!(a.as_ptr(), b.as_ptr());
        let view: serde_json::Value = serde_json::from_slice(&a).unwrap();
        assert_eq!(view["snapshot"]["services"][0]["service"], "s");
    }
}
