//! The demo's past: the simulated tenants' days before yesterday, written
//! to the history store at start when it lacks them, so that the reports
//! page of a fresh `cargo run` has a week to show. Each day is simulated on
//! its own (a seed per day) and run through an engine of its own, so the
//! rows are what the service would have written had it run that day.

use std::sync::Arc;

use super::{Store, StoreError};
use crate::config::Config;
use crate::engine::Engine;
use crate::sim::{SimConfig, Simulator};
use crate::time::Millis;
use crate::wire::IntervalRow;

/// Days of history the demo starts with (yesterday, which the live
/// simulator replays, and the days before it).
pub const DAYS: i64 = 7;

/// Writes each simulated tenant's days from `DAYS` days ago to the day
/// before yesterday that the store holds no row of; returns how many days
/// were written.
pub async fn simulated_past(
    store: &Store,
    config: Arc<Config>,
    tenants: &[SimConfig],
    now: Millis,
) -> Result<usize, StoreError> {
    let mut written = 0;
    for sim in tenants {
        let tz = config.tenant(&sim.tenant).tz;
        let today = jiff::Timestamp::from_millisecond(now)
            .map_err(|e| StoreError::Other(e.to_string()))?
            .to_zoned(tz.clone())
            .date();
        for back in (2..=DAYS).rev() {
            let Ok(day) = today.checked_sub(jiff::Span::new().days(back)) else {
                continue;
            };
            if has_day(store, &sim.tenant, &day.to_string()).await? {
                continue;
            }
            let (Ok(start), Ok(end)) = (
                day.to_zoned(tz.clone()),
                day.tomorrow().and_then(|d| d.to_zoned(tz.clone())),
            ) else {
                continue;
            };
            let (start, end) = (
                start.timestamp().as_millisecond(),
                end.timestamp().as_millisecond(),
            );
            let (cfg, config) = (sim.clone(), config.clone());
            let rows = tokio::task::spawn_blocking(move || simulate_day(cfg, config, start, end))
                .await
                .map_err(|e| StoreError::Other(format!("simulating a past day: {e}")))?;
            store.write(&[], &rows).await?;
            written += 1;
        }
    }
    Ok(written)
}

/// The interval rows of one simulated day, `[start, end)`.
pub fn simulate_day(
    mut cfg: SimConfig,
    config: Arc<Config>,
    start: Millis,
    end: Millis,
) -> Vec<IntervalRow> {
    let tenant = cfg.tenant.clone();
    cfg.start = start;
    // Another day, other calls.
    cfg.seed = cfg
        .seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(start as u64);
    let mut sim = Simulator::new(cfg);
    let mut engine = Engine::new(config);
    let last = end - 1;
    while let Some(ev) = sim.next_until(last) {
        engine.apply(&ev);
    }
    engine
        .tenant(&tenant)
        .map(|t| t.intervals(last))
        .unwrap_or_default()
}

async fn has_day(store: &Store, tenant: &str, day: &str) -> Result<bool, StoreError> {
    Ok(
        sqlx::query("SELECT 1 FROM queue_intervals WHERE tenant = $1 AND day = $2 LIMIT 1")
            .bind(tenant)
            .bind(day)
            .fetch_optional(store.pool())
            .await?
            .is_some(),
    )
}
