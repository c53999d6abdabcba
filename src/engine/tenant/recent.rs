//! A queue's recent past, minute by minute: the counters of the last hour
//! (or more) in a ring of one bucket a minute, and the estimated wait's
//! errors. Windows, and what the wait is estimated from, are sums of
//! buckets: their cost is the same at any traffic, and they depend on the
//! last minutes' events only.

use super::Counters;
use crate::time::Millis;

const MINUTE_MS: Millis = 60_000;

/// The minute an instant falls in (minutes since the epoch).
pub(crate) fn minute_of(t: Millis) -> i64 {
    t.div_euclid(MINUTE_MS)
}

/// One minute of a queue: calls queued in it (`inbound`), waits that ended
/// in it (the outcomes, their waits, `answered_within`), calls and wrap-ups
/// that ended in it (`ended`, `talk_sum_ms`, `wrap_sum_ms`).
#[derive(Debug, Default)]
pub(crate) struct Bucket {
    minute: i64,
    pub c: Counters,
    /// |real wait - estimate at entry| of the calls answered in it, in ms.
    pub ewt_errors_ms: Vec<u32>,
}

/// Recent means, in ms.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Means {
    pub handle_ms: Option<f64>,
    pub wait_ms: Option<f64>,
}

/// The ring: bucket `m % len` holds minute `m` (or an older minute, which
/// counts as empty).
#[derive(Debug)]
pub(crate) struct Recent {
    buckets: Box<[Bucket]>,
}

impl Recent {
    pub(crate) fn new(minutes: u32) -> Recent {
        let buckets = (0..minutes.max(1))
            .map(|_| Bucket {
                minute: i64::MIN,
                ..Bucket::default()
            })
            .collect();
        Recent { buckets }
    }

    /// The bucket of the minute `t` is in; `None` when that minute is older
    /// than the ring holds (it is in no window the ring can be asked for).
    pub(crate) fn at(&mut self, t: Millis) -> Option<&mut Bucket> {
        let m = minute_of(t);
        let len = self.buckets.len() as i64;
        let b = &mut self.buckets[m.rem_euclid(len) as usize];
        if b.minute < m {
            b.minute = m;
            b.c = Counters::default();
            b.ewt_errors_ms.clear();
        }
        (b.minute == m).then_some(b)
    }

    /// The buckets of the `minutes` minutes ending with the one `now` is in.
    fn window(&self, now: Millis, minutes: u32) -> impl Iterator<Item = &Bucket> {
        let last = minute_of(now);
        let first = last - minutes as i64 + 1;
        self.buckets
            .iter()
            .filter(move |b| b.minute >= first && b.minute <= last)
    }

    /// The counters of each window in `lengths` (minutes, ascending), in
    /// that order: one running sum from the newest minute back, copied out
    /// as each length is reached, so each bucket is added once.
    pub(crate) fn sums(&self, now: Millis, lengths: &[u32], into: &mut [Counters]) {
        let last = minute_of(now);
        let n = self.buckets.len() as i64;
        let mut running = Counters::default();
        let mut age = 0u32;
        for (sum, &len) in into.iter_mut().zip(lengths) {
            while age < len && (age as i64) < n {
                let m = last - age as i64;
                let b = &self.buckets[m.rem_euclid(n) as usize];
                if b.minute == m {
                    running.add(&b.c);
                }
                age += 1;
            }
            *sum = running.clone();
        }
    }

    /// What a wait is estimated from, at `now`: the mean handle time (talk
    /// and wrap-up) of the calls that ended in the last `handle_min`
    /// minutes, and the mean wait of those answered in the last `wait_min`
    /// (ms; `None` when there were none). Sums of buckets, as the windows
    /// are: what a start rebuilds from two days' events is the same.
    pub(crate) fn means(&self, now: Millis, handle_min: u32, wait_min: u32) -> Means {
        let last = minute_of(now);
        let (mut handle, mut ended, mut waits, mut answered) = (0u64, 0u64, 0u64, 0u64);
        for b in self.window(now, handle_min.max(wait_min)) {
            let age = (last - b.minute) as u32;
            if age < handle_min {
                handle += b.c.talk_sum_ms + b.c.wrap_sum_ms;
                ended += b.c.ended as u64;
            }
            if age < wait_min {
                waits += b.c.wait_answered_sum_ms;
                answered += b.c.answered as u64;
            }
        }
        Means {
            handle_ms: (ended > 0).then(|| handle as f64 / ended as f64),
            wait_ms: (answered > 0).then(|| waits as f64 / answered as f64),
        }
    }

    /// The estimate's errors of the calls answered in the last `minutes`.
    pub(crate) fn errors(&self, now: Millis, minutes: u32) -> Vec<u32> {
        let n = self
            .window(now, minutes)
            .map(|b| b.ewt_errors_ms.len())
            .sum();
        let mut out = Vec::with_capacity(n);
        for b in self.window(now, minutes) {
            out.extend_from_slice(&b.ewt_errors_ms);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_holds_the_minutes_ending_with_now_and_nothing_older() {
        let mut r = Recent::new(60);
        let t0 = 1_800_000_000_000 / MINUTE_MS * MINUTE_MS;
        for m in 0..120 {
            r.at(t0 + m * MINUTE_MS).unwrap().c.inbound += 1;
        }
        // Minute 30 is long overwritten by minute 90: too old to count.
        assert!(r.at(t0 + 30 * MINUTE_MS).is_none());
        let now = t0 + 119 * MINUTE_MS + 59_999;
        let mut sums = vec![Counters::default(); 3];
        r.sums(now, &[1, 15, 60], &mut sums);
        assert_eq!(
            sums.iter().map(|c| c.inbound).collect::<Vec<_>>(),
            [1, 15, 60]
        );
        // An hour later and nothing new: every window is empty.
        let mut later = vec![Counters::default(); 1];
        r.sums(now + 60 * MINUTE_MS, &[60], &mut later);
        assert_eq!(later[0].inbound, 0);
        // A "now" before the latest events leaves them out.
        let mut before = vec![Counters::default(); 1];
        r.sums(t0 + 100 * MINUTE_MS, &[15], &mut before);
        assert_eq!(before[0].inbound, 15);
    }
}
