//! The engine's hot paths: applying decoded events, decoding and applying
//! NDJSON, and building + serialising a large tenant's snapshot.
//!
//! `cargo bench --bench engine`; docs/performance.md quotes the figures.

use std::hint::black_box;
use std::sync::Arc;

use callboard::config::Config;
use callboard::decode::decode_json;
use callboard::engine::Engine;
use callboard::event::Event;
use callboard::sim::{SimConfig, Simulator};
use callboard::time::{Millis, parse_rfc3339};
use callboard::wire::{Status, TsValue, WireEvent};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

fn start() -> Millis {
    parse_rfc3339("2026-11-21T08:00:00+09:00").unwrap()
}

/// A busy day's traffic of a large tenant: `hours` of it from 08:00.
fn traffic(agents: usize, queues: usize, hours: i64) -> Vec<Event<'static>> {
    let end = start() + hours * 3_600_000;
    Simulator::new(SimConfig::large(agents, queues, start(), 7))
        .take_while(|e| e.ts < end)
        .collect()
}

fn config() -> Arc<Config> {
    Arc::new(Config::default())
}

fn bench_apply(c: &mut Criterion) {
    let events = traffic(1000, 100, 4);
    let mut g = c.benchmark_group("apply");
    g.sample_size(10);
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function(format!("decoded_{}_events", events.len()), |b| {
        b.iter_batched_ref(
            || Engine::new(config()),
            |engine| {
                for ev in &events {
                    black_box(engine.apply(ev));
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// The lines of an NDJSON buffer, split as a line reader does.
fn lines(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', buf).map(move |end| {
        let line = &buf[start..end];
        start = end + 1;
        line
    })
}

fn bench_decode_apply(c: &mut Criterion) {
    let events = traffic(1000, 100, 4);
    // Both `ts` forms, as producers send them: RFC 3339 text on even
    // events, epoch milliseconds on odd ones.
    let ndjson: Vec<u8> = events
        .iter()
        .enumerate()
        .flat_map(|(i, e)| {
            let mut w = WireEvent::from(e);
            if i % 2 == 1 {
                w.ts = Some(TsValue::Millis(e.ts));
            }
            let mut line = serde_json::to_vec(&w).expect("a wire event serialises");
            line.push(b'\n');
            line
        })
        .collect();
    let mut g = c.benchmark_group("ndjson");
    g.sample_size(10);
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function(format!("decode_apply_{}_events", events.len()), |b| {
        b.iter_batched_ref(
            || Engine::new(config()),
            |engine| {
                for line in lines(&ndjson) {
                    if let Ok(ev) = decode_json(line, 64 * 1024) {
                        black_box(engine.apply(&ev));
                    }
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function(format!("decode_only_{}_events", events.len()), |b| {
        b.iter(|| {
            for line in lines(&ndjson) {
                let _ = black_box(decode_json(line, 64 * 1024));
            }
        })
    });
    g.finish();
}

fn bench_snapshot(c: &mut Criterion) {
    // 5,000 agents in 500 queues, after two busy hours.
    let events = traffic(5000, 500, 2);
    let mut engine = Engine::new(config());
    for ev in &events {
        engine.apply(ev);
    }
    let now = events.last().map_or(start(), |e| e.ts);
    let s = engine.snapshot("large", now, Status::Live).unwrap();
    assert_eq!((s.agent_list.len(), s.queues.len()), (5000, 500));
    let mut g = c.benchmark_group("snapshot");
    g.sample_size(20);
    g.bench_function("build_5000_agents_500_queues", |b| {
        b.iter(|| black_box(engine.snapshot("large", now, Status::Live)))
    });
    // As the hub does it: into a buffer of the last snapshot's size.
    let size = serde_json::to_vec(&s).unwrap().len();
    eprintln!("snapshot of 5,000 agents / 500 queues: {size} bytes of JSON");
    g.bench_function("build_and_serialize_5000_agents_500_queues", |b| {
        b.iter(|| {
            let s = engine.snapshot("large", now, Status::Live).unwrap();
            let mut buf = Vec::with_capacity(size + size / 8);
            serde_json::to_writer(&mut buf, &s).unwrap();
            black_box(buf)
        })
    });
    // Compressed for the websocket, once per view and publish.
    let json = serde_json::to_vec(&s).unwrap();
    let z = callboard::wire::deflate(&json);
    eprintln!(
        "compressed for permessage-deflate: {} bytes ({:.1}x smaller)",
        z.len(),
        json.len() as f64 / z.len() as f64
    );
    g.throughput(Throughput::Bytes(json.len() as u64));
    g.bench_function("deflate_5000_agents_500_queues", |b| {
        b.iter(|| black_box(callboard::wire::deflate(&json)))
    });
    g.finish();
}

/// New names in the worst order for a sorted list: descending. Each costs
/// the same whatever came before (a sorted vector took time in proportion
/// to the names already there).
fn bench_new_names(c: &mut Criterion) {
    let n = 100_000;
    let events: Vec<Event<'static>> = (0..n)
        .rev()
        .map(|i| {
            let line = format!(
                r#"{{"v":1,"id":"n{i}","ts":{},"tenant":"t","type":"agent.state","agent":"agent-{i:07}","state":"ready"}}"#,
                start()
            );
            decode_json(line.as_bytes(), 1 << 16).unwrap().into_owned()
        })
        .collect();
    let mut g = c.benchmark_group("names");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("new_agents_descending_100000", |b| {
        b.iter_batched_ref(
            || Engine::new(config()),
            |engine| {
                for ev in &events {
                    black_box(engine.apply(ev));
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_apply,
    bench_decode_apply,
    bench_snapshot,
    bench_new_names
);
criterion_main!(benches);
