//! What each queue_log line does to the adapter's state, and the events
//! it gives: one handler per family of lines (a call queued or in the
//! IVR, answered, ended, leaving the queue; a member ringing, added or
//! removed, logging in or off, paused; Asterisk restarting).

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Arc;

use xxhash_rust::xxh3::xxh3_64;

use super::{
    Line, MAX_ENDED, Member, OpenCall, QueueLogDecoder, check_free, check_name, field_num, is_none,
};
use crate::decode::Reject;
use crate::event::{AgentEvent, AgentState, Body, CallEvent, CallKind, Direction, Event};
use crate::time::Millis;

impl QueueLogDecoder {
    /// The events of one parsed line, and what it changes of the state.
    pub(super) fn apply_line(&mut self, line: Line<'_>) -> Result<Vec<Event<'static>>, Reject> {
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
                    rang: None,
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
                // The member rang in vain before, and now answers: a
                // ringing first, so that the earlier one counts as missed.
                if self
                    .calls
                    .get(call)
                    .is_some_and(|c| c.answered_by.is_none() && c.rang.as_deref() == Some(agent))
                {
                    let mut again = out.fork();
                    again.call(CallKind::Ringing, call, queue, Some(agent), None, None);
                    out.events.append(&mut again.events);
                }
                self.answer(&mut out, call, queue, agent, line.ts, hold);
            }
            "COMPLETECALLER" | "COMPLETEAGENT" | "TRANSFER" | "BLINDTRANSFER"
            | "ATTENDEDTRANSFER" => self.call_ended(&mut out, &line)?,
            "ABANDON" | "WITHDRAW" | "EXITWITHTIMEOUT" | "EXITEMPTY" | "EXITWITHKEY"
            | "SYSCOMPAT" => self.call_left(&mut out, &line)?,
            "RINGNOANSWER" | "RINGCANCELED" | "AGENTDUMP" => {
                // A member that rings is logged in to the queue.
                let agent = check_name("agent", line.agent)?;
                if line.event != "AGENTDUMP" {
                    self.rang(&mut out, &line, agent);
                }
                if !is_none(line.queue) {
                    self.join(&mut out, agent, line.queue, false);
                }
            }
            "ADDMEMBER" | "REMOVEMEMBER" | "AGENTLOGIN" | "AGENTLOGOFF" => {
                self.membership(&mut out, &line)?
            }
            "PAUSE" | "PAUSEALL" | "UNPAUSE" | "UNPAUSEALL" => self.pause(&mut out, &line)?,
            "QUEUESTART" => self.restarted(&mut out),
            // CONFIGRELOAD, PENALTY, RINGINUSE, custom dialplan events (INFO,
            // CALLSTATUS, OUTCALL...) carry no statistic.
            _ => {}
        }
        Ok(out.events)
    }

    /// A member rang for `ringtime` ms and did not answer: a `call.ringing`
    /// at the start of the ring, for a call still waiting. Its next event
    /// (another ring, an answer, the caller leaving) makes it a miss. A
    /// ringtime of 0 is a member that never rang (busy, unavailable, or
    /// cut short as another answered): no offer, no miss.
    fn rang(&mut self, out: &mut Emitter, line: &Line<'_>, agent: &str) {
        let Some(ring_ms) = field_num(&line.data, 0).filter(|&ms| ms > 0) else {
            return;
        };
        let Some(open) = self
            .calls
            .get_mut(line.callid)
            .filter(|c| c.answered_by.is_none())
        else {
            return;
        };
        open.rang = Some(agent.to_string());
        let mut ring = Emitter {
            ts: (line.ts - ring_ms).max(0),
            ..out.fork()
        };
        let queue = open.queue.clone();
        ring.call(
            CallKind::Ringing,
            line.callid,
            &queue,
            Some(agent),
            None,
            None,
        );
        out.events.append(&mut ring.events);
    }

    /// A call completed or transferred by the member who took it.
    fn call_ended(&mut self, out: &mut Emitter, line: &Line<'_>) -> Result<(), Reject> {
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
        self.after_call(out, agent, call);
        Ok(())
    }

    /// A caller who left the queue unanswered: abandoned, or exited (with
    /// the reason).
    fn call_left(&mut self, out: &mut Emitter, line: &Line<'_>) -> Result<(), Reject> {
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
        Ok(())
    }

    /// A member added to or removed from a queue, logged in or off.
    fn membership(&mut self, out: &mut Emitter, line: &Line<'_>) -> Result<(), Reject> {
        let agent = check_name("agent", line.agent)?;
        match line.event {
            "ADDMEMBER" => {
                let queue = check_name("queue", line.queue)?;
                if line.data.first() == Some(&"PAUSED") {
                    self.member(agent).paused = Some("paused".to_string());
                }
                self.join(out, agent, queue, true);
            }
            "REMOVEMEMBER" => {
                let queue = check_name("queue", line.queue)?;
                let m = self.member(agent);
                m.queues.remove(queue);
                if m.queues.is_empty() {
                    m.logged_in = false;
                }
                self.emit_agent(out, agent, true);
            }
            "AGENTLOGIN" => {
                self.member(agent).logged_in = true;
                self.emit_agent(out, agent, true);
            }
            _ => {
                let m = self.member(agent);
                m.logged_in = false;
                m.on_call = None;
                self.emit_agent(out, agent, false);
            }
        }
        Ok(())
    }

    /// A member paused (with its reason) or unpaused: logged in, and in the
    /// queue the line names.
    fn pause(&mut self, out: &mut Emitter, line: &Line<'_>) -> Result<(), Reject> {
        let agent = check_name("agent", line.agent)?;
        let paused = match line.event {
            "PAUSE" | "PAUSEALL" => Some(match line.data.first().filter(|r| !r.is_empty()) {
                Some(r) => check_free("pause reason", r)?,
                None => "paused",
            }),
            _ => None,
        };
        let m = self.member(agent);
        m.paused = paused.map(str::to_string);
        m.logged_in = true;
        if !is_none(line.queue) {
            m.queues.insert(line.queue.to_string());
        }
        self.emit_agent(out, agent, true);
        Ok(())
    }

    /// Asterisk restarted: calls open before it will never close.
    fn restarted(&mut self, out: &mut Emitter) {
        let open = std::mem::take(&mut self.calls);
        for (call, c) in &open {
            match &c.answered_by {
                Some(agent) => out.call(CallKind::Ended, call, &c.queue, Some(agent), None, None),
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
            self.emit_agent(out, &a, false);
        }
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
                rang: None,
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
