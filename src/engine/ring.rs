//! Per-day storage for "today" and "yesterday" without a sweep at midnight.
//!
//! A [`DayRing`] has two slots, chosen by the parity of the day number and
//! tagged with the day they hold. Writing a newer day into a slot resets it;
//! writing an older day than the slot holds is refused (that day has left the
//! window). So each counter rotates lazily, the first time it is touched on a
//! new day, and a reader asking for a day the slot no longer holds sees none.

use crate::time::DayNo;

/// A value that can be emptied in place, keeping its allocations.
pub trait Reset {
    fn reset(&mut self);
}

#[derive(Clone, Debug)]
pub struct DayRing<T> {
    slots: [(DayNo, T); 2],
}

const EMPTY: DayNo = DayNo::MIN;

impl<T: Default> Default for DayRing<T> {
    fn default() -> Self {
        DayRing {
            slots: [(EMPTY, T::default()), (EMPTY, T::default())],
        }
    }
}

impl<T: Reset> DayRing<T> {
    fn slot(day: DayNo) -> usize {
        (day & 1) as usize
    }

    /// The value of `day`, if the ring still holds it.
    pub fn get(&self, day: DayNo) -> Option<&T> {
        let (d, v) = &self.slots[Self::slot(day)];
        (*d == day).then_some(v)
    }

    /// The value of `day` for writing: a slot holding an older day is reset
    /// for it; `None` when `day` is older than what the slot holds.
    pub fn get_mut(&mut self, day: DayNo) -> Option<&mut T> {
        let (d, v) = &mut self.slots[Self::slot(day)];
        if *d == day {
            Some(v)
        } else if *d < day {
            v.reset();
            *d = day;
            Some(v)
        } else {
            None
        }
    }

    /// Every day the ring holds, with its value.
    pub fn iter(&self) -> impl Iterator<Item = (DayNo, &T)> {
        self.slots
            .iter()
            .filter(|(d, _)| *d != EMPTY)
            .map(|(d, v)| (*d, v))
    }

    /// Every day the ring holds, with its value for writing.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (DayNo, &mut T)> {
        self.slots
            .iter_mut()
            .filter(|(d, _)| *d != EMPTY)
            .map(|(d, v)| (*d, v))
    }
}

impl<K: std::hash::Hash + Eq, S> Reset for hashbrown::HashSet<K, S> {
    fn reset(&mut self) {
        self.clear();
    }
}

impl<K: std::hash::Hash + Eq, V, S> Reset for hashbrown::HashMap<K, V, S> {
    fn reset(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default, Debug, PartialEq)]
    struct N(u32);
    impl Reset for N {
        fn reset(&mut self) {
            self.0 = 0;
        }
    }

    #[test]
    fn keeps_two_days_and_refuses_older_ones() {
        let mut r: DayRing<N> = DayRing::default();
        r.get_mut(10).unwrap().0 += 1;
        r.get_mut(11).unwrap().0 += 2;
        assert_eq!(r.get(10), Some(&N(1)));
        assert_eq!(r.get(11), Some(&N(2)));
        // Day 12 takes day 10's slot; day 10 is gone and cannot come back.
        r.get_mut(12).unwrap().0 += 5;
        assert_eq!(r.get(10), None);
        assert!(r.get_mut(10).is_none());
        assert_eq!(r.get(12), Some(&N(5)));
        assert_eq!(r.get(11), Some(&N(2)));
    }

    #[test]
    fn negative_days_work() {
        let mut r: DayRing<N> = DayRing::default();
        r.get_mut(-3).unwrap().0 = 7;
        assert_eq!(r.get(-3), Some(&N(7)));
        assert_eq!(r.get(-1), None);
    }
}
