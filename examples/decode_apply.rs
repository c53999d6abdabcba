//! Decode + apply throughput, the work of `callboard replay` and of a Kafka
//! rebuild, on the benchmark's traffic (a large tenant's four busy hours,
//! both `ts` forms). Prints the best of several passes, since a shared
//! machine only ever slows a pass down; under `valgrind --tool=callgrind`
//! with `--passes 1` it gives instruction counts that do not move with the
//! machine's load.
//!
//! `--write FILE` also writes the traffic to FILE, for timing the whole
//! process: `callboard replay --input FILE`.
//!
//! `cargo run --release --example decode_apply [-- --passes N] [--write FILE]`

use std::sync::Arc;
use std::time::Instant;

use callboard::config::Config;
use callboard::decode::decode_json;
use callboard::engine::Engine;
use callboard::sim::{SimConfig, Simulator};
use callboard::time::parse_rfc3339;
use callboard::wire::{TsValue, WireEvent};

/// One pass: every line decoded and applied to a new engine. (Its own
/// function, so that an instruction count can single it out.)
#[inline(never)]
fn pass(ndjson: &[u8]) -> u64 {
    let mut engine = Engine::new(Arc::new(Config::default()));
    let mut applied = 0u64;
    for line in ndjson.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        if let Ok(ev) = decode_json(line, 64 * 1024) {
            engine.apply(&ev);
            applied += 1;
        }
    }
    applied
}

fn main() {
    let passes: usize = std::env::args()
        .skip_while(|a| a != "--passes")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(7);
    let start = parse_rfc3339("2026-11-21T08:00:00+09:00").expect("a valid time");
    let end = start + 4 * 3_600_000;
    let mut ndjson = Vec::new();
    let mut n = 0u64;
    for (i, e) in Simulator::new(SimConfig::large(1000, 100, start, 7))
        .take_while(|e| e.ts < end)
        .enumerate()
    {
        let mut w = WireEvent::from(&e);
        if i % 2 == 1 {
            w.ts = Some(TsValue::Millis(e.ts));
        }
        serde_json::to_writer(&mut ndjson, &w).expect("a wire event serialises");
        ndjson.push(b'\n');
        n += 1;
    }
    if let Some(path) = std::env::args().skip_while(|a| a != "--write").nth(1) {
        std::fs::write(&path, &ndjson).expect("the traffic written");
        println!("{n} events written to {path}");
    }
    let mut best = f64::MAX;
    for _ in 0..passes {
        let t = Instant::now();
        assert_eq!(pass(&ndjson), n, "every event decodes");
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "decode + apply: {n} events, best of {passes} passes {:.1} ms, {:.2} M events/s ({:.0} ns/event)",
        best * 1e3,
        n as f64 / best / 1e6,
        best * 1e9 / n as f64
    );
}
