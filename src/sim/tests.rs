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
    assert_eq!(s.agents.login, 24);
    assert!(s.callbacks.completed > 0);
}
