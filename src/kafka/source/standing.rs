//! Standing facts through the state topic: restored and the partitions
//! positioned by time on assignment, written by the owner as they change.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};

use super::Member;
use crate::kafka::offset_at_time;
use crate::service::shard::Closed;
use crate::wire::Standing;

impl Member {
    /// Restores the standing facts of the assigned partitions' tenants and
    /// positions each partition at the first message sent at or after the
    /// oldest of their instants, less the margin; `ends` (low, high) take
    /// the positions as their lows. A partition without standing facts
    /// (its first assignment since the topic had none) is read whole.
    pub(super) async fn position(
        &mut self,
        parts: &[i32],
        state_topic: &str,
        ends: &mut HashMap<i32, (i64, i64)>,
    ) -> Result<(), Closed> {
        let mut restored = Vec::new();
        let mut positioned: Vec<(i32, i64)> = Vec::new();
        let mut tpl = TopicPartitionList::new();
        for &p in parts {
            tpl.add_partition(&self.opts.topic, p);
            let standings =
                tokio::task::block_in_place(|| read_standings(&self.opts.brokers, state_topic, p));
            let standings = match standings {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(partition = p, error = %e, "cannot read the state topic: the partition is read whole");
                    Vec::new()
                }
            };
            let Some(from) = standings.iter().map(|s| s.as_of).min() else {
                tracing::info!(
                    partition = p,
                    "no standing facts for the partition: it is read whole"
                );
                continue;
            };
            let from = from.saturating_sub(self.opts.rebuild_margin_ms);
            let Some(&(low, high)) = ends.get(&p) else {
                continue;
            };
            let offset = tokio::task::block_in_place(|| {
                offset_at_time(
                    &self.opts.brokers,
                    &self.opts.topic,
                    p,
                    from,
                    (low, high),
                    Duration::from_secs(10),
                )
            });
            match offset {
                Ok(offset) => {
                    tracing::info!(
                        partition = p,
                        tenants = standings.len(),
                        from = %crate::time::format_rfc3339(from),
                        offset,
                        skipped = offset - low,
                        "kafka: partition positioned at the start of yesterday"
                    );
                    let set = self.tenants.entry(p).or_default();
                    set.extend(standings.iter().map(|s| s.tenant.clone()));
                    restored.extend(standings);
                    positioned.push((p, offset));
                }
                Err(e) => {
                    tracing::warn!(partition = p, error = %e, "cannot position the partition by time: it is read whole");
                }
            }
        }
        // Before any event of the partitions: their tenants' facts.
        self.router.restore(restored).await?;
        let consumer = self.consumer.clone();
        tokio::task::block_in_place(|| {
            for (p, offset) in positioned {
                let sought = consumer.seek(
                    &self.opts.topic,
                    p,
                    Offset::Offset(offset),
                    Duration::from_secs(10),
                );
                match sought {
                    Ok(()) => {
                        self.start_at.insert(p, offset);
                        if let Some(e) = ends.get_mut(&p) {
                            e.0 = offset;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(partition = p, error = %e, "cannot seek: the partition is read whole")
                    }
                }
            }
            if let Err(e) = consumer.resume(&tpl) {
                tracing::error!(error = %e, "cannot resume the assigned partitions");
            }
        });
        Ok(())
    }

    /// Writes the standing facts of the owned tenants that changed since
    /// last written, each to its events' partition of the state topic.
    pub(super) async fn write_standings(&mut self) -> Result<(), Closed> {
        let Some(state_topic) = self.opts.state_topic.clone() else {
            return Ok(());
        };
        let mut partition_of: HashMap<Arc<str>, i32> = HashMap::new();
        for (&p, tenants) in &self.tenants {
            for t in tenants {
                partition_of.insert(t.clone(), p);
            }
        }
        let standings = self
            .router
            .standings(partition_of.keys().cloned().collect())
            .await?;
        let mut written = 0;
        for s in standings {
            let Some(&p) = partition_of.get(&s.tenant) else {
                continue;
            };
            let payload = match serde_json::to_vec(&s) {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(tenant = %s.tenant, error = %e, "standing facts not serialised");
                    continue;
                }
            };
            let hash = xxhash_rust::xxh3::xxh3_64(&payload);
            if self.standing_written.get(&s.tenant) == Some(&hash) {
                continue;
            }
            let record = FutureRecord::to(&state_topic)
                .partition(p)
                .key(&*s.tenant)
                .payload(&payload);
            match self.dlq.send(record, Duration::from_secs(10)).await {
                Ok(_) => {
                    self.standing_written.insert(s.tenant.clone(), hash);
                    written += 1;
                }
                Err((e, _)) => {
                    tracing::warn!(tenant = %s.tenant, error = %e, "standing facts not written; tried again later");
                }
            }
        }
        if written > 0 {
            tracing::debug!(tenants = written, "kafka: standing facts written");
        }
        Ok(())
    }
}

/// How often owners write their tenants' standing facts that changed (a
/// new day, or a late event that changed them).
pub(super) const STANDING_EVERY: Duration = Duration::from_secs(60);

/// The newest standing facts of each tenant on one partition of the state
/// topic (blocking).
fn read_standings(brokers: &str, topic: &str, partition: i32) -> anyhow::Result<Vec<Standing>> {
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "callboard-standing")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()?;
    let (low, high) = reader.fetch_watermarks(topic, partition, Duration::from_secs(10))?;
    let mut newest: HashMap<String, Standing> = HashMap::new();
    if high <= low {
        return Ok(Vec::new());
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(low))?;
    reader.assign(&tpl)?;
    let due = Instant::now() + Duration::from_secs(60);
    // The next offset to read: up to the end there was when asked.
    let mut next = low;
    while next < high {
        anyhow::ensure!(
            Instant::now() < due,
            "the state topic's partition {partition} was not read to its end ({next} of {high}) within 60 s"
        );
        let Some(m) = reader.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = m?;
        let at = m.offset();
        next = at + 1;
        let bytes = m.payload().unwrap_or_default();
        match serde_json::from_slice::<Standing>(bytes) {
            Ok(s) if s.v == 1 && m.key() == Some(s.tenant.as_bytes()) => {
                newest.insert(s.tenant.to_string(), s);
            }
            Ok(_) => tracing::warn!(
                partition,
                offset = at,
                "standing facts of another version or key skipped"
            ),
            Err(e) => {
                tracing::warn!(partition, offset = at, error = %e, "standing facts that do not parse skipped")
            }
        }
    }
    Ok(newest.into_values().collect())
}
