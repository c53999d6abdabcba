//! How accurate each way of estimating a wait is: every call answered in
//! the input is scored (|real wait - estimate when it was queued|), the
//! whole input through, once per `ewt_method`. The inputs: the demo's
//! simulated day, a day of a large simulated tenant, and Asterisk
//! queue_log files given on the command line (tenant `pbx`).
//!
//! `cargo run --release --example ewt [-- FILE.queue_log ...]`

use std::io::BufReader;
use std::sync::Arc;

use callboard::cmd::replay::{ReplayOptions, replay_engine};
use callboard::config::{Config, EwtMethod};
use callboard::decode::Format;
use callboard::engine::Engine;
use callboard::sim::{SimConfig, Simulator};
use callboard::time::{Millis, parse_rfc3339};

const HOUR: Millis = 3_600_000;

fn config(method: EwtMethod) -> Arc<Config> {
    let name = match method {
        EwtMethod::Position => "position",
        EwtMethod::RecentWaits => "recent_waits",
    };
    let text = format!("[defaults]\newt_method = \"{name}\"\n");
    Arc::new(Config::parse(&text, None, None).expect("a valid config"))
}

/// Mean absolute error and 90th percentile (nearest rank), in seconds.
fn score(mut errors: Vec<u32>) -> String {
    if errors.is_empty() {
        return "no answered call was estimated".into();
    }
    errors.sort_unstable();
    let n = errors.len();
    let mae = errors.iter().map(|&e| e as f64).sum::<f64>() / n as f64 / 1000.0;
    let p90 = errors[(n * 9).div_ceil(10) - 1] as f64 / 1000.0;
    format!("n {n:>6}  MAE {mae:>6.1} s  p90 {p90:>6.1} s")
}

/// The simulated tenant's day through the engine; each hour's errors
/// taken at the hour's end (the accuracy window is an hour).
fn simulated(sim: SimConfig, method: EwtMethod) -> Vec<u32> {
    let (start, tenant) = (sim.start, sim.tenant.clone());
    let end = start + 24 * HOUR;
    let mut engine = Engine::new(config(method));
    let mut errors = Vec::new();
    let mut next = start + HOUR;
    for ev in Simulator::new(sim).take_while(|e| e.ts < end) {
        while ev.ts >= next {
            if let Some(t) = engine.tenant(&tenant) {
                errors.extend(t.ewt_errors_ms(next - 1));
            }
            next += HOUR;
        }
        engine.apply(&ev);
    }
    if let Some(t) = engine.tenant(&tenant) {
        errors.extend(t.ewt_errors_ms(next - 1));
    }
    errors
}

/// A queue_log file, replayed up to the end of each hour it spans.
fn queue_log(path: &str, method: EwtMethod) -> anyhow::Result<Vec<u32>> {
    let text = std::fs::read(path)?;
    let opts = |at| ReplayOptions {
        format: Format::QueueLog,
        tenant: Some("pbx".into()),
        at,
    };
    let whole = replay_engine(
        BufReader::new(&text[..]),
        config(method),
        &opts(None),
        |_, _| {},
    )?;
    let Some(first) = whole.engine.tenant("pbx").and_then(|t| t.first_ts()) else {
        return Ok(Vec::new());
    };
    let mut errors = Vec::new();
    let mut at = first - first.rem_euclid(HOUR) + HOUR - 1;
    loop {
        let r = replay_engine(
            BufReader::new(&text[..]),
            config(method),
            &opts(Some(at)),
            |_, _| {},
        )?;
        if let Some(t) = r.engine.tenant("pbx") {
            errors.extend(t.ewt_errors_ms(at));
        }
        if at >= whole.now {
            break;
        }
        at += HOUR;
    }
    Ok(errors)
}

fn main() -> anyhow::Result<()> {
    let start = parse_rfc3339("2026-11-21T00:00:00+09:00").expect("a valid time");
    let methods = [EwtMethod::Position, EwtMethod::RecentWaits];
    for method in methods {
        println!("{method:?}");
        let demo = SimConfig::demo(start, 7);
        let agents = demo.agents;
        println!(
            "  demo day ({agents} agents, shifts) {}",
            score(simulated(demo, method))
        );
        println!(
            "  large day (400 agents)     {}",
            score(simulated(SimConfig::large(400, 40, start, 7), method))
        );
        for path in std::env::args().skip(1) {
            println!("  {path}  {}", score(queue_log(&path, method)?));
        }
    }
    Ok(())
}
