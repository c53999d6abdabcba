//! History store benchmarks, on this machine only.
//!
//! ```text
//! cargo run --release --example history -- engine STORE [AGENTS] [QUEUES] [HOURS]
//! cargo run --release --example history -- month  STORE [QUEUES] [AGENTS]   (500 and 500)
//! cargo run --release --example history -- fill   STORE [QUEUES] [DAYS]     (100 and 31)
//! ```
//!
//! STORE is an SQLite file path, a `postgres://` URL, or `none`.
//!
//! - `engine`: the events of a large simulated tenant (default 5,000
//!   agents, 500 queues, 48 hours) applied as fast as the engine goes, the
//!   way a shard does it: every 5 s of wall time the rows changed since the
//!   last round are taken and given to the history writer on another
//!   thread, which writes them. Events/s with the store, and with `none`
//!   for the engine alone; rows written.
//! - `month`: a month of interval rows of a tenant of QUEUES queues and
//!   AGENTS agents (one simulated day's rows repeated over 30 days) written
//!   to an empty store in the writer's transactions (rows/s), then the
//!   reports a supervisor asks for over that month, each timed five times
//!   (median and worst).
//! - `fill`: tenant `big`, QUEUES queues with a row in each 15-minute
//!   interval of DAYS days from 2026-11-01 (UTC), written to the store:
//!   the largest report a tenant token may ask for (`by=queue&step=interval`
//!   over 31 days), for measuring the service while it streams it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use callboard::config::Config;
use callboard::engine::{Engine, HistoryBatch};
use callboard::history::report::{Query, run};
use callboard::history::{Location, Store, writer};
use callboard::sim::{SimConfig, Simulator};
use callboard::time::Millis;
use callboard::wire::IntervalRow;
use callboard::wire::{CallCounts, CallTimes};

const DAY: Millis = 86_400_000;

fn location(arg: &str) -> Option<Location> {
    Location::parse(arg).unwrap_or_else(|e| panic!("{e}"))
}

fn now_ms() -> Millis {
    jiff::Timestamp::now().as_millisecond()
}

/// The large tenant's events from `hours` ago to now, and a config that
/// knows its zone.
fn events(
    agents: usize,
    queues: usize,
    hours: i64,
) -> (Vec<callboard::event::Event<'static>>, Arc<Config>) {
    let now = now_ms();
    let cfg = SimConfig::large(agents, queues, now - hours * 3_600_000, 7);
    let mut config = Config::default();
    config.default_tenant_tz(&cfg.tenant, &cfg.tz);
    let mut sim = Simulator::new(cfg);
    let mut out = Vec::new();
    while let Some(ev) = sim.next_until(now) {
        out.push(ev);
    }
    (out, Arc::new(config))
}

async fn engine(store: Option<Location>, agents: usize, queues: usize, hours: i64) {
    let (events, config) = events(agents, queues, hours);
    eprintln!(
        "history: {} events of {agents} agents and {queues} queues over {hours} h",
        events.len()
    );
    let (tx, writer) = match &store {
        Some(loc) => {
            let store = Store::open(loc).await.expect("the store opens");
            let (tx, rx) = tokio::sync::mpsc::channel::<Vec<HistoryBatch>>(writer::CHANNEL_ROUNDS);
            (Some(tx), Some(tokio::spawn(writer::run(store, rx, 400))))
        }
        None => (None, None),
    };
    // The shard's loop on a thread of its own, as in the service.
    let rounds = std::thread::spawn(move || {
        let mut engine = Engine::new(config);
        let started = Instant::now();
        let mut next = started + Duration::from_secs(5);
        let (mut rounds, mut rows) = (0usize, 0usize);
        for chunk in events.chunks(1024) {
            for ev in chunk {
                engine.apply(ev);
            }
            if let Some(tx) = &tx
                && Instant::now() >= next
            {
                next += Duration::from_secs(5);
                if let Ok(permit) = tx.try_reserve() {
                    let now = chunk.last().map_or(0, |e| e.ts);
                    let batches = engine.take_history(now);
                    rows += batches.iter().map(|b| b.rows.len()).sum::<usize>();
                    rounds += 1;
                    permit.send(batches);
                }
            }
        }
        let took = started.elapsed();
        // The last round, as a shard gives it when it stops.
        if let Some(tx) = tx {
            let now = events.last().map_or(0, |e| e.ts);
            let batches = engine.take_history(now);
            rows += batches.iter().map(|b| b.rows.len()).sum::<usize>();
            let _ = tx.blocking_send(batches);
        }
        (events.len(), took, rounds, rows)
    });
    let (n, took, rounds, rows) = tokio::task::spawn_blocking(move || rounds.join().unwrap())
        .await
        .unwrap();
    let wrote = Instant::now();
    if let Some(w) = writer {
        w.await.unwrap();
    }
    println!(
        "engine: {n} events in {:.2} s = {:.0} events/s (history {}: {rounds} rounds during, {rows} rows; the writer finished {:.2} s after the engine)",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        store.as_ref().map_or("off".to_string(), Location::describe),
        wrote.elapsed().as_secs_f64(),
    );
}

/// `row` moved `days` days later (its start, and so its day).
fn shifted(row: &IntervalRow, days: i64, tz: &jiff::tz::TimeZone) -> IntervalRow {
    let mut r = row.clone();
    let move_start = |s: &mut String| {
        let ms = callboard::time::parse_rfc3339(s).expect("an interval start") + days * DAY;
        *s = callboard::time::format_local(ms, tz);
    };
    match &mut r {
        IntervalRow::Queue(q) => move_start(&mut q.start),
        IntervalRow::Agent(a) => move_start(&mut a.start),
        IntervalRow::Callback(c) => {
            let d: jiff::civil::Date = c.day.parse().expect("a day");
            c.day = d
                .checked_add(jiff::Span::new().days(days))
                .expect("a day")
                .to_string();
        }
    }
    r
}

async fn month(loc: Location, queues: usize, agents: usize) {
    // One day of a large tenant, its rows of that day.
    let now = now_ms();
    let start = now - 40 * DAY;
    let cfg = SimConfig::large(agents, queues, start, 11);
    let mut config = Config::default();
    config.default_tenant_tz(&cfg.tenant, &cfg.tz);
    let config = Arc::new(config);
    let tenant = cfg.tenant.clone();
    let day_rows =
        callboard::history::backfill::simulate_day(cfg, config.clone(), start, start + DAY);
    let settings = config.tenant(&tenant);
    let first_day = jiff::Timestamp::from_millisecond(start + DAY / 2)
        .unwrap()
        .to_zoned(settings.tz.clone())
        .date();
    let store = Store::open(&loc).await.expect("the store opens");
    store.delete_tenant(&tenant).await.unwrap();
    let mut rows_written = 0usize;
    let started = Instant::now();
    for d in 0..30 {
        let rows: Vec<IntervalRow> = day_rows
            .iter()
            .map(|r| shifted(r, d, &settings.tz))
            .collect();
        for chunk in rows.chunks(20_000) {
            store.write(&[], chunk).await.unwrap();
            rows_written += chunk.len();
        }
    }
    let took = started.elapsed();
    println!(
        "month: {} rows a day ({queues} queues, {agents} agents), 30 days = {rows_written} rows written in {:.1} s = {:.0} rows/s ({})",
        day_rows.len(),
        took.as_secs_f64(),
        rows_written as f64 / took.as_secs_f64(),
        loc.describe()
    );
    let to = first_day.checked_add(jiff::Span::new().days(29)).unwrap();
    for (by, step) in [
        ("tenant", "day"),
        ("queue", "day"),
        ("queue", "month"),
        ("service", "day"),
        ("agent", "month"),
        ("callback", "day"),
    ] {
        let params = vec![
            ("from".to_string(), first_day.to_string()),
            ("to".to_string(), to.to_string()),
            ("by".to_string(), by.to_string()),
            ("step".to_string(), step.to_string()),
        ];
        let q = Query::parse(&tenant, &params, to).unwrap();
        let mut times = Vec::new();
        let mut n = 0;
        for _ in 0..5 {
            let t = Instant::now();
            let report = run(&store, &q, &settings).await.unwrap();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            n = serde_json::to_value(&report).unwrap()["rows"]
                .as_array()
                .unwrap()
                .len();
        }
        times.sort_by(f64::total_cmp);
        println!(
            "month report by={by} step={step}: {n} rows, median {:.0} ms, worst {:.0} ms",
            times[2], times[4]
        );
    }
    store.close().await;
}

async fn fill(loc: Location, queues: usize, days: i64) {
    let store = Store::open(&loc).await.expect("the store opens");
    store.delete_tenant("big").await.unwrap();
    let day0 = jiff::civil::date(2026, 11, 1);
    let started = Instant::now();
    let mut n = 0;
    for d in 0..days {
        let day = day0.checked_add(jiff::Span::new().days(d)).unwrap();
        let mut rows = Vec::new();
        for q in 0..queues {
            for i in 0..96 {
                let start = day
                    .at((i / 4) as i8, (i % 4 * 15) as i8, 0, 0)
                    .to_zoned(jiff::tz::TimeZone::UTC)
                    .unwrap();
                rows.push(IntervalRow::Queue(callboard::wire::QueueInterval {
                    tenant: "big".into(),
                    queue: Some(format!("queue-{q:03}").into()),
                    service: Some(format!("service-{}", q % 10).into()),
                    start: start.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
                    minutes: 15,
                    calls: CallCounts {
                        inbound: 30,
                        answered: 27,
                        abandoned: 3,
                        short_abandoned: 1,
                        answered_in_sl: 24,
                        ivr: 31,
                        ended: 26,
                        outbound_attempts: 2,
                        outbound_connected: 1,
                        ..Default::default()
                    },
                    times: CallTimes {
                        wait_answered_sum_s: 312.5,
                        wait_answered_max_s: 41.0,
                        wait_abandoned_sum_s: 90.0,
                        talk_sum_s: 4800.0,
                        wrap_sum_s: 620.0,
                        ..Default::default()
                    },
                    answered_within: callboard::wire::Within([(10, 14), (20, 17), (30, 18)].into()),
                }));
            }
        }
        for chunk in rows.chunks(20_000) {
            store.write(&[], chunk).await.unwrap();
        }
        n += rows.len();
    }
    println!(
        "fill: {n} queue rows of tenant big ({queues} queues, {days} days) written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    store.close().await;
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, d: usize| args.get(i).and_then(|v| v.parse().ok()).unwrap_or(d);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    match (args.first().map(String::as_str), args.get(1)) {
        (Some("engine"), Some(store)) => rt.block_on(engine(
            location(store),
            num(2, 5000),
            num(3, 500),
            num(4, 48) as i64,
        )),
        (Some("month"), Some(store)) => rt.block_on(month(
            location(store).expect("a store to write to"),
            num(2, 500),
            num(3, 500),
        )),
        (Some("fill"), Some(store)) => rt.block_on(fill(
            location(store).expect("a store to write to"),
            num(2, 100),
            num(3, 31) as i64,
        )),
        _ => eprintln!(
            "usage: history engine STORE [AGENTS] [QUEUES] [HOURS] | history month STORE [QUEUES] [AGENTS] | history fill STORE [QUEUES] [DAYS]"
        ),
    }
}
