//! The snapshot topic: how a cluster serves every tenant from every
//! instance.
//!
//! Each instance writes the snapshots it computes (its partitions'
//! tenants) to a compacted topic keyed by tenant, as the websocket message
//! its own clients get (`{"type":"snapshot","seq":N,"snapshot":...}`), and
//! reads the topic into its hub: what it does not compute it serves
//! from there (see [`Hub`] for which snapshot wins). Kafka is the only
//! coordination: the consumer group says who computes a tenant, this topic
//! tells everyone else.
//!
//! The reader belongs to no group: it is assigned every partition of the
//! topic, from the messages of the last [`READ_BACK`] on (found by time, on
//! any broker), and the instance is not ready until it has read what the
//! topic held when it started. Owners publish every tenant each second, so
//! that holds the newest snapshot of every tenant anyone computes, and a
//! start does not read what compaction has not removed yet (or what a
//! broker that never compacts keeps).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::kafka::{ensure_compacted_topic, offset_at_time, partition_count, recv_batch};
use crate::service::feed::{Feed, FeedContext, SourceId};
use crate::service::hub::{Hub, Published, STALE_AFTER};
use crate::service::shard::Router;
use crate::telemetry::{Signal, SnapshotNotShared, SnapshotReceived, Told};
use crate::time::now_ms;
use crate::wire::Status;

/// How many local publications may wait for the writer.
const OUTBOX: usize = 8192;

/// How far back a starting reader reads the topic.
pub const READ_BACK: Duration = Duration::from_secs(60);

/// How often a compacted broker may compact the topic: it closes a segment
/// this often (compaction never touches the open one), so the topic holds
/// each tenant's latest plus about this much of everyone's publications.
pub const SEGMENT: Duration = Duration::from_secs(600);

/// Shares snapshots through `topic` until `shutdown`: writes this
/// instance's publications, reads everyone's into the hub, and marks
/// `stale` the tenants whose owner fell silent.
pub async fn run(
    brokers: String,
    topic: String,
    partitions: i32,
    hub: Arc<Hub>,
    router: Router,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    router
        .status(&SourceId::Snapshots, Status::Recovering)
        .await?;
    if let Err(e) = ensure_compacted_topic(&brokers, &topic, partitions, Some(SEGMENT)).await {
        tracing::warn!(error = %e, %topic, "snapshot topic not created");
    }
    let outbox = hub.share(OUTBOX);
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("message.timeout.ms", "10000")
        .set("compression.type", "lz4")
        .set("linger.ms", "5")
        .set("message.max.bytes", "16777216")
        .set("queue.buffering.max.messages", "20000")
        .set("queue.buffering.max.kbytes", "262144")
        .create()?;
    let writer = tokio::spawn(write(producer.clone(), topic.clone(), outbox));

    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        // Never joins the group (partitions are assigned, not subscribed):
        // librdkafka only wants a name.
        .set(
            "group.id",
            format!("callboard-snapshots-{}", std::process::id()),
        )
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "50")
        .set_log_level(RDKafkaLogLevel::Warning)
        .create()?;
    let count = tokio::task::block_in_place(|| partition_count(&brokers, &topic))
        .ok()
        .flatten()
        .unwrap_or(partitions)
        .max(1);
    let mut tpl = TopicPartitionList::new();
    let mut pending: HashMap<i32, i64> = HashMap::new();
    let (mut skipped, mut to_read) = (0i64, 0i64);
    let since = now_ms() - READ_BACK.as_millis() as i64;
    for p in 0..count {
        let marks = tokio::task::block_in_place(|| {
            consumer.fetch_watermarks(&topic, p, Duration::from_secs(10))
        });
        let start = match marks {
            Ok((low, high)) if high > low => {
                let from = tokio::task::block_in_place(|| {
                    offset_at_time(
                        &brokers,
                        &topic,
                        p,
                        since,
                        (low, high),
                        Duration::from_secs(10),
                    )
                });
                let from = from.unwrap_or_else(|e| {
                    tracing::warn!(partition = p, error = %e, %topic, "cannot find the snapshot partition's recent messages; reading it whole");
                    low
                });
                if high > from {
                    pending.insert(p, high);
                }
                skipped += from - low;
                to_read += high - from;
                Offset::Offset(from)
            }
            Ok(_) => Offset::Beginning,
            Err(e) => {
                tracing::warn!(partition = p, error = %e, %topic, "cannot read the snapshot partition's end; not waiting for it");
                Offset::Beginning
            }
        };
        tpl.add_partition_offset(&topic, p, start)?;
    }
    consumer.assign(&tpl)?;
    tracing::info!(
        %topic,
        messages = to_read,
        older_skipped = skipped,
        "snapshot topic: reading the last {} s of publications",
        READ_BACK.as_secs()
    );
    let mut caught_up = pending.is_empty();
    if caught_up {
        tracing::info!(%topic, "snapshot topic read: nothing recent in it");
        router.status(&SourceId::Snapshots, Status::Live).await?;
    }
    tracing::info!(%topic, partitions = count, "snapshot topic: sharing this instance's tenants, serving the others'");
    let mut sweep = tokio::time::interval(Duration::from_secs(1));
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            msgs = recv_batch(&consumer, 512) => {
                for m in msgs {
                    if let Some(payload) = m.payload() {
                        take(&hub, payload);
                    }
                    if let Some(&end) = pending.get(&m.partition())
                        && m.offset() + 1 >= end
                    {
                        pending.remove(&m.partition());
                    }
                }
                if !caught_up && pending.is_empty() {
                    caught_up = true;
                    tracing::info!(%topic, tenants = hub.tenants().len(), "snapshot topic read: serving every tenant");
                    router.status(&SourceId::Snapshots, Status::Live).await?;
                }
            }
            _ = sweep.tick() => {
                let n = hub.mark_silent(STALE_AFTER);
                if n > 0 {
                    tracing::info!(tenants = n, "snapshot topic: no publication for {}s, served as stale", STALE_AFTER.as_secs());
                }
            }
            _ = shutdown.cancelled() => break,
        }
    }
    writer.abort();
    let _ = tokio::task::block_in_place(|| producer.flush(Duration::from_secs(5)));
    Ok(())
}

/// Serves a message of the topic, if it is a newer snapshot of a tenant
/// this instance does not compute.
fn take(hub: &Hub, payload: &[u8]) {
    match hub.publish_remote(Bytes::copy_from_slice(payload)) {
        Ok(received) => SnapshotReceived {
            taken: received.taken,
            delay: u64::try_from(now_ms() - received.at)
                .ok()
                .map(Duration::from_millis),
        }
        .emit(),
        Err(e) => tracing::debug!(error = %e, "snapshot topic: message skipped"),
    }
}

/// Writes local publications to the topic, keyed by tenant. When it falls
/// behind, only each tenant's latest is written. A snapshot the broker
/// does not take (it is away past the timeout, or refuses the message) is
/// counted and told in the log at most once a minute: the other instances
/// serve that tenant `stale` until one is taken.
async fn write(
    producer: FutureProducer,
    topic: String,
    mut outbox: mpsc::Receiver<Arc<Published>>,
) {
    let mut latest: HashMap<Arc<str>, Arc<Published>> = HashMap::new();
    let mut deliveries = FuturesUnordered::new();
    let mut failures = Failures::default();
    loop {
        tokio::select! {
            p = outbox.recv() => {
                let Some(p) = p else { break };
                latest.insert(p.snapshot.tenant.clone(), p);
                while let Ok(p) = outbox.try_recv() {
                    latest.insert(p.snapshot.tenant.clone(), p);
                }
                for (tenant, p) in latest.drain() {
                    let record = FutureRecord::<[u8], [u8]>::to(&topic)
                        .key(tenant.as_bytes())
                        .payload(&p.message);
                    // Handed to librdkafka's queue; a full queue (broker
                    // away) skips this one: the next, a second later,
                    // carries everything.
                    match producer.send_result(record) {
                        Ok(delivery) => deliveries.push(delivery.map(move |r| (tenant, r))),
                        Err((e, _)) => failures.note(&tenant, &e.to_string()),
                    }
                }
            }
            Some((tenant, r)) = deliveries.next(), if !deliveries.is_empty() => match r {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => failures.note(&tenant, &e.to_string()),
                Err(_) => failures.note(&tenant, "the producer was dropped"),
            },
        }
    }
}

/// Snapshots not shared: counted each, told once a minute.
#[derive(Default)]
struct Failures(Told);

impl Failures {
    fn note(&mut self, tenant: &str, error: &str) {
        SnapshotNotShared.emit();
        if let Some(not_shared) = self.0.due() {
            tracing::warn!(
                tenant,
                error,
                not_shared,
                "snapshot topic: snapshots not written; other instances serve these tenants stale (told once a minute)"
            );
        }
    }
}

/// The snapshot topic as a feed of the service: as many partitions as the
/// events' topic (as many readers), read from [`READ_BACK`] ago.
pub struct SnapshotFeed {
    pub brokers: String,
    pub topic: String,
    /// The topic of contract events, whose partition count it takes.
    pub events_topic: String,
}

impl Feed for SnapshotFeed {
    fn id(&self) -> SourceId {
        SourceId::Snapshots
    }

    fn vital(&self) -> bool {
        true
    }

    fn run(self: Box<Self>, ctx: FeedContext) -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(async move {
            let (brokers, events) = (self.brokers.clone(), self.events_topic.clone());
            let partitions = tokio::task::block_in_place(|| partition_count(&brokers, &events))
                .ok()
                .flatten()
                .unwrap_or(1);
            run(
                self.brokers,
                self.topic,
                partitions,
                ctx.hub,
                ctx.router,
                ctx.stop,
            )
            .await
        })
    }
}
