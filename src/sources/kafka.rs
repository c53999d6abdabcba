//! The Kafka source: one member of a consumer group.
//!
//! On every partition assignment (start included) the assigned partitions
//! are read from the beginning of the retained log with publishing held
//! (status `recovering`), so the state of their tenants is rebuilt from Kafka
//! itself; once every partition has reached the end it had at assignment,
//! the engine goes live. Revoked partitions' tenants are dropped: another
//! member owns them now. Re-reading counts nothing twice (the engine ignores
//! repeated ids and older agent states). Committed offsets only feed lag
//! monitoring.
//!
//! A message that does not decode is copied to the dead-letter topic with
//! its error, and counted. When no broker is reachable, snapshots keep
//! being served marked `stale` until a broker is back.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::decode::{Reason, Reject, check_not_ahead, decode_json};
use crate::event::Event;
use crate::outputs::prometheus as prom;
use crate::service::shard::{Closed, Router, Source, now_ms};
use crate::wire::Status;

/// Where and how to consume.
#[derive(Clone, Debug)]
pub struct KafkaOptions {
    /// `host:port[,host:port...]`
    pub brokers: String,
    /// Topic of contract events (key = tenant).
    pub topic: String,
    /// Consumer group: one per deployment.
    pub group: String,
    /// Where undecodable messages go, with their error.
    pub dlq_topic: String,
    /// Largest accepted message.
    pub max_event_bytes: usize,
    /// How far ahead of the clock an event may be dated, in ms.
    pub max_clock_skew_ms: i64,
}

/// What the client's callbacks tell the consuming task.
#[derive(Debug)]
enum Note {
    Assigned(Vec<i32>),
    Revoked(Vec<i32>),
    /// Whether at least one broker is up (from the statistics callback).
    Brokers {
        up: bool,
    },
}

struct Ctx {
    notes: mpsc::UnboundedSender<Note>,
    topic: String,
}

impl ClientContext for Ctx {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            let _ = self.notes.send(Note::Brokers { up: false });
        }
        tracing::warn!(%error, reason, "kafka client error");
    }

    fn stats(&self, stats: Statistics) {
        let up = stats.brokers.values().any(|b| b.state == "UP");
        let _ = self.notes.send(Note::Brokers { up });
        if let Some(t) = stats.topics.get(&self.topic) {
            for (p, part) in &t.partitions {
                if *p >= 0 && part.consumer_lag >= 0 {
                    prom::set_consumer_lag(&self.topic, *p, part.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for Ctx {
    /// Every assignment starts at the beginning of the retained log: the
    /// state of the partitions' tenants is rebuilt from it.
    fn rebalance(
        &self,
        base: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let parts: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                if let Err(e) = tpl.set_all_offsets(Offset::Beginning) {
                    tracing::warn!(error = %e, "cannot set the assignment to the log's start");
                }
                // The note goes first: the consuming task must know of the
                // assignment before any of its messages.
                let _ = self.notes.send(Note::Assigned(parts));
                if let Err(e) = base.assign(tpl) {
                    tracing::error!(error = %e, "kafka assign failed");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let _ = self.notes.send(Note::Revoked(parts));
                if let Err(e) = base.unassign() {
                    tracing::error!(error = %e, "kafka unassign failed");
                }
            }
            other => tracing::warn!(?other, "kafka rebalance error"),
        }
    }
}

/// Creates a topic unless it exists (checked first, so brokers without the
/// admin API are fine when the topic is there).
pub async fn ensure_topic(brokers: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
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
    let results = admin
        .create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
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

/// Progress of rebuilding the assigned partitions.
#[derive(Default)]
struct Recovery {
    /// The group has given this member its partitions at least once.
    assigned_once: bool,
    /// Partition -> offset it must reach (the end at assignment).
    pending: HashMap<i32, i64>,
    /// Partition -> where it started, for progress.
    low: HashMap<i32, i64>,
    /// Partition -> last offset read while recovering.
    at: HashMap<i32, i64>,
    /// Partition -> the group's committed offset at assignment: messages
    /// below it were handled (dead-lettered included) before.
    committed: HashMap<i32, i64>,
    events: u64,
    since: Option<Instant>,
    last_log: Option<Instant>,
}

/// Consumes until `shutdown`; calls `on_live` each time the assigned
/// partitions are rebuilt.
pub async fn run(
    opts: KafkaOptions,
    router: Router,
    on_status: impl Fn(Status) + Send + 'static,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (tx, mut notes) = mpsc::unbounded_channel();
    let consumer: StreamConsumer<Ctx> = ClientConfig::new()
        .set("bootstrap.servers", &opts.brokers)
        .set("group.id", &opts.group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("statistics.interval.ms", "1000")
        // A member that vanished (killed) is replaced within seconds.
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .set("enable.partition.eof", "false")
        .set_log_level(RDKafkaLogLevel::Warning)
        .create_with_context(Ctx {
            notes: tx,
            topic: opts.topic.clone(),
        })?;
    let consumer = Arc::new(consumer);
    consumer.subscribe(&[&opts.topic])?;
    // Dead letters are handed to librdkafka's own bounded queue and sent by
    // its thread: no task per message, and a flood of bad input costs at
    // most that queue (beyond it, copies are dropped and counted).
    let dlq: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &opts.brokers)
        .set("message.timeout.ms", "30000")
        .set("queue.buffering.max.messages", "10000")
        .set("queue.buffering.max.kbytes", "65536")
        .create()?;
    if let Err(e) = ensure_topic(&opts.brokers, &opts.dlq_topic, 1).await {
        tracing::warn!(error = %e, topic = %opts.dlq_topic, "dead-letter topic not created");
    }

    let mut assigned: HashSet<i32> = HashSet::new();
    let mut tenants: HashMap<i32, HashSet<Arc<str>>> = HashMap::new();
    let mut recovery = Recovery::default();
    let mut status = Status::Recovering;
    let mut brokers_up = true;
    router.status(Status::Recovering).await?;
    on_status(Status::Recovering);
    let mut commit = tokio::time::interval(Duration::from_secs(5));
    let mut batch: Vec<Event<'static>> = Vec::new();

    loop {
        tokio::select! {
            msg = consumer.recv() => {
                // Notes first: an assignment or revocation comes before its messages.
                while let Ok(note) = notes.try_recv() {
                    handle_note(note, &consumer, &opts, &router, &mut assigned, &mut tenants,
                        &mut recovery, &mut brokers_up).await?;
                }
                let mut msgs = vec![msg];
                // Whatever else is ready joins the batch.
                while msgs.len() < 1024 {
                    match consumer.recv().now_or_never() {
                        Some(m) => msgs.push(m),
                        None => break,
                    }
                }
                for m in msgs {
                    let m = match m {
                        Ok(m) => m,
                        Err(e) => {
                            tracing::warn!(error = %e, "kafka receive error");
                            continue;
                        }
                    };
                    let p = m.partition();
                    if !assigned.contains(&p) {
                        continue;
                    }
                    let bytes = m.payload().unwrap_or_default();
                    let decoded = decode_json(bytes, opts.max_event_bytes)
                        .and_then(|ev| keyed_by_tenant(m.key(), ev))
                        .and_then(|ev| {
                            check_not_ahead(ev.ts, now_ms(), opts.max_clock_skew_ms).map(|()| ev)
                        });
                    match decoded {
                        Ok(ev) => {
                            let ev = ev.into_owned();
                            if !tenants.get(&p).is_some_and(|s| s.contains(&*ev.tenant)) {
                                tenants.entry(p).or_default().insert(Arc::from(&*ev.tenant));
                            }
                            batch.push(ev);
                        }
                        // Below the group's committed offset the message was
                        // read (and dead-lettered) before: a rebuild re-reads
                        // it and must not copy or count it again.
                        Err(_) if recovery.committed.get(&p).is_some_and(|&c| m.offset() < c) => {}
                        Err(r) => dead_letter(&dlq, &opts, &m, r),
                    }
                    if let Some(&end) = recovery.pending.get(&p) {
                        recovery.events += 1;
                        recovery.at.insert(p, m.offset());
                        if m.offset() + 1 >= end {
                            recovery.pending.remove(&p);
                        }
                    }
                }
                if !batch.is_empty() {
                    router.send(Source::Kafka, std::mem::take(&mut batch)).await?;
                }
                log_progress(&mut recovery, &opts);
                let next = next_status(&recovery, brokers_up);
                if next != status {
                    status = next;
                    router.status(status).await?;
                    on_status(status);
                    if status == Status::Live {
                        tracing::info!(events = recovery.events, "kafka: assigned partitions rebuilt, live");
                    }
                }
            }
            note = notes.recv() => {
                if let Some(note) = note {
                    handle_note(note, &consumer, &opts, &router, &mut assigned, &mut tenants,
                        &mut recovery, &mut brokers_up).await?;
                    let next = next_status(&recovery, brokers_up);
                    if next != status {
                        status = next;
                        router.status(status).await?;
                        on_status(status);
                    }
                }
            }
            _ = commit.tick() => {
                // Offsets only feed lag monitoring; there may be none yet.
                let _ = consumer.commit_consumer_state(CommitMode::Async);
            }
            _ = shutdown.cancelled() => break,
        }
    }
    let _ = consumer.commit_consumer_state(CommitMode::Sync);
    consumer.unsubscribe();
    // Dead letters still queued go out before the producer is dropped.
    let _ = tokio::task::block_in_place(|| dlq.flush(Duration::from_secs(5)));
    Ok(())
}

fn next_status(recovery: &Recovery, brokers_up: bool) -> Status {
    if !recovery.assigned_once || !recovery.pending.is_empty() {
        Status::Recovering
    } else if !brokers_up {
        Status::Stale
    } else {
        Status::Live
    }
}

#[allow(clippy::too_many_arguments)]
async fn handle_note(
    note: Note,
    consumer: &StreamConsumer<Ctx>,
    opts: &KafkaOptions,
    router: &Router,
    assigned: &mut HashSet<i32>,
    tenants: &mut HashMap<i32, HashSet<Arc<str>>>,
    recovery: &mut Recovery,
    brokers_up: &mut bool,
) -> Result<(), Closed> {
    match note {
        Note::Assigned(parts) => {
            router.status(Status::Recovering).await?;
            let mut tpl = TopicPartitionList::new();
            for &p in &parts {
                tpl.add_partition(&opts.topic, p);
            }
            let committed = tokio::task::block_in_place(|| {
                consumer.committed_offsets(tpl, Duration::from_secs(10))
            });
            match committed {
                Ok(list) => {
                    for e in list.elements() {
                        if let Offset::Offset(o) = e.offset() {
                            recovery.committed.insert(e.partition(), o);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read committed offsets; dead letters of a rebuild may repeat")
                }
            }
            for p in parts {
                assigned.insert(p);
                let marks = tokio::task::block_in_place(|| {
                    consumer.fetch_watermarks(&opts.topic, p, Duration::from_secs(10))
                });
                match marks {
                    Ok((low, high)) if high > low => {
                        recovery.pending.insert(p, high);
                        recovery.low.insert(p, low);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(partition = p, error = %e, "cannot read the partition's end; treating it as empty");
                    }
                }
            }
            recovery.since = Some(Instant::now());
            recovery.events = 0;
            recovery.assigned_once = true;
            tracing::info!(partitions = ?assigned, "kafka: partitions assigned, rebuilding from the log");
        }
        Note::Revoked(parts) => {
            let mut gone = Vec::new();
            for p in parts {
                assigned.remove(&p);
                recovery.pending.remove(&p);
                recovery.committed.remove(&p);
                gone.extend(tenants.remove(&p).unwrap_or_default());
            }
            tracing::info!(tenants = gone.len(), "kafka: partitions revoked");
            router.forget(gone).await?;
        }
        Note::Brokers { up } => *brokers_up = up,
    }
    Ok(())
}

fn log_progress(recovery: &mut Recovery, opts: &KafkaOptions) {
    if recovery.pending.is_empty() {
        return;
    }
    let now = Instant::now();
    if recovery
        .last_log
        .is_some_and(|t| now - t < Duration::from_secs(1))
    {
        return;
    }
    recovery.last_log = Some(now);
    let secs = recovery
        .since
        .map_or(1.0, |s| (now - s).as_secs_f64().max(0.001));
    let (mut done, mut total) = (0i64, 0i64);
    for (p, &end) in &recovery.pending {
        let low = recovery.low.get(p).copied().unwrap_or(0);
        let at = recovery.at.get(p).copied().unwrap_or(low);
        done += (at - low).max(0);
        total += (end - low).max(1);
    }
    tracing::info!(
        topic = %opts.topic,
        events = recovery.events,
        events_per_s = (recovery.events as f64 / secs) as u64,
        partitions_left = recovery.pending.len(),
        percent_of_left = (done * 100 / total.max(1)),
        "kafka: recovering"
    );
}

/// The contract keys each message by its tenant: that is what puts a
/// tenant's events on one partition, hence with one owner. An event whose
/// key names another tenant would be counted by a member that does not own
/// that tenant, so it is refused. (A message without a key is read by its
/// body.)
fn keyed_by_tenant<'a>(key: Option<&[u8]>, ev: Event<'a>) -> Result<Event<'a>, Reject> {
    match key {
        Some(k) if k != ev.tenant.as_bytes() => Err(Reject::new(
            Reason::InvalidField,
            format!(
                "the message key `{}` is not the event's tenant `{}`: key each event by its tenant",
                String::from_utf8_lossy(k),
                ev.tenant
            ),
        )),
        _ => Ok(ev),
    }
}

/// Copies an undecodable message to the dead-letter topic, with its error.
fn dead_letter(
    producer: &FutureProducer,
    opts: &KafkaOptions,
    m: &rdkafka::message::BorrowedMessage<'_>,
    r: Reject,
) {
    prom::record_rejected(Source::Kafka, r.reason, 1);
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: "callboard-error-reason",
            value: Some(r.reason.as_str()),
        })
        .insert(Header {
            key: "callboard-error",
            value: Some(&r.to_string()),
        })
        .insert(Header {
            key: "callboard-source-topic",
            value: Some(m.topic()),
        })
        .insert(Header {
            key: "callboard-source-partition",
            value: Some(&m.partition().to_string()),
        })
        .insert(Header {
            key: "callboard-source-offset",
            value: Some(&m.offset().to_string()),
        });
    let mut record = FutureRecord::<[u8], [u8]>::to(&opts.dlq_topic)
        .payload(m.payload().unwrap_or_default())
        .headers(headers);
    if let Some(k) = m.key() {
        record = record.key(k);
    }
    // Handed to librdkafka now; its delivery report is not awaited (a
    // failed copy is logged by librdkafka).
    if let Err((e, _)) = producer.send_result(record) {
        // The queue is full (a flood of bad input, or the broker is away):
        // the copy is dropped, the rejection is still counted.
        prom::record_dead_letter_dropped();
        tracing::debug!(error = %e, "dead-letter copy dropped");
    }
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
            let wait = ev.ts - jiff::Timestamp::now().as_millisecond();
            if wait > 0 {
                let due = Instant::now() + Duration::from_millis(wait as u64);
                delivered += settle_until(&mut pending, due).await?;
            }
        }
        let payload = crate::wire::encode_event(&ev);
        let mut record = FutureRecord::to(topic).key(&*ev.tenant).payload(&payload);
        // `send_result` hands the message to librdkafka now, so it goes out
        // when it is due, whoever polls the delivery report and whenever.
        loop {
            match producer.send_result(record) {
                Ok(delivery) => {
                    pending.push(delivery);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    match futures_util::StreamExt::next(&mut pending).await {
                        Some(r) => delivered += delivery_ok(r)?,
                        None => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
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

type Deliveries = futures_util::stream::FuturesUnordered<rdkafka::producer::DeliveryFuture>;

/// 1 for a delivered message; the broker's error otherwise.
fn delivery_ok<Canceled>(
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
