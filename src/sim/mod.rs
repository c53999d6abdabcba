//! A simulated contact center that produces contract events: arrivals that
//! follow the hour of the day, callers who give up after their patience runs
//! out or ask for a callback, agents who ring, talk, wrap up, take breaks and
//! dial out, and callbacks that get assigned and processed.
//!
//! Deterministic for a seed: the same settings give the same events, so a
//! simulated day can be shipped as a sample and replayed in tests and
//! benchmarks. Events come out in time order, one at a time, so a live source
//! can pace them against the clock.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use crate::event::{
    AgentEvent, AgentState, Body, CallEvent, CallKind, CallbackEvent, CallbackKind, Direction,
    Event,
};
use crate::time::{self, Calendar, Millis};

mod config;
#[cfg(test)]
mod tests;

use config::{GIVEN, SURNAMES};
pub use config::{Profile, Shift, SimConfig};

/// The simulated agents' away reasons in Korean, the demo's labels.
pub const REASON_LABELS_KO: &[(&str, &str)] = &[
    ("break", "휴식"),
    ("meal", "식사"),
    ("training", "교육"),
    ("no answer", "무응답"),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Arrival,
    Enqueue {
        call: u32,
    },
    Patience {
        call: u32,
    },
    Answer {
        call: u32,
    },
    EndCall {
        call: u32,
    },
    WrapDone {
        agent: u32,
    },
    BreakDone {
        agent: u32,
    },
    Dial {
        agent: u32,
    },
    Connect {
        call: u32,
    },
    CallbackAssign {
        cb: u32,
    },
    CallbackClose {
        cb: u32,
    },
    Login {
        agent: u32,
    },
    /// The agent's shift is over: it logs out once free.
    ShiftEnd {
        agent: u32,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum CallPhase {
    Ivr,
    Waiting,
    Ringing,
    Talking,
    Done,
}

struct SimCall {
    queue: u32,
    phase: CallPhase,
    agent: Option<u32>,
    outbound: bool,
}

struct SimAgent {
    services: Vec<u32>,
    state: AgentState,
    /// Time of the agent's last state event: each later one is at least 1 ms
    /// after it, so states never tie (the engine breaks ties by id).
    last_ts: Millis,
    /// Its shift (`None`: logged in all the time).
    shift: Option<config::Shift>,
    /// Its shift is over: it logs out as soon as it is free.
    leaving: bool,
}

/// The simulator: an iterator of events in time order.
pub struct Simulator {
    cfg: SimConfig,
    cal: Calendar,
    rng: fastrand::Rng,
    now: Millis,
    seq: u64,
    heap: BinaryHeap<Reverse<(Millis, u64, Action)>>,
    queue_service: Vec<u32>,
    queue_names: Vec<String>,
    waiting: Vec<VecDeque<u32>>,
    /// Ready agents per service (lazily pruned: check the agent's state).
    ready: Vec<VecDeque<u32>>,
    calls: Vec<SimCall>,
    agents: Vec<SimAgent>,
    callbacks: u32,
    out: VecDeque<Event<'static>>,
}

impl Simulator {
    pub fn new(cfg: SimConfig) -> Simulator {
        let tz = time::zone(&cfg.tz).unwrap_or(jiff::tz::TimeZone::UTC);
        let mut queue_service = Vec::new();
        let mut queue_names = Vec::new();
        for (s, (_, qs)) in cfg.services.iter().enumerate() {
            for q in qs {
                queue_service.push(s as u32);
                queue_names.push(q.clone());
            }
        }
        let mut rng = fastrand::Rng::with_seed(cfg.seed);
        let ns = cfg.services.len() as u32;
        let agents = (0..cfg.agents)
            .map(|i| {
                // Each agent serves one or two services.
                let first = (i as u32) % ns.max(1);
                let mut services = vec![first];
                if ns > 1 && rng.f64() < 0.4 {
                    let second = (first + 1 + rng.u32(0..ns - 1)) % ns;
                    services.push(second);
                }
                services.sort_unstable();
                SimAgent {
                    services,
                    state: AgentState::LoggedOut,
                    last_ts: Millis::MIN,
                    shift: None,
                    leaving: false,
                }
            })
            .collect::<Vec<_>>();
        // Agents into shifts by the shifts' shares, each starting up to
        // ten minutes either side of its shift's time.
        let mut agents = agents;
        if cfg.shifts {
            let shifts = cfg.profile.shifts();
            let n = agents.len();
            let mut bounds = Vec::new();
            let mut acc = 0.0;
            for s in shifts {
                acc += s.share;
                bounds.push((acc * n as f64).round() as usize);
            }
            for (i, a) in agents.iter_mut().enumerate() {
                let k = bounds
                    .iter()
                    .position(|&b| i < b)
                    .unwrap_or(shifts.len() - 1);
                let mut s = shifts[k];
                s.start_min = (s.start_min + 1440 - 10 + rng.u32(0..=20)) % 1440;
                a.shift = Some(s);
            }
        }
        let mut sim = Simulator {
            cal: Calendar::new(tz),
            rng,
            now: cfg.start,
            seq: 0,
            heap: BinaryHeap::new(),
            waiting: vec![VecDeque::new(); queue_names.len()],
            ready: vec![VecDeque::new(); cfg.services.len()],
            queue_service,
            queue_names,
            calls: Vec::new(),
            agents,
            callbacks: 0,
            out: VecDeque::new(),
            cfg,
        };
        for a in 0..sim.agents.len() as u32 {
            let soon = sim.cfg.start + sim.rng.i64(0..120_000);
            let at = match sim.agents[a as usize].shift {
                None => soon,
                Some(s) => {
                    let (on, next) = sim.shift_now(s, sim.cfg.start);
                    if on { soon } else { next }
                }
            };
            sim.schedule(at, Action::Login { agent: a });
        }
        let first = sim.next_arrival_gap();
        sim.schedule(sim.cfg.start + first, Action::Arrival);
        sim
    }

    /// Time of the next event, if any is scheduled.
    pub fn peek_time(&self) -> Option<Millis> {
        self.out
            .front()
            .map(|e| e.ts)
            .or_else(|| self.heap.peek().map(|Reverse((t, _, _))| *t))
    }

    /// Whether `at` falls in a shift, and when that shift (if on) ends or
    /// the next one (if off) starts. Local minutes of the tenant's zone.
    fn shift_now(&self, s: config::Shift, at: Millis) -> (bool, Millis) {
        let (_, day_start, _) = self.cal.span_of(at);
        let minute = (at - day_start) / 60_000;
        let into = (minute - s.start_min as i64).rem_euclid(1440);
        let minute_start = day_start + minute * 60_000;
        if into < s.len_min as i64 {
            (true, minute_start + (s.len_min as i64 - into) * 60_000)
        } else {
            (false, minute_start + (1440 - into) * 60_000)
        }
    }

    /// A free agent whose shift is over logs out, and comes back for its
    /// next shift; whether it did.
    fn leave_if_due(&mut self, agent: u32) -> bool {
        let a = &self.agents[agent as usize];
        let Some(s) = a.shift.filter(|_| a.leaving) else {
            return false;
        };
        self.agents[agent as usize].leaving = false;
        self.set_agent(agent, AgentState::LoggedOut, None, false);
        let (_, next) = self.shift_now(s, self.now);
        let at = next + self.rng.i64(0..120_000);
        self.schedule(at, Action::Login { agent });
        true
    }

    fn schedule(&mut self, at: Millis, action: Action) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, action)));
    }

    fn exp_ms(&mut self, mean_s: f64) -> Millis {
        let u = self.rng.f64();
        (-(1.0 - u).ln() * mean_s * 1000.0) as Millis
    }

    fn uniform_ms(&mut self, lo_s: u32, hi_s: u32) -> Millis {
        self.rng.i64(lo_s as i64 * 1000..=hi_s as i64 * 1000)
    }

    fn next_arrival_gap(&mut self) -> Millis {
        // Thinning: candidates at the peak rate, kept by the hour's profile.
        let rate_per_s = self.cfg.peak_calls_per_hour.max(0.001) / 3600.0;
        self.exp_ms(1.0 / rate_per_s).max(1)
    }

    fn emit(&mut self, body: Body<'static>) {
        self.emit_at(self.now, body);
    }

    fn emit_at(&mut self, ts: Millis, body: Body<'static>) {
        let n = self.seq_event();
        let id = format!("{}-{n:08}", self.cfg.tenant);
        self.out.push_back(Event {
            id: Cow::Owned(id),
            ts,
            tenant: Cow::Owned(self.cfg.tenant.clone()),
            body,
        });
    }

    fn seq_event(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn call_name(i: u32) -> String {
        format!("call-{i:07}")
    }

    fn agent_name(i: u32) -> String {
        format!("agent-{i:04}")
    }

    fn emit_call(
        &mut self,
        kind: CallKind,
        call: u32,
        extra: impl FnOnce(&mut CallEvent<'static>),
    ) {
        let c = &self.calls[call as usize];
        let queue = (!c.outbound || kind == CallKind::Dialing)
            .then(|| Cow::Owned(self.queue_names[c.queue as usize].clone()));
        let service = (kind == CallKind::Queued || kind == CallKind::Dialing).then(|| {
            Cow::Owned(
                self.cfg.services[self.queue_service[c.queue as usize] as usize]
                    .0
                    .clone(),
            )
        });
        let mut ev = CallEvent {
            kind,
            call: Cow::Owned(Self::call_name(call)),
            queue: queue.filter(|_| !c.outbound || kind == CallKind::Dialing),
            service,
            agent: c.agent.map(|a| Cow::Owned(Self::agent_name(a))),
            direction: if c.outbound {
                Direction::Outbound
            } else {
                Direction::Inbound
            },
            to_queue: None,
            reason: None,
            queued_ts: None,
        };
        extra(&mut ev);
        self.emit(Body::Call(ev));
    }

    fn set_agent(
        &mut self,
        agent: u32,
        state: AgentState,
        reason: Option<&'static str>,
        login: bool,
    ) {
        self.agents[agent as usize].state = state;
        let services = login.then(|| {
            self.agents[agent as usize]
                .services
                .iter()
                .map(|&s| Cow::Owned(self.cfg.services[s as usize].0.clone()))
                .collect()
        });
        let name = login.then(|| {
            let i = agent as usize;
            Cow::Owned(format!(
                "{}{}",
                SURNAMES[i % SURNAMES.len()],
                GIVEN[(i / SURNAMES.len()) % GIVEN.len()]
            ))
        });
        let ts = self.now.max(self.agents[agent as usize].last_ts + 1);
        self.agents[agent as usize].last_ts = ts;
        self.emit_at(
            ts,
            Body::Agent(AgentEvent {
                agent: Cow::Owned(Self::agent_name(agent)),
                state,
                reason: reason.map(Cow::Borrowed),
                services,
                name,
            }),
        );
        if state == AgentState::Ready {
            for s in self.agents[agent as usize].services.clone() {
                self.ready[s as usize].push_back(agent);
            }
            self.dispatch_agent(agent);
        }
    }

    /// A waiting call looks for a ready agent of its service.
    fn dispatch_call(&mut self, call: u32) {
        let svc = self.queue_service[self.calls[call as usize].queue as usize] as usize;
        while let Some(a) = self.ready[svc].pop_front() {
            if self.agents[a as usize].state == AgentState::Ready {
                self.ring(call, a);
                return;
            }
        }
    }

    /// A ready agent takes the longest-waiting call of its services.
    fn dispatch_agent(&mut self, agent: u32) {
        let mut best: Option<(usize, u32)> = None;
        for &s in &self.agents[agent as usize].services {
            for (q, &qs) in self.queue_service.iter().enumerate() {
                if qs != s {
                    continue;
                }
                while let Some(&c) = self.waiting[q].front() {
                    if self.calls[c as usize].phase == CallPhase::Waiting {
                        break;
                    }
                    self.waiting[q].pop_front();
                }
                if let Some(&c) = self.waiting[q].front()
                    && best.is_none_or(|(_, b)| c < b)
                {
                    best = Some((q, c));
                }
            }
        }
        if let Some((q, c)) = best {
            self.waiting[q].pop_front();
            self.ring(c, agent);
        }
    }

    fn ring(&mut self, call: u32, agent: u32) {
        self.calls[call as usize].phase = CallPhase::Ringing;
        self.calls[call as usize].agent = Some(agent);
        self.set_agent(agent, AgentState::Ringing, None, false);
        self.emit_call(CallKind::Ringing, call, |_| {});
        let at = self.now + self.uniform_ms(2, 8);
        self.schedule(at, Action::Answer { call });
    }

    fn step(&mut self, action: Action) {
        match action {
            Action::Login { agent } => {
                if self.agents[agent as usize].state != AgentState::LoggedOut {
                    return;
                }
                self.set_agent(agent, AgentState::Ready, None, true);
                if let Some(s) = self.agents[agent as usize].shift {
                    let (_, end) = self.shift_now(s, self.now);
                    let at = end + self.rng.i64(0..300_000);
                    self.schedule(at, Action::ShiftEnd { agent });
                }
            }
            Action::ShiftEnd { agent } => {
                self.agents[agent as usize].leaving = true;
                // Free now (ready or away) it goes at once; busy, after its
                // call and wrap-up.
                if matches!(
                    self.agents[agent as usize].state,
                    AgentState::Ready | AgentState::Away
                ) {
                    self.leave_if_due(agent);
                }
            }
            Action::Arrival => {
                let hour = self.cal.day_hour(self.now).1 as usize;
                if self.rng.f64() < self.cfg.profile.rate(hour) {
                    let queue = self.rng.u32(0..self.queue_names.len() as u32);
                    let call = self.calls.len() as u32;
                    self.calls.push(SimCall {
                        queue,
                        phase: CallPhase::Ivr,
                        agent: None,
                        outbound: false,
                    });
                    self.emit_call(CallKind::Ivr, call, |_| {});
                    // One caller in ten hangs up in the IVR menu.
                    if self.rng.f64() >= 0.1 {
                        let at = self.now + self.uniform_ms(5, 25);
                        self.schedule(at, Action::Enqueue { call });
                    } else {
                        self.calls[call as usize].phase = CallPhase::Done;
                    }
                }
                let gap = self.next_arrival_gap();
                self.schedule(self.now + gap, Action::Arrival);
            }
            Action::Enqueue { call } => {
                self.calls[call as usize].phase = CallPhase::Waiting;
                self.emit_call(CallKind::Queued, call, |_| {});
                let q = self.calls[call as usize].queue as usize;
                self.waiting[q].push_back(call);
                let patience = self.exp_ms(75.0);
                self.schedule(self.now + patience, Action::Patience { call });
                self.dispatch_call(call);
            }
            Action::Patience { call } => {
                if self.calls[call as usize].phase != CallPhase::Waiting {
                    return;
                }
                self.calls[call as usize].phase = CallPhase::Done;
                if self.rng.f64() < 0.15 {
                    self.emit_call(CallKind::Callback, call, |_| {});
                    let cb = self.callbacks;
                    self.callbacks += 1;
                    let svc = self.queue_service[self.calls[call as usize].queue as usize];
                    self.emit_callback(CallbackKind::Requested, cb, svc, None);
                    let at = self.now + self.uniform_ms(60, 900);
                    self.schedule(at, Action::CallbackAssign { cb });
                } else {
                    self.emit_call(CallKind::Abandoned, call, |_| {});
                }
            }
            Action::Answer { call } => {
                let Some(agent) = self.calls[call as usize].agent else {
                    return;
                };
                if self.rng.f64() < 0.04 {
                    // Ring no answer: the ACD pauses the agent for a while
                    // and offers the call to the next one.
                    self.set_agent(agent, AgentState::Away, Some("no answer"), false);
                    let back = self.uniform_ms(30, 120);
                    self.schedule(self.now + back, Action::BreakDone { agent });
                    let c = &mut self.calls[call as usize];
                    c.phase = CallPhase::Waiting;
                    c.agent = None;
                    self.waiting[c.queue as usize].push_front(call);
                    self.dispatch_call(call);
                    return;
                }
                self.calls[call as usize].phase = CallPhase::Talking;
                self.emit_call(CallKind::Answered, call, |_| {});
                self.set_agent(agent, AgentState::Talking, None, false);
                let talk = self.exp_ms(170.0).max(15_000);
                self.schedule(self.now + talk, Action::EndCall { call });
            }
            Action::EndCall { call } => {
                let Some(agent) = self.calls[call as usize].agent else {
                    return;
                };
                self.calls[call as usize].phase = CallPhase::Done;
                self.emit_call(CallKind::Ended, call, |_| {});
                self.set_agent(agent, AgentState::WrapUp, None, false);
                let wrap = self.uniform_ms(10, 45);
                self.schedule(self.now + wrap, Action::WrapDone { agent });
            }
            Action::WrapDone { agent } => {
                if self.leave_if_due(agent) {
                    return;
                }
                let r = self.rng.f64();
                if r < 0.06 {
                    let reason = ["break", "meal", "training"][self.rng.usize(0..3)];
                    self.set_agent(agent, AgentState::Away, Some(reason), false);
                    let back = self.uniform_ms(300, 1200);
                    self.schedule(self.now + back, Action::BreakDone { agent });
                } else if r < 0.12 {
                    let at = self.now + self.uniform_ms(1, 5);
                    self.set_agent(agent, AgentState::Dialing, None, false);
                    self.schedule(at, Action::Dial { agent });
                } else {
                    self.set_agent(agent, AgentState::Ready, None, false);
                }
            }
            Action::BreakDone { agent } => {
                // Logged out meanwhile (its shift ended during the break).
                if self.agents[agent as usize].state != AgentState::Away {
                    return;
                }
                self.set_agent(agent, AgentState::Ready, None, false);
            }
            Action::Dial { agent } => {
                let svc = self.agents[agent as usize].services[0];
                let queue = self
                    .queue_service
                    .iter()
                    .position(|&s| s == svc)
                    .unwrap_or(0) as u32;
                let call = self.calls.len() as u32;
                self.calls.push(SimCall {
                    queue,
                    phase: CallPhase::Ringing,
                    agent: Some(agent),
                    outbound: true,
                });
                self.emit_call(CallKind::Dialing, call, |_| {});
                let at = self.now + self.uniform_ms(8, 25);
                self.schedule(at, Action::Connect { call });
            }
            Action::Connect { call } => {
                let Some(agent) = self.calls[call as usize].agent else {
                    return;
                };
                if self.rng.f64() < 0.65 {
                    self.calls[call as usize].phase = CallPhase::Talking;
                    self.emit_call(CallKind::Connected, call, |_| {});
                    self.set_agent(agent, AgentState::Outbound, None, false);
                    let talk = self.exp_ms(120.0).max(10_000);
                    self.schedule(self.now + talk, Action::EndCall { call });
                } else {
                    self.calls[call as usize].phase = CallPhase::Done;
                    self.emit_call(CallKind::Ended, call, |_| {});
                    self.set_agent(agent, AgentState::Ready, None, false);
                }
            }
            Action::CallbackAssign { cb } => {
                let agent = self.rng.u32(0..self.agents.len().max(1) as u32);
                let svc = self.agents[agent as usize].services[0];
                self.emit_callback(CallbackKind::Assigned, cb, svc, Some(agent));
                let at = self.now + self.uniform_ms(300, 3600);
                self.schedule(at, Action::CallbackClose { cb });
            }
            Action::CallbackClose { cb } => {
                let r = self.rng.f64();
                let kind = if r < 0.8 {
                    CallbackKind::Completed
                } else if r < 0.95 {
                    CallbackKind::Failed
                } else {
                    CallbackKind::Deleted
                };
                self.emit_callback(kind, cb, 0, None);
            }
        }
    }

    fn emit_callback(&mut self, kind: CallbackKind, cb: u32, service: u32, agent: Option<u32>) {
        let service = (kind == CallbackKind::Requested)
            .then(|| Cow::Owned(self.cfg.services[service as usize].0.clone()));
        self.emit(Body::Callback(CallbackEvent {
            kind,
            callback: Cow::Owned(format!("cb-{cb:06}")),
            service,
            agent: agent.map(|a| Cow::Owned(Self::agent_name(a))),
        }));
    }
}

impl Simulator {
    /// The next event dated at or before `until`, if there is one. The
    /// simulation never runs past `until`: what happens later is decided
    /// later, so a live source never holds events from the future.
    pub fn next_until(&mut self, until: Millis) -> Option<Event<'static>> {
        loop {
            if let Some(ev) = self.out.front() {
                return (ev.ts <= until).then(|| self.out.pop_front()).flatten();
            }
            let &Reverse((at, _, _)) = self.heap.peek()?;
            if at > until {
                return None;
            }
            let Reverse((at, _, action)) = self.heap.pop()?;
            self.now = at;
            self.step(action);
        }
    }
}

/// Several simulators' events as one stream: each one's in its own order,
/// interleaved by the time of each one's next event.
pub fn merged(sims: Vec<Simulator>) -> impl Iterator<Item = Event<'static>> {
    let mut sims = sims;
    std::iter::from_fn(move || {
        let next = sims
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.peek_time().map(|t| (t, i)))
            .min()?;
        sims[next.1].next()
    })
}

impl Iterator for Simulator {
    type Item = Event<'static>;

    fn next(&mut self) -> Option<Event<'static>> {
        self.next_until(Millis::MAX)
    }
}

/// Writes events as NDJSON; with `realtime`, each not before the wall clock
/// reaches its time (what is already past goes at once).
pub fn write_ndjson(
    events: impl Iterator<Item = crate::event::Event<'static>>,
    out: impl std::io::Write,
    realtime: bool,
) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(out);
    for ev in events {
        if realtime {
            let wait = ev.ts - time::now_ms();
            if wait > 0 {
                out.flush()?;
                std::thread::sleep(std::time::Duration::from_millis(wait as u64));
            }
        }
        writeln!(out, "{}", crate::wire::encode_event(&ev))?;
    }
    out.flush()
}
