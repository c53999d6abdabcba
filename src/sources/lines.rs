//! Line-oriented input (NDJSON and queue_log files, stdin) with a bound on
//! line length, so that one endless line cannot exhaust memory.

use std::io::{self, BufRead};

use crate::decode::{Reason, Reject};

/// One line read by [`LineReader`].
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// The line's bytes, without the line ending.
    Text(&'a [u8]),
    /// The line was longer than the limit; its bytes were skipped.
    TooLong { bytes: usize },
}

impl<'a> Line<'a> {
    /// The line's bytes, or its refusal when it was over `max`.
    pub fn text(self, max: usize) -> Result<&'a [u8], Reject> {
        match self {
            Line::Text(b) => Ok(b),
            Line::TooLong { bytes } => Err(Reject::new(
                Reason::TooLarge,
                format!("{bytes} bytes, the limit is {max}"),
            )),
        }
    }
}

/// Reads lines of at most `max` bytes from a buffered reader.
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    max: usize,
    /// Drop NUL bytes (they neither count nor end a line).
    skip_nul: bool,
    /// Bytes of the line last returned straight from `inner`'s buffer,
    /// consumed when the next one is asked for.
    lent: usize,
    /// No line was read yet: a byte-order mark may lead the first.
    first: bool,
}

/// The UTF-8 byte-order mark some Windows tools write at the start of a
/// text file: dropped there, as JSON parsers may (RFC 8259, 8.1).
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

impl<R: BufRead> LineReader<R> {
    pub fn new(inner: R, max: usize) -> Self {
        LineReader {
            inner,
            buf: Vec::new(),
            max,
            skip_nul: false,
            lent: 0,
            first: true,
        }
    }

    /// Drops NUL bytes: a process that stopped uncleanly (Asterisk writing
    /// its queue_log) leaves runs of them before the next line, which must
    /// be read, not refused with them.
    pub fn skipping_nul(mut self) -> Self {
        self.skip_nul = true;
        self
    }

    /// The next line, or `None` at the end of the input. A byte-order mark
    /// at the start of the input is not part of the first line.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        let first = std::mem::replace(&mut self.first, false);
        Ok(match self.next_raw()? {
            Some(Line::Text(t)) if first => Some(Line::Text(t.strip_prefix(BOM).unwrap_or(t))),
            other => other,
        })
    }

    fn next_raw(&mut self) -> io::Result<Option<Line<'_>>> {
        self.inner.consume(std::mem::take(&mut self.lent));
        // Nearly every line lies whole in the reader's buffer: it is lent
        // from there, not copied.
        let whole = loop {
            match self.inner.fill_buf() {
                Ok(chunk) => {
                    break memchr::memchr(b'\n', chunk).filter(|&end| {
                        !(self.skip_nul && memchr::memchr(0, &chunk[..end]).is_some())
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        if let Some(end) = whole {
            self.lent = end + 1;
            // (A `\r` before the `\n` counts toward the limit, as below.)
            if end > self.max {
                return Ok(Some(Line::TooLong { bytes: end }));
            }
            let line = &self.inner.fill_buf()?[..end];
            return Ok(Some(Line::Text(line.strip_suffix(b"\r").unwrap_or(line))));
        }
        self.read_line()
    }

    /// A line across the reader's buffers (or with NULs to drop): copied.
    fn read_line(&mut self) -> io::Result<Option<Line<'_>>> {
        self.buf.clear();
        let mut total = 0usize;
        let mut seen_any = false;
        loop {
            let chunk = match self.inner.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                break;
            }
            seen_any = true;
            let (take, done) = match memchr::memchr(b'\n', chunk) {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            let content = if done { take - 1 } else { take };
            let bytes = &chunk[..content];
            let kept = if self.skip_nul {
                bytes.iter().filter(|&&b| b != 0).count()
            } else {
                content
            };
            if total + kept <= self.max {
                if self.skip_nul {
                    self.buf.extend(bytes.iter().filter(|&&b| b != 0));
                } else {
                    self.buf.extend_from_slice(bytes);
                }
            }
            total += kept;
            self.inner.consume(take);
            if done {
                break;
            }
        }
        if !seen_any {
            return Ok(None);
        }
        if total > self.max {
            return Ok(Some(Line::TooLong { bytes: total }));
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        Ok(Some(Line::Text(&self.buf)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_and_bounds_their_length() {
        let input = b"a\r\nbb\n\nccccccccc\nd";
        let mut r = LineReader::new(&input[..], 4);
        assert_eq!(r.next_line().unwrap(), Some(Line::Text(b"a")));
        assert_eq!(r.next_line().unwrap(), Some(Line::Text(b"bb")));
        assert_eq!(r.next_line().unwrap(), Some(Line::Text(b"")));
        assert_eq!(r.next_line().unwrap(), Some(Line::TooLong { bytes: 9 }));
        assert_eq!(r.next_line().unwrap(), Some(Line::Text(b"d")));
        assert_eq!(r.next_line().unwrap(), None);
    }

    fn all_lines<R: BufRead>(mut r: LineReader<R>) -> Vec<Result<Vec<u8>, usize>> {
        let mut out = Vec::new();
        while let Some(line) = r.next_line().unwrap() {
            out.push(match line {
                Line::Text(t) => Ok(t.to_vec()),
                Line::TooLong { bytes } => Err(bytes),
            });
        }
        out
    }

    #[test]
    fn lines_read_the_same_whatever_the_buffer_cuts() {
        // Lines lent whole from the buffer and lines copied across its
        // refills (and with NULs dropped) are the same lines.
        let input = b"a\r\nbb\n\nccccccccc\nd\0d\n\0\0\r\neeee\r\nfffff\nggg";
        for skip in [false, true] {
            let mut r = LineReader::new(&input[..], 4);
            if skip {
                r = r.skipping_nul();
            }
            let whole = all_lines(r);
            for cap in 1..=input.len() {
                let mut r = LineReader::new(io::BufReader::with_capacity(cap, &input[..]), 4);
                if skip {
                    r = r.skipping_nul();
                }
                assert_eq!(
                    all_lines(r),
                    whole,
                    "buffer of {cap} bytes, skipping NULs: {skip}"
                );
            }
        }
    }

    #[test]
    fn a_byte_order_mark_at_the_start_is_dropped_whatever_the_buffer() {
        let input = b"\xEF\xBB\xBF{\"a\":1}\r\n\xEF\xBB\xBFb\n";
        for cap in 1..=input.len() {
            let r = LineReader::new(io::BufReader::with_capacity(cap, &input[..]), 64);
            assert_eq!(
                all_lines(r),
                vec![Ok(b"{\"a\":1}".to_vec()), Ok(b"\xEF\xBB\xBFb".to_vec())],
                "buffer of {cap} bytes: only the input's first bytes are a mark"
            );
        }
    }

    #[test]
    fn a_run_of_nul_bytes_longer_than_a_line_does_not_hide_the_next_line() {
        let mut input = b"a\n".to_vec();
        input.extend(std::iter::repeat_n(0u8, 100_000));
        input.extend_from_slice(b"bb\n\0\0\n");
        let mut r = LineReader::new(&input[..], 4).skipping_nul();
        assert_eq!(r.next_line().unwrap(), Some(Line::Text(b"a")));
        assert_eq!(r.next_line().unwrap(), Some(Line::Text(b"bb")));
        assert_eq!(r.next_line().unwrap(), Some(Line::Text(b"")));
        assert_eq!(r.next_line().unwrap(), None);
    }
}
