//! The Asterisk queue_log adapter: each event type, both field layouts, and
//! the real logs in `../shared/data/queue_log`.

use std::path::Path;
use std::sync::Arc;

use callboard::cmd::replay::{ReplayOptions, Summary, replay};
use callboard::config::Config;
use callboard::decode::{Format, QueueLogDecoder, Reason};
use callboard::event::{AgentState, Body, CallKind};
use callboard::time::parse_rfc3339;
use callboard::wire::Snapshot;

fn run(text: &str, at: Option<&str>) -> (Snapshot, Summary) {
    let opts = ReplayOptions {
        format: Format::QueueLog,
        tenant: Some("pbx".into()),
        at: at.map(|a| parse_rfc3339(a).unwrap()),
    };
    let (mut snaps, summary) = replay(
        text.as_bytes(),
        Arc::new(Config::default()),
        &opts,
        |_, _| {},
    )
    .unwrap();
    assert_eq!(snaps.len(), 1);
    (snaps.remove(0), summary)
}

fn decoder() -> QueueLogDecoder {
    QueueLogDecoder::new("pbx", &Config::default().tenant("pbx"))
}

fn kinds(line: &str) -> Vec<String> {
    decoder()
        .decode_line(line)
        .unwrap()
        .iter()
        .map(|e| e.type_name().to_string())
        .collect()
}

#[test]
fn the_shipped_sample_gives_the_known_answers() {
    let text = include_str!("../../samples/demo.queue_log");
    let (s, summary) = run(text, Some("2026-11-21T09:11:00+09:00"));
    assert_eq!(summary.rejected_total(), 0);
    assert_eq!(
        summary.duplicates, 2,
        "the repeated COMPLETEAGENT line: its call.ended and its agent state"
    );
    let t = &s.totals;
    assert_eq!(
        (
            t.calls.inbound,
            t.calls.answered,
            t.calls.abandoned,
            t.calls.exited,
            t.waiting
        ),
        (10, 4, 2, 3, 1)
    );
    assert_eq!(t.calls.ivr, 1, "DID counts as IVR inflow");
    assert_eq!(t.longest_wait_s, 45);
    let support = s.queues.iter().find(|q| &*q.queue == "support").unwrap();
    assert_eq!(
        (
            support.stats.calls.answered,
            support.stats.calls.abandoned,
            support.stats.calls.exited
        ),
        (2, 2, 1),
        "WITHDRAW is an abandon"
    );
    let agent = |a: &str| s.agent_list.iter().find(|r| &*r.agent == a).unwrap();
    let p201 = agent("PJSIP/201");
    assert_eq!(
        (p201.state.as_str(), p201.handled, p201.talk_s),
        ("logged_out", 2, 280)
    );
    let p202 = agent("PJSIP/202");
    assert_eq!(
        (p202.state.as_str(), p202.reason.as_deref()),
        ("away", Some("meal"))
    );
    assert_eq!((p202.handled, p202.talk_s), (1, 148));
    assert_eq!(
        p202.services.iter().map(|s| &**s).collect::<Vec<_>>(),
        ["sales", "support"]
    );
    let a1001 = agent("Agent/1001");
    assert_eq!(
        (a1001.state.as_str(), a1001.handled, a1001.talk_s),
        ("logged_out", 1, 60)
    );
    assert_eq!(s.agents.login, 1);
}

#[test]
fn connect_with_two_or_three_fields() {
    let mut d = decoder();
    let old = d
        .decode_line(
            "1266833912|1266833905.2|9000|Local/2004@from-internal/n|CONNECT|1|1266833911.7",
        )
        .unwrap();
    let new = d
        .decode_line("1546015425|1546015415.757927|201|Paty Marin|CONNECT|10|1546015415.757936|9")
        .unwrap();
    for (evs, hold_ms) in [(old, 1000), (new, 10_000)] {
        let Body::Call(c) = &evs[0].body else {
            panic!("{evs:?}")
        };
        assert_eq!(c.kind, CallKind::Answered);
        assert_eq!(evs[0].ts - c.queued_ts.unwrap(), hold_ms);
        let Body::Agent(a) = &evs[1].body else {
            panic!("{evs:?}")
        };
        assert_eq!(a.state, AgentState::Talking);
    }
}

#[test]
fn exit_events_with_old_and_new_field_counts() {
    for (line, wait_ms) in [
        ("1795219400|c1|q|NONE|EXITWITHTIMEOUT|1", None),
        ("1795219400|c1|q|NONE|EXITWITHTIMEOUT|1|1|60", Some(60_000)),
        ("1795219400|c1|q|NONE|EXITWITHKEY|5|1", None),
        ("1795219400|c1|q|NONE|EXITWITHKEY|5|1|1|7", Some(7_000)),
        ("1795219400|c1|q|NONE|EXITEMPTY|1|1|3", Some(3_000)),
        ("1795219400|c1|q|NONE|ABANDON|1|2|15", Some(15_000)),
    ] {
        let evs = decoder().decode_line(line).unwrap();
        let Body::Call(c) = &evs[0].body else {
            panic!("{line}")
        };
        assert!(
            matches!(c.kind, CallKind::Exited | CallKind::Abandoned),
            "{line}"
        );
        assert_eq!(c.queued_ts.map(|q| evs[0].ts - q), wait_ms, "{line}");
    }
}

#[test]
fn transfers_end_the_call_reading_times_from_the_right() {
    for line in [
        "1795219460|c1|sales|PJSIP/202|BLINDTRANSFER|2001|from-internal|12|148|1",
        "1795219460|c1|sales|PJSIP/202|ATTENDEDTRANSFER|BRIDGE|bridge-uuid|12|148|1",
        "1795219460|c1|sales|PJSIP/202|ATTENDEDTRANSFER|LINK|PJSIP/a-1|PJSIP/b-2|12|148|1",
        "1795219460|c1|sales|PJSIP/202|TRANSFER|2001|from-internal|12|148|1",
        "1795219460|c1|sales|PJSIP/202|TRANSFER|2001|from-internal|12|148",
    ] {
        let evs = decoder().decode_line(line).unwrap();
        // Never saw CONNECT: the answer is made up 148 s back, 12 s after entry.
        let Body::Call(ans) = &evs[0].body else {
            panic!("{line}")
        };
        assert_eq!(ans.kind, CallKind::Answered, "{line}");
        assert_eq!(evs[0].ts, 1_795_219_460_000 - 148_000, "{line}");
        assert_eq!(evs[0].ts - ans.queued_ts.unwrap(), 12_000, "{line}");
        let ended = evs.iter().filter(|e| e.type_name() == "call.ended").count();
        assert_eq!(ended, 1, "{line}");
    }
}

#[test]
fn member_and_pause_events_become_agent_states() {
    let mut d = decoder();
    let state = |evs: &[callboard::event::Event<'static>]| match &evs.last().unwrap().body {
        Body::Agent(a) => (a.state, a.reason.as_deref().map(str::to_string)),
        b => panic!("{b:?}"),
    };
    // An interface's first ADDMEMBER waits for the rest of its second.
    let e = d
        .decode_line("1|MANAGER|q1|SIP/1|ADDMEMBER|PAUSED")
        .unwrap();
    assert!(e.is_empty());
    assert_eq!(d.holding(), Some(1000));
    let e = d.flush();
    assert_eq!(state(&e), (AgentState::Away, Some("paused".into())));
    let e = d.decode_line("2|NONE|q1|SIP/1|UNPAUSE|").unwrap();
    assert_eq!(state(&e), (AgentState::Ready, None));
    let e = d.decode_line("3|NONE|NONE|SIP/1|PAUSEALL|lunch").unwrap();
    assert_eq!(state(&e), (AgentState::Away, Some("lunch".into())));
    let e = d.decode_line("4|NONE|NONE|SIP/1|UNPAUSEALL|").unwrap();
    assert_eq!(state(&e), (AgentState::Ready, None));
    let e = d.decode_line("5|CLI|q1|SIP/1|REMOVEMEMBER|").unwrap();
    assert_eq!(state(&e), (AgentState::LoggedOut, None));
    let e = d
        .decode_line("6|1.1|NONE|Agent/7|AGENTLOGIN|SIP/7-01")
        .unwrap();
    assert_eq!(state(&e), (AgentState::Ready, None));
    let e = d
        .decode_line("7|1.1|NONE|Agent/7|AGENTLOGOFF|SIP/7-01|99")
        .unwrap();
    assert_eq!(state(&e), (AgentState::LoggedOut, None));
    // A member that rings (ringtime in ms) is logged in to that queue.
    let e = d.decode_line("8|c9|q2|SIP/8|RINGNOANSWER|15000").unwrap();
    assert_eq!(state(&e), (AgentState::Ready, None));
    assert!(
        d.decode_line("9|c9|q2|SIP/8|RINGNOANSWER|0")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn lines_without_statistics_are_accepted_and_ignored() {
    for line in [
        "1266833361|NONE|NONE|NONE|QUEUESTART|",
        "1266833407|NONE|NONE|NONE|CONFIGRELOAD|",
        "1266833407|NONE|q|SIP/1|PENALTY|3",
        "1266833407|NONE|q|SIP/1|RINGINUSE|1",
        "1266833407|c1|q|NONE|INFO|anything",
    ] {
        assert!(kinds(line).is_empty(), "{line}");
    }
}

#[test]
fn a_restart_closes_calls_left_open() {
    let text = "\
1000|c1|q|NONE|ENTERQUEUE||123|1
1001|c2|q|NONE|ENTERQUEUE||456|1
1005|c2|q|SIP/1|CONNECT|4|x.1|2
1100|NONE|NONE|NONE|QUEUESTART|
";
    let (s, _) = run(text, None);
    let t = &s.totals;
    assert_eq!(
        (t.calls.inbound, t.calls.answered, t.calls.exited, t.waiting),
        (2, 1, 1, 0)
    );
    assert_eq!(s.agent_list[0].state.as_str(), "ready");
    assert_eq!(s.agent_list[0].talk_s, 95);
}

#[test]
fn malformed_lines_are_rejected_with_a_reason() {
    let mut d = decoder();
    let reason = |d: &mut QueueLogDecoder, l: &str| d.decode_line(l).unwrap_err().reason;
    assert_eq!(reason(&mut d, "garbage"), Reason::MalformedLine);
    assert_eq!(reason(&mut d, "1|2|3|4"), Reason::MalformedLine);
    assert_eq!(
        reason(&mut d, "yesterday|c|q|NONE|ENTERQUEUE||1"),
        Reason::BadTs
    );
    assert_eq!(reason(&mut d, "-5|c|q|NONE|ENTERQUEUE||1"), Reason::BadTs);
    assert_eq!(
        reason(&mut d, "5|NONE|q|NONE|ENTERQUEUE||1"),
        Reason::InvalidField
    );
    assert_eq!(
        reason(&mut d, "5|c|q|NONE|CONNECT|1|x"),
        Reason::InvalidField
    );
    let (_, summary) = run("garbage\n\n1|c|q|NONE|ENTERQUEUE||1\n", None);
    assert_eq!((summary.lines, summary.rejected_total()), (2, 1));
    // A control character in a queue, an interface or a pause reason is
    // refused as every entrance refuses it (a NUL stops PostgreSQL).
    for line in [
        "5|c|sa\u{0}les|NONE|ENTERQUEUE||1",
        "5|NONE|sales|PJSIP/2\u{7}01|ADDMEMBER|",
        "5|NONE|sales|PJSIP/201|PAUSE|lunch\u{0}|",
        "5|NONE|sales|PJSIP/201|PAUSE|lunch\rbreak|",
    ] {
        assert_eq!(reason(&mut d, line), Reason::InvalidField, "{line:?}");
    }
    assert!(d.decode_line("5|NONE|sales|PJSIP/201|PAUSE|점심|").is_ok());
}

#[test]
fn absurd_durations_do_not_overflow() {
    // Found by fuzzing: a calltime near i64::MAX overflowed `* 1000`.
    let text = "1795219268|c1|q|SIP/1|COMPLETECALLER|10|9223372036854775807|1\n\
                1795219268|c2|q|NONE|ABANDON|1|1|9223372036854775807\n\
                1795219268|c3|q|SIP/1|CONNECT|9223372036854775807|x|1\n";
    let (s, summary) = run(text, None);
    // Their waits began on a day ten years back, a closed day: the abandon
    // and the answer are refused as such (the caller's hang-up ends a call
    // never seen, and changes nothing), and nothing counts today.
    assert_eq!(summary.rejected_total(), 2, "{summary}");
    assert_eq!(
        summary.rejected.get(&callboard::decode::Reason::TooOld),
        Some(&2),
        "{summary}"
    );
    let t = &s.totals;
    assert_eq!(
        (
            t.calls.inbound,
            t.calls.answered,
            t.calls.abandoned,
            t.waiting
        ),
        (0, 0, 0, 0)
    );
}

fn shared(name: &str) -> Option<String> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/queue_log")
        .join(name);
    match std::fs::read_to_string(&p) {
        Ok(t) => Some(t),
        Err(_) => {
            eprintln!("skipped: {} is not beside this checkout", p.display());
            None
        }
    }
}

#[test]
fn real_log_from_asterisk_1_4_balances() {
    // 21 calls: 7 completed, 1 connected at the end of the file, 12
    // abandoned, 1 still waiting (see its .source.txt).
    let Some(text) = shared("mindriven__LogVisualiserKata__input.txt.log") else {
        return;
    };
    let (s, summary) = run(&text, None);
    assert_eq!(summary.rejected_total(), 0);
    let t = &s.totals;
    assert_eq!(
        (
            t.calls.inbound,
            t.calls.answered,
            t.calls.abandoned,
            t.waiting
        ),
        (21, 8, 12, 1)
    );
    let talking: Vec<&str> = s
        .agent_list
        .iter()
        .filter(|a| a.state.as_str() == "talking")
        .map(|a| &*a.agent)
        .collect();
    assert_eq!(talking, ["Local/2004@from-internal/n"]);
    assert_eq!(s.agents.login, 9);
}

#[test]
fn real_log_with_only_restarts_gives_zeros() {
    let Some(text) = shared("Jobichi__TFG-2025-RaspBerry__queue_log.log") else {
        return;
    };
    let (s, summary) = run(&text, None);
    assert_eq!(
        (summary.lines, summary.rejected_total(), summary.events),
        (19, 0, 0)
    );
    assert_eq!(s.totals.calls.inbound, 0);
    assert_eq!(s.totals.answer_rate, None);
    assert_eq!(s.day, "2025-11-03");
}

#[test]
fn real_hand_edited_log_counts_repeated_lines_once() {
    let Some(text) = shared("xalakox__asterisk2slack__queue_log.log") else {
        return;
    };
    let (s, summary) = run(&text, None);
    assert_eq!(summary.rejected_total(), 0);
    assert!(summary.duplicates >= 6, "{summary}");
    let t = &s.totals;
    // Two calls have their ENTERQUEUE; two more appear only answered.
    assert_eq!((t.calls.inbound, t.calls.answered), (4, 4));
    assert_eq!(t.calls.ivr, 1);
}

#[test]
fn a_connect_whose_hold_time_equals_the_threshold_is_within_sl() {
    // Queued and answered on the first line of their seconds, after other
    // lines of the same seconds: no made-up milliseconds may stretch the
    // 20 s wait past the 20 s threshold.
    let text = "\
1795219200|NONE|NONE|NONE|QUEUESTART|
1795219200|c0|sales|NONE|ENTERQUEUE||0101|1
1795219200|c1|sales|NONE|ENTERQUEUE||0102|2
1795219220|c0|sales|SIP/201|CONNECT|20|c0.1|0
1795219220|c1|sales|SIP/202|CONNECT|20|c1.1|0
1795219221|c2|sales|NONE|ENTERQUEUE||0103|1
1795219242|c2|sales|SIP/201|CONNECT|21|c2.1|0
";
    let (s, summary) = run(text, Some("2026-11-21T10:00:00Z"));
    assert_eq!(summary.rejected_total(), 0);
    let t = &s.totals;
    assert_eq!((t.calls.inbound, t.calls.answered), (3, 3));
    assert_eq!(
        t.calls.answered_in_sl, 2,
        "20 s and 20 s are in SL, 21 s is not"
    );
    assert_eq!(t.asa_s, Some(20.3));
}

#[test]
fn lines_of_one_second_keep_their_order_for_agent_states() {
    // PAUSE then UNPAUSE in the same second: the member ends ready, as the
    // file says, and no event is dated inside the second.
    let mut d = decoder();
    let mut events = Vec::new();
    for line in [
        "1795219200|NONE|sales|SIP/201|ADDMEMBER|",
        "1795219260|NONE|sales|SIP/201|PAUSE|lunch",
        "1795219260|NONE|sales|SIP/201|UNPAUSE|",
    ] {
        events.extend(d.decode_line(line).unwrap());
    }
    assert!(events.iter().all(|e| e.ts % 1000 == 0), "{events:?}");
    let (s, _) = run(
        "1795219200|NONE|sales|SIP/201|ADDMEMBER|\n\
         1795219260|NONE|sales|SIP/201|PAUSE|lunch\n\
         1795219260|NONE|sales|SIP/201|UNPAUSE|\n",
        None,
    );
    assert_eq!(s.agent_list[0].state, AgentState::Ready);
}

/// An Asterisk that stopped uncleanly leaves a run of NUL bytes before the
/// next line it writes: that line is read, and the run changes nothing.
#[test]
fn a_run_of_nul_bytes_before_a_line_hides_nothing() {
    let text = include_str!("../../samples/demo.queue_log");
    let at = Some("2026-11-21T09:11:00+09:00");
    let (clean, clean_summary) = run(text, at);
    let mid = text[..text.len() / 2].rfind('\n').unwrap() + 1;
    let dirty = format!("{}{}{}", &text[..mid], "\0".repeat(200_000), &text[mid..]);
    let (s, summary) = run(&dirty, at);
    assert_eq!(summary.rejected_total(), 0);
    assert_eq!(summary.lines, clean_summary.lines);
    assert_eq!(s, clean);
}

/// A real log names one member two ways: ADDMEMBER by interface, PAUSE and
/// CONNECT by member name. The tenant's `members` map makes them one agent,
/// with the display name given.
#[test]
fn configured_members_make_one_agent_of_an_interface_and_a_member_name() {
    let log = "\
1795219205|MANAGER|support|PJSIP/201|ADDMEMBER|
1795219230|1795219230.1|support|NONE|ENTERQUEUE||0101234|1
1795219240|1795219230.1|support|Sathish|CONNECT|10|1795219230.2|2
1795219300|NONE|support|Sathish|PAUSE|lunch
";
    let snapshot = |config: Config| {
        crate::support::replayed(log, Arc::new(config), Format::QueueLog, "pbx", None)
    };
    let apart = snapshot(Config::default());
    assert_eq!(apart.agent_list.len(), 2, "unmapped: two agents");

    let config = Config::parse(
        "[tenants.pbx.members]\n\"PJSIP/201\" = { agent = \"sathish\", name = \"Sathish K\" }\n\"Sathish\" = \"sathish\"",
        None,
        None,
    )
    .unwrap();
    let s = snapshot(config);
    assert_eq!(s.agent_list.len(), 1, "{:?}", s.agent_list);
    let a = &s.agent_list[0];
    assert_eq!(&*a.agent, "sathish");
    assert_eq!(a.name.as_deref(), Some("Sathish K"));
    assert_eq!(a.handled, 1);
    assert_eq!(a.services.len(), 1);

    let e = Config::parse("[tenants.pbx.members]\n\"PJSIP/201\" = \"\"", None, None).unwrap_err();
    assert!(format!("{e:#}").contains("members"), "{e:#}");
}

fn agents(log: &str) -> Vec<(String, callboard::wire::AgentRow)> {
    let s = crate::support::replayed(
        log,
        Arc::new(Config::default()),
        Format::QueueLog,
        "pbx",
        None,
    );
    s.agent_list
        .into_iter()
        .map(|a| (a.agent.to_string(), a))
        .collect()
}

/// Without a map, a log that adds an interface and names a member in the
/// same queue and second ties them: one person, one agent, for the rest
/// of the log (REMOVEMEMBER by interface logs the member out).
#[test]
fn an_interface_and_a_member_name_in_one_queue_and_second_are_one_agent() {
    let log = "\
1795219205|MANAGER|support|PJSIP/201|ADDMEMBER|
1795219205|NONE|support|Sathish|PAUSE|login
1795219210|NONE|support|Sathish|UNPAUSE|
1795219230|1795219230.1|support|NONE|ENTERQUEUE||0101234|1
1795219240|1795219230.1|support|Sathish|CONNECT|10|1795219230.2|2
1795219300|1795219230.1|support|Sathish|COMPLETECALLER|10|60|1
";
    let list = agents(log);
    assert_eq!(list.len(), 1, "{list:?}");
    let (name, a) = &list[0];
    assert_eq!(name, "Sathish");
    assert_eq!(a.handled, 1);
    assert_eq!(a.state, AgentState::Ready);

    let out = format!("{log}1795219400|MANAGER|support|PJSIP/201|REMOVEMEMBER|\n");
    let list = agents(&out);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].1.state, AgentState::LoggedOut);
}

/// Two interfaces added to one queue in one second leave the member name
/// that follows ambiguous: nothing is tied, and three agents are counted.
#[test]
fn two_interfaces_in_one_queue_and_second_tie_nothing() {
    let log = "\
1795219205|MANAGER|support|PJSIP/201|ADDMEMBER|
1795219205|MANAGER|support|PJSIP/202|ADDMEMBER|
1795219205|NONE|support|Sathish|PAUSE|
";
    let names: Vec<String> = agents(log).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["PJSIP/201", "PJSIP/202", "Sathish"]);
}

/// A member name in another second, or in another queue, is not tied.
#[test]
fn a_member_name_in_another_second_or_queue_is_another_agent() {
    let other_second = "\
1795219205|MANAGER|support|PJSIP/201|ADDMEMBER|
1795219206|NONE|support|Sathish|PAUSE|
";
    assert_eq!(agents(other_second).len(), 2);
    let other_queue = "\
1795219205|MANAGER|support|PJSIP/201|ADDMEMBER|
1795219205|NONE|sales|Sathish|PAUSE|
";
    assert_eq!(agents(other_queue).len(), 2);
}

/// A dialplan that writes the member's name in ADDMEMBER's data ties the
/// two on the spot.
#[test]
fn a_member_name_in_addmember_data_ties_the_interface() {
    let log = "\
1795219205|MANAGER|support|SIP/301|ADDMEMBER|PAUSED|Paty Marin
1795219300|NONE|support|Paty Marin|UNPAUSE|
1795219400|MANAGER|support|SIP/301|REMOVEMEMBER|
";
    let list = agents(log);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].0, "Paty Marin");
    assert_eq!(list[0].1.state, AgentState::LoggedOut);
}

/// A held ADDMEMBER released by a later line that is refused still counts.
#[test]
fn a_refused_line_after_a_held_addmember_loses_nothing() {
    let mut d = decoder();
    assert!(
        d.decode_line("5|MANAGER|q1|SIP/1|ADDMEMBER|")
            .unwrap()
            .is_empty()
    );
    assert!(d.decode_line("6|c1|NONE|NONE|ENTERQUEUE||1").is_err());
    let e = d.decode_line("7|NONE|NONE|NONE|CONFIGRELOAD|").unwrap();
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].ts, 5000);
    assert_eq!(d.holding(), None);
}

/// A member rung in vain (RINGNOANSWER, RINGCANCELED with a ringtime) was
/// offered the call and missed it, as a `call.ringing` followed by another
/// agent's event would be; a ringtime of 0 (busy, unavailable) is no
/// offer; a member who rang in vain and then answers missed the first ring.
#[test]
fn members_rung_in_vain_missed_the_call() {
    let b = 1_795_251_600; // 2026-11-21T09:00:00Z
    let lines = [
        format!("{}|c1|q|NONE|ENTERQUEUE||0101", b),
        format!("{}|c1|q|SIP/A|RINGNOANSWER|15000", b + 15),
        format!("{}|c1|q|SIP/B|RINGNOANSWER|0", b + 15),
        format!("{}|c1|q|SIP/B|RINGNOANSWER|15000", b + 30),
        format!("{}|c1|q|SIP/A|CONNECT|40|m1|10", b + 40),
        format!("{}|c1|q|SIP/A|COMPLETEAGENT|40|60|1", b + 100),
        format!("{}|c2|q|NONE|ENTERQUEUE||0102", b + 200),
        format!("{}|c2|q|SIP/B|RINGCANCELED|5000", b + 210),
        format!("{}|c2|q|NONE|ABANDON|1|1|10", b + 210),
        // A ring for a call already answered offers nothing.
        format!("{}|c3|q|NONE|ENTERQUEUE||0103", b + 300),
        format!("{}|c3|q|SIP/C|CONNECT|5|m3|5", b + 305),
        format!("{}|c3|q|SIP/A|RINGNOANSWER|3000", b + 306),
    ];
    let (s, summary) = run(&lines.join("\n"), Some("2026-11-21T10:00:00Z"));
    assert_eq!(summary.rejected_total(), 0);
    let missed = |a: &str| {
        s.agent_list
            .iter()
            .find(|r| &*r.agent == a)
            .unwrap_or_else(|| panic!("no agent {a}"))
            .missed
    };
    assert_eq!(
        (missed("SIP/A"), missed("SIP/B"), missed("SIP/C")),
        (1, 2, 0)
    );
    let t = &s.totals.calls;
    assert_eq!((t.inbound, t.answered, t.abandoned), (3, 2, 1));
}
