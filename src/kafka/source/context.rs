//! The consumer's context: librdkafka's callbacks (errors, statistics,
//! rebalances) turned into notes for the consuming task.

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;

use crate::telemetry::{ConsumerLag, Signal};

/// What the client's callbacks tell the consuming task.
#[derive(Debug)]
pub(super) enum Note {
    Assigned(Vec<i32>),
    Revoked(Vec<i32>),
    /// Whether at least one broker is up (from the statistics callback).
    Brokers {
        up: bool,
    },
}

pub(super) struct Ctx {
    pub(super) notes: mpsc::UnboundedSender<Note>,
    pub(super) topic: String,
    /// Assigned partitions wait (paused) until the consuming task has
    /// restored their tenants' standing facts and positioned them.
    pub(super) positioned: bool,
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
                    ConsumerLag {
                        topic: &self.topic,
                        partition: *p,
                        lag: part.consumer_lag,
                    }
                    .emit();
                }
            }
        }
    }
}

impl ConsumerContext for Ctx {
    /// Every assignment starts at the beginning of the retained log (the
    /// state of the partitions' tenants is rebuilt from it), or, with a
    /// state topic, paused there until the consuming task positions it.
    fn rebalance(
        &self,
        base: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let parts: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        // Cooperative: `tpl` is what changes, the rest of the assignment
        // keeps being read. Eager (a group with an older member): it is the
        // whole assignment, given and taken back whole.
        let cooperative = matches!(base.rebalance_protocol(), RebalanceProtocol::Cooperative);
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                if let Err(e) = tpl.set_all_offsets(Offset::Beginning) {
                    tracing::warn!(error = %e, "cannot set the assignment to the log's start");
                }
                // The note goes first: the consuming task must know of the
                // assignment before any of its messages.
                let _ = self.notes.send(Note::Assigned(parts));
                let assigned = if cooperative {
                    base.incremental_assign(tpl)
                } else {
                    base.assign(tpl)
                };
                if let Err(e) = assigned {
                    tracing::error!(error = %e, "kafka assign failed");
                } else if self.positioned
                    && let Err(e) = base.pause(tpl)
                {
                    tracing::warn!(error = %e, "cannot hold the assignment until it is positioned");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                // How far this member read goes to the group before the
                // partitions go: their next owner copies to the dead-letter
                // topic only what lies past it, so a moved partition's bad
                // messages are copied once (not again from the last
                // periodic commit).
                // (Not when the assignment was lost, the group having moved
                // on without this member: its offsets are no one's now.)
                if !base.assignment_lost() {
                    match base.commit_consumer_state(CommitMode::Sync) {
                        // Nothing read since the last commit.
                        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
                        Err(e) => tracing::warn!(
                            error = %e,
                            partitions = ?parts,
                            "offsets not committed before a revocation: the next owner may copy \
                             dead letters read since the last commit again"
                        ),
                    }
                }
                let _ = self.notes.send(Note::Revoked(parts));
                let revoked = if cooperative {
                    base.incremental_unassign(tpl)
                } else {
                    base.unassign()
                };
                if let Err(e) = revoked {
                    tracing::error!(error = %e, "kafka unassign failed");
                }
            }
            other => tracing::warn!(?other, "kafka rebalance error"),
        }
    }
}
