//! Reading the followed file and its rotated predecessors: bounded looks,
//! rotations and truncations found, lines decoded by the tenant's decoder.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::config::Config;
use crate::decode::{QueueLogDecoder, check_not_ahead};
use crate::event::{Event, Source};
use crate::sources::lines::{Line, LineReader};
use crate::telemetry::{EventsRejected, Signal};
use crate::time::Millis;
use crate::time::now_ms;

use super::*;

/// Decodes a whole (rotated) file, `.gz` or not, into `events`.
fn read_file(
    path: &Path,
    lines: &mut LineDecoder,
    events: &mut Vec<Event<'static>>,
) -> io::Result<()> {
    regular(path)?;
    let file = File::open(path)?;
    let input: Box<dyn BufRead> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    let mut reader = LineReader::new(input, lines.max).skipping_nul();
    let now = now_ms();
    while let Some(line) = reader
        .next_line()
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?
    {
        lines.take(line, now, events);
    }
    Ok(())
}

/// The file at `path`, if there is one: only a regular file is followed (a
/// directory, a device such as `/dev/zero` or a named pipe is an error that
/// says so, and is never opened: a pipe would block the open).
fn regular(path: &Path) -> io::Result<Option<fs::Metadata>> {
    match fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(Some(m)),
        Ok(m) => {
            let ft = m.file_type();
            let what = if ft.is_dir() {
                "a directory"
            } else if std::os::unix::fs::FileTypeExt::is_fifo(&ft) {
                "a named pipe"
            } else if std::os::unix::fs::FileTypeExt::is_char_device(&ft)
                || std::os::unix::fs::FileTypeExt::is_block_device(&ft)
            {
                "a device"
            } else {
                "not a regular file"
            };
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is {what}: only regular files are followed",
                    path.display()
                ),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    }
}

/// Most bytes one look reads: a file written faster than that (or a huge
/// one found at once) is read on at the next look, which comes at once.
const LOOK_BYTES: u64 = 16 * 1024 * 1024;

/// What one look at the followed file gave.
pub(crate) struct Looked {
    /// The events of the lines read.
    pub events: Vec<Event<'static>>,
    /// The look stopped at [`LOOK_BYTES`]: there is more to read now.
    pub more: bool,
    /// Why the file could not be read (what was read before is in
    /// `events`).
    pub error: Option<io::Error>,
}

/// A tenant's queue_log decoder with the bounds its lines are held to.
pub(crate) struct LineDecoder {
    decoder: QueueLogDecoder,
    /// Longest line, in bytes.
    max: usize,
    /// How far ahead of the clock a line may be dated, in ms.
    skew: i64,
    /// Lines before this time were handled before (by a forwarder that
    /// stopped): they are decoded, and their events dropped.
    skip_before: Millis,
}

impl LineDecoder {
    /// Decodes one line into `events`; a refused line is counted.
    fn take(&mut self, line: Line<'_>, now: Millis, events: &mut Vec<Event<'static>>) {
        let result = match line.text(self.max) {
            Ok(b) if b.iter().all(u8::is_ascii_whitespace) => return,
            Ok(b) => self.decoder.decode_bytes(b).and_then(|evs| {
                evs.iter()
                    .try_for_each(|ev| check_not_ahead(ev.ts, now, self.skew))?;
                Ok(evs)
            }),
            Err(r) => Err(r),
        };
        match result {
            // A line before the resume point was handled before: it only
            // tells the decoder what happened.
            Ok(_)
                if self
                    .decoder
                    .last_line()
                    .is_some_and(|t| t < self.skip_before) => {}
            Ok(evs) => events.extend(evs),
            Err(r) => EventsRejected::one(Source::QueueLog, r.reason).emit(),
        }
    }

    /// Releases the lines held for a second that is over on the clock.
    pub(super) fn release_due(&mut self, now: Millis, events: &mut Vec<Event<'static>>) {
        let Some(t) = self.decoder.holding() else {
            return;
        };
        if now < t + HELD_FOR.as_millis() as Millis {
            return;
        }
        let released = self.decoder.flush();
        // Lines before the resume point were delivered before.
        if t >= self.skip_before {
            events.extend(released);
        }
    }
}

/// The followed file: where reading got to, in which file (by inode).
pub(crate) struct Follower {
    path: PathBuf,
    pub(super) lines: LineDecoder,
    file: Option<File>,
    inode: u64,
    offset: u64,
    /// Bytes of a line not finished yet.
    partial: Vec<u8>,
}

impl Follower {
    pub(crate) fn new(src: &QueueLogSource, config: &Config) -> Follower {
        Follower {
            path: src.path.clone(),
            lines: LineDecoder {
                decoder: QueueLogDecoder::new(&src.tenant, &config.tenant(&src.tenant)),
                max: config.max_event_bytes,
                skew: config.max_clock_skew_ms,
                skip_before: Millis::MIN,
            },
            file: None,
            inode: 0,
            offset: 0,
            partial: Vec::new(),
        }
    }

    /// Lines before `t` only feed the decoder: their events were delivered
    /// before (a forwarder resuming).
    pub(crate) fn skip_before(&mut self, t: Millis) {
        self.lines.skip_before = t;
    }

    /// Reads the rotated predecessors last written since `since`, then the
    /// file up to its end; returns how many predecessors, and the events.
    pub(crate) fn read_past(
        &mut self,
        since: SystemTime,
    ) -> io::Result<(usize, Vec<Event<'static>>)> {
        let files = predecessors(&self.path, since)?;
        let mut events = Vec::new();
        for f in &files {
            read_file(f, &mut self.lines, &mut events)?;
        }
        loop {
            let looked = self.poll();
            events.extend(looked.events);
            if let Some(e) = looked.error {
                return Err(e);
            }
            if !looked.more {
                break;
            }
        }
        Ok((files.len(), events))
    }

    /// Whether lines are held for their second (the caller looks again
    /// soon).
    pub(crate) fn holding(&self) -> bool {
        self.lines.decoder.holding().is_some()
    }

    /// Time of the latest line read.
    pub(crate) fn latest(&self) -> Option<Millis> {
        self.lines.decoder.latest()
    }

    /// Reads what was written since the last look (at most
    /// [`LOOK_BYTES`]), following a rotation or a truncation; the events of
    /// the complete lines, and why the file could not be read, if so. Only
    /// a regular file is opened: a path that became a directory, a device
    /// or a pipe is an error until it is a file again, and the file it was
    /// is finished first.
    pub(crate) fn poll(&mut self) -> Looked {
        let mut looked = Looked {
            events: Vec::new(),
            more: false,
            error: None,
        };
        if let Err(e) = self.poll_into(&mut looked) {
            looked.error = Some(e);
        }
        self.lines.release_due(now_ms(), &mut looked.events);
        looked
    }

    fn poll_into(&mut self, looked: &mut Looked) -> io::Result<()> {
        let events = &mut looked.events;
        let meta = match regular(&self.path) {
            Ok(m) => m,
            Err(e) => {
                // What the file it was still holds is read, then let go.
                if self.file.is_some() {
                    let _ = self.read_on(events);
                    self.finish_partial(events);
                    self.file = None;
                }
                return Err(e);
            }
        };
        match &meta {
            // Renamed away (and perhaps not yet created again): what the old
            // file still gets is read through the open handle.
            Some(m) if self.file.is_some() && m.ino() != self.inode => {
                let _ = self.read_on(events);
                self.finish_partial(events);
                self.file = None;
                self.open(m.ino())?;
            }
            // Truncated in place (copytruncate): start again at its start.
            Some(m) if self.file.is_some() && m.len() < self.offset => {
                self.partial.clear();
                self.offset = 0;
                if let Some(f) = &mut self.file {
                    f.seek(SeekFrom::Start(0))?;
                }
            }
            Some(m) if self.file.is_none() => self.open(m.ino())?,
            _ => {}
        }
        looked.more = self.read_on(events)?;
        Ok(())
    }

    fn open(&mut self, inode: u64) -> io::Result<()> {
        let file = File::open(&self.path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path.display())))?;
        self.file = Some(file);
        self.inode = inode;
        self.offset = 0;
        self.partial.clear();
        Ok(())
    }

    /// Reads the open file from where reading got to, up to its end or
    /// [`LOOK_BYTES`]; true when it stopped at the bound.
    fn read_on(&mut self, events: &mut Vec<Event<'static>>) -> io::Result<bool> {
        let max = self.lines.max;
        let Some(file) = &mut self.file else {
            return Ok(false);
        };
        let mut buf = vec![0u8; 64 * 1024];
        let now = now_ms();
        let mut read = 0u64;
        loop {
            if read >= LOOK_BYTES {
                return Ok(true);
            }
            let n = file.read(&mut buf)?;
            if n == 0 {
                return Ok(false);
            }
            read += n as u64;
            self.offset += n as u64;
            for &b in &buf[..n] {
                match b {
                    0 => {}
                    b'\n' => {
                        let line = std::mem::take(&mut self.partial);
                        let line = line.strip_suffix(b"\r").unwrap_or(&line);
                        let line = if line.len() > max {
                            Line::TooLong { bytes: line.len() }
                        } else {
                            Line::Text(line)
                        };
                        self.lines.take(line, now, events);
                    }
                    // Past the bound the rest of the line is dropped: the
                    // line is refused as too large.
                    _ if self.partial.len() > max => {}
                    b => self.partial.push(b),
                }
            }
        }
    }

    /// A file left behind ends its last line even without a newline.
    fn finish_partial(&mut self, events: &mut Vec<Event<'static>>) {
        if self.partial.is_empty() {
            return;
        }
        let line = std::mem::take(&mut self.partial);
        self.lines.take(Line::Text(&line), now_ms(), events);
    }
}
