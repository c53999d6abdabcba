use super::*;

const SAMPLE: &str = r#"
    [defaults]
    tz = "Asia/Seoul"
    sl_threshold_s = 30

    [tenants.acme]
    short_abandon_s = 5
    [tenants.acme.queues.vip]
    service = "sales"
    sl_threshold_s = 10
    sl_formula = "answered"

    [tenants.globex]
    tz = "Europe/Berlin"
"#;

#[test]
fn a_name_with_a_control_character_is_refused() {
    let e = Config::parse("[tenants.\"ac\\u0000me\"]\n", None, None).unwrap_err();
    assert!(format!("{e:#}").contains("control characters"), "{e:#}");
    let e = Config::parse(
        "[tenants.acme.queues.\"q\\nline\"]\nservice = \"sales\"\n",
        None,
        None,
    )
    .unwrap_err();
    assert!(format!("{e:#}").contains("control characters"), "{e:#}");
}

#[test]
fn queue_overrides_tenant_overrides_defaults() {
    let c = Config::parse(SAMPLE, None, None).unwrap();
    let acme = c.tenant("acme");
    assert_eq!(acme.tz.iana_name(), Some("Asia/Seoul"));
    assert_eq!(acme.queue_defaults.sl_threshold_s, 30);
    assert_eq!(acme.queue_defaults.short_abandon_s, 5);
    let (svc, vip) = &acme.queues["vip"];
    assert_eq!(svc.as_deref(), Some("sales"));
    assert_eq!(
        *vip,
        QueueSettings {
            sl_threshold_s: 10,
            short_abandon_s: 5,
            sl_formula: SlFormula::Answered,
            max_wait_s: DEFAULT_MAX_WAIT_S,
            sl_thresholds_s: Few::new(&[10]).unwrap(),
            recent_windows_min: Few::new(&[15, 60]).unwrap(),
            ewt_method: EwtMethod::Position,
        }
    );
    assert_eq!(c.tenant("globex").tz.iana_name(), Some("Europe/Berlin"));
    assert_eq!(c.tenant("unnamed").tz.iana_name(), Some("Asia/Seoul"));
}

#[test]
fn command_line_overrides_replace_defaults_only() {
    let c = Config::parse(SAMPLE, Some("UTC"), Some(15)).unwrap();
    assert_eq!(c.tenant("unnamed").tz.iana_name(), Some("UTC"));
    assert_eq!(c.tenant("unnamed").queue_defaults.sl_threshold_s, 15);
    assert_eq!(c.tenant("globex").tz.iana_name(), Some("Europe/Berlin"));
    assert_eq!(c.tenant("acme").queues["vip"].1.sl_threshold_s, 10);
}

#[test]
fn tokens_are_validated() {
    let hash = "a".repeat(64);
    let ok = format!(
        "[[tokens]]\nname = \"wall\"\nsha256 = \"{hash}\"\nrole = \"tenant\"\ntenant = \"acme\"\nallow = [\"10.0.0.0/8\", \"127.0.0.1\"]"
    );
    let c = Config::parse(&ok, None, None).unwrap();
    assert_eq!(c.tokens.len(), 1);
    assert_eq!(c.tokens[0].allow.len(), 2);
    assert_eq!(c.tokens[0].services, None, "no services: the whole tenant");
    // Scoped tokens: each set once, sorted, in the tenant's settings.
    let scoped = |name: &str, h: char, services: &str| {
        format!(
            "[[tokens]]\nname = \"{name}\"\nsha256 = \"{}\"\nrole = \"tenant\"\ntenant = \"acme\"\nservices = {services}\n",
            h.to_string().repeat(64)
        )
    };
    let c = Config::parse(
        &[
            scoped("a", 'a', "[\"support\", \"sales\"]"),
            scoped("b", 'b', "[\"sales\", \"support\", \"sales\"]"),
            scoped("c", 'c', "[\"billing\"]"),
        ]
        .concat(),
        None,
        None,
    )
    .unwrap();
    let scopes: Vec<Vec<String>> = c
        .tenant("acme")
        .scopes
        .iter()
        .map(|s| s.iter().map(|x| x.to_string()).collect())
        .collect();
    assert_eq!(scopes, [vec!["billing"], vec!["sales", "support"]]);
    assert!(c.tenant("globex").scopes.is_empty());
    for (bad, says) in [
        ("sha256 = \"abc\"\nrole = \"admin\"", "64 hex"),
        (
            &*format!("sha256 = \"{hash}\"\nrole = \"tenant\""),
            "needs `tenant",
        ),
        (
            &*format!("sha256 = \"{hash}\"\nrole = \"admin\"\nallow = [\"nowhere\"]"),
            "not an IP",
        ),
        (
            &*format!("sha256 = \"{hash}\"\nrole = \"admin\"\nservices = [\"sales\"]"),
            "only `tenant` tokens are limited to services",
        ),
        (
            &*format!(
                "sha256 = \"{hash}\"\nrole = \"tenant\"\ntenant = \"acme\"\nservices = [\"\"]"
            ),
            "services",
        ),
    ] {
        let e = Config::parse(&format!("[[tokens]]\nname = \"x\"\n{bad}"), None, None).unwrap_err();
        assert!(format!("{e:#}").contains(says), "{e:#}");
    }
}

#[test]
fn state_limits_merge_per_state_over_the_built_in_ones_and_are_checked() {
    let c = Config::parse(
        "[defaults.state_limits_s]\naway = 600\n\
         [tenants.a.state_limits_s]\nwrap_up = 0\nready = 1800\n",
        None,
        None,
    )
    .unwrap();
    let a = c.tenant("a");
    // away from [defaults], talking built in, wrap_up turned off, ready the tenant's.
    let want: Vec<(&str, u64)> = vec![("away", 600), ("ready", 1800), ("talking", 600)];
    assert_eq!(
        a.state_limits_s
            .iter()
            .map(|(k, &v)| (k.as_str(), v))
            .collect::<Vec<_>>(),
        want
    );
    let other = c.tenant("other");
    assert_eq!(other.state_limits_s["wrap_up"], 120);
    assert_eq!(other.state_limits_s["away"], 600);
    let e = Config::parse("[tenants.a.state_limits_s]\nlunch = 60", None, None).unwrap_err();
    assert!(
        format!("{e:#}").contains("tenants.a.state_limits_s: `lunch`"),
        "{e:#}"
    );
    let e = Config::parse("[tenants.a.state_limits_s]\nlogged_out = 60", None, None).unwrap_err();
    assert!(format!("{e:#}").contains("`logged_out`"), "{e:#}");
    let e = Config::parse("[defaults.state_limits_s]\naway = 90000", None, None).unwrap_err();
    assert!(format!("{e:#}").contains("over a day"), "{e:#}");
}

#[test]
fn reason_labels_merge_per_language_and_are_checked() {
    let c = Config::parse(
        "[defaults.reason_labels.ko]\nbreak = \"휴식\"\nmeal = \"식사\"\n\
         [tenants.a.reason_labels.ko]\nmeal = \"점심\"\n[tenants.a.reason_labels.en]\nmeal = \"Lunch\"\n",
        None,
        None,
    )
    .unwrap();
    let a = c.tenant("a");
    assert_eq!(a.reason_labels["ko"]["break"], "휴식");
    assert_eq!(a.reason_labels["ko"]["meal"], "점심");
    assert_eq!(a.reason_labels["en"]["meal"], "Lunch");
    assert_eq!(c.tenant("other").reason_labels["ko"]["meal"], "식사");
    let e = Config::parse("[tenants.a.reason_labels.Korean]\nx = \"y\"", None, None).unwrap_err();
    assert!(
        format!("{e:#}").contains("tenants.a.reason_labels.Korean"),
        "{e:#}"
    );
    let e = Config::parse("[tenants.a.reason_labels.ko]\nx = \"\"", None, None).unwrap_err();
    assert!(
        format!("{e:#}").contains("tenants.a.reason_labels.ko.`x`"),
        "{e:#}"
    );
}

#[test]
fn errors_name_the_bad_setting() {
    let e = Config::parse("[tenants.a]\ntz = \"Mars/Olympus\"", None, None).unwrap_err();
    assert!(format!("{e:#}").contains("tenants.a.tz"), "{e:#}");
    assert!(format!("{e:#}").contains("Mars/Olympus"), "{e:#}");
    let e = Config::parse("[defaults]\nsl_treshold_s = 3", None, None).unwrap_err();
    assert!(format!("{e:#}").contains("sl_treshold_s"), "{e:#}");
    let e = Config::parse("[tenants.a.queues.q]\nsl_formula = \"x\"", None, None).unwrap_err();
    assert!(format!("{e:#}").contains("sl_formula"), "{e:#}");
    let e = Config::parse("[defaults.queues.q]\nsl_threshold_s = 3", None, None).unwrap_err();
    assert!(format!("{e:#}").contains("per tenant"), "{e:#}");
}

#[test]
fn a_threshold_left_out_falls_back_key_by_key() {
    // One key set for the tenant, another in the defaults: every other
    // key keeps its built-in value (it did not: the whole table replaced
    // the built-in one, and the board and the alerts lost their red).
    let c = Config::parse(
        "[defaults.thresholds]\nwaiting_warn = 3\n[tenants.acme.thresholds]\nservice_level_warn = 70\n",
        None,
        None,
    )
    .unwrap();
    let t = c.tenant("acme").thresholds;
    assert_eq!(t.service_level_warn, Some(70.0));
    assert_eq!(t.waiting_warn, Some(3));
    assert_eq!(
        t.service_level_alert,
        Thresholds::DEFAULT.service_level_alert
    );
    assert_eq!(t.answer_rate_alert, Thresholds::DEFAULT.answer_rate_alert);
    assert_eq!(
        t.longest_wait_alert_s,
        Thresholds::DEFAULT.longest_wait_alert_s
    );
    // A tenant the file does not name gets the defaults over the built-in.
    let other = c.tenant("other").thresholds;
    assert_eq!(other.waiting_warn, Some(3));
    assert_eq!(
        other.service_level_warn,
        Thresholds::DEFAULT.service_level_warn
    );
}

#[test]
fn thresholds_out_of_range_or_out_of_order_are_refused_by_name() {
    for (text, says) in [
        (
            "[defaults.thresholds]\nservice_level_warn = -10",
            "defaults.thresholds.service_level_warn",
        ),
        (
            "[tenants.a.thresholds]\nanswer_rate_alert = 150",
            "tenants.a.thresholds.answer_rate_alert",
        ),
        (
            "[tenants.a.thresholds]\nservice_level_warn = 50",
            "service_level_warn (50) is under service_level_alert (60)",
        ),
        (
            "[tenants.a.thresholds]\nwaiting_warn = 50\nwaiting_alert = 10",
            "waiting_warn (50) is over waiting_alert (10)",
        ),
        (
            "[tenants.a.thresholds]\nlongest_wait_warn_s = 300",
            "longest_wait_warn_s (300) is over longest_wait_alert_s (120)",
        ),
        (
            "[defaults.thresholds]\nservice_level_alert = 85",
            "defaults.thresholds: service_level_warn (80) is under service_level_alert (85)",
        ),
    ] {
        let e = Config::parse(text, None, None).unwrap_err();
        assert!(format!("{e:#}").contains(says), "{text}: {e:#}");
    }
    // Amber equal to red, and a colour turned off by a value never crossed.
    Config::parse(
        "[tenants.a.thresholds]\nservice_level_warn = 60\nanswer_rate_alert = 0\nanswer_rate_warn = 0\n",
        None,
        None,
    )
    .unwrap();
}

#[test]
fn errors_name_the_flag_or_the_shape_that_was_wrong() {
    let e = Config::parse("", Some("Mars/Olympus"), None).unwrap_err();
    assert!(
        format!("{e:#}").contains("--tz (or CALLBOARD_TZ) `Mars/Olympus`"),
        "{e:#}"
    );
    let e = Config::parse("[tenants.a.members]\n\"Local/1\" = 5\n", None, None).unwrap_err();
    assert!(format!("{e:#}").contains("a member's agent id"), "{e:#}");
}
