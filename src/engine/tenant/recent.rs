//! A queue's recent past, minute by minute: the counters of the last hour
//! (or more) in a ring of one bucket a minute, and the estimated wait's
//! errors. Windows, and what the wait is estimated from, are sums of
//! buckets: their cost is the same at any traffic, and they depend on the
//! last minutes' events only.

use std::collections::VecDeque;

use super::Counters;
use crate::config::Few;
use crate::time::Millis;

const MINUTE_MS: Millis = 60_000;

/// The minute an instant falls in (minutes since the epoch).
pub(crate) fn minute_of(t: Millis) -> i64 {
    t.div_euclid(MINUTE_MS)
}

/// One minute of a queue: calls queued in it (`inbound`), waits that ended
/// in it (the outcomes, their waits, `answered_within`), calls and wrap-ups
/// that ended in it (`ended`, `talk_sum_ms`, `wrap_sum_ms`). Only what the
/// windows and the estimate read, counts in 16 bits (a queue's minute,
/// saturating): a quarter of the day's counters' size, kept 60 times.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Minute {
    /// Which turn of the ring this is: the bucket at index `i` of a ring of
    /// `len` holds minute `lap × len + i` (kept in what would be padding).
    lap: i32,
    inbound: u16,
    answered: u16,
    abandoned: u16,
    short_abandoned: u16,
    callbacks: u16,
    transferred: u16,
    exited: u16,
    answered_in_sl: u16,
    ended: u16,
    within: [u16; Few::CAP],
    wait_answered_sum_ms: u64,
    talk_sum_ms: u64,
    wrap_sum_ms: u64,
}

impl Minute {
    /// Adds what `c` counted (one event's change).
    pub(crate) fn add(&mut self, c: &Counters) {
        let n = |mine: &mut u16, v: u32| *mine = mine.saturating_add(v.min(u16::MAX as u32) as u16);
        let ms = |mine: &mut u64, v: u64| *mine = mine.saturating_add(v);
        each_count!(self, c, n, ms);
    }

    /// Adds this minute into a window's counters.
    fn add_to(&self, sum: &mut Counters) {
        let n = |mine: &mut u32, v: u16| *mine = mine.saturating_add(v as u32);
        let ms = |mine: &mut u64, v: u64| *mine = mine.saturating_add(v);
        each_count!(sum, self, n, ms);
    }
}

/// What a minute keeps of [`Counters`], named once: `n(&mut into.count,
/// from.count)` for each count (`within` too), `ms(...)` for each sum of
/// milliseconds. The minute and the counters name them alike.
macro_rules! each_count {
    ($into:expr, $from:expr, $n:expr, $ms:expr) => {{
        let (into, from) = ($into, $from);
        $n(&mut into.inbound, from.inbound);
        $n(&mut into.answered, from.answered);
        $n(&mut into.abandoned, from.abandoned);
        $n(&mut into.short_abandoned, from.short_abandoned);
        $n(&mut into.callbacks, from.callbacks);
        $n(&mut into.transferred, from.transferred);
        $n(&mut into.exited, from.exited);
        $n(&mut into.answered_in_sl, from.answered_in_sl);
        $n(&mut into.ended, from.ended);
        for (mine, &v) in into.within.iter_mut().zip(&from.within) {
            $n(mine, v);
        }
        $ms(&mut into.wait_answered_sum_ms, from.wait_answered_sum_ms);
        $ms(&mut into.talk_sum_ms, from.talk_sum_ms);
        $ms(&mut into.wrap_sum_ms, from.wrap_sum_ms);
    }};
}
use each_count;

#[derive(Debug, Default)]
pub(crate) struct Bucket {
    pub c: Minute,
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
    /// |real wait - estimate at entry| (ms) of answered calls, by the
    /// minute of the answer; those older than the ring are let go.
    errors: VecDeque<(i64, u32)>,
    /// The newest minute an error was kept for.
    newest: i64,
}

impl Recent {
    pub(crate) fn new(minutes: u32) -> Recent {
        let buckets = (0..minutes.max(1))
            .map(|_| Bucket {
                c: Minute {
                    lap: i32::MIN,
                    ..Minute::default()
                },
            })
            .collect();
        Recent {
            buckets,
            errors: VecDeque::new(),
            newest: i64::MIN,
        }
    }

    /// Keeps the estimate's error of a call answered at `t`.
    pub(crate) fn push_error(&mut self, t: Millis, error_ms: u32) {
        let m = minute_of(t);
        let oldest_kept = self.newest.max(m) - self.buckets.len() as i64;
        if m <= oldest_kept {
            return; // in no window the ring can be asked for
        }
        self.newest = self.newest.max(m);
        self.errors.push_back((m, error_ms));
        // Let go of the front while it is too old. A late one sitting behind
        // newer ones goes when it reaches the front (reading skips it by its
        // minute until then): every entry was within the hour when it came,
        // so the list holds about an hour of answers, and this costs nothing
        // per answer rather than a pass over the hour's.
        while self.errors.front().is_some_and(|&(f, _)| f <= oldest_kept) {
            self.errors.pop_front();
        }
    }

    /// The bucket of the minute `t` is in; `None` when that minute is older
    /// than the ring holds (it is in no window the ring can be asked for).
    pub(crate) fn at(&mut self, t: Millis) -> Option<&mut Bucket> {
        let m = minute_of(t);
        let (i, lap) = self.place(m);
        let b = &mut self.buckets[i];
        if b.c.lap < lap {
            b.c = Minute {
                lap,
                ..Minute::default()
            };
        }
        (b.c.lap == lap).then_some(b)
    }

    /// Where minute `m` lives: its bucket and its lap.
    fn place(&self, m: i64) -> (usize, i32) {
        let len = self.buckets.len() as i64;
        let lap = m
            .div_euclid(len)
            .clamp(i32::MIN as i64 + 1, i32::MAX as i64) as i32;
        (m.rem_euclid(len) as usize, lap)
    }

    /// The bucket of minute `m` if it holds that minute.
    fn holding(&self, m: i64) -> Option<&Bucket> {
        let (i, lap) = self.place(m);
        let b = &self.buckets[i];
        (b.c.lap == lap).then_some(b)
    }

    /// The buckets of the `minutes` minutes ending with the one `now` is
    /// in, with their age in minutes.
    fn window(&self, now: Millis, minutes: u32) -> impl Iterator<Item = (u32, &Bucket)> {
        let last = minute_of(now);
        let n = (minutes as usize).min(self.buckets.len()) as u32;
        (0..n).filter_map(move |age| self.holding(last - age as i64).map(|b| (age, b)))
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
                if let Some(b) = self.holding(last - age as i64) {
                    b.c.add_to(&mut running);
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
        let (mut handle, mut ended, mut waits, mut answered) = (0u64, 0u64, 0u64, 0u64);
        for (age, b) in self.window(now, handle_min.max(wait_min)) {
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
        let last = minute_of(now);
        let first = last - minutes as i64 + 1;
        self.errors
            .iter()
            .filter(|&&(m, _)| m >= first && m <= last)
            .map(|&(_, e)| e)
            .collect()
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
