//! The input event as it appears on the wire, before validation, and its
//! encoding back to contract JSON.

use std::borrow::Cow;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::event::{Body, Event};
use crate::time::{self, Millis};

/// The contract version: an integer, written `1` or `1.0` (JSON does not
/// tell them apart, nor does the JSON Schema); a fraction is refused.
fn version<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<u32>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an integer")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            u32::try_from(v)
                .map(Some)
                .map_err(|_| E::custom(format!("invalid value: integer `{v}`, expected a u32")))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            u64::try_from(v)
                .map_err(|_| E::custom(format!("invalid value: integer `{v}`, expected a u32")))
                .and_then(|v| self.visit_u64(v))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            if v.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&v) {
                Ok(Some(v as u32))
            } else {
                Err(E::custom(format!(
                    "invalid value: `{v}`, expected an integer"
                )))
            }
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(V)
        }
    }
    d.deserialize_option(V)
}

/// An event as it appears on the wire, before validation. Every field is
/// optional here so that the decoder can say *which* required field is
/// missing; unknown fields are ignored (producers may add optional ones).
#[derive(Deserialize, Serialize, Default, Debug)]
pub struct WireEvent<'a> {
    #[serde(
        default,
        deserialize_with = "version",
        skip_serializing_if = "Option::is_none"
    )]
    pub v: Option<u32>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub id: Option<Str<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub ts: Option<TsValue<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<Str<'a>>,
    #[serde(rename = "type", borrow, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Str<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub call: Option<Str<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub queue: Option<Str<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub service: Option<Str<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub agent: Option<Str<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Str<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub to_queue: Option<Str<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Str<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub queued_ts: Option<TsValue<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub state: Option<Str<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<Str<'a>>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub name: Option<Str<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub callback: Option<Str<'a>>,
}

/// A string field that borrows from the input when it has no escapes.
/// (`Option<Cow<str>>` alone would always copy: serde borrows only through a
/// visitor that asks for it.)
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Str<'a>(pub Cow<'a, str>);

impl<'a> Str<'a> {
    pub fn into_cow(self) -> Cow<'a, str> {
        self.0
    }
}

impl std::ops::Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Serialize for Str<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// A `ts` as written: an RFC 3339 string or epoch milliseconds. Anything
/// else is kept as `Other` so the decoder can reject it as `bad_ts` rather
/// than as unreadable JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum TsValue<'a> {
    Millis(i64),
    Text(Cow<'a, str>),
    /// Neither; says what it was, for the error.
    Other(&'static str),
}

impl TsValue<'_> {
    pub fn millis(&self) -> Option<Millis> {
        match self {
            TsValue::Millis(ms) => time::check_epoch_ms(*ms),
            TsValue::Text(s) => time::parse_rfc3339(s),
            TsValue::Other(_) => None,
        }
    }
}

impl Serialize for TsValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            TsValue::Millis(ms) => s.serialize_i64(*ms),
            TsValue::Text(t) => s.serialize_str(t),
            TsValue::Other(_) => s.serialize_unit(),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for TsValue<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TsValue<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an RFC 3339 string or epoch milliseconds")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(TsValue::Millis(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(i64::try_from(v)
                    .map_or(TsValue::Other("a number out of range"), TsValue::Millis))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                // `1.7e12` and `1795218644386.0` are integers in JSON's eyes.
                const LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53: exact below
                Ok(if v.fract() == 0.0 && v.abs() < LIMIT {
                    TsValue::Millis(v as i64)
                } else {
                    TsValue::Other("a number with a fraction")
                })
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(TsValue::Other("a boolean"))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(TsValue::Other("null"))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(TsValue::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(TsValue::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(TsValue::Other("an array"))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
                Ok(TsValue::Other("an object"))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'a> From<&'a Event<'a>> for WireEvent<'a> {
    fn from(ev: &'a Event<'a>) -> Self {
        let b = |c: &'a Cow<'a, str>| Some(Str(Cow::Borrowed(c.as_ref())));
        let bo = |c: &'a Option<Cow<'a, str>>| c.as_deref().map(|v| Str(Cow::Borrowed(v)));
        let mut w = WireEvent {
            v: Some(1),
            id: b(&ev.id),
            ts: Some(TsValue::Text(Cow::Owned(time::format_rfc3339(ev.ts)))),
            tenant: b(&ev.tenant),
            kind: Some(Str(Cow::Borrowed(ev.type_name()))),
            ..WireEvent::default()
        };
        match &ev.body {
            Body::Call(c) => {
                w.call = b(&c.call);
                w.queue = bo(&c.queue);
                w.service = bo(&c.service);
                w.agent = bo(&c.agent);
                let implied = if c.kind == crate::event::CallKind::Dialing {
                    crate::event::Direction::Outbound
                } else {
                    crate::event::Direction::Inbound
                };
                if c.direction != implied {
                    w.direction = Some(Str(Cow::Borrowed(c.direction.as_str())));
                }
                w.to_queue = bo(&c.to_queue);
                w.reason = bo(&c.reason);
                w.queued_ts = c
                    .queued_ts
                    .map(|t| TsValue::Text(Cow::Owned(time::format_rfc3339(t))));
            }
            Body::Agent(a) => {
                w.agent = b(&a.agent);
                w.state = Some(Str(Cow::Borrowed(a.state.as_str())));
                w.reason = bo(&a.reason);
                w.services = a
                    .services
                    .as_ref()
                    .map(|v| v.iter().map(|s| Str(Cow::Borrowed(s.as_ref()))).collect());
                w.name = bo(&a.name);
            }
            Body::Callback(c) => {
                w.callback = b(&c.callback);
                w.service = bo(&c.service);
                w.agent = bo(&c.agent);
            }
        }
        w
    }
}

/// Encodes an event as one line of contract JSON (no trailing newline).
pub fn encode_event(ev: &Event<'_>) -> String {
    serde_json::to_string(&WireEvent::from(ev))
        .expect("an event is plain strings and integers, which always serialise")
}
