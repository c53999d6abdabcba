//! `schemas/` against real input and output: the event schema and the
//! decoder accept and refuse the same events, and every snapshot the engine
//! writes is valid against the snapshot schema.

use std::path::Path;
use std::sync::Arc;

use callboard::cmd::replay::{ReplayOptions, replay};
use callboard::config::Config;
use callboard::decode::{Format, decode_json};
use callboard::wire::Snapshot;
use serde_json::Value;

fn root(p: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

pub(crate) fn validator(name: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(root(&format!("schemas/{name}"))).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{name} is not a valid schema: {e}"))
}

pub(crate) fn errors(v: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    v.iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn lines(path: &str) -> Vec<String> {
    std::fs::read_to_string(root(path))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn example_events_are_valid_for_schema_and_decoder() {
    let v = validator("event.schema.json");
    let mut all = lines("schemas/examples/valid-events.ndjson");
    all.extend(lines("samples/demo-day.ndjson"));
    for line in &all {
        let value: Value = serde_json::from_str(line).unwrap();
        let errs = errors(&v, &value);
        assert!(errs.is_empty(), "{line}\n{errs:#?}");
        decode_json(line.as_bytes(), 1 << 16)
            .unwrap_or_else(|r| panic!("decoder refused a schema-valid event: {r}\n{line}"));
    }
    // Every contract type is among the examples.
    let types: std::collections::BTreeSet<String> = all
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(types.len(), 18, "{types:?}");
}

#[test]
fn invalid_events_are_refused_by_schema_and_decoder_alike() {
    let v = validator("event.schema.json");
    for line in lines("schemas/examples/invalid-events.ndjson") {
        let case: Value = serde_json::from_str(&line).unwrap();
        let event = &case["event"];
        assert!(!v.is_valid(event), "schema accepted {event}");
        let bytes = serde_json::to_vec(event).unwrap();
        let rej = decode_json(&bytes, 1 << 16).expect_err(&format!("decoder accepted {event}"));
        assert_eq!(rej.reason.as_str(), case["reason"], "{event}: {rej}");
    }
}

/// The snapshots `callboard replay` makes of a file of the repository.
fn replay_file(input: &str, format: Format, tenant: Option<&str>) -> Vec<Snapshot> {
    let text = std::fs::read_to_string(root(input)).unwrap();
    let opts = ReplayOptions {
        format,
        tenant: tenant.map(str::to_string),
        at: None,
    };
    replay(
        text.as_bytes(),
        Arc::new(Config::default()),
        &opts,
        |_, _| {},
    )
    .unwrap()
    .0
}

fn assert_snapshots_valid(input: &str, format: Format, tenant: Option<&str>) -> usize {
    let v = validator("snapshot.schema.json");
    let snaps = replay_file(input, format, tenant);
    for s in &snaps {
        let value = serde_json::to_value(s).unwrap();
        let errs = errors(&v, &value);
        assert!(errs.is_empty(), "{input}: {errs:#?}");
    }
    snaps.len()
}

#[test]
fn engine_snapshots_are_valid_for_the_snapshot_schema() {
    assert_eq!(
        assert_snapshots_valid("samples/demo-day.ndjson", Format::Ndjson, None),
        1
    );
    assert_eq!(
        assert_snapshots_valid("samples/demo.queue_log", Format::QueueLog, Some("pbx")),
        1
    );
    assert_eq!(
        assert_snapshots_valid("schemas/examples/valid-events.ndjson", Format::Ndjson, None),
        1
    );
}

/// A rolling upgrade of a cluster: a newer instance reads the snapshots an
/// older one wrote to the snapshot topic, without the figures added since
/// (recent windows, thresholds, the estimated wait, staffing, waiting
/// calls); they read empty rather than refusing the whole snapshot.
#[test]
fn a_snapshot_without_the_newer_figures_is_still_read() {
    let snaps = replay_file("samples/demo-day.ndjson", Format::Ndjson, None);
    let mut value = serde_json::to_value(&snaps[0]).unwrap();
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for k in [
                    "answered_within",
                    "recent",
                    "ewt_s",
                    "ewt_error_s",
                    "ewt_scored",
                    "agents_required",
                    "agents_available",
                    "staffing_gap",
                    "waiting_calls",
                ] {
                    m.remove(k);
                }
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut value);
    let read: callboard::wire::Snapshot =
        serde_json::from_value(value).expect("an older snapshot reads");
    assert_eq!(read.totals.calls.inbound, snaps[0].totals.calls.inbound);
    assert!(read.totals.recent.is_empty() && read.waiting_calls.is_empty());
    assert_eq!(read.queues[0].ewt_s, None);
}

/// A report read back (by a client, or the tests) is of its own kind: an
/// agent's rows never read as a queue's, however many queue fields have
/// defaults for older writers.
#[test]
fn an_agent_report_reads_as_an_agent_report() {
    let text = r#"{"tenant":"t","from":"2026-12-01","to":"2026-12-01","by":"agent","step":"day","rows":[
        {"period":"2026-12-01","agent":"a1","time_s":{"ready":1.0,"away":0.0,"ringing":0.0,"talking":2.0,
         "dialing":0.0,"outbound":0.0,"wrap_up":0.0},"away_s":{},"login_s":3.0,"handled":1,"missed":0,
         "talk_s":2.0,"outbound":0,"occupancy":66.67}]}"#;
    let report: callboard::wire::Report = serde_json::from_str(text).unwrap();
    assert!(
        matches!(report.rows, callboard::wire::ReportRows::Agent(ref r) if r.len() == 1),
        "{report:?}"
    );
}

#[test]
fn the_schema_refuses_a_broken_snapshot() {
    let v = validator("snapshot.schema.json");
    let snaps = replay_file("samples/demo.queue_log", Format::QueueLog, Some("pbx"));
    let mut value = serde_json::to_value(&snaps[0]).unwrap();
    value["totals"]["answer_rate"] = Value::from(140.0);
    value["hourly"]["today"] = Value::from(vec![1, 2, 3]);
    assert_eq!(errors(&v, &value).len(), 2, "{:#?}", errors(&v, &value));
}

#[test]
fn a_bad_ts_is_described_as_it_was_sent() {
    for (ts, said) in [
        ("true", "a boolean"),
        ("1.5", "a number with a fraction"),
        ("[1]", "an array"),
        (r#""yesterday""#, r#""yesterday""#),
        ("-5", "-5"),
    ] {
        let text =
            format!(r#"{{"v":1,"id":"x","ts":{ts},"tenant":"t","type":"call.ivr","call":"c"}}"#);
        let rej = decode_json(text.as_bytes(), 1 << 16).expect_err(&text);
        assert_eq!(rej.reason.as_str(), "bad_ts");
        assert!(
            rej.detail.ends_with(&format!("got {said}")),
            "{}",
            rej.detail
        );
    }
}

/// A JSON document that keeps its keys in the order written, so a schema
/// file can be rewritten as it was with only what is added.
#[derive(serde::Deserialize, serde::Serialize, Debug, Clone, PartialEq)]
#[serde(untagged)]
enum Ordered {
    Object(indexmap::IndexMap<String, Ordered>),
    Array(Vec<Ordered>),
    Other(Value),
}

impl Ordered {
    fn object(&mut self) -> &mut indexmap::IndexMap<String, Ordered> {
        match self {
            Ordered::Object(m) => m,
            other => panic!("not an object: {other:?}"),
        }
    }

    fn at(&mut self, key: &str) -> &mut Ordered {
        self.object()
            .get_mut(key)
            .unwrap_or_else(|| panic!("no `{key}`"))
    }
}

/// Adds each of `names` missing from a schema's object definition, as
/// `property`, after the last of them present (or at the end), to its
/// properties and its required list. Says which it added.
fn add_missing(def: &mut Ordered, names: &[(&str, &str)]) -> Vec<String> {
    let mut added = Vec::new();
    let required = match def.at("required") {
        Ordered::Array(a) => a,
        other => panic!("`required` is not a list: {other:?}"),
    };
    let mut after = None;
    for (name, _) in names {
        let item = Ordered::Other(Value::String(name.to_string()));
        match required.iter().position(|r| *r == item) {
            Some(i) => after = Some(i),
            None => {
                let i = after.map_or(required.len(), |i| i + 1);
                required.insert(i, item);
                after = Some(i);
                added.push(format!("required {name}"));
            }
        }
    }
    let properties = def.at("properties").object();
    let mut after = None;
    for (name, property) in names {
        match properties.get_index_of(*name) {
            Some(i) => after = Some(i),
            None => {
                let i = after.map_or(properties.len(), |i| i + 1);
                // As written: `type` first.
                let property: Ordered = serde_json::from_str(property).unwrap();
                properties.shift_insert(i, name.to_string(), property);
                after = Some(i);
                added.push(format!("property {name}"));
            }
        }
    }
    added
}

/// The call counters are declared once (`wire::counts`); the schemas of
/// the objects that carry them are kept in step from that table: a counter
/// missing from one is written into it (run the tests again and commit).
#[test]
fn the_schemas_carry_every_call_counter() {
    use callboard::wire::{CallCounts, CallTimes};
    let count = r#"{"type": "integer", "minimum": 0}"#;
    let time = r#"{"type": "number", "minimum": 0}"#;
    let counts: Vec<(&str, &str)> = CallCounts::NAMES.iter().map(|n| (*n, count)).collect();
    let figures: Vec<(&str, &str)> = counts
        .iter()
        .copied()
        .chain(CallTimes::COLUMNS.iter().map(|c| (c.wire, time)))
        .collect();
    let mut changed = Vec::new();
    for (file, def, names) in [
        ("snapshot.schema.json", "queue_stats", &counts),
        ("interval.schema.json", "queue", &figures),
        ("report.schema.json", "calls", &figures),
    ] {
        let path = root(&format!("schemas/{file}"));
        let text = std::fs::read_to_string(&path).unwrap();
        let mut schema: Ordered = serde_json::from_str(&text).unwrap();
        let added = add_missing(schema.at("$defs").at(def), names);
        if !added.is_empty() {
            let mut out = serde_json::to_string_pretty(&schema).unwrap();
            out.push('\n');
            std::fs::write(&path, out).unwrap();
            changed.push(format!("{file} ({def}): {}", added.join(", ")));
        }
    }
    assert!(
        changed.is_empty(),
        "the schemas lacked call counters and were written; review and commit them:\n{}",
        changed.join("\n")
    );
}

/// Rewriting a schema that lacks nothing gives back its text byte for
/// byte: the generator above changes only what it adds.
#[test]
fn a_schema_rewritten_unchanged_is_the_same_text() {
    for file in [
        "snapshot.schema.json",
        "interval.schema.json",
        "report.schema.json",
    ] {
        let text = std::fs::read_to_string(root(&format!("schemas/{file}"))).unwrap();
        let schema: Ordered = serde_json::from_str(&text).unwrap();
        let mut out = serde_json::to_string_pretty(&schema).unwrap();
        out.push('\n');
        assert_eq!(out, text, "{file}");
    }
}
