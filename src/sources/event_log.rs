//! HTTP ingest's event log: the log a source with none of its own needs, so
//! that a start rebuilds what was acknowledged, as a Kafka member rebuilds
//! from its partitions.
//!
//! Every accepted event is appended (its contract JSON as received) to a
//! segment file before the request that brought it is answered; a start
//! reads every retained segment through the same decoder and engine, with
//! publishing held, then goes live. Segments are files of records
//! `[length u32][crc32 u32][event bytes]`, named by the number of their
//! first record; a segment rolls at 64 MiB or after an hour, and segments
//! whose last write is older than the retention are deleted. A torn last
//! record (a crash in the middle of a write) is cut off at the next start;
//! a record that fails its checksum elsewhere ends the reading of its
//! segment, with an error in the log.
//!
//! Durability: with `fsync = always` (the default) each batch of requests
//! is written and `fdatasync`ed before any of them is answered, so an
//! acknowledged event survives a power loss; with `never`, a write reaches
//! the kernel before the answer, so it survives the process being killed
//! but not the machine losing power.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

pub use crate::config::Fsync;
use crate::decode::decode_json;
use crate::event::Event;
use crate::time::Millis;

/// A segment rolls past this many bytes.
pub const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// ... or once it has been written to for this long, so that retention
/// deletes old events within the hour.
pub const SEGMENT_AGE: Duration = Duration::from_secs(3600);
/// Days of events kept by default: more than the two days a start needs,
/// and a week for `callboard history rebuild --source event-log`.
pub const DEFAULT_RETENTION_DAYS: u32 = 8;
/// Largest record read back (an event is at most `max_event_bytes`, 64 KiB
/// by default; the configured limit is at most this).
const MAX_RECORD: u32 = 16 * 1024 * 1024;
/// The file that says up to which event time records were deleted.
const PRUNED: &str = "pruned";

/// Where the log is and how it is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventLogSettings {
    pub dir: PathBuf,
    pub fsync: Fsync,
    pub retention_days: u32,
}

/// Appends one record (an event's JSON) to `out`, on one line: a line
/// break in JSON is whitespace (one in a string is escaped), so it becomes
/// a space, and the log reads as NDJSON.
pub fn frame(out: &mut Vec<u8>, event: &[u8]) {
    let start = out.len() + 8;
    out.extend_from_slice(&(event.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(event);
    for b in &mut out[start..] {
        if *b == b'\n' || *b == b'\r' {
            *b = b' ';
        }
    }
    let crc = crc32fast::hash(&out[start..]).to_le_bytes();
    out[start - 4..start].copy_from_slice(&crc);
}

/// The log, open for appending.
#[derive(Debug)]
pub struct EventLog {
    settings: EventLogSettings,
    /// The segment being written, its first record's number, its length,
    /// and when it was opened.
    active: File,
    active_first: u64,
    active_len: u64,
    active_since: SystemTime,
    /// The number of the next record.
    next: u64,
}

/// What reading the log at a start found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LogRead {
    pub segments: usize,
    pub records: u64,
    pub bytes: u64,
    /// Records past their segment's end or checksum, dropped.
    pub torn: u64,
    /// The newest event time of the records retention deleted, if any: a
    /// state rebuilt from the log holds every event of the days after it.
    pub pruned_through: Option<Millis>,
}

/// A segment's file name: its first record's number.
fn segment_name(first: u64) -> String {
    format!("{first:020}.log")
}

/// The segments of `dir`, oldest first, with their first record's number.
fn segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let first = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(first) = first
            && path.is_file()
        {
            out.push((first, path));
        }
    }
    out.sort();
    Ok(out)
}

/// The newest event time of the records retention deleted from the log in
/// `dir`, if it deleted any.
pub fn pruned_through(dir: &Path) -> Option<Millis> {
    read_pruned(dir)
}

fn read_pruned(dir: &Path) -> Option<Millis> {
    fs::read_to_string(dir.join(PRUNED))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// Reads the records of one segment, handing each to `each`; returns how
/// many were read, and the offset after the last whole one (where a torn
/// tail starts).
fn read_segment(path: &Path, each: &mut impl FnMut(&[u8])) -> io::Result<(u64, u64, bool)> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    let mut r = BufReader::with_capacity(1 << 20, file);
    let (mut n, mut at) = (0u64, 0u64);
    let mut buf = Vec::new();
    let mut head = [0u8; 8];
    loop {
        if at == size {
            return Ok((n, at, false));
        }
        if size - at < 8 || r.read_exact(&mut head).is_err() {
            return Ok((n, at, true));
        }
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if len > MAX_RECORD || size - at - 8 < len as u64 {
            return Ok((n, at, true));
        }
        buf.resize(len as usize, 0);
        if r.read_exact(&mut buf).is_err() || crc32fast::hash(&buf) != crc {
            return Ok((n, at, true));
        }
        each(&buf);
        n += 1;
        at += 8 + len as u64;
    }
}

/// Reads every record of the log in `dir`, oldest first, without writing
/// to it (the service may be appending): a torn last record is left
/// unread, not cut.
pub fn read(dir: &Path, mut each: impl FnMut(&[u8])) -> io::Result<LogRead> {
    let segs = segments(dir)?;
    let mut read = LogRead {
        segments: segs.len(),
        pruned_through: read_pruned(dir),
        ..LogRead::default()
    };
    for (_, path) in &segs {
        let (n, whole, torn) = read_segment(path, &mut each)?;
        read.records += n;
        read.bytes += whole;
        read.torn += torn as u64;
    }
    Ok(read)
}

impl EventLog {
    /// Opens the log in `settings.dir` (created if missing), reading every
    /// record it holds into `each` first, oldest first. A torn record at
    /// the end of the last segment is cut off.
    pub fn open(
        settings: EventLogSettings,
        mut each: impl FnMut(&[u8]),
    ) -> io::Result<(EventLog, LogRead)> {
        fs::create_dir_all(&settings.dir)?;
        let segs = segments(&settings.dir)?;
        let mut read = LogRead {
            segments: segs.len(),
            pruned_through: read_pruned(&settings.dir),
            ..LogRead::default()
        };
        let mut next = 0;
        for (i, (first, path)) in segs.iter().enumerate() {
            let (n, whole, torn) = read_segment(path, &mut each)?;
            read.records += n;
            read.bytes += whole;
            next = first + n;
            if torn {
                let size = fs::metadata(path)?.len();
                if i + 1 == segs.len() {
                    // The tail of a write the process did not finish: never
                    // acknowledged.
                    OpenOptions::new().write(true).open(path)?.set_len(whole)?;
                    read.torn += 1;
                    tracing::warn!(
                        segment = %path.display(),
                        cut_bytes = size - whole,
                        "event log: the last record was not written whole (a stop in the middle of a write); cut off"
                    );
                } else {
                    read.torn += 1;
                    tracing::error!(
                        segment = %path.display(),
                        from_byte = whole,
                        "event log: a record fails its checksum; the rest of this segment is not read"
                    );
                }
            }
        }
        let (active_first, path) = match segs.last() {
            Some((first, path)) => (*first, path.clone()),
            None => (0, settings.dir.join(segment_name(0))),
        };
        let mut active = OpenOptions::new().create(true).append(true).open(&path)?;
        let active_len = active.seek(SeekFrom::End(0))?;
        let mut log = EventLog {
            settings,
            active,
            active_first,
            active_len,
            active_since: SystemTime::now(),
            next,
        };
        // A start writes into a segment of its own, so that a segment's
        // records all arrived within its hour.
        if log.active_len > 0 {
            log.roll()?;
        }
        Ok((log, read))
    }

    /// Appends records already framed ([`frame`]); `count` of them. Durable
    /// as the settings say once [`EventLog::sync`] returns.
    pub fn append(&mut self, framed: &[u8], count: u64) -> io::Result<()> {
        if self.active_len >= SEGMENT_BYTES
            || self.active_since.elapsed().unwrap_or_default() >= SEGMENT_AGE
        {
            self.roll()?;
        }
        if let Err(e) = self.active.write_all(framed) {
            // Whatever part was written is cut off: the log ends at its last
            // whole record, and the request is answered with the error.
            let _ = self.active.set_len(self.active_len);
            return Err(e);
        }
        self.active_len += framed.len() as u64;
        self.next += count;
        Ok(())
    }

    /// Makes what was appended durable, as the settings say.
    pub fn sync(&mut self) -> io::Result<()> {
        match self.settings.fsync {
            Fsync::Always => self.active.sync_data(),
            Fsync::Never => Ok(()),
        }
    }

    /// Starts a new segment.
    fn roll(&mut self) -> io::Result<()> {
        self.active.sync_data()?;
        let path = self.settings.dir.join(segment_name(self.next));
        self.active = OpenOptions::new().create(true).append(true).open(&path)?;
        self.active_first = self.next;
        self.active_len = 0;
        self.active_since = SystemTime::now();
        // The new file's name is durable once its directory is.
        if let Ok(dir) = File::open(&self.settings.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// Deletes the segments (not the one being written) last written more
    /// than the retention ago; first records the newest event time they
    /// hold, so that a rebuild knows from which day it holds every event.
    /// Returns how many were deleted.
    pub fn prune(&mut self, now: SystemTime) -> io::Result<usize> {
        let horizon = now
            .checked_sub(Duration::from_secs(
                self.settings.retention_days as u64 * 86_400,
            ))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut through = read_pruned(&self.settings.dir);
        let mut deleted = 0;
        for (first, path) in segments(&self.settings.dir)? {
            if first == self.active_first {
                break;
            }
            let written = fs::metadata(&path)?.modified()?;
            if written >= horizon {
                break;
            }
            let mut newest = through;
            read_segment(&path, &mut |bytes| {
                if let Ok(ev) = decode_json(bytes, MAX_RECORD as usize) {
                    newest = Some(newest.map_or(ev.ts, |t: Millis| t.max(ev.ts)));
                }
            })?;
            if newest != through {
                through = newest;
                let tmp = self.settings.dir.join(format!("{PRUNED}.tmp"));
                fs::write(&tmp, format!("{}\n", through.unwrap_or(Millis::MIN)))?;
                File::open(&tmp)?.sync_all()?;
                fs::rename(&tmp, self.settings.dir.join(PRUNED))?;
            }
            fs::remove_file(&path)?;
            deleted += 1;
        }
        Ok(deleted)
    }

    /// Records appended since the log began (deleted ones included).
    pub fn records(&self) -> u64 {
        self.next
    }
}

/// Decodes a record read back: the event as it was accepted.
pub fn decode_record(bytes: &[u8]) -> Option<Event<'static>> {
    decode_json(bytes, MAX_RECORD as usize)
        .ok()
        .map(Event::into_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &Path) -> EventLogSettings {
        EventLogSettings {
            dir: dir.to_path_buf(),
            fsync: Fsync::Always,
            retention_days: 8,
        }
    }

    fn framed(records: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in records {
            frame(&mut out, r.as_bytes());
        }
        out
    }

    fn read_all(dir: &Path) -> (Vec<String>, LogRead) {
        let mut seen = Vec::new();
        let (_, read) = EventLog::open(settings(dir), |b| {
            seen.push(String::from_utf8_lossy(b).into_owned())
        })
        .unwrap();
        (seen, read)
    }

    #[test]
    fn a_record_is_one_line() {
        let mut out = Vec::new();
        frame(&mut out, b"{\"v\":1,\r\n \"id\":\"a\\nb\"}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(segment_name(0)), &out).unwrap();
        let mut seen = Vec::new();
        read(dir.path(), |b| {
            seen.push(String::from_utf8_lossy(b).into_owned())
        })
        .unwrap();
        assert_eq!(seen, ["{\"v\":1,   \"id\":\"a\\nb\"}"]);
    }

    #[test]
    fn records_come_back_in_order_across_starts() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = EventLog::open(settings(dir.path()), |_| {}).unwrap();
        log.append(&framed(&["a", "b"]), 2).unwrap();
        log.sync().unwrap();
        drop(log);
        let (seen, read) = read_all(dir.path());
        assert_eq!(seen, ["a", "b"]);
        assert_eq!(read.records, 2);
        // The second start wrote into a segment of its own.
        let (mut log, _) = EventLog::open(settings(dir.path()), |_| {}).unwrap();
        log.append(&framed(&["c"]), 1).unwrap();
        assert_eq!(log.records(), 3);
        drop(log);
        let (seen, read) = read_all(dir.path());
        assert_eq!(seen, ["a", "b", "c"]);
        assert!(read.segments >= 2);
    }

    #[test]
    fn a_torn_last_record_is_cut_off_and_the_log_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = EventLog::open(settings(dir.path()), |_| {}).unwrap();
        log.append(&framed(&["whole"]), 1).unwrap();
        // Half a record: the process stopped in the middle of a write.
        let half = framed(&["never acknowledged"]);
        log.append(&half[..half.len() / 2], 0).unwrap();
        drop(log);
        let (seen, read) = read_all(dir.path());
        assert_eq!(seen, ["whole"]);
        assert_eq!(read.torn, 1);
        let (mut log, _) = EventLog::open(settings(dir.path()), |_| {}).unwrap();
        log.append(&framed(&["after"]), 1).unwrap();
        drop(log);
        assert_eq!(read_all(dir.path()).0, ["whole", "after"]);
    }

    #[test]
    fn a_corrupt_record_ends_its_segment_only() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = EventLog::open(settings(dir.path()), |_| {}).unwrap();
        log.append(&framed(&["one", "two"]), 2).unwrap();
        drop(log);
        let (mut log, _) = EventLog::open(settings(dir.path()), |_| {}).unwrap();
        log.append(&framed(&["three"]), 1).unwrap();
        drop(log);
        // A flipped byte in the first segment's second record.
        let first = dir.path().join(segment_name(0));
        let mut bytes = fs::read(&first).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&first, bytes).unwrap();
        let (seen, read) = read_all(dir.path());
        assert_eq!(seen, ["one", "three"]);
        assert_eq!(read.torn, 1);
    }

    #[test]
    fn retention_deletes_old_segments_and_remembers_their_newest_event() {
        let dir = tempfile::tempdir().unwrap();
        let ev = |id: &str, ts: i64| {
            format!(r#"{{"v":1,"id":"{id}","ts":{ts},"tenant":"t","type":"call.ivr","call":"c"}}"#)
        };
        let (mut log, _) = EventLog::open(settings(dir.path()), |_| {}).unwrap();
        log.append(&framed(&[&ev("1", 5_000), &ev("2", 9_000)]), 2)
            .unwrap();
        log.roll().unwrap();
        log.append(&framed(&[&ev("3", 7_000)]), 1).unwrap();
        // Nothing is old yet.
        assert_eq!(log.prune(SystemTime::now()).unwrap(), 0);
        // Nine days on, the first segment goes; the one being written stays.
        let later = SystemTime::now() + Duration::from_secs(9 * 86_400);
        assert_eq!(log.prune(later).unwrap(), 1);
        drop(log);
        let (seen, read) = read_all(dir.path());
        assert_eq!(seen.len(), 1);
        assert_eq!(read.pruned_through, Some(9_000));
    }
}
