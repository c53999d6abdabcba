//! The Kafka source: one member of a consumer group.
//!
//! The group rebalances incrementally (cooperative-sticky): a rebalance
//! gives and takes only the partitions that move, and a member goes on
//! reading the ones it keeps. On every assignment (start included) the newly
//! assigned partitions' tenants are rebuilt from Kafka itself with their
//! publishing held (status `recovering`; the shards keep publishing the
//! tenants they already had): their standing facts restored from the state
//! topic and each partition read from the start of yesterday
//! (`standing.rs`), or from the beginning of the retained log where it has
//! none; once every partition has reached the end it had at assignment,
//! the engine goes live. Revoked partitions' tenants are dropped: another
//! member owns them now. Re-reading counts nothing twice (the engine ignores
//! repeated ids and older agent states). Committed offsets only feed lag
//! monitoring.
//!
//! A message that does not decode, or whose event the engine refuses (past
//! a bound, of a closed day), is copied to the dead-letter topic with its
//! error, and counted. When no broker is reachable, snapshots keep
//! being served marked `stale` until a broker is back.

mod context;
mod dead_letter;
mod standing;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::{FutureProducer, Producer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use context::{Ctx, Note};
use dead_letter::{DeadLetter, Origin, dead_letter, keyed_by_tenant};

use crate::decode::{check_not_ahead, decode_json};
use crate::event::{Event, Source};
use crate::kafka::{ensure_compacted_topic, ensure_topic, partition_count, recv_batch};
use crate::service::feed::{Feed, FeedContext, SourceId};
use crate::service::shard::{Closed, Router};
use crate::telemetry::{RebuildFinished, Signal};
use crate::time::now_ms;
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
    /// Compacted topic of the tenants' standing facts: a rebuild reads the
    /// events from the start of yesterday on. `None`: the whole log.
    pub state_topic: Option<String>,
    /// Compacted topic of every instance's snapshots (`snapshots.rs`).
    /// `None`: this instance serves only the tenants it computes.
    pub snapshot_topic: Option<String>,
    /// How long before the standing facts' instant a rebuild starts
    /// reading: the longest a call may wait plus the clock skew, so that
    /// calls still waiting then and events sent early are read.
    pub rebuild_margin_ms: i64,
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
    /// The end of this rebuild was logged and measured.
    reported: bool,
}

/// One member of the consumer group: its consumer, what it owns, and how
/// far its rebuild has come.
struct Member {
    consumer: Arc<StreamConsumer<Ctx>>,
    dlq: FutureProducer,
    opts: KafkaOptions,
    router: Router,
    /// Partitions this member owns.
    assigned: HashSet<i32>,
    /// Tenants seen on each owned partition (dropped when it is revoked).
    tenants: HashMap<i32, HashSet<Arc<str>>>,
    recovery: Recovery,
    status: Status,
    brokers_up: bool,
    /// Partition -> the first offset the rebuild reads (messages before it
    /// that were fetched before the partition was positioned are skipped).
    start_at: HashMap<i32, i64>,
    /// Tenant -> the standing facts last written to the state topic (a
    /// hash of the record), to write only what changed.
    standing_written: HashMap<Arc<str>, u64>,
}

/// Consumes until `shutdown`: recovering while the assigned partitions are
/// rebuilt, live after, stale while no broker answers.
pub async fn run(
    opts: KafkaOptions,
    router: Router,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (tx, mut notes) = mpsc::unbounded_channel();
    let consumer: StreamConsumer<Ctx> = ClientConfig::new()
        .set("bootstrap.servers", &opts.brokers)
        .set("group.id", &opts.group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("statistics.interval.ms", "1000")
        // A member that vanished (killed) is replaced within seconds: the
        // least session a Kafka broker accepts by default
        // (group.min.session.timeout.ms), heartbeats well inside it.
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "1000")
        // Incremental rebalancing: a member keeps reading (and publishing)
        // the partitions it keeps while the group moves others; only the
        // moved partitions are rebuilt.
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("enable.partition.eof", "false")
        .set_log_level(RDKafkaLogLevel::Warning)
        .create_with_context(Ctx {
            notes: tx,
            topic: opts.topic.clone(),
            positioned: opts.state_topic.is_some(),
        })?;
    let consumer = Arc::new(consumer);
    consumer.subscribe(&[&opts.topic])?;
    // Dead letters are handed to librdkafka's own bounded queue and sent by
    // its thread: no task per message, and a flood of bad input costs at
    // most that queue (beyond it, copies are dropped and counted).
    // The same producer writes the standing facts: a large tenant's are a
    // few megabytes of JSON, compressed tenfold in the batch.
    let dlq: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &opts.brokers)
        .set("message.timeout.ms", "30000")
        .set("compression.type", "lz4")
        .set("message.max.bytes", "16777216")
        .set("queue.buffering.max.messages", "10000")
        .set("queue.buffering.max.kbytes", "65536")
        .create()?;
    if let Err(e) = ensure_topic(&opts.brokers, &opts.dlq_topic, 1).await {
        tracing::warn!(error = %e, topic = %opts.dlq_topic, "dead-letter topic not created");
    }
    if let Some(state_topic) = &opts.state_topic {
        // As many partitions as the events: a tenant's facts sit on the
        // partition number of its events.
        let partitions =
            tokio::task::block_in_place(|| partition_count(&opts.brokers, &opts.topic))
                .ok()
                .flatten()
                .unwrap_or(1);
        if let Err(e) = ensure_compacted_topic(&opts.brokers, state_topic, partitions, None).await {
            tracing::warn!(error = %e, topic = %state_topic, "state topic not created");
        }
    }
    router.status(&SourceId::Kafka, Status::Recovering).await?;
    let mut member = Member {
        consumer: consumer.clone(),
        dlq,
        opts,
        router,
        assigned: HashSet::new(),
        tenants: HashMap::new(),
        recovery: Recovery::default(),
        status: Status::Recovering,
        brokers_up: true,
        start_at: HashMap::new(),
        standing_written: HashMap::new(),
    };
    let mut standings = tokio::time::interval(standing::STANDING_EVERY);
    standings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut commit = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            msgs = recv_batch(&consumer, 1024) => {
                // Notes first: an assignment or revocation comes before its messages.
                while let Ok(note) = notes.try_recv() {
                    member.note(note).await?;
                }
                member.messages(msgs).await?;
                log_progress(&mut member.recovery, &member.opts);
                member.update_status().await?;
            }
            note = notes.recv() => {
                if let Some(note) = note {
                    member.note(note).await?;
                    member.update_status().await?;
                }
            }
            _ = standings.tick(), if member.opts.state_topic.is_some() && member.status != Status::Recovering => {
                member.write_standings().await?;
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
    let _ = tokio::task::block_in_place(|| member.dlq.flush(Duration::from_secs(5)));
    Ok(())
}

impl Member {
    /// Decodes a batch of messages of owned partitions and routes the events;
    /// dead-letters what does not decode; tracks the rebuild.
    async fn messages(&mut self, msgs: Vec<BorrowedMessage<'_>>) -> Result<(), Closed> {
        let mut batch: Vec<Event<'static>> = Vec::new();
        // Where each event of the batch was read, for a dead letter.
        let mut origins: Vec<Origin> = Vec::new();
        for m in msgs {
            let p = m.partition();
            if !self.assigned.contains(&p) || self.start_at.get(&p).is_some_and(|&o| m.offset() < o)
            {
                continue;
            }
            let bytes = m.payload().unwrap_or_default();
            let decoded = decode_json(bytes, self.opts.max_event_bytes)
                .and_then(|ev| keyed_by_tenant(m.key(), ev))
                .and_then(|ev| {
                    check_not_ahead(ev.ts, now_ms(), self.opts.max_clock_skew_ms).map(|()| ev)
                });
            match decoded {
                Ok(ev) => {
                    let ev = ev.into_owned();
                    if !self
                        .tenants
                        .get(&p)
                        .is_some_and(|s| s.contains(&*ev.tenant))
                    {
                        self.tenants
                            .entry(p)
                            .or_default()
                            .insert(Arc::from(&*ev.tenant));
                    }
                    batch.push(ev);
                    origins.push(Origin {
                        partition: p,
                        offset: m.offset(),
                        read_before: self
                            .recovery
                            .committed
                            .get(&p)
                            .is_some_and(|&c| m.offset() < c),
                    });
                }
                // Below the group's committed offset the message was read
                // (and dead-lettered) before: a rebuild re-reads it and must
                // not copy or count it again.
                Err(_)
                    if self
                        .recovery
                        .committed
                        .get(&p)
                        .is_some_and(|&c| m.offset() < c) => {}
                Err(r) => {
                    let dead = DeadLetter {
                        partition: m.partition(),
                        offset: m.offset(),
                        key: m.key(),
                        payload: m.payload().unwrap_or_default(),
                    };
                    dead_letter(&self.dlq, &self.opts, m.topic(), dead, r)
                }
            }
            if let Some(&end) = self.recovery.pending.get(&p) {
                self.recovery.events += 1;
                self.recovery.at.insert(p, m.offset());
                if m.offset() + 1 >= end {
                    self.recovery.pending.remove(&p);
                }
            }
        }
        if !batch.is_empty() {
            // What the engine refuses (past a bound, of a closed day) is
            // dead-lettered too, once its answer comes; meanwhile the member
            // reads on.
            let pending = self.router.submit(Source::Kafka, batch, None).await?;
            let (dlq, opts) = (self.dlq.clone(), self.opts.clone());
            tokio::spawn(async move {
                let Ok(refused) = pending.refused().await else {
                    return;
                };
                for r in refused {
                    let o = &origins[r.index];
                    // Read and dead-lettered before: a rebuild re-reads it.
                    if o.read_before {
                        continue;
                    }
                    let payload = serde_json::to_vec(&crate::wire::WireEvent::from(&r.event))
                        .unwrap_or_default();
                    let dead = DeadLetter {
                        partition: o.partition,
                        offset: o.offset,
                        key: Some(r.event.tenant.as_bytes()),
                        payload: &payload,
                    };
                    dead_letter(&dlq, &opts, &opts.topic, dead, r.reject);
                }
            });
        }
        Ok(())
    }

    /// Tells the service when the member's status changes.
    async fn update_status(&mut self) -> Result<(), Closed> {
        let next = next_status(&self.recovery, self.brokers_up);
        if next != self.status {
            self.status = next;
            self.router.status(&SourceId::Kafka, next).await?;
            if next == Status::Live && !self.recovery.reported {
                self.recovery.reported = true;
                let took = self.recovery.since.map_or(Duration::ZERO, |s| s.elapsed());
                tracing::info!(
                    events = self.recovery.events,
                    took_s = format!("{:.2}", took.as_secs_f64()),
                    "kafka: assigned partitions rebuilt, live"
                );
                RebuildFinished {
                    topic: &self.opts.topic,
                    events: self.recovery.events,
                    took,
                }
                .emit();
                if self.opts.state_topic.is_some() {
                    self.write_standings().await?;
                }
            }
        }
        Ok(())
    }

    /// What the client's callbacks said: partitions assigned (rebuild them
    /// from the log) or revoked (forget their tenants), brokers up or down.
    async fn note(&mut self, note: Note) -> Result<(), Closed> {
        match note {
            // A cooperative rebalance's second round may give nothing new.
            Note::Assigned(parts) if parts.is_empty() && self.recovery.assigned_once => {}
            Note::Assigned(parts) => {
                self.router
                    .status(&SourceId::Kafka, Status::Recovering)
                    .await?;
                self.status = Status::Recovering;
                let mut tpl = TopicPartitionList::new();
                for &p in &parts {
                    tpl.add_partition(&self.opts.topic, p);
                }
                let committed = tokio::task::block_in_place(|| {
                    self.consumer
                        .committed_offsets(tpl, Duration::from_secs(10))
                });
                match committed {
                    Ok(list) => {
                        for e in list.elements() {
                            if let Offset::Offset(o) = e.offset() {
                                self.recovery.committed.insert(e.partition(), o);
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read committed offsets; dead letters of a rebuild may repeat")
                    }
                }
                let mut ends = HashMap::new();
                for &p in &parts {
                    self.assigned.insert(p);
                    let marks = tokio::task::block_in_place(|| {
                        self.consumer
                            .fetch_watermarks(&self.opts.topic, p, Duration::from_secs(10))
                    });
                    match marks {
                        Ok((low, high)) => {
                            ends.insert(p, (low, high));
                        }
                        Err(e) => {
                            tracing::warn!(partition = p, error = %e, "cannot read the partition's end; treating it as empty");
                        }
                    }
                }
                if let Some(state_topic) = self.opts.state_topic.clone() {
                    self.position(&parts, &state_topic, &mut ends).await?;
                }
                for (p, (low, high)) in ends {
                    if high > low {
                        self.recovery.pending.insert(p, high);
                        self.recovery.low.insert(p, low);
                    }
                }
                self.recovery.since = Some(Instant::now());
                self.recovery.events = 0;
                self.recovery.reported = false;
                self.recovery.assigned_once = true;
                tracing::info!(assigned = ?parts, owned = ?self.assigned, "kafka: partitions assigned, rebuilding them from the log");
            }
            Note::Revoked(parts) => {
                let mut gone = Vec::new();
                for &p in &parts {
                    self.assigned.remove(&p);
                    self.recovery.pending.remove(&p);
                    self.recovery.committed.remove(&p);
                    self.start_at.remove(&p);
                    gone.extend(self.tenants.remove(&p).unwrap_or_default());
                }
                for t in &gone {
                    self.standing_written.remove(t);
                }
                tracing::info!(revoked = ?parts, tenants = gone.len(), "kafka: partitions revoked");
                self.router.forget(gone).await?;
            }
            Note::Brokers { up } => self.brokers_up = up,
        }
        Ok(())
    }
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
        elapsed_s = format!("{secs:.1}"),
        partitions_left = recovery.pending.len(),
        percent_of_left = (done * 100 / total.max(1)),
        "kafka: recovering"
    );
}

/// The consumer group's member as a feed of the service.
pub struct KafkaFeed(pub KafkaOptions);

impl Feed for KafkaFeed {
    fn id(&self) -> SourceId {
        SourceId::Kafka
    }

    fn vital(&self) -> bool {
        true
    }

    fn run(self: Box<Self>, ctx: FeedContext) -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(run(self.0, ctx.router, ctx.stop))
    }
}
