//! Asterisk app_queue `queue_log` lines -> contract events, for one tenant.
//!
//! `timestamp|callid|queuename|agent|EVENT|data1|data2|...` (see
//! `docs/queue_log.md` for the whole mapping). The adapter is stateful, as the
//! format requires: it remembers which member answered which call, which
//! queues a member belongs to and whether it is paused, so that it can emit
//! agent states and close calls left open by an Asterisk restart.
//!
//! Ids are derived from the line's bytes, so a line seen twice yields the same
//! events and the engine counts it once. Times are the line's whole seconds:
//! lines of one second keep their file order (the engine lets the later of
//! two equal-time agent states win), and waits stay whole seconds, so a call
//! answered after exactly the SL threshold is in SL.

mod apply;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::sync::Arc;

use xxhash_rust::xxh3::xxh3_64;

use super::{Reason, Reject};
use crate::config::TenantSettings;
use crate::event::Event;
use crate::time::{MAX_MILLIS, Millis};

/// How many ended calls the adapter remembers.
const MAX_ENDED: usize = 4096;

/// What the adapter knows of a queue member.
#[derive(Default, Debug)]
struct Member {
    queues: BTreeSet<String>,
    paused: Option<String>,
    logged_in: bool,
    /// The call the member is talking on.
    on_call: Option<String>,
}

/// What the adapter knows of a call in progress.
#[derive(Debug)]
struct OpenCall {
    queue: String,
    answered_by: Option<String>,
    /// The member its last `call.ringing` was for.
    rang: Option<String>,
}

/// A decoder of one tenant's `queue_log`.
#[derive(Debug)]
pub struct QueueLogDecoder {
    tenant: Arc<str>,
    /// Configured queue -> service mappings, for agents' memberships.
    services: BTreeMap<String, String>,
    members: BTreeMap<String, Member>,
    calls: BTreeMap<String, OpenCall>,
    /// Hashes of calls that ended (the last [`MAX_ENDED`]), so that a
    /// repeated completion line does not make up an answer for an ended call.
    ended: HashSet<u64>,
    /// `ended` in the order they ended, to forget the oldest.
    ended_order: VecDeque<u64>,
    /// Latest line time seen (of any line, including ignored ones).
    latest: Option<Millis>,
    /// Time of the line decoded last.
    last: Option<Millis>,
    /// Configured members: the log's name for one (interface or member
    /// name) -> the agent it is.
    agents: BTreeMap<String, String>,
    /// Display names of configured agents.
    names: BTreeMap<String, String>,
    /// Interfaces the log itself tied to a member name -> that name.
    ties: BTreeMap<String, String>,
    /// `ADDMEMBER` lines of one second by an interface not seen before,
    /// held until that second shows (or does not show) the member's name.
    held: Vec<Held>,
    /// Events of held lines released while a refused line was read: they
    /// come out with the next line's.
    released: Vec<Event<'static>>,
}

/// An `ADDMEMBER` line held back for its second.
#[derive(Debug)]
struct Held {
    ts: Millis,
    queue: String,
    interface: String,
    raw: String,
}

/// An interface names a channel technology (`SIP/1001`, `PJSIP/1001`,
/// `Local/1001@from-queue/n`); a member name does not.
fn is_interface(agent: &str) -> bool {
    agent.contains('/')
}

/// The fixed leading fields of a line.
struct Line<'a> {
    ts: Millis,
    callid: &'a str,
    queue: &'a str,
    agent: &'a str,
    event: &'a str,
    data: Vec<&'a str>,
    hash: u64,
}

/// Longest duration a data field is taken to hold (ten years, in seconds);
/// larger values are clamped so that times computed from them stay in range.
const MAX_DURATION_S: i64 = 10 * 366 * 86_400;

/// A duration field in seconds (hold, call or wait time), if it is one.
fn field_num(data: &[&str], i: usize) -> Option<i64> {
    data.get(i)
        .and_then(|s| s.trim().parse::<i64>().ok())
        .filter(|v| *v >= 0)
        .map(|v| v.min(MAX_DURATION_S))
}

fn is_none(s: &str) -> bool {
    s.is_empty() || s == "NONE"
}

fn check_name<'a>(what: &str, s: &'a str) -> Result<&'a str, Reject> {
    if is_none(s) {
        return Err(Reject::new(
            Reason::InvalidField,
            format!("{what} must be given (not empty, not NONE)"),
        ));
    }
    crate::event::check_text(what, s, true).map_err(|e| Reject::new(Reason::InvalidField, e))?;
    Ok(s)
}

/// A free text of a line (a pause reason, a member's name), checked as
/// every entrance checks it.
fn check_free<'a>(what: &str, s: &'a str) -> Result<&'a str, Reject> {
    crate::event::check_text(what, s, false).map_err(|e| Reject::new(Reason::InvalidField, e))?;
    Ok(s)
}

impl QueueLogDecoder {
    pub fn new(tenant: &str, settings: &TenantSettings) -> QueueLogDecoder {
        QueueLogDecoder {
            tenant: Arc::from(tenant),
            services: settings
                .queues
                .iter()
                .filter_map(|(q, (svc, _))| svc.clone().map(|s| (q.clone(), s)))
                .collect(),
            members: BTreeMap::new(),
            calls: BTreeMap::new(),
            ended: HashSet::new(),
            ended_order: VecDeque::new(),
            latest: None,
            last: None,
            agents: settings
                .members
                .iter()
                .map(|(m, (agent, _))| (m.clone(), agent.clone()))
                .collect(),
            names: settings
                .members
                .values()
                .filter_map(|(agent, name)| Some((agent.clone(), name.clone()?)))
                .collect(),
            ties: BTreeMap::new(),
            held: Vec::new(),
            released: Vec::new(),
        }
    }

    /// The line with its agent field named as the config names that member
    /// (the line itself when the config names none).
    fn named_member<'a>(&self, raw: &'a str) -> Cow<'a, str> {
        if self.agents.is_empty() && self.ties.is_empty() {
            return Cow::Borrowed(raw);
        }
        let mut fields = raw.splitn(5, '|');
        let head: Vec<&str> = fields.by_ref().take(4).collect();
        let Some(agent) = head
            .get(3)
            .and_then(|a| self.agents.get(*a).or_else(|| self.ties.get(*a)))
        else {
            return Cow::Borrowed(raw);
        };
        let rest = fields.next();
        let mut line = format!("{}|{}|{}|{agent}", head[0], head[1], head[2]);
        if let Some(rest) = rest {
            line.push('|');
            line.push_str(rest);
        }
        Cow::Owned(line)
    }

    /// Latest line time seen.
    pub fn latest(&self) -> Option<Millis> {
        self.latest
    }

    /// Time of the line decoded last.
    pub fn last_line(&self) -> Option<Millis> {
        self.last
    }

    /// [`decode_line`](Self::decode_line) of raw bytes: a line that is not
    /// UTF-8 is refused.
    pub fn decode_bytes(&mut self, raw: &[u8]) -> Result<Vec<Event<'static>>, Reject> {
        match std::str::from_utf8(raw) {
            Ok(text) => self.decode_line(text),
            Err(_) => Err(Reject::new(Reason::MalformedLine, "not UTF-8")),
        }
    }

    /// Decodes one line into zero or more events (zero for lines that carry
    /// no statistic, such as CONFIGRELOAD or PENALTY).
    ///
    /// An `ADDMEMBER` by an interface not seen before is held for the rest
    /// of its second, in case the same queue and second name the member
    /// (see [`flush`](Self::flush)); its events come out with a later
    /// line's.
    pub fn decode_line(&mut self, raw: &str) -> Result<Vec<Event<'static>>, Reject> {
        let line = self.parse(raw)?;
        let (ts, queue, agent) = (line.ts, line.queue, line.agent);
        let named_in_data = (line.event == "ADDMEMBER")
            .then(|| {
                line.data
                    .iter()
                    .find(|d| !d.is_empty() && **d != "PAUSED" && !is_none(d))
            })
            .flatten()
            .map(|d| d.to_string());
        let holdable = line.event == "ADDMEMBER" && self.untied_interface(agent);
        if self.held.first().is_some_and(|h| h.ts != ts)
            || self.held.iter().any(|h| h.interface == agent)
        {
            // A later second, or the interface doing something else: what
            // was held is read as it is written.
            let mut released = self.flush();
            self.released.append(&mut released);
        }
        if holdable {
            check_name("agent", agent)?;
            check_name("queue", queue)?;
            match named_in_data {
                // A dialplan that writes the member's name in ADDMEMBER's
                // data ties them on the spot.
                Some(name)
                    if self.untied_name(&name)
                        && crate::event::check_text("member name", &name, true).is_ok() =>
                {
                    self.ties.insert(agent.to_string(), name);
                }
                _ => {
                    self.saw(ts);
                    self.held.push(Held {
                        ts,
                        queue: queue.to_string(),
                        interface: agent.to_string(),
                        raw: raw.to_string(),
                    });
                    return Ok(std::mem::take(&mut self.released));
                }
            }
        } else if !self.held.is_empty() && !is_none(queue) && self.untied_name(agent) {
            // The first member name in the queue of exactly one held
            // interface, in the same second: the same person.
            let mut candidates: Vec<&str> = self
                .held
                .iter()
                .filter(|h| h.queue == queue)
                .map(|h| h.interface.as_str())
                .collect();
            candidates.dedup();
            if let [interface] = candidates[..] {
                let interface = interface.to_string();
                self.ties.insert(interface.clone(), agent.to_string());
                let (tied, rest): (Vec<Held>, Vec<Held>) = std::mem::take(&mut self.held)
                    .into_iter()
                    .partition(|h| h.interface == interface);
                self.held = rest;
                for h in tied {
                    let mut evs = self.decode_now(&h.raw).unwrap_or_default();
                    self.released.append(&mut evs);
                }
            }
        }
        // Parsed again only if the member is named otherwise. A refused
        // line keeps what was released for the next one.
        let evs = match self.named_member(raw) {
            Cow::Borrowed(_) => self.apply_line(line)?,
            Cow::Owned(named) => {
                let line = self.parse(&named)?;
                self.apply_line(line)?
            }
        };
        let mut out = std::mem::take(&mut self.released);
        out.extend(evs);
        Ok(out)
    }

    /// Releases the lines held for their second, read as they are written.
    /// A reader calls it at the end of its input, or once the held second
    /// is past on the clock.
    pub fn flush(&mut self) -> Vec<Event<'static>> {
        let mut out = std::mem::take(&mut self.released);
        for h in std::mem::take(&mut self.held) {
            out.extend(self.decode_now(&h.raw).unwrap_or_default());
        }
        out
    }

    /// The second of the lines held back, if any.
    pub fn holding(&self) -> Option<Millis> {
        self.held
            .first()
            .map(|h| h.ts)
            .or_else(|| self.released.first().map(|e| e.ts))
    }

    /// An interface neither configured, nor tied, nor seen before.
    fn untied_interface(&self, agent: &str) -> bool {
        is_interface(agent)
            && !self.agents.contains_key(agent)
            && !self.ties.contains_key(agent)
            && !self.members.contains_key(agent)
    }

    /// A member name that no configured entry and no tie names yet.
    fn untied_name(&self, agent: &str) -> bool {
        !is_none(agent)
            && !is_interface(agent)
            && !self.agents.contains_key(agent)
            && !self.agents.values().any(|a| a == agent)
            && !self.ties.values().any(|a| a == agent)
    }

    /// Decodes a line, with its member named as configured or tied.
    fn decode_now(&mut self, raw: &str) -> Result<Vec<Event<'static>>, Reject> {
        let raw = self.named_member(raw);
        let line = self.parse(&raw)?;
        self.apply_line(line)
    }

    /// Records that a line of time `ts` was read.
    fn saw(&mut self, ts: Millis) {
        self.latest = Some(self.latest.map_or(ts, |t| t.max(ts)));
        self.last = Some(ts);
    }

    fn parse<'a>(&self, raw: &'a str) -> Result<Line<'a>, Reject> {
        let trimmed = raw.trim_end_matches(['\r', '\n']);
        let mut parts = trimmed.split('|');
        let (Some(ts), Some(callid), Some(queue), Some(agent), Some(event)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(Reject::new(
                Reason::MalformedLine,
                "expected timestamp|callid|queue|agent|event|data...",
            ));
        };
        if event.is_empty() {
            return Err(Reject::new(
                Reason::MalformedLine,
                "the event name is empty",
            ));
        }
        let secs: i64 = ts.trim().parse().map_err(|_| {
            Reject::new(
                Reason::BadTs,
                format!("`{ts}` is not a Unix time in seconds"),
            )
        })?;
        if !(0..=MAX_MILLIS / 1000).contains(&secs) {
            return Err(Reject::new(
                Reason::BadTs,
                format!("`{ts}` is out of range"),
            ));
        }
        let mut data: Vec<&str> = parts.collect();
        // A line without data still ends with an empty field.
        if data.last() == Some(&"") {
            data.pop();
        }
        Ok(Line {
            ts: secs * 1000,
            callid,
            queue,
            agent,
            event,
            data,
            hash: xxh3_64(trimmed.as_bytes()),
        })
    }
}
