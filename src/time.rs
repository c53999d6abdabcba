//! Event time: the contract's two `ts` forms, RFC 3339 output, and the tenant's
//! local calendar (day numbers and hours) that every counter is attributed to.
//!
//! The engine never reads a clock: every instant here comes from an event or
//! from the caller. Day boundaries follow the tenant's IANA zone through
//! `jiff`, so daylight-saving days have 23 or 25 hours.

use jiff::tz::TimeZone;
use jiff::{Timestamp, civil::Date};

/// Unix epoch milliseconds, the engine's one representation of an instant.
pub type Millis = i64;

/// The wall clock, in the engine's unit. The engine itself reads no clock:
/// the service, its sources and its outputs do, through this.
pub fn now_ms() -> Millis {
    jiff::Timestamp::now().as_millisecond()
}

/// A local calendar day, counted in days since 1970-01-01 (a civil date, not
/// an instant: its length depends on the zone).
pub type DayNo = i32;

const MS_PER_DAY: i64 = 86_400_000;
const MS_PER_HOUR: i64 = 3_600_000;
/// The latest instant accepted anywhere: 9999-12-31T23:59:59.999Z.
pub const MAX_MILLIS: Millis = 253_402_300_799_999;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut n = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + (c - b'0') as u32;
    }
    Some(n)
}

/// Parses an RFC 3339 timestamp with a mandatory offset
/// (`2026-11-21T09:00:00.250+09:00`, `...Z`). Hand-rolled because it sits on
/// the decode hot path; `tests` check it against `jiff`'s parser.
pub fn parse_rfc3339(s: &str) -> Option<Millis> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let year = digits(&b[0..4])? as i64;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // A leap second is folded into the second before it.
    let second = second.min(59);
    let mut i = 19;
    let mut millis = 0u32;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                millis = millis * 10 + (b[i] - b'0') as u32;
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 || n > 9 {
            return None;
        }
        for _ in n..3 {
            millis *= 10;
        }
    }
    let offset_s: i64 = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let oh = digits(&[*h1, *h2])? as i64;
            let om = digits(&[*m1, *m2])? as i64;
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'-' { -o } else { o }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + (hour as i64) * 3600 + (minute as i64) * 60 + second as i64;
    let ms = (secs - offset_s) * 1000 + millis as i64;
    (0..=MAX_MILLIS).contains(&ms).then_some(ms)
}

/// Epoch milliseconds given as a JSON integer: accepted from 1970 to 9999.
pub fn check_epoch_ms(ms: i64) -> Option<Millis> {
    (0..=MAX_MILLIS).contains(&ms).then_some(ms)
}

/// Length of [`write_rfc3339`]'s output.
pub const RFC3339_LEN: usize = 24;

/// Writes an instant as RFC 3339 in UTC with milliseconds
/// (`2026-11-21T00:00:00.250Z`) into a buffer, without allocating: a large
/// snapshot writes one per agent. Years past 9999 do not occur (inputs are
/// bounded by [`MAX_MILLIS`]); they are clamped.
pub fn write_rfc3339(ms: Millis, out: &mut [u8; RFC3339_LEN]) {
    let ms = ms.clamp(0, MAX_MILLIS);
    let days = ms.div_euclid(MS_PER_DAY);
    let rem = ms.rem_euclid(MS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let put = |out: &mut [u8; RFC3339_LEN], at: usize, v: u64, width: usize| {
        let mut v = v;
        for i in (0..width).rev() {
            out[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    *out = *b"0000-00-00T00:00:00.000Z";
    put(out, 0, y as u64, 4);
    put(out, 5, m as u64, 2);
    put(out, 8, d as u64, 2);
    put(out, 11, (rem / MS_PER_HOUR) as u64, 2);
    put(out, 14, (rem / 60_000 % 60) as u64, 2);
    put(out, 17, (rem / 1000 % 60) as u64, 2);
    put(out, 20, (rem % 1000) as u64, 3);
}

/// [`write_rfc3339`] into a `String`.
pub fn format_rfc3339(ms: Millis) -> String {
    let mut buf = [0u8; RFC3339_LEN];
    write_rfc3339(ms, &mut buf);
    buf.iter().map(|&b| b as char).collect()
}

/// Formats an instant as RFC 3339 with the offset of `tz` at that instant,
/// to the second (`2026-11-21T09:15:00+09:00`).
pub fn format_local(ms: Millis, tz: &TimeZone) -> String {
    match Timestamp::from_millisecond(ms) {
        Ok(t) => t
            .to_zoned(tz.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string(),
        Err(_) => format_rfc3339(ms),
    }
}

/// Formats a day number as `YYYY-MM-DD`.
pub fn format_day(day: DayNo) -> String {
    let (y, m, d) = civil_from_days(day as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// One local day of a zone, as the instants it spans.
#[derive(Clone, Copy, Debug)]
struct DaySpan {
    day: DayNo,
    start: Millis,
    end: Millis,
    /// True when the day has 24 hours starting at local midnight with one
    /// offset throughout, so that the local hour is plain arithmetic.
    uniform: bool,
}

/// A tenant's local calendar: instant -> (local day, local hour).
///
/// Keeps the last two days it computed, so the hot path (events of today, late
/// events of yesterday) does arithmetic instead of a zone lookup.
#[derive(Clone, Debug)]
pub struct Calendar {
    tz: TimeZone,
    cache: [Option<DaySpan>; 2],
}

impl Calendar {
    pub fn new(tz: TimeZone) -> Self {
        Calendar {
            tz,
            cache: [None, None],
        }
    }

    /// The zone's IANA name, or `UTC` for a fixed zone without one.
    pub fn tz_name(&self) -> String {
        self.tz.iana_name().unwrap_or("UTC").to_string()
    }

    /// Local day and hour (0..=23) of an instant. On a day with a
    /// daylight-saving change the hour is the local clock's hour, so a repeated
    /// hour counts twice into one slot and a skipped hour stays empty.
    pub fn day_hour(&mut self, ms: Millis) -> (DayNo, u8) {
        let (day, hour, _) = self.day_hour_start(ms);
        (day, hour)
    }

    /// Local day and hour of an instant, and the instant its day starts.
    pub fn day_hour_start(&mut self, ms: Millis) -> (DayNo, u8, Millis) {
        let span = self.cached_span(ms);
        (span.day, self.hour_in(&span, ms), span.start)
    }

    /// Local day of an instant with the instants its day starts and ends.
    pub fn span(&mut self, ms: Millis) -> (DayNo, Millis, Millis) {
        let s = self.cached_span(ms);
        (s.day, s.start, s.end)
    }

    /// The day of an instant, from the cache or computed into it.
    fn cached_span(&mut self, ms: Millis) -> DaySpan {
        if let Some(span) = self.cached(ms) {
            return span;
        }
        let span = self.compute_span(ms);
        self.cache.swap(0, 1);
        self.cache[0] = Some(span);
        span
    }

    /// As [`Calendar::span`], without touching the cache (for readers).
    pub fn span_of(&self, ms: Millis) -> (DayNo, Millis, Millis) {
        let s = self.span_read(ms);
        (s.day, s.start, s.end)
    }

    /// The day of an instant, from the cache or computed (not kept).
    fn span_read(&self, ms: Millis) -> DaySpan {
        self.cached(ms).unwrap_or_else(|| self.compute_span(ms))
    }

    /// The cached day holding an instant. (Two plain tests: this runs
    /// several times per event, and an iterator over the options cost
    /// more than the rest of the lookup.)
    fn cached(&self, ms: Millis) -> Option<DaySpan> {
        let holds = |s: &Option<DaySpan>| s.filter(|s| s.start <= ms && ms < s.end);
        holds(&self.cache[0]).or_else(|| holds(&self.cache[1]))
    }

    /// The local hour (0..=23) of an instant, without touching the cache.
    pub fn hour_of(&self, ms: Millis) -> u8 {
        self.hour_in(&self.span_read(ms), ms)
    }

    /// The instants a local day spans, `[start, end)`.
    pub fn day_span(&self, day: DayNo) -> (Millis, Millis) {
        for span in self.cache.iter().flatten() {
            if span.day == day {
                return (span.start, span.end);
            }
        }
        // Noon UTC of the date is on that local date in every zone within
        // 12 hours of UTC; the day found from it is checked, and corrected by
        // the difference otherwise (zones of +13 and +14 hours).
        let mut probe = day as Millis * MS_PER_DAY + MS_PER_DAY / 2;
        for _ in 0..3 {
            let s = self.compute_span(probe);
            if s.day == day {
                return (s.start, s.end);
            }
            probe += (day - s.day) as Millis * MS_PER_DAY;
        }
        let s = self.compute_span(probe);
        (s.start, s.end)
    }

    /// Local day of an instant, without touching the cache (for readers).
    pub fn day_of(&self, ms: Millis) -> DayNo {
        self.span_read(ms).day
    }

    fn hour_in(&self, span: &DaySpan, ms: Millis) -> u8 {
        if span.uniform {
            ((ms - span.start) / MS_PER_HOUR) as u8
        } else {
            self.zoned(ms).map_or(0, |z| z.hour() as u8)
        }
    }

    fn zoned(&self, ms: Millis) -> Option<jiff::Zoned> {
        Timestamp::from_millisecond(ms)
            .ok()
            .map(|t| t.to_zoned(self.tz.clone()))
    }

    fn compute_span(&self, ms: Millis) -> DaySpan {
        let fallback = DaySpan {
            day: ms.div_euclid(MS_PER_DAY) as DayNo,
            start: ms.div_euclid(MS_PER_DAY) * MS_PER_DAY,
            end: ms.div_euclid(MS_PER_DAY) * MS_PER_DAY + MS_PER_DAY,
            uniform: true,
        };
        let Some(zoned) = self.zoned(ms) else {
            return fallback;
        };
        let date = zoned.date();
        let day =
            (days_from_civil(date.year() as i64, date.month() as u32, date.day() as u32)) as DayNo;
        let start = zoned.start_of_day().map(|z| z.timestamp().as_millisecond());
        let end = date
            .tomorrow()
            .and_then(|d: Date| d.to_zoned(self.tz.clone()))
            .and_then(|z| z.start_of_day())
            .map(|z| z.timestamp().as_millisecond());
        let (Ok(start), Ok(end)) = (start, end) else {
            return fallback;
        };
        let off = |t: Millis| {
            Timestamp::from_millisecond(t)
                .map(|t| self.tz.to_offset(t).seconds())
                .unwrap_or(0)
        };
        let midnight = self
            .zoned(start)
            .is_some_and(|z| z.hour() == 0 && z.minute() == 0);
        DaySpan {
            day,
            start,
            end,
            uniform: end - start == MS_PER_DAY && off(start) == off(end - 1) && midnight,
        }
    }
}

/// Looks up an IANA zone name, with an error that says what to do.
pub fn zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|_| {
        format!("unknown time zone `{name}` (expected an IANA name such as `Asia/Seoul` or `UTC`)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jiff_ms(s: &str) -> Option<Millis> {
        s.parse::<Timestamp>().ok().map(|t| t.as_millisecond())
    }

    #[test]
    fn parses_both_offset_forms_like_jiff() {
        for s in [
            "2026-11-21T09:00:00.250+09:00",
            "2026-11-21T00:00:00.250Z",
            "2026-11-21T00:00:00Z",
            "2024-02-29T23:59:59.999999999-05:30",
            "1970-01-01T00:00:00Z",
            "2026-03-08T02:30:00-05:00",
        ] {
            assert_eq!(parse_rfc3339(s), jiff_ms(s), "{s}");
        }
    }

    #[test]
    fn rejects_malformed_timestamps() {
        for s in [
            "2026-11-21T09:00:00",      // no offset
            "2026-13-21T09:00:00Z",     // month 13
            "2026-02-29T09:00:00Z",     // not a leap year
            "2026-11-21T24:00:00Z",     // hour 24
            "2026-11-21T09:00:00.Z",    // empty fraction
            "2026-11-21T09:00:00+0900", // offset without colon
            "2026-11-21X09:00:00Z",     // bad separator
            "１９７０-01-01T00:00:00Z", // non-ASCII digits
            "1969-12-31T23:59:59Z",     // before the epoch
            "2026-11-21T09:00:00Z trailing",
        ] {
            assert_eq!(parse_rfc3339(s), None, "{s}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for ms in [0, 1_795_219_200_250, 951_782_400_000, MAX_MILLIS] {
            assert_eq!(parse_rfc3339(&format_rfc3339(ms)), Some(ms));
        }
        assert_eq!(format_day(0), "1970-01-01");
    }

    #[test]
    fn seoul_day_starts_at_local_midnight() {
        let mut cal = Calendar::new(zone("Asia/Seoul").unwrap());
        // 2026-11-20T15:00:00Z is 2026-11-21T00:00 in Seoul.
        let midnight = parse_rfc3339("2026-11-21T00:00:00+09:00").unwrap();
        let (d1, h1) = cal.day_hour(midnight - 1);
        let (d2, h2) = cal.day_hour(midnight);
        assert_eq!((format_day(d1), h1), ("2026-11-20".to_string(), 23));
        assert_eq!((format_day(d2), h2), ("2026-11-21".to_string(), 0));
    }

    #[test]
    fn new_york_spring_forward_day_has_23_hours() {
        let mut cal = Calendar::new(zone("America/New_York").unwrap());
        let start = parse_rfc3339("2026-03-08T00:00:00-05:00").unwrap();
        let next = parse_rfc3339("2026-03-09T00:00:00-04:00").unwrap();
        assert_eq!(next - start, 23 * MS_PER_HOUR);
        let (day, _) = cal.day_hour(start);
        assert_eq!(cal.day_hour(next - 1), (day, 23));
        assert_eq!(cal.day_hour(next).0, day + 1);
        // 03:30 local comes 2.5 hours after midnight: the skipped hour 2 is empty.
        let (_, h) = cal.day_hour(parse_rfc3339("2026-03-08T03:30:00-04:00").unwrap());
        assert_eq!(h, 3);
    }
}
