//! Decoded events: what the engine applies. Every source's bytes become these
//! through `decode`; nothing else constructs them from outside input.
//!
//! Strings borrow from the input where they can (`Cow`), so decoding an NDJSON
//! line allocates nothing unless it contains escapes.

use std::borrow::Cow;

use crate::time::Millis;

/// Gives an enum whose variants have fixed names (on the wire, in metric
/// labels, in the config) `ALL`, `as_str` and `parse`, from one list of
/// `Variant => "name"`.
macro_rules! names {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            /// Every variant, in the list's order.
            pub const ALL: [$name; [$($text),+].len()] = [$($name::$variant),+];

            /// The variant's name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The variant of a name.
            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
}
pub(crate) use names;

/// One contract event (`../schemas/event.schema.json`).
#[derive(Clone, Debug, PartialEq)]
pub struct Event<'a> {
    /// Unique per event within a tenant; a repeat is a duplicate delivery.
    pub id: Cow<'a, str>,
    /// Event time: decides day, hour, wait and talk attribution.
    pub ts: Millis,
    pub tenant: Cow<'a, str>,
    pub body: Body<'a>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Body<'a> {
    Call(CallEvent<'a>),
    Agent(AgentEvent<'a>),
    Callback(CallbackEvent<'a>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct CallEvent<'a> {
    pub kind: CallKind,
    pub call: Cow<'a, str>,
    pub queue: Option<Cow<'a, str>>,
    pub service: Option<Cow<'a, str>>,
    pub agent: Option<Cow<'a, str>>,
    pub direction: Direction,
    /// `call.transferred`: the queue the call moves to.
    pub to_queue: Option<Cow<'a, str>>,
    /// `call.exited`: why the system took the call out of the queue.
    pub reason: Option<Cow<'a, str>>,
    /// When the call entered its queue, if the producer knows it. Used only
    /// for a call whose `call.queued` the engine never saw (a log that starts
    /// mid-call), so that its wait is still right.
    pub queued_ts: Option<Millis>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallKind {
    Ivr,
    Queued,
    Ringing,
    Answered,
    Abandoned,
    Callback,
    Transferred,
    Exited,
    Dialing,
    Connected,
    Ended,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Direction {
    #[default]
    Inbound,
    Outbound,
    Internal,
}

names!(Direction {
    Inbound => "inbound",
    Outbound => "outbound",
    Internal => "internal",
});

#[derive(Clone, Debug, PartialEq)]
pub struct AgentEvent<'a> {
    pub agent: Cow<'a, str>,
    pub state: AgentState,
    pub reason: Option<Cow<'a, str>>,
    /// When present, replaces the agent's service membership.
    pub services: Option<Vec<Cow<'a, str>>>,
    pub name: Option<Cow<'a, str>>,
}

/// The contract's agent states, in snapshot `by_state` order.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum AgentState {
    LoggedOut = 0,
    Ready = 1,
    Away = 2,
    Ringing = 3,
    Talking = 4,
    Dialing = 5,
    Outbound = 6,
    WrapUp = 7,
}

names!(AgentState {
    LoggedOut => "logged_out",
    Ready => "ready",
    Away => "away",
    Ringing => "ringing",
    Talking => "talking",
    Dialing => "dialing",
    Outbound => "outbound",
    WrapUp => "wrap_up",
});

#[derive(Clone, Debug, PartialEq)]
pub struct CallbackEvent<'a> {
    pub kind: CallbackKind,
    pub callback: Cow<'a, str>,
    pub service: Option<Cow<'a, str>>,
    pub agent: Option<Cow<'a, str>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallbackKind {
    Requested,
    Assigned,
    Unassigned,
    Completed,
    Failed,
    Deleted,
}

impl CallKind {
    pub fn type_name(self) -> &'static str {
        match self {
            CallKind::Ivr => "call.ivr",
            CallKind::Queued => "call.queued",
            CallKind::Ringing => "call.ringing",
            CallKind::Answered => "call.answered",
            CallKind::Abandoned => "call.abandoned",
            CallKind::Callback => "call.callback",
            CallKind::Transferred => "call.transferred",
            CallKind::Exited => "call.exited",
            CallKind::Dialing => "call.dialing",
            CallKind::Connected => "call.connected",
            CallKind::Ended => "call.ended",
        }
    }
}

impl CallKind {
    /// The kind named by a contract type (`call.queued`), if any.
    pub fn parse(type_name: &str) -> Option<CallKind> {
        Some(match type_name {
            "call.ivr" => CallKind::Ivr,
            "call.queued" => CallKind::Queued,
            "call.ringing" => CallKind::Ringing,
            "call.answered" => CallKind::Answered,
            "call.abandoned" => CallKind::Abandoned,
            "call.callback" => CallKind::Callback,
            "call.transferred" => CallKind::Transferred,
            "call.exited" => CallKind::Exited,
            "call.dialing" => CallKind::Dialing,
            "call.connected" => CallKind::Connected,
            "call.ended" => CallKind::Ended,
            _ => return None,
        })
    }
}

impl CallbackKind {
    /// The kind named by a contract type (`callback.assigned`), if any.
    pub fn parse(type_name: &str) -> Option<CallbackKind> {
        Some(match type_name {
            "callback.requested" => CallbackKind::Requested,
            "callback.assigned" => CallbackKind::Assigned,
            "callback.unassigned" => CallbackKind::Unassigned,
            "callback.completed" => CallbackKind::Completed,
            "callback.failed" => CallbackKind::Failed,
            "callback.deleted" => CallbackKind::Deleted,
            _ => return None,
        })
    }

    pub fn type_name(self) -> &'static str {
        match self {
            CallbackKind::Requested => "callback.requested",
            CallbackKind::Assigned => "callback.assigned",
            CallbackKind::Unassigned => "callback.unassigned",
            CallbackKind::Completed => "callback.completed",
            CallbackKind::Failed => "callback.failed",
            CallbackKind::Deleted => "callback.deleted",
        }
    }
}

impl AgentState {}

impl Direction {}

fn own(c: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(c.into_owned())
}

fn own_opt(c: Option<Cow<'_, str>>) -> Option<Cow<'static, str>> {
    c.map(own)
}

impl Event<'_> {
    /// The type name as the contract spells it (`call.queued`, `agent.state`).
    pub fn type_name(&self) -> &'static str {
        match &self.body {
            Body::Call(c) => c.kind.type_name(),
            Body::Agent(_) => "agent.state",
            Body::Callback(c) => c.kind.type_name(),
        }
    }

    /// Detaches the event from the buffer it was decoded from.
    pub fn into_owned(self) -> Event<'static> {
        Event {
            id: own(self.id),
            ts: self.ts,
            tenant: own(self.tenant),
            body: match self.body {
                Body::Call(c) => Body::Call(CallEvent {
                    kind: c.kind,
                    call: own(c.call),
                    queue: own_opt(c.queue),
                    service: own_opt(c.service),
                    agent: own_opt(c.agent),
                    direction: c.direction,
                    to_queue: own_opt(c.to_queue),
                    reason: own_opt(c.reason),
                    queued_ts: c.queued_ts,
                }),
                Body::Agent(a) => Body::Agent(AgentEvent {
                    agent: own(a.agent),
                    state: a.state,
                    reason: own_opt(a.reason),
                    services: a.services.map(|v| v.into_iter().map(own).collect()),
                    name: own_opt(a.name),
                }),
                Body::Callback(c) => Body::Callback(CallbackEvent {
                    kind: c.kind,
                    callback: own(c.callback),
                    service: own_opt(c.service),
                    agent: own_opt(c.agent),
                }),
            },
        }
    }
}

/// Where a batch of events comes from (readiness is per source; a metrics label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    Simulator,
    Http,
    Kafka,
    /// A followed Asterisk `queue_log`.
    QueueLog,
}

names!(Source {
    Simulator => "simulator",
    Http => "http",
    Kafka => "kafka",
    QueueLog => "queue_log",
});

impl Source {}

/// Longest name or free text, in bytes (the contract's bound on names).
pub const MAX_TEXT: usize = 128;

/// Checks a text the engine keeps, from any entrance (JSON, Kafka,
/// queue_log, the config): at most [`MAX_TEXT`] bytes, not empty when it
/// is a name (`name`), and no control character: a NUL is refused by
/// PostgreSQL (one such row would stop every write of the history), and a
/// line break breaks logs, labels and CSV. The error says what is wrong.
pub fn check_text(field: &str, s: &str, name: bool) -> Result<(), String> {
    if s.len() > MAX_TEXT || (name && s.is_empty()) {
        let least = if name { 1 } else { 0 };
        return Err(format!(
            "`{field}` must be {least} to {MAX_TEXT} bytes, got {}",
            s.len()
        ));
    }
    if !may_hold_control(s.as_bytes()) {
        return Ok(());
    }
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(format!(
            "`{field}` must not contain control characters, got {:?} in {s:?}",
            c
        ));
    }
    Ok(())
}

/// False when UTF-8 `bytes` certainly hold no control character (Cc).
/// Those are the bytes below 0x20, 0x7f, and U+0080 to U+009F, which start
/// with 0xc2: text without those bytes has none, and this test spares
/// decoding the characters of nearly every text. Eight bytes at a time
/// (names are short: a loop over bytes ran one at a time), each test a
/// word-wide "some byte is below n / is zero", exact as a yes or no; the
/// last word overlaps the one before, or is padded with a byte that is no
/// suspect.
fn may_hold_control(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let flagged = |w: u64| {
        let below = |w: u64, n: u64| w.wrapping_sub(ONES * n) & !w;
        below(w, 0x20) | below(w ^ (ONES * 0x7f), 1) | below(w ^ (ONES * 0xc2), 1)
    };
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
    let n = bytes.len();
    let flags = if n >= 8 {
        bytes
            .chunks_exact(8)
            .fold(flagged(word(&bytes[n - 8..])), |f, c| f | flagged(word(c)))
    } else {
        let mut pad = [b'a'; 8];
        for (p, &b) in pad.iter_mut().zip(bytes) {
            *p = b;
        }
        flagged(word(&pad))
    };
    flags & HIGH != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-wide test answers as a test of every byte does, whatever
    /// the byte, its place, the length and the bytes around it (borrows
    /// between bytes are where a word-wide test goes wrong).
    #[test]
    fn control_bytes_are_found_wherever_they_are() {
        let suspect = |b: u8| b < 0x20 || b == 0x7f || b == 0xc2;
        for fill in [b'a', b' ', b'!', 0x7e, 0x80, 0xc1, 0xc3, 0xea, 0xff] {
            for len in 0..=24 {
                let plain = vec![fill; len];
                assert_eq!(may_hold_control(&plain), suspect(fill) && len > 0);
                for at in 0..len {
                    for b in 0..=255u8 {
                        let mut t = plain.clone();
                        t[at] = b;
                        assert_eq!(may_hold_control(&t), t.iter().any(|&b| suspect(b)), "{t:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn names_with_control_characters_are_refused_and_others_kept() {
        assert!(check_text("agent", "김민준 (Seoul)", true).is_ok());
        assert!(check_text("agent", "café ©", true).is_ok());
        assert!(check_text("agent", "a\u{85}b", true).is_err());
        assert!(check_text("agent", "abcdefgh\u{7f}", true).is_err());
        assert!(check_text("agent", "abcdefghijklmnop\n", true).is_err());
        assert!(check_text("agent", "", true).is_err());
        assert!(check_text("reason", "", false).is_ok());
    }
}
