//! `callboard replay` as a user runs it: the real binary, its output, its
//! exit codes and its messages.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use callboard::wire::Snapshot;

fn callboard(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_callboard"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CALLBOARD_HISTORY", "none")
        .env("CALLBOARD_EVENT_LOG", "none")
        .env_remove("CALLBOARD_TZ")
        .env_remove("CALLBOARD_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run callboard");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn snapshots(o: &Output) -> Vec<Snapshot> {
    String::from_utf8(o.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one snapshot"))
        .collect()
}

#[test]
fn the_readme_command_prints_the_demo_tenants_snapshot() {
    let o = callboard(
        &[
            "replay",
            "--input",
            "samples/demo-day.ndjson",
            "--config",
            "samples/callboard.toml",
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let s = snapshots(&o);
    assert_eq!(s.len(), 1);
    assert_eq!(
        (&*s[0].tenant, s[0].tz.as_str(), s[0].day.as_str()),
        ("demo", "Asia/Seoul", "2026-11-21")
    );
    assert!(s[0].totals.calls.inbound > 100);
    let err = stderr(&o);
    assert!(err.starts_with("callboard replay: "), "{err}");
    assert!(err.contains("; 0 rejected"), "{err}");
}

#[test]
fn tenants_come_out_sorted_one_per_line_and_stdin_works() {
    let input = r#"{"v":1,"id":"1","ts":0,"tenant":"zeta","type":"call.queued","call":"c","queue":"q"}
{"v":1,"id":"2","ts":0,"tenant":"alpha","type":"call.queued","call":"c","queue":"q"}
not json
"#;
    let o = callboard(&["replay", "--input", "-"], Some(input));
    assert!(o.status.success(), "{}", stderr(&o));
    let names: Vec<String> = snapshots(&o).iter().map(|s| s.tenant.to_string()).collect();
    assert_eq!(names, ["alpha", "zeta"]);
    assert!(
        stderr(&o).contains("1 rejected (invalid_json: 1)"),
        "{}",
        stderr(&o)
    );
    let one = callboard(&["replay", "--input", "-", "--tenant", "zeta"], Some(input));
    assert_eq!(snapshots(&one).len(), 1);
}

#[test]
fn at_sets_today_and_waiting_ages() {
    let input = r#"{"v":1,"id":"1","ts":"2026-11-21T09:00:00Z","tenant":"t","type":"call.queued","call":"c","queue":"q"}"#;
    let o = callboard(
        &["replay", "-i", "-", "--at", "2026-11-21T09:05:00Z"],
        Some(input),
    );
    let s = &snapshots(&o)[0];
    assert_eq!(s.totals.longest_wait_s, 300);
    // Queued at 23:00 in Seoul, looked at after midnight: today has no
    // inbound, the call still waits; four hours on, its lost end has expired.
    let late = r#"{"v":1,"id":"1","ts":"2026-11-21T14:00:00Z","tenant":"t","type":"call.queued","call":"c","queue":"q"}"#;
    let at = |when: &str| {
        let o = callboard(
            &["replay", "-i", "-", "--at", when, "--tz", "Asia/Seoul"],
            Some(late),
        );
        (snapshots(&o).remove(0), stderr(&o))
    };
    let (s, _) = at("2026-11-21T15:05:00Z");
    assert_eq!(
        (s.day.as_str(), s.totals.calls.inbound, s.totals.waiting),
        ("2026-11-22", 0, 1)
    );
    let (s, err) = at("2026-11-21T18:00:00Z");
    assert_eq!((s.totals.waiting, s.totals.longest_wait_s), (0, 0));
    assert!(
        err.contains("1 calls exited unanswered past max_wait_s"),
        "{err}"
    );
}

#[test]
fn every_line_rejected_is_a_failure_with_a_hint() {
    let o = callboard(&["replay", "--input", "samples/demo.queue_log"], None);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("every line was rejected"), "{err}");
    assert!(err.contains("--format queue_log"), "{err}");
}

#[test]
fn a_tenant_or_a_path_that_is_not_there_is_named_not_guessed() {
    // A tenant the input does not hold: an error, not an all-zero board.
    let o = callboard(
        &[
            "replay",
            "-i",
            "samples/demo-day.ndjson",
            "--tenant",
            "nope",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(o.stdout.is_empty(), "no snapshot is made up");
    assert!(
        stderr(&o).contains("no event of tenant `nope` in the input"),
        "{}",
        stderr(&o)
    );
    // A bad --tenant names the flag; a directory names its path.
    let long = "x".repeat(200);
    let o = callboard(
        &["replay", "-i", "samples/demo-day.ndjson", "--tenant", &long],
        None,
    );
    assert!(stderr(&o).contains("--tenant"), "{}", stderr(&o));
    let o = callboard(&["replay", "-i", "samples"], None);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("cannot read samples"), "{}", stderr(&o));
}

#[test]
fn a_rebuild_of_nothing_but_rejected_lines_fails_and_changes_nothing() {
    let dir = std::env::temp_dir().join(format!("callboard-cli-rebuild-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("h.sqlite");
    let rebuild = |input: &str, store: &std::path::Path, stdin: Option<&str>| {
        let store = store.display().to_string();
        callboard(
            &[
                "history",
                "rebuild",
                "--from",
                "2026-11-21",
                "-i",
                input,
                "--history",
                &store,
            ],
            stdin,
        )
    };
    let good = rebuild("samples/demo-day.ndjson", &db, None);
    assert!(good.status.success(), "{}", stderr(&good));
    // What the store holds, read back (its file's bytes may move when
    // SQLite folds its write-ahead log in, with nothing changed).
    let held = || {
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let store =
                callboard::history::Store::open(&callboard::history::Location::Sqlite(db.clone()))
                    .await
                    .unwrap();
            let held = crate::store::stored(&store, "demo", "2026-11-20", "2026-11-22").await;
            store.close().await;
            held
        })
    };
    let before = held();
    assert!(
        !before.0.is_empty() && !before.1.is_empty(),
        "the good rebuild stored the day"
    );
    let o = rebuild("-", &db, Some("not json\n{\"v\":1}\n"));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("every line was rejected"),
        "{}",
        stderr(&o)
    );
    assert!(held() == before, "the store is unchanged");
    // A directory for input: refused before any store is made.
    let other = dir.join("other.sqlite");
    let o = rebuild("samples", &other, None);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains("samples: it is a directory"),
        "{}",
        stderr(&o)
    );
    assert!(!other.exists(), "no empty store left behind");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn usage_errors_say_what_to_do() {
    let o = callboard(
        &[
            "replay",
            "--input",
            "samples/demo.queue_log",
            "--format",
            "queue_log",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--tenant"), "{}", stderr(&o));

    let o = callboard(&["replay", "--input", "nope.ndjson"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot open nope.ndjson"),
        "{}",
        stderr(&o)
    );

    let o = callboard(&["replay", "--input", "-", "--at", "tomorrow"], Some(""));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("RFC 3339"), "{}", stderr(&o));

    let o = callboard(&["replay", "--input", "-", "--tz", "Asia/Seol"], Some(""));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown time zone `Asia/Seol`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn verbose_names_each_rejected_line() {
    let input = "{}\n\n{\"v\":1}\n";
    let o = callboard(&["replay", "-i", "-", "-v"], Some(input));
    let err = stderr(&o);
    assert!(err.contains("line 1: missing_field"), "{err}");
    assert!(err.contains("line 3: missing_field"), "{err}");
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn replay_at_rejects_events_dated_past_it() {
    let input = r#"{"v":1,"id":"1","ts":"2026-11-21T10:00:00Z","tenant":"t","type":"call.queued","call":"a","queue":"q"}
{"v":1,"id":"2","ts":"2026-11-21T12:04:00Z","tenant":"t","type":"call.queued","call":"b","queue":"q"}
{"v":1,"id":"3","ts":"2026-11-21T12:06:00Z","tenant":"t","type":"call.queued","call":"c","queue":"q"}
{"v":1,"id":"4","ts":"9999-12-31T00:00:00Z","tenant":"t","type":"call.queued","call":"d","queue":"q"}
"#;
    let o = callboard(
        &["replay", "-i", "-", "--at", "2026-11-21T12:00:00Z", "-v"],
        Some(input),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let s = snapshots(&o);
    // 4 minutes ahead is within the 5-minute skew; 6 minutes and 9999 are not.
    assert_eq!(
        (s[0].day.as_str(), s[0].totals.calls.inbound),
        ("2026-11-21", 2)
    );
    let err = stderr(&o);
    assert!(err.contains("2 rejected (future_ts: 2)"), "{err}");
    assert!(err.contains("line 4: future_ts"), "{err}");
}

#[test]
fn an_open_metrics_listener_beyond_loopback_is_warned_about() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_callboard"))
        .env("CALLBOARD_HISTORY", "none")
        .env("CALLBOARD_EVENT_LOG", "none")
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "0.0.0.0:0",
            "--simulate-tenants",
            "0",
        ])
        .env_remove("CALLBOARD_CONFIG")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let warned = BufReader::new(stderr)
        .lines()
        .take(20)
        .map_while(Result::ok)
        .find(|l| l.contains("/metrics is served on a non-loopback address without a token"));
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        warned.is_some(),
        "no warning about the open metrics listener"
    );
}

#[test]
fn simulate_writes_replayable_events() {
    let o = callboard(
        &[
            "simulate",
            "--start",
            "2026-11-21T10:00:00+09:00",
            "--hours",
            "0.5",
            "--seed",
            "3",
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let events = String::from_utf8(o.stdout).unwrap();
    assert!(events.lines().count() > 50);
    let r = callboard(&["replay", "-i", "-"], Some(&events));
    assert!(r.status.success());
    assert!(stderr(&r).contains("; 0 rejected"), "{}", stderr(&r));
}

/// `--tenants 3`: three tenants, each exactly what it alone would be.
#[test]
fn simulate_gives_several_tenants_each_as_alone() {
    let run = |extra: &[&str]| {
        let mut args = vec![
            "simulate",
            "--start",
            "2026-11-21T10:00:00+09:00",
            "--hours",
            "0.5",
        ];
        args.extend_from_slice(extra);
        let o = callboard(&args, None);
        assert!(o.status.success(), "{}", stderr(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    let three = run(&["--tenants", "3"]);
    let of = |tenant: &str| -> Vec<&str> {
        three
            .lines()
            .filter(|l| l.contains(&format!(r#""tenant":"{tenant}""#)))
            .collect()
    };
    let alone = run(&[]);
    assert_eq!(of("demo"), alone.lines().collect::<Vec<_>>());
    assert!(!of("demo-2").is_empty() && !of("demo-3").is_empty());
    assert_eq!(
        of("demo").len() + of("demo-2").len() + of("demo-3").len(),
        three.lines().count()
    );
    let o = callboard(&["simulate", "--start", "today", "--tenants", "0"], None);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--tenants must be at least 1"),
        "{}",
        stderr(&o)
    );
    // No agents: a usage error, not a panic (exit 101).
    let o = callboard(&["simulate", "--start", "today", "--agents", "0"], None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--agents"), "{}", stderr(&o));
    let o = callboard(&["serve", "--simulate-agents", "0"], None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--simulate-agents"), "{}", stderr(&o));
}

#[test]
fn serve_settings_come_from_flag_then_environment_then_file() {
    // A non-loopback address without tokens is refused, and the message
    // names the address that won.
    let dir = std::env::temp_dir().join(format!("callboard-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("c.toml");
    std::fs::write(&cfg, "[serve]\nlisten = \"10.1.1.1:80\"\n").unwrap();
    let run = |env: Option<&str>, flag: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_callboard"));
        cmd.env("CALLBOARD_HISTORY", "none")
            .env("CALLBOARD_EVENT_LOG", "none");
        cmd.args([
            "serve",
            "--config",
            cfg.to_str().unwrap(),
            "--simulate-tenants",
            "0",
        ])
        .env_remove("CALLBOARD_LISTEN");
        if let Some(e) = env {
            cmd.env("CALLBOARD_LISTEN", e);
        }
        if let Some(f) = flag {
            cmd.args(["--listen", f]);
        }
        let o = cmd.output().unwrap();
        assert_eq!(o.status.code(), Some(2));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    assert!(run(None, None).contains("10.1.1.1:80"));
    assert!(run(Some("10.2.2.2:80"), None).contains("10.2.2.2:80"));
    assert!(run(Some("10.2.2.2:80"), Some("10.3.3.3:80")).contains("10.3.3.3:80"));
    assert!(run(None, None).contains("callboard token new"));
}

#[test]
fn a_new_token_comes_with_a_config_entry_that_stores_only_its_hash() {
    let o = callboard(
        &["token", "new", "--role", "tenant", "--tenant", "acme"],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let token = out
        .lines()
        .next()
        .and_then(|l| l.rsplit(' ').next())
        .unwrap()
        .to_string();
    let entry = &out[out.find("[[tokens]]").expect("a [[tokens]] entry")..];
    assert!(!entry.contains(&token), "the entry must not hold the token");
    let config = callboard::config::Config::parse(entry, None, None).unwrap();
    let hash = callboard::http::auth::hash_token(&token);
    assert_eq!(config.tokens[0].sha256, hash);
    assert_eq!(config.tokens[0].tenant.as_deref(), Some("acme"));

    // A team lead's token: its services in the entry, read back as a set.
    let o = callboard(
        &[
            "token",
            "new",
            "--tenant",
            "acme",
            "--services",
            "영업,support,영업",
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let entry = &out[out.find("[[tokens]]").unwrap()..];
    let config = callboard::config::Config::parse(entry, None, None).unwrap();
    let services: Vec<&str> = config.tokens[0]
        .services
        .as_deref()
        .unwrap()
        .iter()
        .map(|s| &**s)
        .collect();
    assert_eq!(services, ["support", "영업"]);
    let o = callboard(
        &["token", "new", "--role", "admin", "--services", "sales"],
        None,
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("only a tenant token"), "{}", stderr(&o));

    let o = callboard(
        &["token", "new", "--role", "admin", "--tenant", "acme"],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("other roles take none"),
        "{}",
        stderr(&o)
    );
    let o = callboard(&["token", "new", "--role", "root"], None);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("possible values"), "{}", stderr(&o));

    // Any name the config takes comes back from the entry as it was given;
    // one it would refuse is refused here.
    for name in ["wall \"lobby\" \\ 2", "로비 월보드"] {
        let o = callboard(&["token", "new", "--name", name], None);
        assert_eq!(o.status.code(), Some(2), "a tenant token needs its tenant");
        let o = callboard(&["token", "new", "--name", name, "--tenant", "acme"], None);
        assert!(o.status.success(), "{}", stderr(&o));
        let out = String::from_utf8(o.stdout).unwrap();
        let entry = &out[out.find("[[tokens]]").unwrap()..];
        let config = callboard::config::Config::parse(entry, None, None).unwrap();
        assert_eq!(config.tokens[0].name, name);
    }
    for (args, says) in [
        (
            vec!["--name", "wall\u{1b}[31m", "--tenant", "acme"],
            "--name",
        ),
        (vec!["--name", "", "--tenant", "acme"], "--name"),
        (vec!["--tenant", ""], "--tenant"),
        (vec!["--tenant", "ac\nme"], "--tenant"),
    ] {
        let o = callboard(&[&["token", "new"][..], &args].concat(), None);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
}

/// A part the service cannot do without (here the event log, given a path
/// that is a file) stops it with its reason and a non-zero exit, so a
/// supervisor restarts it and says why.
#[test]
fn a_fatal_error_exits_non_zero_with_its_reason() {
    let dir = std::env::temp_dir().join(format!("callboard-fatal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("not-a-folder");
    std::fs::write(&file, "x").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_callboard"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--simulate-tenants",
            "0",
        ])
        .args(["--history", "none", "--event-log", file.to_str().unwrap()])
        .env_remove("CALLBOARD_CONFIG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let due = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(std::time::Instant::now() < due, "the service did not stop");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let err = String::from_utf8_lossy(&child.wait_with_output().unwrap().stderr).into_owned();
    assert!(!status.success(), "{status:?}: {err}");
    assert!(err.contains("the event log stopped"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `serve` with a tokens file, its log lines until it listens: the
/// child, its address, and the lines read.
fn serve_with_tokens_file(file: &std::path::Path) -> (std::process::Child, String, Vec<String>) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_callboard"))
        .args(["serve", "--listen", "127.0.0.1:0", "--history", "none"])
        .args([
            "--event-log",
            "none",
            "--log",
            "warn,callboard::cmd::serve=info",
        ])
        .arg("--tokens-file")
        .arg(file)
        .args(["--init-admin-token"])
        .env_remove("CALLBOARD_CONFIG")
        .env_remove("CALLBOARD_LISTEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    let mut reader = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = reader.next().expect("serve said where it listens").unwrap();
        lines.push(line.clone());
        if line.contains(" listening")
            && let Some(a) = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("addr="))
        {
            break a.to_string();
        }
    };
    // The rest of the log is drained, so the child never blocks on it.
    std::thread::spawn(move || reader.for_each(drop));
    (child, addr, lines)
}

fn status_with(addr: &str, token: Option<&str>) -> u16 {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(crate::support::http(
        addr.parse().unwrap(),
        "GET",
        "/api/v1/tenants",
        &headers,
        "",
    ))
    .0
}

#[test]
fn a_first_start_makes_an_admin_token_that_later_starts_keep() {
    let dir = std::env::temp_dir().join(format!("callboard-tokens-file-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tokens.toml");

    let (mut first, addr, lines) = serve_with_tokens_file(&file);
    let token = lines
        .iter()
        .find_map(|l| l.split("shown this once").nth(1))
        .and_then(|rest| rest.rsplit(' ').next())
        .unwrap_or_else(|| panic!("the new token is printed: {lines:?}"))
        .to_string();
    assert_eq!(token.len(), 48, "{token}");
    let kept = std::fs::read_to_string(&file).unwrap();
    assert!(!kept.contains(&token), "only its hash is kept: {kept}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert_eq!(status_with(&addr, None), 401, "tokens are required now");
    assert_eq!(status_with(&addr, Some(&token)), 200);
    first.kill().unwrap();
    first.wait().unwrap();

    // A later start reads the same file: no new token, the old one works.
    let (mut second, addr, lines) = serve_with_tokens_file(&file);
    assert!(
        lines.iter().all(|l| !l.contains("shown this once")),
        "{lines:?}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), kept);
    assert_eq!(status_with(&addr, Some(&token)), 200);
    second.kill().unwrap();
    second.wait().unwrap();

    // Without --init-admin-token a missing file is an error; so is a bad entry.
    let missing = dir.join("missing.toml");
    let refused = |says: &str| {
        let o = callboard(
            &[
                "serve",
                "--history",
                "none",
                "--event-log",
                "none",
                "--tokens-file",
                missing.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!(o.status.code(), Some(2));
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
    };
    refused("--init-admin-token");
    std::fs::write(
        &missing,
        "[[tokens]]\nname = \"x\"\nsha256 = \"abc\"\nrole = \"admin\"\n",
    )
    .unwrap();
    refused("missing.toml: tokens[0]");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends SIGTERM to `child` and waits up to `limit` for it to exit 0.
#[cfg(unix)]
fn stops_on_sigterm(child: &mut std::process::Child, limit: std::time::Duration, what: &str) {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert_eq!(status.code(), Some(0), "{what}");
            return;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("SIGTERM did not stop the service {what}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A Kafka that is away must not hold the exit: a blocking call waiting on
/// it once kept the process alive after "stopped", past any stop timeout.
#[cfg(unix)]
#[test]
fn sigterm_stops_the_service_while_kafka_is_away() {
    let (mut child, _) = crate::support::spawn_serve(&[
        "--kafka-brokers".into(),
        "127.0.0.1:1".into(),
        "--history".into(),
        "none".into(),
    ]);
    std::thread::sleep(std::time::Duration::from_secs(2));
    stops_on_sigterm(
        &mut child,
        std::time::Duration::from_secs(20),
        "while Kafka is away",
    );
}

/// A log that cannot be written (stderr's reader gone: a journal
/// restarted) must not stop the service from stopping: SIGTERM once hung
/// it, the logging of "shutting down" having panicked the task that was to
/// stop it.
#[cfg(unix)]
#[test]
fn sigterm_stops_the_service_when_its_log_cannot_be_written() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_callboard"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--history",
            "none",
            "--event-log",
            "none",
        ])
        .env_remove("CALLBOARD_CONFIG")
        .env_remove("CALLBOARD_LISTEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        while let Some(Ok(line)) = lines.next() {
            if line.contains(" listening") {
                break;
            }
        }
        // The reader goes away here.
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    stops_on_sigterm(
        &mut child,
        std::time::Duration::from_secs(20),
        "with its stderr closed",
    );
}
