use super::*;

fn parse(qs: &str) -> Result<Query, String> {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(qs.as_bytes())
        .into_owned()
        .collect();
    Query::parse("t", &params, "2026-11-21".parse().unwrap())
}

#[test]
fn defaults_are_today_by_tenant_and_day() {
    let q = parse("").unwrap();
    assert_eq!(
        (q.from.to_string(), q.to.to_string()),
        ("2026-11-21".into(), "2026-11-21".into())
    );
    assert_eq!((q.by, q.step, q.csv), (By::Tenant, Step::Day, false));
    let q = parse("from=2026-11-01&by=queue&step=hour&format=csv").unwrap();
    assert_eq!(q.to.to_string(), "2026-11-01", "`to` defaults to `from`");
    assert_eq!((q.by, q.step, q.csv), (By::Queue, Step::Hour, true));
}

#[test]
fn a_format_named_wins_over_the_accept_header() {
    let csv = Some("text/csv, application/json;q=0.5");
    assert!(!parse("format=json").unwrap().wants_csv(csv));
    assert!(
        parse("format=csv")
            .unwrap()
            .wants_csv(Some("application/json"))
    );
    assert!(parse("format=excel&lang=ko").unwrap().wants_csv(None));
    assert!(
        parse("").unwrap().wants_csv(csv),
        "no format: Accept decides"
    );
    assert!(!parse("").unwrap().wants_csv(Some("application/json")));
    assert!(!parse("").unwrap().wants_csv(None));
}

#[test]
fn bad_parameters_say_what_is_wrong() {
    for (qs, says) in [
        (
            "step=week",
            "`step` must be one of interval, hour, day, month, got `week`",
        ),
        (
            "by=team",
            "`by` must be one of tenant, service, queue, agent, callback",
        ),
        (
            "from=2026-11-21&to=2026-11-01",
            "`from` (2026-11-21) is after `to` (2026-11-01)",
        ),
        ("from=2016-01-01&to=2026-01-01", "spans at most 400 days"),
        (
            "from=2026-10-01&to=2026-11-21&step=interval",
            "a report by interval spans at most 31 days",
        ),
        ("from=21.11.2026", "`from` must be a date as YYYY-MM-DD"),
        ("from=2026-02-30", "`from` must be a date"),
        ("by=callback&step=hour", "step must be day or month"),
        ("form=2026-11-01", "unknown parameter `form`"),
        ("by=queue&by=agent", "`by` is given twice"),
        ("format=xlsx", "`format` must be one of json, csv"),
    ] {
        let e = parse(qs).unwrap_err();
        assert!(e.contains(says), "{qs}: {e}");
    }
}
