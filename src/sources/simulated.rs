//! The built-in simulator as a live source: the default when no Kafka is
//! configured. Each simulated tenant starts at its local midnight of
//! yesterday; yesterday and today so far are replayed at once (status
//! `recovering`), then events are released as the wall clock reaches them,
//! never before.

use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::event::Event;
use crate::event::Source;
use crate::service::feed::{Feed, FeedContext, SourceId};
use crate::service::shard::{Closed, Router};
use crate::sim::{SimConfig, Simulator};
use crate::time::now_ms;
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

/// The demo tenants the service simulates from `now` on: `demo`,
/// `demo-2`, ..., each starting at its local midnight of yesterday.
pub fn demo_tenants(
    now: Millis,
    count: usize,
    agents: usize,
    peak_calls_per_hour: f64,
) -> Vec<SimConfig> {
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

/// Runs the simulated tenants until `shutdown`; recovering while the
/// backfill is applied, live after.
pub async fn run(
    tenants: Vec<SimConfig>,
    router: Router,
    shutdown: CancellationToken,
) -> Result<(), Closed> {
    let mut sims: Vec<Simulator> = tenants.into_iter().map(Simulator::new).collect();
    router
        .status(&SourceId::Simulator, Status::Recovering)
        .await?;
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
    router.status(&SourceId::Simulator, Status::Live).await?;
    tracing::info!(
        events = total,
        tenants = sims.len(),
        "simulator: yesterday and today so far replayed, live now"
    );
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

/// The simulated tenants as a feed of the service. Not vital: the rest of
/// the service goes on without them.
pub struct SimulatedFeed(pub Vec<SimConfig>);

impl Feed for SimulatedFeed {
    fn id(&self) -> SourceId {
        SourceId::Simulator
    }

    fn vital(&self) -> bool {
        false
    }

    fn run(self: Box<Self>, ctx: FeedContext) -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(async move { Ok(run(self.0, ctx.router, ctx.stop).await?) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::engine::Engine;

    /// At 04:00 in Seoul a newcomer still sees a contact center at work:
    /// yesterday and today so far are filled, nothing is dated after the
    /// clock, and within minutes calls wait, agents talk, some are on a
    /// break and callbacks come in.
    #[test]
    fn the_demo_is_busy_at_night_with_a_past_and_no_future() {
        demo_at("2026-11-21T04:00:00+09:00");
    }

    /// At the busiest hour it is busy, not drowning.
    #[test]
    fn the_demo_is_sane_at_its_peak() {
        demo_at("2026-11-21T15:00:00+09:00");
    }

    fn demo_at(now: &str) {
        let now = time::parse_rfc3339(now).unwrap();
        let agents = crate::cmd::serve::settings::DEFAULT_DEMO_AGENTS;
        let cfg = demo_tenants(now, 1, agents, 360.0).remove(0);
        let mut sim = Simulator::new(cfg);
        let mut config = Config::default();
        config.default_tenant_tz("demo", "Asia/Seoul");
        let mut engine = Engine::new(config.shared());
        let backfill = take_due(&mut sim, now, usize::MAX);
        assert!(
            backfill.iter().all(|e| e.ts <= now),
            "nothing from the future"
        );
        for ev in &backfill {
            engine.apply(ev);
        }
        let s = engine.snapshot("demo", now, Status::Live).unwrap();
        let yesterday: u64 = s.hourly.yesterday.iter().sum();
        assert!(
            yesterday > 1000,
            "yesterday is filled: {:?}",
            s.hourly.yesterday
        );
        assert!(s.totals.calls.inbound > 100, "today so far: {:?}", s.totals);
        assert_eq!(s.as_of.map(|t| t.0 <= now), Some(true));

        // The next ten minutes, looked at every 15 s as a board would.
        let (mut waiting, mut talking, mut away, mut looks) = (0, 0, 0, 0);
        let mut t = now;
        while t < now + 600_000 {
            t += 15_000;
            for ev in take_due(&mut sim, t, usize::MAX) {
                engine.apply(&ev);
            }
            let s = engine.snapshot("demo", t, Status::Live).unwrap();
            looks += 1;
            waiting += (s.totals.waiting > 0) as u32;
            talking += (s.agents.talking > 0) as u32;
            away += (s.agents.break_work > 0) as u32;
        }
        let s = engine.snapshot("demo", t, Status::Live).unwrap();
        let rate = s.totals.answer_rate.unwrap_or(0.0);
        assert!(
            (75.0..99.0).contains(&rate),
            "answer rate {rate}: {:?}",
            s.totals
        );
        assert!(
            waiting >= looks / 5,
            "calls wait in {waiting} of {looks} looks"
        );
        assert_eq!(talking, looks, "agents talk in every look");
        assert!(
            away >= looks / 2,
            "someone is on a break or in wrap-up: {away} of {looks}"
        );
        assert!(s.callbacks.requested > 0, "{:?}", s.callbacks);
        // The shift on duty (more where two overlap), never all 72.
        let on = s.agents.login;
        assert!((15..=55).contains(&on), "{on} of {agents} agents logged in");
    }
}
