//! Steady-state memory of the engine, measured with a counting allocator:
//! bytes per agent, per queue, and per event of the two-day duplicate window.
//!
//! `cargo run --release --example memory`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};

use callboard::config::Config;
use callboard::decode::decode_json;
use callboard::engine::Engine;
use callboard::time::{Millis, parse_rfc3339};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn send(engine: &mut Engine, line: String) {
    let ev = decode_json(line.as_bytes(), 1 << 16).expect("valid event");
    engine.apply(&ev);
}

fn engine() -> Engine {
    Engine::new(Arc::new(Config::default()))
}

/// `agents` agents log in to two of ten services, then change state through
/// three days, with reasons and display names: two days of figures and the
/// standing facts of two midnights are kept, as at steady state.
fn agents_only(agents: usize) -> isize {
    let mut e = engine();
    e.tenant_mut("t");
    let before = live();
    let t0: Millis = parse_rfc3339("2026-11-21T08:00:00+09:00").unwrap();
    let mut id = 0;
    for round in 0..9 {
        for a in 0..agents {
            id += 1;
            let state = ["ready", "talking", "wrap_up", "away", "ready", "dialing"][round % 6];
            let extra = if round == 0 {
                format!(
                    r#","services":["svc{}","svc{}"],"name":"상담원 {a:04}""#,
                    a % 10,
                    (a + 3) % 10
                )
            } else if state == "away" {
                r#","reason":"break""#.to_string()
            } else {
                String::new()
            };
            send(
                &mut e,
                format!(
                    r#"{{"v":1,"id":"e{id}","ts":{},"tenant":"t","type":"agent.state","agent":"agent-{a:05}","state":"{state}"{extra}}}"#,
                    t0 + (round / 3) as i64 * 86_400_000 + (round % 3) as i64 * 600_000 + a as i64
                ),
            );
        }
    }
    let used = live() - before;
    drop(e);
    used
}

/// `calls` calls on each of two days spread over `queues` queues, each
/// answered after 0..600 s and ended, so every queue keeps both days'
/// counters and wait histograms.
fn calls(queues: usize, calls_per_day: usize) -> (isize, usize) {
    let mut e = engine();
    e.tenant_mut("t");
    let before = live();
    let mut n = 0;
    for day in 0..2 {
        let t0: Millis = parse_rfc3339("2026-11-20T09:00:00+09:00").unwrap() + day * 86_400_000;
        for c in 0..calls_per_day {
            let q = c % queues;
            let call = format!("d{day}c{c}");
            let ts = t0 + c as i64 * 20;
            let wait = (c as i64 * 7919) % 600_000;
            for (ty, at, more) in [
                (
                    "call.queued",
                    ts,
                    format!(r#","queue":"q{q:03}","service":"svc{}""#, q / 10),
                ),
                ("call.answered", ts + wait, r#","agent":"a1""#.to_string()),
                ("call.ended", ts + wait + 120_000, String::new()),
            ] {
                n += 1;
                send(
                    &mut e,
                    format!(
                        r#"{{"v":1,"id":"e{n}","ts":{at},"tenant":"t","type":"{ty}","call":"{call}"{more}}}"#
                    ),
                );
            }
        }
    }
    let used = live() - before;
    drop(e);
    (used, n)
}

fn main() {
    let agents = 5000;
    let per_agent = agents_only(agents) as f64 / agents as f64;
    println!("agents: {agents} agents, {per_agent:.0} bytes per agent (limit 2048)");

    let queues = 500;
    let per_day = 100_000;
    let (many, events) = calls(queues, per_day);
    let (one, _) = calls(1, per_day);
    let per_queue = (many - one) as f64 / (queues - 1) as f64;
    println!(
        "queues: {queues} queues with two days of answered calls, {per_queue:.0} bytes per queue (limit 8192)"
    );
    let per_event = one as f64 / events as f64;
    println!(
        "events: {events} call events over two days, {per_event:.0} bytes per event kept for duplicate detection and finished calls"
    );
}
