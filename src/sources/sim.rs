//! The built-in simulator as a live source: the default when no Kafka is
//! configured. Each simulated tenant starts at its local midnight of
//! yesterday; yesterday and today so far are replayed at once (status
//! `recovering`), then events are released as the wall clock reaches them,
//! never before.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::event::Event;
use crate::service::shard::{Closed, Router, Source, now_ms};
use crate::sim::{SimConfig, Simulator};
use crate::time::{self, Millis};
use crate::wire::Status;

/// Local midnight of today in `tz` (falls back to UTC midnight).
pub fn start_of_today(tz: &str, now: Millis) -> Millis {
    let zone = time::zone(tz).unwrap_or(jiff::tz::TimeZone::UTC);
    jiff::Timestamp::from_millisecond(now)
        .ok()
        .and_then(|t| t.to_zoned(zone).start_of_day().ok())
        .map_or(now - now.rem_euclid(86_400_000), |z| {
            z.timestamp().as_millisecond()
        })
}

/// Local midnight that began yesterday in `tz` (falls back to UTC).
pub fn start_of_yesterday(tz: &str, now: Millis) -> Millis {
    // An instant in the last hour of yesterday is on yesterday, whatever the
    // length of yesterday (23 or 25 hours across daylight-saving changes).
    start_of_today(tz, start_of_today(tz, now) - 3_600_000)
}

/// The demo tenants the service simulates: `demo`, `demo-2`, ...
pub fn demo_tenants(count: usize, agents: usize, peak_calls_per_hour: f64) -> Vec<SimConfig> {
    let now = now_ms();
    (0..count)
        .map(|i| {
            let mut cfg = SimConfig::demo(0, 1 + i as u64);
            if i > 0 {
                cfg.tenant = format!("demo-{}", i + 1);
            }
            cfg.start = start_of_yesterday(&cfg.tz, now);
            cfg.agents = agents;
            cfg.peak_calls_per_hour = peak_calls_per_hour;
            cfg
        })
        .collect()
}

const BATCH: usize = 4096;

/// Runs the simulated tenants until `shutdown`; tells `on_status` when the
/// backfill starts (recovering) and when it is applied (live).
pub async fn run(
    tenants: Vec<SimConfig>,
    router: Router,
    on_status: impl Fn(Status),
    shutdown: CancellationToken,
) -> Result<(), Closed> {
    let mut sims: Vec<Simulator> = tenants.into_iter().map(Simulator::new).collect();
    router.status(Status::Recovering).await?;
    on_status(Status::Recovering);
    let backfill_to = now_ms();
    let mut total = 0usize;
    for sim in &mut sims {
        loop {
            let batch = take_due(sim, backfill_to, BATCH);
            if batch.is_empty() {
                break;
            }
            total += batch.len();
            router.send(Source::Simulator, batch).await?;
        }
    }
    router.status(Status::Live).await?;
    tracing::info!(
        events = total,
        tenants = sims.len(),
        "simulator: yesterday and today so far replayed, live now"
    );
    on_status(Status::Live);
    loop {
        let now = now_ms();
        let mut due = Vec::new();
        for sim in &mut sims {
            due.extend(take_due(sim, now, usize::MAX));
        }
        if !due.is_empty() {
            router.send(Source::Simulator, due).await?;
        }
        let next = sims.iter().filter_map(Simulator::peek_time).min();
        let wait = next.map_or(1000, |t| (t - now_ms()).clamp(1, 1000)) as u64;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
            _ = shutdown.cancelled() => return Ok(()),
        }
    }
}

fn take_due(sim: &mut Simulator, until: Millis, max: usize) -> Vec<Event<'static>> {
    let mut out = Vec::new();
    while out.len() < max {
        match sim.next_until(until) {
            Some(ev) => out.push(ev),
            None => break,
        }
    }
    out
}
