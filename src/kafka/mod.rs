//! Everything that speaks to a broker: the clients and topic creation
//! ([`client`]), the consumer-group member that feeds the engine
//! ([`source`]), the snapshot topic that replicates each owner's
//! publications to every instance ([`snapshots`]). The commands that use a
//! broker (`simulate`, `forward`, `history rebuild`) take their clients
//! from here.

pub mod client;
pub mod snapshots;
pub mod source;

pub use client::{
    Deliveries, delivery_ok, enqueue, ensure_compacted_topic, ensure_topic, offset_at_time,
    partition_count, produce, recv_batch,
};
pub use source::{KafkaOptions, run};
