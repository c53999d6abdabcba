//! What is refused: a message keyed by another tenant, and the copy of a
//! refused message to the dead-letter topic with its error.

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::KafkaOptions;
use crate::decode::{Reason, Reject};
use crate::event::{Event, Source};
use crate::telemetry::{DeadLetterDropped, EventsRejected, Signal};

/// The contract keys each message by its tenant: that is what puts a
/// tenant's events on one partition, hence with one owner. An event whose
/// key names another tenant would be counted by a member that does not own
/// that tenant, so it is refused. (A message without a key is read by its
/// body.)
pub(super) fn keyed_by_tenant<'a>(key: Option<&[u8]>, ev: Event<'a>) -> Result<Event<'a>, Reject> {
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

/// Where an event of a batch was read.
pub(super) struct Origin {
    pub(super) partition: i32,
    pub(super) offset: i64,
    /// Below the group's committed offset at assignment: read (and
    /// dead-lettered if refused) before.
    pub(super) read_before: bool,
}

/// A rejected message, as it is copied.
pub(super) struct DeadLetter<'a> {
    pub(super) partition: i32,
    pub(super) offset: i64,
    pub(super) key: Option<&'a [u8]>,
    pub(super) payload: &'a [u8],
}

/// Copies a rejected message to the dead-letter topic, with its error: one
/// that does not decode as it came, one the engine refused as the event it
/// decoded to (contract JSON).
pub(super) fn dead_letter(
    producer: &FutureProducer,
    opts: &KafkaOptions,
    topic: &str,
    m: DeadLetter<'_>,
    r: Reject,
) {
    EventsRejected::one(Source::Kafka, r.reason).emit();
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
            value: Some(topic),
        })
        .insert(Header {
            key: "callboard-source-partition",
            value: Some(&m.partition.to_string()),
        })
        .insert(Header {
            key: "callboard-source-offset",
            value: Some(&m.offset.to_string()),
        });
    let mut record = FutureRecord::<[u8], [u8]>::to(&opts.dlq_topic)
        .payload(m.payload)
        .headers(headers);
    if let Some(k) = m.key {
        record = record.key(k);
    }
    // Handed to librdkafka now; its delivery report is not awaited (a
    // failed copy is logged by librdkafka).
    if let Err((e, _)) = producer.send_result(record) {
        // The queue is full (a flood of bad input, or the broker is away):
        // the copy is dropped, the rejection is still counted.
        DeadLetterDropped.emit();
        tracing::debug!(error = %e, "dead-letter copy dropped");
    }
}
