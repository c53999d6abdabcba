//! Kafka clients shared by the source and by `callboard simulate`: topic
//! creation, and the producer of contract events (key = tenant).

use std::time::{Duration, Instant};

use futures_util::FutureExt;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::BorrowedMessage;
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::event::Event;

/// Creates a topic unless it exists (checked first, so brokers without the
/// admin API are fine when the topic is there).
pub async fn ensure_topic(brokers: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
    create_topic(brokers, topic, partitions, &[]).await
}

/// Creates a compacted topic (`cleanup.policy=compact`: the newest message
/// of each key is kept) unless it exists; with `segment`, its segments
/// close (and become compactable) at least that often.
pub async fn ensure_compacted_topic(
    brokers: &str,
    topic: &str,
    partitions: i32,
    segment: Option<Duration>,
) -> anyhow::Result<()> {
    let mut configs = vec![("cleanup.policy", "compact".to_string())];
    if let Some(segment) = segment {
        configs.push(("segment.ms", segment.as_millis().to_string()));
    }
    create_topic(brokers, topic, partitions, &configs).await
}

/// The next message and whatever else is ready at once, up to `max`;
/// receive errors are logged and skipped. Cancel-safe: it waits only for
/// the first message.
pub async fn recv_batch<C: ConsumerContext + 'static>(
    consumer: &StreamConsumer<C>,
    max: usize,
) -> Vec<BorrowedMessage<'_>> {
    let mut msgs = Vec::new();
    let mut next = Some(consumer.recv().await);
    while let Some(m) = next {
        match m {
            Ok(m) => msgs.push(m),
            Err(e) => tracing::warn!(error = %e, "kafka receive error"),
        }
        if msgs.len() >= max {
            break;
        }
        next = consumer.recv().now_or_never();
    }
    msgs
}

/// How many partitions a topic has (`None`: it does not exist).
pub fn partition_count(brokers: &str, topic: &str) -> anyhow::Result<Option<i32>> {
    let probe: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("allow.auto.create.topics", "false")
        .create()?;
    let m = probe.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    Ok(m.topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.partitions().len() as i32))
}

async fn create_topic(
    brokers: &str,
    topic: &str,
    partitions: i32,
    configs: &[(&str, String)],
) -> anyhow::Result<()> {
    let probe: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("allow.auto.create.topics", "false")
        .create()?;
    let exists = tokio::task::block_in_place(|| {
        probe
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .map(|m| {
                m.topics()
                    .iter()
                    .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
            })
    })?;
    if exists {
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    let new = configs.iter().fold(
        NewTopic::new(topic, partitions, TopicReplication::Fixed(1)),
        |new, (key, value)| new.set(key, value),
    );
    let results = admin
        .create_topics(
            &[new],
            &AdminOptions::new()
                .operation_timeout(Some(Duration::from_secs(10)))
                .request_timeout(Some(Duration::from_secs(10))),
        )
        .await?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, code)) => anyhow::bail!("cannot create topic {t}: {code}"),
        }
    }
    Ok(())
}

/// Produces events to `topic` (created if missing), keyed by tenant, at most
/// `rate` per second (0: unlimited), and with `realtime` not before the wall
/// clock reaches each event's time. Returns how many were delivered.
pub async fn produce(
    brokers: &str,
    topic: &str,
    events: impl Iterator<Item = Event<'static>>,
    rate: u64,
    realtime: bool,
) -> anyhow::Result<u64> {
    ensure_topic(brokers, topic, 4).await?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("message.timeout.ms", "30000")
        .set("linger.ms", "5")
        .create()?;
    let started = Instant::now();
    let mut pending = futures_util::stream::FuturesUnordered::new();
    let mut delivered = 0u64;
    for (sent, ev) in events.enumerate() {
        if rate > 0 {
            let due = started + Duration::from_secs_f64(sent as f64 / rate as f64);
            delivered += settle_until(&mut pending, due).await?;
        }
        if realtime {
            let wait = ev.ts - crate::time::now_ms();
            if wait > 0 {
                let due = Instant::now() + Duration::from_millis(wait as u64);
                delivered += settle_until(&mut pending, due).await?;
            }
        }
        delivered += enqueue(&producer, topic, &ev, &mut pending).await?;
        // Delivery reports that are already in cost nothing to collect.
        while let Some(Some(r)) = futures_util::StreamExt::next(&mut pending).now_or_never() {
            delivered += delivery_ok(r)?;
        }
    }
    while let Some(r) = futures_util::StreamExt::next(&mut pending).await {
        delivered += delivery_ok(r)?;
    }
    Ok(delivered)
}

/// Delivery reports still to come.
pub type Deliveries = futures_util::stream::FuturesUnordered<rdkafka::producer::DeliveryFuture>;

/// Hands one event (key = its tenant) to librdkafka now, so that events go
/// out in the order they are handed over, whoever polls the reports and
/// whenever; while the producer's queue is full, waits for deliveries
/// first. Returns how many were delivered meanwhile.
pub async fn enqueue(
    producer: &FutureProducer,
    topic: &str,
    ev: &Event<'_>,
    pending: &mut Deliveries,
) -> anyhow::Result<u64> {
    let payload = crate::wire::encode_event(ev);
    let mut record = FutureRecord::to(topic).key(&*ev.tenant).payload(&payload);
    let mut delivered = 0;
    loop {
        match producer.send_result(record) {
            Ok(delivery) => {
                pending.push(delivery);
                return Ok(delivered);
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                match futures_util::StreamExt::next(pending).await {
                    Some(r) => delivered += delivery_ok(r)?,
                    None => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
}

/// 1 for a delivered message; the broker's error otherwise.
pub fn delivery_ok<Canceled>(
    r: Result<rdkafka::producer::future_producer::OwnedDeliveryResult, Canceled>,
) -> anyhow::Result<u64> {
    match r {
        Ok(Ok(_)) => Ok(1),
        Ok(Err((e, _))) => Err(e.into()),
        Err(_) => anyhow::bail!("the producer went away before the delivery report"),
    }
}

/// Collects delivery reports until `due`.
async fn settle_until(pending: &mut Deliveries, due: Instant) -> anyhow::Result<u64> {
    let mut n = 0;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(due.into()) => return Ok(n),
            Some(r) = futures_util::StreamExt::next(pending), if !pending.is_empty() => n += delivery_ok(r)?,
        }
    }
}

/// Finds where a partition's messages reach time `t` (ms): the first offset
/// in `low..high` whose message timestamp is `t` or later (`high` when none
/// is). The messages' timestamps are their producers' clocks at sending
/// (or the broker's at appending), so they rise along the log: everything
/// before the answer was sent before `t`.
///
/// The broker's offsets-for-times answer is taken when the messages around
/// it confirm it; otherwise (a broker that answers with the log's start, or
/// not at all) a binary search over the messages' own timestamps finds it,
/// reading one message per step. Blocking: call it off the async workers.
pub fn offset_at_time(
    brokers: &str,
    topic: &str,
    partition: i32,
    t: i64,
    (low, high): (i64, i64),
    timeout: Duration,
) -> anyhow::Result<i64> {
    use rdkafka::{Offset, TopicPartitionList};
    if high <= low {
        return Ok(high);
    }
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "callboard-positioning")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("fetch.wait.max.ms", "10")
        .set("fetch.message.max.bytes", "65536")
        .create()?;
    // The timestamp of the message at `offset` (the next one there is, if
    // compaction or a transaction marker left a gap).
    let at = |offset: i64| -> anyhow::Result<i64> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, Offset::Offset(offset))?;
        reader.assign(&tpl)?;
        let due = Instant::now() + timeout;
        while Instant::now() < due {
            match reader.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    use rdkafka::message::Message;
                    return Ok(m.timestamp().to_millis().unwrap_or(i64::MIN));
                }
                Some(Err(e)) => return Err(e.into()),
                None => {}
            }
        }
        anyhow::bail!("no message at offset {offset} of {topic}/{partition} within {timeout:?}")
    };
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(t))?;
    let answer = reader
        .offsets_for_times(tpl, timeout)
        .ok()
        .and_then(
            |list| match list.find_partition(topic, partition)?.offset() {
                Offset::Offset(o) if (low..=high).contains(&o) => Some(o),
                Offset::End => Some(high),
                _ => None,
            },
        );
    if let Some(o) = answer {
        let before_ok = o == low || at(o - 1)? < t;
        let at_ok = o == high || at(o)? >= t;
        if before_ok && at_ok {
            return Ok(o);
        }
        tracing::debug!(
            topic,
            partition,
            answer = o,
            "the broker's offset for a time is not the first message of that time; searching"
        );
    }
    // The first offset whose time is `t` or later, in `lo..=hi`.
    let (mut lo, mut hi) = (low, high);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if at(mid)? >= t {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(lo)
}
