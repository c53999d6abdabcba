//! The hub: the latest published snapshot of each tenant, for every reader.
//!
//! One `watch` channel per tenant: a reader always sees the newest value and
//! never a queue of old ones, so a slow websocket client skips to the latest
//! snapshot and can neither grow memory nor slow the shard that publishes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;

use bytes::Bytes;
use dashmap::DashMap;
use tokio::sync::watch;

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
    /// Messages of services' views (`?service=`), each built by the first
    /// client that asks and shared by the others.
    views: std::sync::Mutex<std::collections::HashMap<String, Bytes>>,
}

impl Published {
    /// The websocket message of one service's view of the snapshot.
    pub fn service_message(&self, service: &str) -> Bytes {
        let mut views = self.views.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = views.get(service) {
            return m.clone();
        }
        let view = self.snapshot.for_service(service);
        let json = serde_json::to_vec(&view)
            .expect("a snapshot is plain strings and numbers, which always serialise");
        let m = envelope(self.seq, &json);
        // Bounded by the snapshot's services plus the names clients made up.
        if views.len() < 256 {
            views.insert(service.to_string(), m.clone());
        }
        m
    }
}

/// The websocket envelope of a snapshot's JSON.
pub fn envelope(seq: u64, json: &[u8]) -> Bytes {
    let head = format!(r#"{{"type":"snapshot","seq":{seq},"snapshot":"#);
    let mut v = Vec::with_capacity(head.len() + json.len() + 1);
    v.extend_from_slice(head.as_bytes());
    v.extend_from_slice(json);
    v.push(b'}');
    Bytes::from(v)
}

type Slot = watch::Sender<Option<Arc<Published>>>;

/// Latest snapshots of all tenants, shared by shards (writers) and outputs.
#[derive(Debug, Default)]
pub struct Hub {
    tenants: DashMap<Arc<str>, Slot>,
    /// Each source's status, by the source's name; ready when none is
    /// recovering.
    sources: Mutex<BTreeMap<String, Status>>,
}

impl Hub {
    pub fn new() -> Arc<Hub> {
        Arc::new(Hub::default())
    }

    /// Publishes a tenant's new snapshot; returns its sequence number.
    pub fn publish(&self, snapshot: Snapshot) -> u64 {
        let slot = self
            .tenants
            .entry(snapshot.tenant.clone())
            .or_insert_with(|| watch::channel(None).0)
            .clone();
        // A tenant has one writer (its shard), so its next number is known
        // before the value is swapped in.
        let (seq, size) = slot
            .borrow()
            .as_ref()
            .map_or((1, 0), |p| (p.seq + 1, p.message.len()));
        // The websocket message is serialised once, straight into a buffer
        // of the last one's size, and the REST body is a slice of it.
        let head = format!(r#"{{"type":"snapshot","seq":{seq},"snapshot":"#);
        let mut buf = Vec::with_capacity(size + size / 8 + 64);
        buf.extend_from_slice(head.as_bytes());
        serde_json::to_writer(&mut buf, &snapshot)
            .expect("a snapshot is plain strings and numbers, which always serialise");
        buf.push(b'}');
        let message = Bytes::from(buf);
        let json = message.slice(head.len()..message.len() - 1);
        slot.send_modify(|cur| {
            *cur = Some(Arc::new(Published {
                seq,
                snapshot,
                json,
                message,
                views: Default::default(),
            }));
        });
        seq
    }

    /// The latest snapshot of a tenant, if it has one.
    pub fn latest(&self, tenant: &str) -> Option<Arc<Published>> {
        self.tenants.get(tenant).and_then(|s| s.borrow().clone())
    }

    /// Follows a tenant's snapshots. `None` if the tenant has never been
    /// published (and `create` is false).
    pub fn subscribe(
        &self,
        tenant: &str,
        create: bool,
    ) -> Option<watch::Receiver<Option<Arc<Published>>>> {
        if let Some(s) = self.tenants.get(tenant) {
            return Some(s.subscribe());
        }
        create.then(|| {
            self.tenants
                .entry(Arc::from(tenant))
                .or_insert_with(|| watch::channel(None).0)
                .subscribe()
        })
    }

    /// Tenants with a published snapshot, sorted.
    pub fn tenants(&self) -> Vec<Arc<Published>> {
        let mut v: Vec<Arc<Published>> = self
            .tenants
            .iter()
            .filter_map(|e| e.value().borrow().clone())
            .collect();
        v.sort_by(|a, b| a.snapshot.tenant.cmp(&b.snapshot.tenant));
        v
    }

    /// Forgets a tenant (its state moved elsewhere). Followers see the
    /// channel close.
    pub fn remove(&self, tenant: &str) {
        self.tenants.remove(tenant);
    }

    /// Records a source's status; returns the service's: recovering while
    /// any source is, else stale while any source is, else live.
    pub fn set_status(&self, source: &str, status: Status) -> Status {
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        sources.insert(source.to_string(), status);
        overall(sources.values())
    }

    /// Ready once no source is recovering.
    pub fn is_ready(&self) -> bool {
        let sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        overall(sources.values()) != Status::Recovering
    }
}

fn overall<'a>(statuses: impl Iterator<Item = &'a Status>) -> Status {
    statuses.fold(Status::Live, |all, &s| match (all, s) {
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
        hub.set_status("kafka", Status::Recovering);
        hub.set_status("simulator", Status::Recovering);
        // The simulator going live must not make a recovering Kafka ready.
        let all = hub.set_status("simulator", Status::Live);
        assert_eq!(all, Status::Recovering);
        assert!(!hub.is_ready());
        assert_eq!(hub.set_status("kafka", Status::Stale), Status::Stale);
        assert!(hub.is_ready(), "stale serves what it has");
        assert_eq!(hub.set_status("kafka", Status::Live), Status::Live);
        hub.set_status("kafka", Status::Recovering);
        assert!(!hub.is_ready(), "a rebalance makes it recover again");
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
        let (a, b) = (p.service_message("s"), p.service_message("s"));
        assert_eq!(a.as_ptr(), b.as_ptr());
        let view: serde_json::Value = serde_json::from_slice(&a).unwrap();
        assert_eq!(view["snapshot"]["services"][0]["service"], "s");
    }
}
