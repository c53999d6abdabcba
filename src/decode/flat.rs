//! A fast path for the shape nearly every event has: one flat JSON object
//! whose values are strings without escapes, integers, `null`, or (for
//! `services`) an array of such strings.
//!
//! It reads that shape in one pass, borrowing every string, and gives up
//! (`None`) at the first thing it does not handle: an escape, a fraction or
//! exponent, a nested object, a repeated key, bytes after the object. The
//! caller then parses the same bytes with the full parser, which decides
//! everything the fast path declined, errors included. So the fast path
//! never accepts what the full parser would refuse, nor reads it
//! differently: a test holds the two to the same answers.

use std::borrow::Cow;

use crate::wire::{Str, TsValue, WireEvent};

/// The event in `bytes` if it has the common flat shape; `None` otherwise
/// (not an error: the full parser takes over).
pub(super) fn scan<'a>(bytes: &'a [u8], w: &mut WireEvent<'a>) -> Option<()> {
    // UTF-8 checked once for the whole line; every string is then a slice
    // of it cut at ASCII quotes, hence at character boundaries.
    let text = simdutf8::basic::from_utf8(bytes).ok()?;
    let mut p = Scanner {
        s: text,
        b: bytes,
        i: 0,
    };
    let mut seen = 0u32;
    p.ws();
    p.eat(b'{')?;
    p.ws();
    if p.peek()? == b'}' {
        p.i += 1;
    } else {
        loop {
            let key = p.string()?;
            p.ws();
            p.eat(b':')?;
            p.ws();
            let bit = match key {
                "v" => {
                    w.v = match p.null_or_int()? {
                        None => None,
                        Some(v) => Some(u32::try_from(v).ok()?),
                    };
                    0
                }
                "ts" => {
                    w.ts = p.ts()?;
                    1
                }
                "queued_ts" => {
                    w.queued_ts = p.ts()?;
                    2
                }
                "services" => {
                    w.services = p.strings()?;
                    3
                }
                other => match string_field(w, other) {
                    Some((slot, bit)) => {
                        *slot = p.null_or_string()?.map(|s| Str(Cow::Borrowed(s)));
                        bit
                    }
                    // A field of a later contract: skipped if simple.
                    None => {
                        p.skip_simple()?;
                        31
                    }
                },
            };
            if bit != 31 {
                // A repeated field is the full parser's to refuse.
                if seen & (1 << bit) != 0 {
                    return None;
                }
                seen |= 1 << bit;
            }
            p.ws();
            match p.next()? {
                b',' => p.ws(),
                b'}' => break,
                _ => return None,
            }
        }
    }
    p.ws();
    (p.i == bytes.len()).then_some(())
}

/// The string field named `key`, with its bit for spotting repeats.
fn string_field<'w, 'a>(
    w: &'w mut WireEvent<'a>,
    key: &str,
) -> Option<(&'w mut Option<Str<'a>>, u32)> {
    Some(match key {
        "id" => (&mut w.id, 4),
        "tenant" => (&mut w.tenant, 5),
        "type" => (&mut w.kind, 6),
        "call" => (&mut w.call, 7),
        "queue" => (&mut w.queue, 8),
        "service" => (&mut w.service, 9),
        "agent" => (&mut w.agent, 10),
        "direction" => (&mut w.direction, 11),
        "to_queue" => (&mut w.to_queue, 12),
        "reason" => (&mut w.reason, 13),
        "state" => (&mut w.state, 14),
        "name" => (&mut w.name, 15),
        "callback" => (&mut w.callback, 16),
        _ => return None,
    })
}

struct Scanner<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
    }

    /// A string without escapes or control characters, borrowed.
    #[inline(always)]
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        // Eight bytes at a time while none of them is a quote, a backslash
        // or a control character (a word-at-a-time test: the lowest flagged
        // byte is exact); the byte loop then looks at the one that is.
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        while let Some(chunk) = self.b.get(self.i..self.i + 8) {
            let w = u64::from_le_bytes(chunk.try_into().expect("a slice of 8 bytes"));
            let quote = w ^ (ONES * b'"' as u64);
            let slash = w ^ (ONES * b'\\' as u64);
            let flagged = (quote.wrapping_sub(ONES) & !quote)
                | (slash.wrapping_sub(ONES) & !slash)
                | (w.wrapping_sub(ONES * 0x20) & !w);
            let flagged = flagged & HIGH;
            if flagged != 0 {
                self.i += (flagged.trailing_zeros() / 8) as usize;
                break;
            }
            self.i += 8;
        }
        loop {
            match *self.b.get(self.i)? {
                b'"' => break,
                b'\\' | 0..=0x1f => return None,
                _ => self.i += 1,
            }
        }
        self.i += 1;
        self.s.get(start..self.i - 1)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i + word.len();
        (self.b.get(self.i..end)? == word).then(|| self.i = end)
    }

    /// An integer without fraction or exponent, as JSON writes it (no
    /// leading zeros, no plus sign).
    fn int(&mut self) -> Option<i64> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let digits = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        let n = self.i - digits;
        // No leading zeros (invalid JSON), no "-0" (a float to some parsers).
        if n == 0 || n > 18 || (self.b[digits] == b'0' && (n > 1 || digits > start)) {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = self.peek() {
            return None;
        }
        // At most 18 digits: no overflow.
        let v = self.b[digits..self.i]
            .iter()
            .fold(0i64, |v, &d| v * 10 + (d - b'0') as i64);
        Some(if digits > start { -v } else { v })
    }

    fn null_or_string(&mut self) -> Option<Option<&'a str>> {
        match self.peek()? {
            b'"' => self.string().map(Some),
            b'n' => self.literal(b"null").map(|()| None),
            _ => None,
        }
    }

    fn null_or_int(&mut self) -> Option<Option<i64>> {
        match self.peek()? {
            b'n' => self.literal(b"null").map(|()| None),
            _ => self.int().map(Some),
        }
    }

    fn ts(&mut self) -> Option<Option<TsValue<'a>>> {
        match self.peek()? {
            b'"' => self.string().map(|s| Some(TsValue::Text(Cow::Borrowed(s)))),
            b'n' => self.literal(b"null").map(|()| None),
            _ => self.int().map(|v| Some(TsValue::Millis(v))),
        }
    }

    fn strings(&mut self) -> Option<Option<Vec<Str<'a>>>> {
        if self.peek()? == b'n' {
            return self.literal(b"null").map(|()| None);
        }
        self.eat(b'[')?;
        let mut out = Vec::new();
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
            return Some(Some(out));
        }
        loop {
            self.ws();
            out.push(Str(Cow::Borrowed(self.string()?)));
            self.ws();
            match self.next()? {
                b',' => {}
                b']' => return Some(Some(out)),
                _ => return None,
            }
        }
    }

    /// Skips a string, integer, `true`, `false` or `null`.
    fn skip_simple(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.int().map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast(bytes: &[u8]) -> Option<WireEvent<'_>> {
        let mut w = WireEvent::default();
        scan(bytes, &mut w).map(|()| w)
    }

    fn full(bytes: &[u8]) -> Option<WireEvent<'_>> {
        sonic_rs::from_slice(bytes).ok()
    }

    /// Where the fast path answers, it answers as the full parser does.
    fn agrees(text: &str) -> bool {
        match fast(text.as_bytes()) {
            None => false,
            Some(fast) => {
                let slow = full(text.as_bytes())
                    .expect("the fast path accepted what the full parser refuses");
                assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{text}");
                true
            }
        }
    }

    #[test]
    fn reads_the_common_shapes() {
        assert!(agrees(
            r#"{"v":1,"id":"e1","ts":"2026-11-21T09:00:00.250+09:00","tenant":"acme","type":"call.queued","call":"c1","queue":"q1"}"#
        ));
        assert!(agrees(
            r#" { "v" : 1 , "id" : "e2", "ts": 1795218644386, "tenant":"acme", "type":"agent.state", "agent":"a1", "state":"ready", "services":["sales", "support"], "name":"김민준", "reason": null } "#
        ));
        assert!(agrees(
            r#"{"v":1,"services":[],"extra":true,"more":-5,"note":"x"}"#
        ));
        assert!(agrees("{}"));
    }

    #[test]
    fn declines_what_it_does_not_handle() {
        for text in [
            r#"{"id":"a\"b"}"#,          // an escape
            r#"{"ts":1.7e12}"#,          // an exponent
            r#"{"ts":1795218644386.0}"#, // a fraction
            r#"{"v":01}"#,               // a leading zero: invalid JSON
            r#"{"id":"a","id":"b"}"#,    // a repeated field
            r#"{"x":{"y":1}}"#,          // a nested object
            r#"{"v":1} x"#,              // bytes after the object
            r#"{"v":1,}"#,               // a trailing comma
            "{\"id\":\"a\u{1}b\"}",      // a control character
            r#"{"v":-1}"#,               // not a u32
            r#"{"v":1"#,                 // cut short
            r#"[1]"#,
        ] {
            assert!(fast(text.as_bytes()).is_none(), "{text}");
        }
    }

    #[test]
    fn never_accepts_what_the_full_parser_refuses() {
        // Every prefix and every one-byte corruption of a real event.
        let text = r#"{"v":1,"id":"e2","ts":1795218644386,"tenant":"acme","type":"agent.state","agent":"a1","state":"ready","services":["sales","support"]}"#;
        let b = text.as_bytes();
        for n in 0..=b.len() {
            if let Some(fast) = fast(&b[..n]) {
                let slow = full(&b[..n]).expect("accepted a prefix the full parser refuses");
                assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
            }
        }
        for i in 0..b.len() {
            for c in [
                b'"', b',', b':', b'{', b'}', b'[', b']', b'\\', b'0', b'-', b'.', b' ', b'x', 0,
                0xff,
            ] {
                let mut m = b.to_vec();
                m[i] = c;
                if let Some(fast) = fast(&m) {
                    let slow = full(&m).unwrap_or_else(|| {
                        panic!(
                            "accepted {:?}, which the full parser refuses",
                            String::from_utf8_lossy(&m)
                        )
                    });
                    assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
                }
            }
        }
    }
}
