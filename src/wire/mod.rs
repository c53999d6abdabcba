//! The wire types: everything callboard reads or writes as JSON. They match
//! `schemas/event.schema.json` and `schemas/snapshot.schema.json`, and a test
//! validates real output against those schemas.
//!
//! One file per face: `event` (input), `snapshot` (output), `deflate`
//! (a websocket message compressed, on its own),
//! `counts` (a queue's call counters, declared once),
//! `history` (interval rows and reports), `standing` (the state
//! topic's facts). Their types are all here, at `crate::wire::*`.

mod counts;
mod deflate;
mod event;
mod history;
mod snapshot;
mod standing;

pub use counts::*;
pub use deflate::{deflate, inflate};
pub use event::*;
pub use history::*;
pub use snapshot::*;
pub use standing::*;
