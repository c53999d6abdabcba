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

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::sync::Arc;

use xxhash_rust::xxh3::xxh3_64;

use super::{Reason, Reject};
use crate::config::TenantSettings;
use crate::event::{AgentEvent, AgentState, Body, CallEvent, CallKind, Direction, Event};
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

    /// The events of a parsed line, its member already named.
    fn apply_line(&mut self, line: Line<'_>) -> Result<Vec<Event<'static>>, Reject> {
        self.saw(line.ts);
        let mut out = Emitter {
            tenant: self.tenant.clone(),
            ts: line.ts,
            hash: line.hash,
            n: 0,
            events: Vec::new(),
        };
        match line.event {
            "ENTERQUEUE" => {
                let call = check_name("callid", line.callid)?;
                let queue = check_name("queue", line.queue)?;
                out.call(CallKind::Queued, call, queue, None, None, None);
                self.calls.entry(call.to_string()).or_insert(OpenCall {
                    queue: queue.to_string(),
                    answered_by: None,
                });
            }
            "DID" => {
                let call = check_name("callid", line.callid)?;
                let queue = (!is_none(line.queue)).then_some(line.queue);
                out.call_opt(CallKind::Ivr, call, queue, None, None, None);
            }
            "CONNECT" => {
                let call = check_name("callid", line.callid)?;
                let queue = check_name("queue", line.queue)?;
                let agent = check_name("agent", line.agent)?;
                let hold = field_num(&line.data, 0);
                self.answer(&mut out, call, queue, agent, line.ts, hold);
            }
            "COMPLETECALLER" | "COMPLETEAGENT" | "TRANSFER" | "BLINDTRANSFER"
            | "ATTENDEDTRANSFER" => {
                let call = check_name("callid", line.callid)?;
                let queue = check_name("queue", line.queue)?;
                let agent = check_name("agent", line.agent)?;
                // holdtime|calltime are the first two fields of COMPLETE*, and
                // stand before origposition at the end of the transfers (1.4's
                // TRANSFER has no origposition).
                let n = line.data.len();
                let (h, c) = match line.event {
                    "COMPLETECALLER" | "COMPLETEAGENT" => (0, 1),
                    "TRANSFER" if n == 4 => (2, 3),
                    _ => (n.saturating_sub(3), n.saturating_sub(2)),
                };
                let (hold, talk) = (field_num(&line.data, h), field_num(&line.data, c));
                let answered_here = self
                    .calls
                    .get(call)
                    .is_some_and(|c| c.answered_by.is_some());
                let call_hash = xxh3_64(call.as_bytes());
                let ended_before = self.ended.contains(&call_hash);
                if !answered_here && !ended_before {
                    // The log started mid-call: the answer happened `calltime`
                    // before this line.
                    let at = (line.ts - talk.unwrap_or(0) * 1000).max(0);
                    let mut early = Emitter {
                        ts: at,
                        ..out.fork()
                    };
                    self.answer(&mut early, call, queue, agent, at, hold);
                    out.events.append(&mut early.events);
                }
                out.call(CallKind::Ended, call, queue, Some(agent), None, None);
                self.calls.remove(call);
                if !ended_before {
                    if self.ended_order.len() >= MAX_ENDED
                        && let Some(old) = self.ended_order.pop_front()
                    {
                        self.ended.remove(&old);
                    }
                    self.ended.insert(call_hash);
                    self.ended_order.push_back(call_hash);
                }
                self.after_call(&mut out, agent, call);
            }
            "ABANDON" | "WITHDRAW" | "EXITWITHTIMEOUT" | "EXITEMPTY" | "EXITWITHKEY"
            | "SYSCOMPAT" => {
                let call = check_name("callid", line.callid)?;
                let queue = check_name("queue", line.queue)?;
                let (kind, reason, wait_field) = match line.event {
                    "ABANDON" => (CallKind::Abandoned, None, 2),
                    "WITHDRAW" => (CallKind::Abandoned, None, 2),
                    "EXITWITHTIMEOUT" => (CallKind::Exited, Some("timeout"), 2),
                    "EXITEMPTY" => (CallKind::Exited, Some("empty"), 2),
                    "EXITWITHKEY" => (CallKind::Exited, Some("key"), 3),
                    _ => (CallKind::Exited, Some("syscompat"), usize::MAX),
                };
                let queued = field_num(&line.data, wait_field).map(|w| line.ts - w * 1000);
                out.call(kind, call, queue, None, reason, queued);
                self.calls.remove(call);
            }
            "RINGNOANSWER" | "RINGCANCELED" | "AGENTDUMP" => {
                // A member that rings is logged in to the queue.
                let agent = check_name("agent", line.agent)?;
                if !is_none(line.queue) {
                    self.join(&mut out, agent, line.queue, false);
                }
            }
            "ADDMEMBER" => {
                let agent = check_name("agent", line.agent)?;
                let queue = check_name("queue", line.queue)?;
                if line.data.first() == Some(&"PAUSED") {
                    self.member(agent).paused = Some("paused".to_string());
                }
                self.join(&mut out, agent, queue, true);
            }
            "REMOVEMEMBER" => {
                let agent = check_name("agent", line.agent)?;
                let queue = check_name("queue", line.queue)?;
                let m = self.member(agent);
                m.queues.remove(queue);
                if m.queues.is_empty() {
                    m.logged_in = false;
                }
                self.emit_agent(&mut out, agent, true);
            }
            "AGENTLOGIN" => {
                let agent = check_name("agent", line.agent)?;
                self.member(agent).logged_in = true;
                self.emit_agent(&mut out, agent, true);
            }
            "AGENTLOGOFF" => {
                let agent = check_name("agent", line.agent)?;
                let m = self.member(agent);
                m.logged_in = false;
                m.on_call = None;
                self.emit_agent(&mut out, agent, false);
            }
            "PAUSE" | "PAUSEALL" => {
                let agent = check_name("agent", line.agent)?;
                let reason = match line.data.first().filter(|r| !r.is_empty()) {
                    Some(r) => check_free("pause reason", r)?,
                    None => "paused",
                };
                let m = self.member(agent);
                m.paused = Some(reason.to_string());
                m.logged_in = true;
                if !is_none(line.queue) {
                    m.queues.insert(line.queue.to_string());
                }
                self.emit_agent(&mut out, agent, true);
            }
            "UNPAUSE" | "UNPAUSEALL" => {
                let agent = check_name("agent", line.agent)?;
                let m = self.member(agent);
                m.paused = None;
                m.logged_in = true;
                if !is_none(line.queue) {
                    m.queues.insert(line.queue.to_string());
                }
                self.emit_agent(&mut out, agent, true);
            }
            "QUEUESTART" => {
                // Asterisk restarted: calls open before it will never close.
                let open = std::mem::take(&mut self.calls);
                for (call, c) in &open {
                    match &c.answered_by {
                        Some(agent) => {
                            out.call(CallKind::Ended, call, &c.queue, Some(agent), None, None)
                        }
                        None => out.call(
                            CallKind::Exited,
                            call,
                            &c.queue,
                            None,
                            Some("restart"),
                            None,
                        ),
                    }
                }
                let members: Vec<String> = self
                    .members
                    .iter()
                    .filter(|(_, m)| m.on_call.is_some())
                    .map(|(a, _)| a.clone())
                    .collect();
                for a in members {
                    self.member(&a).on_call = None;
                    self.emit_agent(&mut out, &a, false);
                }
            }
            // CONFIGRELOAD, PENALTY, RINGINUSE, custom dialplan events (INFO,
            // CALLSTATUS, OUTCALL...) carry no statistic.
            _ => {}
        }
        Ok(out.events)
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

    fn member(&mut self, agent: &str) -> &mut Member {
        self.members.entry(agent.to_string()).or_default()
    }

    fn service_of(&self, queue: &str) -> String {
        self.services
            .get(queue)
            .cloned()
            .unwrap_or_else(|| queue.to_string())
    }

    /// The member is in `queue`; emits its state if that is news (or if
    /// `always`).
    fn join(&mut self, out: &mut Emitter, agent: &str, queue: &str, always: bool) {
        let m = self.member(agent);
        let joined = m.queues.insert(queue.to_string());
        let news = joined || !m.logged_in;
        m.logged_in = true;
        if news || always {
            self.emit_agent(out, agent, true);
        }
    }

    fn answer(
        &mut self,
        out: &mut Emitter,
        call: &str,
        queue: &str,
        agent: &str,
        at: Millis,
        hold_s: Option<i64>,
    ) {
        let queued = hold_s.map(|h| at - h * 1000);
        out.call(CallKind::Answered, call, queue, Some(agent), None, queued);
        self.calls
            .entry(call.to_string())
            .or_insert(OpenCall {
                queue: queue.to_string(),
                answered_by: None,
            })
            .answered_by = Some(agent.to_string());
        let m = self.member(agent);
        m.logged_in = true;
        m.queues.insert(queue.to_string());
        m.on_call = Some(call.to_string());
        self.emit_agent(out, agent, true);
    }

    fn after_call(&mut self, out: &mut Emitter, agent: &str, call: &str) {
        let m = self.member(agent);
        if m.on_call.as_deref() == Some(call) {
            m.on_call = None;
        }
        self.emit_agent(out, agent, false);
    }

    /// Emits the member's current state (and membership, if asked).
    fn emit_agent(&mut self, out: &mut Emitter, agent: &str, with_services: bool) {
        let m = self.members.get(agent);
        let (state, reason) = match m {
            None => (AgentState::LoggedOut, None),
            Some(m) if !m.logged_in => (AgentState::LoggedOut, None),
            Some(m) if m.on_call.is_some() => (AgentState::Talking, None),
            Some(m) => match &m.paused {
                Some(r) => (AgentState::Away, Some(r.clone())),
                None => (AgentState::Ready, None),
            },
        };
        let services = with_services.then(|| {
            let set: BTreeSet<String> = m
                .map(|m| m.queues.iter().map(|q| self.service_of(q)).collect())
                .unwrap_or_default();
            set.into_iter().map(Cow::Owned).collect()
        });
        out.push(Body::Agent(AgentEvent {
            agent: Cow::Owned(agent.to_string()),
            state,
            reason: reason.map(Cow::Owned),
            services,
            name: self.names.get(agent).map(|n| Cow::Owned(n.clone())),
        }));
    }
}

/// Collects the events of one line, numbering their ids.
struct Emitter {
    tenant: Arc<str>,
    ts: Millis,
    hash: u64,
    /// Events numbered so far: ids depend on the line and this, nothing else.
    n: usize,
    events: Vec<Event<'static>>,
}

impl Emitter {
    fn fork(&self) -> Emitter {
        Emitter {
            tenant: self.tenant.clone(),
            ts: self.ts,
            // Events made up for an earlier moment get ids of their own.
            hash: self.hash ^ 0x9e37_79b9_7f4a_7c15,
            n: 0,
            events: Vec::new(),
        }
    }

    fn push(&mut self, body: Body<'static>) {
        let id = format!("ql-{:016x}-{}", self.hash, self.n);
        self.n += 1;
        self.events.push(Event {
            id: Cow::Owned(id),
            ts: self.ts,
            tenant: Cow::Owned(self.tenant.to_string()),
            body,
        });
    }

    fn call(
        &mut self,
        kind: CallKind,
        call: &str,
        queue: &str,
        agent: Option<&str>,
        reason: Option<&str>,
        queued_ts: Option<Millis>,
    ) {
        self.call_opt(kind, call, Some(queue), agent, reason, queued_ts);
    }

    fn call_opt(
        &mut self,
        kind: CallKind,
        call: &str,
        queue: Option<&str>,
        agent: Option<&str>,
        reason: Option<&str>,
        queued_ts: Option<Millis>,
    ) {
        let s = |v: &str| Cow::Owned(v.to_string());
        self.push(Body::Call(CallEvent {
            kind,
            call: s(call),
            queue: queue.map(s),
            service: None,
            agent: agent.map(s),
            direction: Direction::Inbound,
            to_queue: None,
            reason: reason.map(s),
            queued_ts: queued_ts.map(|q| q.max(0)),
        }));
    }
}
