//! Contract JSON -> [`Event`]: one object per message or NDJSON line.

use std::borrow::Cow;

use serde_json::error::Category;

use super::{Reason, Reject};
use crate::event::{
    AgentEvent, AgentState, Body, CallEvent, CallKind, CallbackEvent, CallbackKind, Direction,
    Event, check_text,
};
use crate::wire::{Str, TsValue, WireEvent};

/// Decodes one JSON object. Strings borrow from `bytes` unless they contain
/// escapes. `max_bytes` is the size limit (inputs over it are not parsed).
pub fn decode_json(bytes: &[u8], max_bytes: usize) -> Result<Event<'_>, Reject> {
    if bytes.len() > max_bytes {
        return Err(Reject::new(
            Reason::TooLarge,
            format!("{} bytes, the limit is {max_bytes}", bytes.len()),
        ));
    }
    // Nearly every event has the flat shape the fast path reads; the full
    // parser decides everything else, errors included.
    let mut wire = WireEvent::default();
    if super::flat::scan(bytes, &mut wire).is_some() {
        return validate(&mut wire);
    }
    // A derived struct would also accept a JSON array; only objects are events.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Ok(_) => Reject::new(Reason::NotAnObject, "an event is a JSON object"),
                Err(e) => classify(e),
            },
        );
    }
    if too_deep(bytes) {
        return Err(Reject::new(
            Reason::InvalidJson,
            format!("nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    let mut wire: WireEvent<'_> = sonic_rs::from_slice(bytes).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            Reject::new(Reason::InvalidJson, e.to_string())
        } else {
            Reject::new(
                Reason::InvalidField,
                wrong_field(bytes).unwrap_or(e.to_string()),
            )
        }
    })?;
    validate(&mut wire)
}

/// The first field of a valid JSON object that an event cannot hold (a
/// number where a string goes), named with what is wrong with it.
fn wrong_field(bytes: &[u8]) -> Option<String> {
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(bytes).ok()?;
    object.into_iter().find_map(|(name, value)| {
        let alone = serde_json::to_vec(&serde_json::json!({ name.clone(): value })).ok()?;
        sonic_rs::from_slice::<WireEvent<'_>>(&alone)
            .err()
            .map(|e| {
                format!(
                    "`{name}`: {}",
                    e.to_string().split(" at line").next().unwrap_or("")
                )
            })
    })
}

/// Events nest two levels at most; anything past this is refused before a
/// recursive parser could exhaust the stack on it.
const MAX_DEPTH: usize = 128;

/// True when `bytes` nests arrays or objects deeper than [`MAX_DEPTH`]. Only
/// lines with many brackets get the exact (string-aware) count.
fn too_deep(bytes: &[u8]) -> bool {
    let brackets = bytes.iter().filter(|&&b| b == b'[' || b == b'{').count();
    if brackets <= MAX_DEPTH {
        return false;
    }
    let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_str {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

fn classify(e: serde_json::Error) -> Reject {
    let reason = match e.classify() {
        Category::Data => Reason::InvalidField,
        Category::Syntax | Category::Eof | Category::Io => Reason::InvalidJson,
    };
    Reject::new(reason, e.to_string())
}

fn missing(field: &str, ty: &str) -> Reject {
    Reject::new(
        Reason::MissingField,
        format!("`{field}` is required for {ty}"),
    )
}

/// Checks a name (tenant, queue, agent, ...): 1 to 128 bytes, and no
/// control characters (a NUL or a line break in a name breaks logs, labels
/// and CSV).
fn name<'a>(field: &str, v: Option<Cow<'a, str>>) -> Result<Option<Cow<'a, str>>, Reject> {
    text(field, v, true)
}

/// Checks a name, or with `name` false a free text (a reason), as every
/// entrance does (see [`check_text`]).
fn text<'a>(
    field: &str,
    v: Option<Cow<'a, str>>,
    name: bool,
) -> Result<Option<Cow<'a, str>>, Reject> {
    if let Some(s) = &v {
        check_text(field, s, name).map_err(|e| Reject::new(Reason::InvalidField, e))?;
    }
    Ok(v)
}

fn required<'a>(field: &str, ty: &str, v: Option<Cow<'a, str>>) -> Result<Cow<'a, str>, Reject> {
    name(field, v)?.ok_or_else(|| missing(field, ty))
}

fn cow(s: Option<Str<'_>>) -> Option<Cow<'_, str>> {
    s.map(Str::into_cow)
}

fn validate<'a>(w: &mut WireEvent<'a>) -> Result<Event<'a>, Reject> {
    match w.v {
        None => return Err(missing("v", "every event")),
        Some(1) => {}
        Some(v) => {
            return Err(Reject::new(
                Reason::UnsupportedVersion,
                format!("contract version {v}; this engine reads version 1"),
            ));
        }
    }
    let id = cow(w.id.take()).ok_or_else(|| missing("id", "every event"))?;
    if id.is_empty() || id.len() > 256 {
        return Err(Reject::new(
            Reason::InvalidField,
            format!("`id` must be 1 to 256 bytes, got {}", id.len()),
        ));
    }
    let tenant = required("tenant", "every event", cow(w.tenant.take()))?;
    let kind = cow(w.kind.take()).ok_or_else(|| missing("type", "every event"))?;
    let ts = w.ts.take().ok_or_else(|| missing("ts", "every event"))?;
    let ts = ts.millis().ok_or_else(|| {
        Reject::new(
            Reason::BadTs,
            format!(
                "`ts` must be RFC 3339 with an offset or epoch milliseconds (1970 to 9999), got {}",
                match &ts {
                    TsValue::Millis(ms) => format!("{ms}"),
                    TsValue::Text(t) => format!("{t:?}"),
                    TsValue::Other(what) => what.to_string(),
                }
            ),
        )
    })?;

    let body = if let Some(k) = CallKind::parse(&kind) {
        let ty = k.type_name();
        let call = required("call", ty, cow(w.call.take()))?;
        let queue = name("queue", cow(w.queue.take()))?;
        let agent = name("agent", cow(w.agent.take()))?;
        let to_queue = name("to_queue", cow(w.to_queue.take()))?;
        let direction = match w.direction.as_deref() {
            None if k == CallKind::Dialing => Direction::Outbound,
            None => Direction::Inbound,
            Some(d) => Direction::parse(d).ok_or_else(|| {
                Reject::new(
                    Reason::InvalidField,
                    format!("`direction` must be inbound, outbound or internal, got `{d}`"),
                )
            })?,
        };
        match k {
            CallKind::Queued if queue.is_none() => return Err(missing("queue", ty)),
            CallKind::Ringing | CallKind::Answered | CallKind::Dialing | CallKind::Connected
                if agent.is_none() =>
            {
                return Err(missing("agent", ty));
            }
            CallKind::Transferred if to_queue.is_none() => return Err(missing("to_queue", ty)),
            _ => {}
        }
        let queued_ts = match w.queued_ts.take() {
            None => None,
            Some(q) => Some(q.millis().ok_or_else(|| {
                Reject::new(
                    Reason::BadTs,
                    "`queued_ts` must be RFC 3339 with an offset or epoch milliseconds",
                )
            })?),
        };
        Body::Call(CallEvent {
            kind: k,
            call,
            queue,
            service: name("service", cow(w.service.take()))?,
            agent,
            direction,
            to_queue,
            reason: text("reason", cow(w.reason.take()), false)?,
            queued_ts,
        })
    } else if kind == "agent.state" {
        let ty = "agent.state";
        let agent = required("agent", ty, cow(w.agent.take()))?;
        let state = cow(w.state.take()).ok_or_else(|| missing("state", ty))?;
        let state = AgentState::parse(&state).ok_or_else(|| {
            Reject::new(
                Reason::UnknownState,
                format!(
                    "`{state}` is not an agent state (logged_out, ready, away, ringing, talking, dialing, outbound, wrap_up)"
                ),
            )
        })?;
        let services = match w.services.take() {
            None => None,
            Some(list) => Some(
                list.into_iter()
                    .map(|s| required("services[]", ty, Some(s.into_cow())))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let reason = text("reason", cow(w.reason.take()), false)?.filter(|r| !r.is_empty());
        Body::Agent(AgentEvent {
            agent,
            state,
            reason,
            services,
            name: name("name", cow(w.name.take()))?,
        })
    } else if let Some(k) = CallbackKind::parse(&kind) {
        let ty = k.type_name();
        let agent = name("agent", cow(w.agent.take()))?;
        if k == CallbackKind::Assigned && agent.is_none() {
            return Err(missing("agent", ty));
        }
        Body::Callback(CallbackEvent {
            kind: k,
            callback: required("callback", ty, cow(w.callback.take()))?,
            service: name("service", cow(w.service.take()))?,
            agent,
        })
    } else {
        return Err(Reject::new(
            Reason::UnknownType,
            format!("`{kind}` is not an event type of contract version 1"),
        ));
    };
    Ok(Event {
        id,
        ts,
        tenant,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(line: &str) -> Reason {
        decode_json(line.as_bytes(), 64 * 1024).unwrap_err().reason
    }

    #[test]
    fn decodes_a_call_event_without_copying() {
        let line = br#"{"v":1,"id":"e1","ts":"2026-11-21T09:00:00.250+09:00","tenant":"acme","type":"call.queued","call":"c1","queue":"q1","service":"sales"}"#;
        let ev = decode_json(line, 1 << 16).unwrap();
        assert!(matches!(ev.id, Cow::Borrowed(_)));
        assert_eq!(ev.ts, 1_795_219_200_250);
        let Body::Call(c) = ev.body else {
            panic!("not a call")
        };
        assert_eq!(c.kind, CallKind::Queued);
        assert_eq!(c.queue.as_deref(), Some("q1"));
    }

    #[test]
    fn epoch_millis_and_escapes_are_accepted() {
        let line = br#"{"v":1,"id":"e\u0031","ts":1795219200250,"tenant":"acme","type":"agent.state","agent":"a1","state":"away","reason":"break","services":["sales","support"]}"#;
        let ev = decode_json(line, 1 << 16).unwrap();
        assert_eq!(ev.id, "e1");
        let Body::Agent(a) = ev.body else {
            panic!("not an agent event")
        };
        assert_eq!(a.state, AgentState::Away);
        assert_eq!(a.services.unwrap().len(), 2);
    }

    /// JSON (and the JSON Schema) do not tell `1.0` from `1`: the version
    /// is read either way; a fraction is refused.
    #[test]
    fn the_version_may_be_written_as_a_whole_float() {
        let line = |v: &str| {
            format!(r#"{{"v":{v},"id":"e","ts":0,"tenant":"t","type":"call.ivr","call":"c"}}"#)
        };
        assert!(decode_json(line("1.0").as_bytes(), 1 << 16).is_ok());
        assert_eq!(reason(&line("1.5")), Reason::InvalidField);
        assert_eq!(reason(&line("2.0")), Reason::UnsupportedVersion);
        assert_eq!(reason(&line("null")), Reason::MissingField);
    }

    #[test]
    fn every_kind_of_bad_input_has_its_reason() {
        let ok = r#""v":1,"id":"e1","ts":"2026-11-21T00:00:00Z","tenant":"t""#;
        assert_eq!(reason("{not json"), Reason::InvalidJson);
        assert_eq!(reason("[1,2]"), Reason::NotAnObject);
        assert_eq!(reason("42"), Reason::NotAnObject);
        assert_eq!(reason(&format!("{{{ok}}}")), Reason::MissingField);
        assert_eq!(
            reason(&format!(r#"{{{ok},"type":"call.queued","call":"c"}}"#)),
            Reason::MissingField
        );
        assert_eq!(
            reason(&format!(r#"{{{ok},"type":"call.exploded","call":"c"}}"#)),
            Reason::UnknownType
        );
        assert_eq!(
            reason(&format!(
                r#"{{{ok},"type":"agent.state","agent":"a","state":"asleep"}}"#
            )),
            Reason::UnknownState
        );
        assert_eq!(
            reason(
                r#"{"v":1,"id":"e","ts":"yesterday","tenant":"t","type":"call.ivr","call":"c"}"#
            ),
            Reason::BadTs
        );
        assert_eq!(
            reason(r#"{"v":1,"id":"e","ts":-5,"tenant":"t","type":"call.ivr","call":"c"}"#),
            Reason::BadTs
        );
        assert_eq!(
            reason(r#"{"v":1,"id":"e","ts":1.5,"tenant":"t","type":"call.ivr","call":"c"}"#),
            Reason::BadTs
        );
        assert_eq!(
            reason(&format!(r#"{{{ok},"type":"call.ivr","call":""}}"#)),
            Reason::InvalidField
        );
        assert_eq!(
            reason(&format!(r#"{{{ok},"type":"call.ivr","call":7}}"#)),
            Reason::InvalidField
        );
        assert_eq!(
            reason(r#"{"v":2,"id":"e","ts":0,"tenant":"t","type":"call.ivr","call":"c"}"#),
            Reason::UnsupportedVersion
        );
        // A field of the wrong JSON type is named, whichever it is.
        for (line, field) in [
            (
                format!(r#"{{{ok},"type":"callback.completed","callback":5}}"#),
                "`callback`",
            ),
            (
                r#"{"v":1,"id":7,"ts":0,"tenant":"t","type":"call.ivr","call":"c"}"#.to_string(),
                "`id`",
            ),
            (
                format!(
                    r#"{{{ok},"type":"agent.state","agent":"a","state":"ready","services":"s"}}"#
                ),
                "`services`",
            ),
        ] {
            let r = decode_json(line.as_bytes(), 1 << 16).unwrap_err();
            assert_eq!(r.reason, Reason::InvalidField, "{line}");
            assert!(r.detail.starts_with(field), "{line}: {}", r.detail);
        }
        let big = format!(
            r#"{{{ok},"type":"call.ivr","call":"c","pad":"{}"}}"#,
            "x".repeat(70_000)
        );
        assert_eq!(reason(&big), Reason::TooLarge);
        assert_eq!(reason("\u{feff}{}"), Reason::InvalidJson);
        assert_eq!(
            decode_json(&[0xff, 0xfe], 100).unwrap_err().reason,
            Reason::InvalidJson
        );
    }
}

#[cfg(test)]
mod hostile {
    use super::*;

    #[test]
    fn deep_nesting_trailing_bytes_and_repeated_keys_are_refused_not_fatal() {
        let env = r#""v":1,"id":"e","ts":0,"tenant":"t","type":"call.ivr","call":"c""#;
        let deep = format!(
            r#"{{{env},"x":{}{}}}"#,
            "[".repeat(30_000),
            "]".repeat(30_000)
        );
        assert_eq!(
            decode_json(deep.as_bytes(), 1 << 16).unwrap_err().reason,
            Reason::InvalidJson
        );
        // Brackets inside strings do not count as nesting.
        let in_string = format!(r#"{{{env},"x":"{}"}}"#, "[".repeat(500));
        assert!(decode_json(in_string.as_bytes(), 1 << 16).is_ok());
        let deep_obj = format!("{}{}", "{\"a\":".repeat(20_000), "}".repeat(20_000));
        assert!(decode_json(deep_obj.as_bytes(), 1 << 20).is_err());
        let trailing = format!("{{{env}}} trailing");
        assert_eq!(
            decode_json(trailing.as_bytes(), 1 << 16)
                .unwrap_err()
                .reason,
            Reason::InvalidJson
        );
        let twice = format!(r#"{{{env},"call":"d"}}"#);
        assert!(
            decode_json(twice.as_bytes(), 1 << 16).is_err(),
            "a repeated key is ambiguous"
        );
    }
}
