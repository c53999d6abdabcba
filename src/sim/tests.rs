use super::*;
use crate::config::Config;
use crate::engine::Engine;
use crate::wire::Status;
use std::sync::Arc;

#[test]
fn a_simulated_day_is_deterministic_ordered_and_plausible() {
    let start = time::parse_rfc3339("2026-11-21T08:00:00+09:00").unwrap();
    let end = start + 10 * 3_600_000;
    let run = || -> Vec<Event<'static>> {
        Simulator::new(SimConfig::demo(start, 7))
            .take_while(|e| e.ts < end)
            .collect()
    };
    let a = run();
    assert_eq!(a, run(), "same seed, same events");
    // In time order, but for an agent's state nudged a millisecond on.
    assert!(a.windows(2).all(|w| w[0].ts <= w[1].ts + 5), "time order");
    let mut engine = Engine::new(Arc::new(Config::default()));
    for ev in &a {
        let out = engine.apply(ev);
        assert_eq!(out, crate::engine::Outcome::Applied, "{ev:?}");
    }
    let s = engine.snapshot("demo", end, Status::Live).unwrap();
    let t = &s.totals;
    assert!(t.calls.inbound > 500, "{t:?}");
    let rate = t.answer_rate.unwrap();
    assert!((50.0..100.0).contains(&rate), "answer rate {rate}");
    assert!(
        t.calls.abandoned > 0 && t.calls.callbacks > 0 && t.calls.outbound_attempts > 0,
        "{t:?}"
    );
    // 18:00: the 15:00 shift is on, the 07:00 one has gone home.
    let on = s.agents.login;
    assert!((15..=35).contains(&on), "{on} logged in at 18:00");
    assert!(s.callbacks.completed > 0);
}

/// The demo's agents work shifts: fewer at night than by day, more where
/// shifts overlap, each logging in and out, and no agent's day runs round
/// the clock.
#[test]
fn the_demo_s_agents_work_shifts() {
    let start = time::parse_rfc3339("2026-11-21T00:00:00+09:00").unwrap();
    let hour = 3_600_000;
    let mut sim = Simulator::new(SimConfig::demo(start, 3));
    let mut engine = Engine::new(Arc::new(Config::default()));
    let mut logged_in = Vec::new();
    let (mut logins, mut logouts) = (0, 0);
    for h in 1..=24 {
        while let Some(ev) = sim.next_until(start + h * hour) {
            if let Body::Agent(a) = &ev.body {
                match a.state {
                    AgentState::LoggedOut => logouts += 1,
                    _ if a.name.is_some() => logins += 1,
                    _ => {}
                }
            }
            engine.apply(&ev);
        }
        let s = engine
            .snapshot("demo", start + h * hour, Status::Live)
            .unwrap();
        logged_in.push(s.agents.login);
    }
    // Hour h ends at h:00: [0] is 01:00, [9] 10:00, [15] 16:00.
    let at = |h: usize| logged_in[h - 1];
    assert!(
        at(4) < at(10),
        "night {} against morning {}: {logged_in:?}",
        at(4),
        at(10)
    );
    assert!(
        at(16) > at(10),
        "the 15:00 overlap {} above the morning {}: {logged_in:?}",
        at(16),
        at(10)
    );
    assert!(
        logged_in.iter().all(|&n| (15..=60).contains(&n)),
        "{logged_in:?}"
    );
    assert!(
        logins >= 72 && logouts >= 45,
        "{logins} logins, {logouts} logouts"
    );
    let s = engine
        .snapshot("demo", start + 24 * hour, Status::Live)
        .unwrap();
    let longest = s.agent_list.iter().map(|a| a.login_s).max().unwrap_or(0);
    assert!(
        longest < 12 * 3600,
        "an agent logged in {longest} s of the day"
    );
}
