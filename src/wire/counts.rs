//! The counters of a queue's calls, declared once.
//!
//! [`call_counters!`] is the one table: every count and every summed time a
//! queue keeps, in the order they are stored, reported and written to CSV.
//! It hands the table to a macro of the caller's, which makes its own form
//! of it: here the wire types ([`CallCounts`], [`CallTimes`], carried
//! flattened by the snapshot, the interval rows and the reports), in the
//! engine the counters it keeps by day and interval. The history's SQL,
//! the CSV header and the schemas' properties are read from the consts the
//! wire form gives (`CallCounts::NAMES`, `CallTimes::COLUMNS`).
//!
//! ARCHITECTURE.md ("Adding a queue counter") says what else a new
//! counter needs: the event that counts it, and a migration.

use serde::{Deserialize, Serialize};

/// A counter added after the first release carries `#[serde(default)]`:
/// what an older instance wrote (a snapshot read in a rolling upgrade)
/// lacks it and reads 0. The others are required, so a row of another kind
/// (an agent's) is never read as a queue's.
///
/// The table. `counts` are numbers of calls; `times` are summed
/// durations, kept in milliseconds (`*_ms`, the engine's and the store's
/// columns) and carried in seconds (`*_s`), each with how two of them
/// fold into one (a day from its intervals, a month from its days).
///
/// `call_counters!(my_macro)` expands to `my_macro! { counts { .. } times
/// { .. } }`.
macro_rules! call_counters {
    ($then:ident) => {
        $then! {
            counts {
                /// Calls queued: offered to the queue (`call.queued`).
                inbound,
                /// Queued calls answered by an agent.
                answered,
                /// Queued calls the caller hung up on.
                abandoned,
                /// Abandoned within the short-abandon threshold (of
                /// `abandoned`).
                short_abandoned,
                /// Queued calls that left as a callback request.
                callbacks,
                /// Queued calls transferred out of the queue.
                transferred,
                /// Queued calls that left by the queue's own rule (timeout,
                /// full), or whose end was never seen.
                exited,
                /// Answered within the queue's primary threshold.
                answered_in_sl,
                /// Calls that reached the IVR (`call.ivr`).
                ivr,
                /// Answered calls that ended: the denominator of AHT.
                ended,
                /// Outbound calls dialed (`call.dialing`).
                outbound_attempts,
                /// Outbound calls connected (`call.connected`).
                outbound_connected,
                /// Answered calls whose wait was estimated when they were
                /// queued: the denominator of the estimate's mean error.
                #[serde(default)]
                ewt_scored,
            }
            times {
                /// Waits of answered calls, summed.
                wait_answered_sum_ms => wait_answered_sum_s: Sum,
                /// The longest wait of an answered call.
                wait_answered_max_ms => wait_answered_max_s: Max,
                /// Waits of abandoned calls, summed.
                wait_abandoned_sum_ms => wait_abandoned_sum_s: Sum,
                /// Talk time of ended calls, summed.
                talk_sum_ms => talk_sum_s: Sum,
                /// Wrap-up time after ended calls, summed.
                wrap_sum_ms => wrap_sum_s: Sum,
                /// |real wait - estimated wait| of the scored calls, summed.
                #[serde(default)]
                ewt_error_sum_ms => ewt_error_sum_s: Sum,
            }
        }
    };
}
pub(crate) use call_counters;

/// How two values of one column fold into one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    Sum,
    Max,
}

impl Fold {
    pub fn apply(self, a: u64, b: u64) -> u64 {
        match self {
            Fold::Sum => a.saturating_add(b),
            Fold::Max => a.max(b),
        }
    }

    /// The SQL aggregate of a stored column. PostgreSQL sums BIGINTs as
    /// NUMERIC: cast back to BIGINT.
    pub fn sql(self, column: &str) -> String {
        match self {
            Fold::Sum => format!("CAST(SUM({column}) AS BIGINT)"),
            Fold::Max => format!("MAX({column})"),
        }
    }
}

/// One summed time: its stored name (milliseconds), its wire name
/// (seconds) and its fold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeColumn {
    pub stored: &'static str,
    pub wire: &'static str,
    pub fold: Fold,
}

macro_rules! wire_counters {
    (
        counts { $( $(#[$cm:meta])* $count:ident, )* }
        times { $( $(#[$tm:meta])* $ms:ident => $s:ident : $fold:ident, )* }
    ) => {
        /// A queue's call counts (a day, a window, an interval or a
        /// report's period), flattened into the object that carries them.
        #[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct CallCounts {
            $( $(#[$cm])* pub $count: u64, )*
        }

        impl CallCounts {
            /// The counts' names, in the table's order: wire fields, stored
            /// columns and CSV headings alike.
            pub const NAMES: &'static [&'static str] = &[ $( stringify!($count), )* ];

            /// The values in [`Self::NAMES`] order.
            pub fn values(&self) -> impl Iterator<Item = u64> + use<> {
                [ $( self.$count, )* ].into_iter()
            }

            /// Built from values in [`Self::NAMES`] order.
            pub fn try_from_values<E>(
                mut next: impl FnMut(&'static str) -> Result<u64, E>,
            ) -> Result<Self, E> {
                // Fields are evaluated in the order written: the table's.
                Ok(CallCounts { $( $count: next(stringify!($count))?, )* })
            }

            /// Adds another's counts (a day from its intervals).
            pub fn add(&mut self, o: &CallCounts) {
                $( self.$count = self.$count.saturating_add(o.$count); )*
            }
        }

        /// A queue's summed call times, in seconds to the millisecond.
        #[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Default)]
        pub struct CallTimes {
            $( $(#[$tm])* pub $s: f64, )*
        }

        impl CallTimes {
            /// The times' columns, in the table's order.
            pub const COLUMNS: &'static [TimeColumn] = &[ $( TimeColumn {
                stored: stringify!($ms),
                wire: stringify!($s),
                fold: Fold::$fold,
            }, )* ];

            /// Whole milliseconds, in [`Self::COLUMNS`] order.
            pub fn values_ms(&self) -> impl Iterator<Item = u64> + use<> {
                [ $( self.$s, )* ].into_iter().map(to_ms)
            }

            /// Built from milliseconds in [`Self::COLUMNS`] order.
            pub fn try_from_ms<E>(
                mut next: impl FnMut(&'static str) -> Result<u64, E>,
            ) -> Result<Self, E> {
                Ok(CallTimes { $( $s: to_s(next(stringify!($ms))?), )* })
            }

            /// Folds another's times in (sums, and the longest of maxima),
            /// to the millisecond.
            pub fn add(&mut self, o: &CallTimes) {
                $( self.$s = to_s(Fold::$fold.apply(to_ms(self.$s), to_ms(o.$s))); )*
            }
        }
    };
}
call_counters!(wire_counters);

/// Seconds to whole milliseconds.
pub fn to_ms(s: f64) -> u64 {
    (s * 1000.0).round().max(0.0) as u64
}

/// Milliseconds to seconds.
pub fn to_s(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_back_in_the_order_they_are_named() {
        let mut n = 0;
        let c = CallCounts::try_from_values(|_| {
            n += 1;
            Ok::<_, ()>(n)
        })
        .unwrap();
        assert_eq!(c.inbound, 1);
        assert_eq!(
            c.values().collect::<Vec<_>>(),
            (1..=CallCounts::NAMES.len() as u64).collect::<Vec<_>>()
        );
        let json = serde_json::to_value(c).unwrap();
        let mut keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        let mut names = CallCounts::NAMES.to_vec();
        keys.sort();
        names.sort();
        assert_eq!(keys, names);
    }

    #[test]
    fn times_travel_in_seconds_and_fold_by_their_kind() {
        let t = CallTimes::try_from_ms(|c| {
            Ok::<_, ()>(if c == "wait_answered_max_ms" {
                9_000
            } else {
                1_500
            })
        })
        .unwrap();
        assert_eq!((t.wait_answered_sum_s, t.wait_answered_max_s), (1.5, 9.0));
        let mut sum = t;
        sum.add(&t);
        assert_eq!(
            (sum.wait_answered_sum_s, sum.wait_answered_max_s),
            (3.0, 9.0)
        );
        let mut want = vec![1_500; CallTimes::COLUMNS.len()];
        want[1] = 9_000;
        assert_eq!(t.values_ms().collect::<Vec<_>>(), want);
        assert_eq!(CallTimes::COLUMNS[1].fold.sql("x"), "MAX(x)");
    }
}
