//! Where events come from. Each source yields bytes (and a position); the
//! decoding is always `crate::decode`'s.

pub mod lines;
