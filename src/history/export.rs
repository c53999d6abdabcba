//! A report on its way out: JSON (the [`Report`] object) or CSV (UTF-8 with
//! a byte-order mark, so that Excel reads Korean names right), written a row
//! at a time as the database gives the rows. The service streams it: rows
//! are serialised into chunks of a bounded channel that the response body
//! drains, so a month of a large tenant's intervals costs a few chunks of
//! memory, however many rows it has and however slowly the client reads.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::Store;
use super::report::{Query, ReportRow, RowSink, away_reasons, read, within_thresholds};
use crate::config::TenantSettings;
use crate::wire::{By, CallCounts, CallTimes, Report, ReportRows, to_s};

/// A chunk is sent once it holds this many bytes.
const CHUNK: usize = 64 * 1024;
/// Chunks waiting for the client at most.
const CHUNKS: usize = 4;
/// A client that takes no chunk for this long is let go (the report stops
/// and frees its database connection).
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Rows between two yields to the other tasks of the worker.
const YIELD_EVERY: u32 = 512;

/// The report's rows as JSON or CSV, chunk by chunk, made by a task of its
/// own that holds `permit` (one of the reports that may run at once) until
/// it is done. A failure half way ends the stream with an error (the
/// client sees the body cut off).
pub fn stream(
    store: Store,
    q: Query,
    settings: TenantSettings,
    csv: bool,
    permit: OwnedSemaphorePermit,
) -> mpsc::Receiver<io::Result<Bytes>> {
    let (tx, rx) = mpsc::channel(CHUNKS);
    tokio::spawn(async move {
        let _permit = permit;
        let mut out = Chunks {
            tx,
            buf: Vec::with_capacity(CHUNK),
            format: Format::Json { first: true },
            rows: 0,
            gone: false,
        };
        let done = async {
            if csv {
                let reasons = match q.by {
                    By::Agent => away_reasons(&store, &q).await?,
                    _ => Vec::new(),
                };
                let thresholds = match q.by {
                    By::Tenant | By::Service | By::Queue => within_thresholds(&store, &q).await?,
                    _ => Vec::new(),
                };
                let mut w = CsvRows::new(q.by, reasons).with_thresholds(thresholds);
                if let Some(lang) = q.people {
                    let code = if lang == Lang::Ko { "ko" } else { "en" };
                    let labels = settings
                        .reason_labels
                        .get(code)
                        .cloned()
                        .unwrap_or_default();
                    w = w.for_people(lang, labels.into_iter().collect());
                }
                out.buf.extend_from_slice("\u{feff}".as_bytes());
                let head = w.head();
                w.write(&mut out.buf, &head);
                out.format = Format::Csv(w);
            } else {
                out.buf.extend_from_slice(&json_head(&q));
            }
            read(&store, &q, &settings, &mut out).await
        }
        .await;
        match done {
            Ok(()) => {
                if matches!(out.format, Format::Json { .. }) {
                    out.buf.extend_from_slice(b"]}");
                }
                out.flush().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, tenant = %q.tenant, "history: a report stopped half way");
                out.flush().await;
                let _ = out.tx.send(Err(io::Error::other(e.to_string()))).await;
            }
        }
    });
    rx
}

/// A report as JSON up to its first row: `{"tenant":...,"rows":[`.
fn json_head(q: &Query) -> Vec<u8> {
    let head = Report {
        tenant: q.tenant.clone(),
        from: q.from.to_string(),
        to: q.to.to_string(),
        by: q.by,
        step: q.step,
        rows: ReportRows::Queue(Vec::new()),
    };
    // The object with no rows, `...,"rows":[]}`, less its `]}`.
    let mut text = serde_json::to_vec(&head).unwrap_or_default();
    text.truncate(text.len().saturating_sub(2));
    text
}

enum Format {
    Json { first: bool },
    Csv(CsvRows),
}

/// Rows serialised into chunks of a channel.
struct Chunks {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
    format: Format,
    rows: u32,
    /// The client went away (or took nothing for too long).
    gone: bool,
}

impl Chunks {
    async fn flush(&mut self) {
        if self.buf.is_empty() || self.gone {
            return;
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        match tokio::time::timeout(SEND_TIMEOUT, self.tx.send(Ok(chunk))).await {
            Ok(Ok(())) => {}
            _ => self.gone = true,
        }
    }
}

impl RowSink for Chunks {
    async fn row(&mut self, row: ReportRow) -> bool {
        match &mut self.format {
            Format::Json { first } => {
                if !*first {
                    self.buf.push(b',');
                }
                *first = false;
                let _ = match &row {
                    ReportRow::Queue(r) => serde_json::to_writer(&mut self.buf, r),
                    ReportRow::Agent(r) => serde_json::to_writer(&mut self.buf, r),
                    ReportRow::Callback(r) => serde_json::to_writer(&mut self.buf, r),
                };
            }
            Format::Csv(w) => {
                let record = w.record(&row);
                w.write(&mut self.buf, &record);
            }
        }
        if self.buf.len() >= CHUNK {
            self.flush().await;
        }
        self.rows += 1;
        if self.rows % YIELD_EVERY == 0 {
            tokio::task::yield_now().await;
        }
        !self.gone
    }
}

/// A name as a CSV cell a spreadsheet shows as text: one that begins as a
/// formula would (`=`, `+`, `-`, `@`, a tab or a carriage return: OWASP's
/// rule) gets a leading `'`, which Excel and LibreOffice read as "text".
fn text_cell(name: &str) -> String {
    match name.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{name}"),
        _ => name.to_string(),
    }
}

/// The language of a CSV made for people (`format=excel&lang=ko`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ko,
    En,
}

/// A machine column's heading for people, or `None` for one not listed.
fn label(column: &str, lang: Lang) -> Option<&'static str> {
    const LABELS: &[(&str, &str, &str)] = &[
        ("period", "기간", "Period"),
        ("service", "서비스", "Service"),
        ("queue", "상담큐", "Queue"),
        ("agent", "상담원 ID", "Agent ID"),
        ("name", "상담원", "Agent"),
        ("login_s", "로그인 시간", "Login time"),
        ("ready_s", "수신대기", "Ready"),
        ("away_s", "자리비움", "Away"),
        ("ringing_s", "벨울림", "Ringing"),
        ("talking_s", "통화", "On a call"),
        ("dialing_s", "다이얼링", "Dialing"),
        ("outbound_call_s", "발신통화", "Outbound call"),
        ("wrap_up_s", "후처리", "Wrap-up"),
        ("handled", "처리", "Handled"),
        ("missed", "미응답", "Missed"),
        ("talk_s", "통화 시간", "Talk time"),
        ("outbound", "발신", "Outbound calls"),
        ("occupancy", "점유율", "Occupancy"),
        ("requested", "요청", "Requested"),
        ("assigned", "할당", "Assigned"),
        ("completed", "완료", "Completed"),
        ("failed", "실패", "Failed"),
        ("deleted", "삭제", "Deleted"),
        ("open", "미완료", "Open"),
        ("processing_rate", "처리율", "Processing rate"),
        ("inbound", "인입", "Inbound"),
        ("answered", "응대", "Answered"),
        ("abandoned", "포기", "Abandoned"),
        ("short_abandoned", "단순 포기", "Short abandons"),
        ("callbacks", "콜백", "Callbacks"),
        ("transferred", "호전환", "Transferred"),
        ("exited", "이탈", "Exited"),
        ("answered_in_sl", "SL 내 응대", "Answered in SL"),
        ("ivr", "IVR 인입", "IVR inflow"),
        ("ended", "종료", "Ended"),
        ("outbound_attempts", "발신 시도", "Outbound attempts"),
        ("outbound_connected", "발신 연결", "Outbound connected"),
        ("ewt_scored", "예측 평가 호", "Estimates scored"),
        (
            "wait_answered_sum_s",
            "응대 대기 합계",
            "Wait before answer (total)",
        ),
        ("wait_answered_max_s", "최장 대기", "Longest wait"),
        (
            "wait_abandoned_sum_s",
            "포기 대기 합계",
            "Wait before abandon (total)",
        ),
        ("talk_sum_s", "통화 합계", "Talk (total)"),
        ("wrap_sum_s", "후처리 합계", "Wrap-up (total)"),
        (
            "ewt_error_sum_s",
            "예측 오차 합계",
            "Estimate error (total)",
        ),
        ("answer_rate", "응대율", "Answer rate"),
        ("service_level", "서비스 레벨", "Service level"),
        ("asa_s", "평균 대기", "ASA"),
        ("aht_s", "평균처리시간", "AHT"),
        ("ewt_mae_s", "예측 평균 오차", "Estimate mean error"),
    ];
    LABELS
        .iter()
        .find(|(c, _, _)| *c == column)
        .map(|&(_, ko, en)| if lang == Lang::Ko { ko } else { en })
}

/// What a column holds, for a CSV made for people.
enum Kind {
    Period,
    /// Seconds, shown as `h:mm:ss`.
    Duration,
    /// A percentage, shown as `87.3%`.
    Percent,
    Other,
}

fn kind(column: &str) -> Kind {
    match column {
        "period" => Kind::Period,
        "answer_rate" | "service_level" | "occupancy" | "processing_rate" => Kind::Percent,
        c if c.ends_with("_s") || c.starts_with("away_s:") => Kind::Duration,
        _ => Kind::Other,
    }
}

/// Seconds as `h:mm:ss` (hours past 24 go on: `26:13:05`), which Excel and
/// LibreOffice read as a duration.
pub fn hms(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
}

/// A period as a spreadsheet reads a date: `2026-12-05`, `2026-12`, or the
/// local `2026-12-05 13:00` of an hour or interval (its offset dropped: the
/// tenant's zone is the report's).
fn period_cell(period: &str) -> String {
    match period.len() {
        0..=10 => period.to_string(),
        _ => format!("{} {}", &period[..10], &period[11..16.min(period.len())]),
    }
}

/// The CSV of a report: its header, and a record per row; a ratio with no
/// denominator is an empty cell. Made for machines (snake_case headings,
/// seconds, RFC 3339 periods) unless [`CsvRows::for_people`].
pub struct CsvRows {
    by: By,
    /// The agent report's away reasons, each a column of its own.
    reasons: Vec<Arc<str>>,
    /// The queue report's thresholds of `answered_within`, each a column.
    thresholds: Vec<u32>,
    /// For people: headings in this language, durations as `h:mm:ss`,
    /// percentages with `%`, dates a spreadsheet reads; away reasons by
    /// these labels.
    people: Option<People>,
}

/// What a CSV for people needs: its language, the away reasons' labels,
/// and the machine names of its columns (what each cell holds).
struct People {
    lang: Lang,
    reasons: std::collections::BTreeMap<String, String>,
    columns: Vec<String>,
}

impl CsvRows {
    pub fn new(by: By, reasons: Vec<Arc<str>>) -> CsvRows {
        CsvRows {
            by,
            reasons,
            thresholds: Vec::new(),
            people: None,
        }
    }

    /// A CSV a person opens in a spreadsheet, in `lang`, naming away
    /// reasons by `reason_labels` (reason -> label, in that language).
    /// Called last (after [`CsvRows::with_thresholds`]).
    pub fn for_people(
        mut self,
        lang: Lang,
        reason_labels: std::collections::BTreeMap<String, String>,
    ) -> CsvRows {
        let columns = self.machine_head();
        self.people = Some(People {
            lang,
            reasons: reason_labels,
            columns,
        });
        self
    }

    /// The header row as people read it (see [`CsvRows::for_people`]).
    fn people_head(&self, head: Vec<String>) -> Vec<String> {
        let Some(People { lang, reasons, .. }) = &self.people else {
            return head;
        };
        head.into_iter()
            .map(|c| {
                if let Some(l) = label(&c, *lang) {
                    return l.to_string();
                }
                if let Some(r) = c.strip_prefix("away_s:") {
                    let r = if r == "(none)" {
                        if *lang == Lang::Ko {
                            "사유 없음"
                        } else {
                            "no reason"
                        }
                    } else {
                        reasons.get(r).map_or(r, String::as_str)
                    };
                    let away = if *lang == Lang::Ko {
                        "자리비움"
                    } else {
                        "Away"
                    };
                    return text_cell(&format!("{away}: {r}"));
                }
                if let Some(n) = c.strip_prefix("answered_within_") {
                    return match lang {
                        Lang::Ko => format!("{n}초 내 응대"),
                        Lang::En => format!("Answered within {n} s"),
                    };
                }
                c
            })
            .collect()
    }

    /// A record as people read it, by its columns' machine names.
    fn people_record(&self, rec: Vec<String>) -> Vec<String> {
        let Some(people) = &self.people else {
            return rec;
        };
        rec.into_iter()
            .zip(&people.columns)
            .map(|(v, c)| match kind(c) {
                _ if v.is_empty() => v,
                Kind::Period => period_cell(&v),
                Kind::Duration => v.parse::<f64>().map_or(v, hms),
                Kind::Percent => v.parse::<f64>().map_or(v, |p| format!("{p:.1}%")),
                Kind::Other => v,
            })
            .collect()
    }

    /// With a column `answered_within_N` for each threshold `N`.
    pub fn with_thresholds(mut self, thresholds: Vec<u32>) -> CsvRows {
        self.thresholds = thresholds;
        self
    }

    /// The header row.
    pub fn head(&self) -> Vec<String> {
        self.people_head(self.machine_head())
    }

    /// The header row's machine names.
    fn machine_head(&self) -> Vec<String> {
        let s = |v: &[&str]| v.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        match self.by {
            By::Agent => {
                let mut head = s(&[
                    "period",
                    "agent",
                    "name",
                    "login_s",
                    "ready_s",
                    "away_s",
                    "ringing_s",
                    "talking_s",
                    "dialing_s",
                    "outbound_call_s",
                    "wrap_up_s",
                    "handled",
                    "missed",
                    "talk_s",
                    "outbound",
                    "occupancy",
                ]);
                // A heading begins with `away_s:`, so never as a formula.
                head.extend(self.reasons.iter().map(|r| {
                    if r.is_empty() {
                        "away_s:(none)".to_string()
                    } else {
                        format!("away_s:{r}")
                    }
                }));
                head
            }
            By::Callback => s(&[
                "period",
                "service",
                "requested",
                "assigned",
                "completed",
                "failed",
                "deleted",
                "open",
                "processing_rate",
            ]),
            By::Tenant | By::Service | By::Queue => {
                let mut head = s(&["period"]);
                match self.by {
                    By::Service => head.push("service".into()),
                    By::Queue => head.extend(s(&["service", "queue"])),
                    _ => {}
                }
                head.extend(s(CallCounts::NAMES));
                head.extend(CallTimes::COLUMNS.iter().map(|c| c.wire.to_string()));
                head.extend(s(&[
                    "answer_rate",
                    "service_level",
                    "asa_s",
                    "aht_s",
                    "ewt_mae_s",
                ]));
                head.extend(
                    self.thresholds
                        .iter()
                        .map(|t| format!("answered_within_{t}")),
                );
                head
            }
        }
    }

    /// One row's record.
    pub fn record(&self, row: &ReportRow) -> Vec<String> {
        self.people_record(self.machine_record(row))
    }

    /// One row's record, for machines.
    fn machine_record(&self, row: &ReportRow) -> Vec<String> {
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
        let name = |v: &Option<Arc<str>>| text_cell(v.as_deref().unwrap_or(""));
        match row {
            ReportRow::Queue(r) => {
                let mut rec = vec![r.period.clone()];
                match self.by {
                    By::Service => rec.push(name(&r.service)),
                    By::Queue => rec.extend([name(&r.service), name(&r.queue)]),
                    _ => {}
                }
                rec.extend(r.calls.values().map(|v| v.to_string()));
                rec.extend(r.times.values_ms().map(|v| to_s(v).to_string()));
                rec.extend(
                    [
                        r.answer_rate,
                        r.service_level,
                        r.asa_s,
                        r.aht_s,
                        r.ewt_mae_s,
                    ]
                    .map(opt),
                );
                rec.extend(
                    self.thresholds
                        .iter()
                        .map(|t| r.answered_within.0.get(t).copied().unwrap_or(0).to_string()),
                );
                rec
            }
            ReportRow::Agent(r) => {
                let t = &r.time_s;
                let mut rec = vec![r.period.clone(), text_cell(&r.agent), name(&r.name)];
                rec.extend(
                    [
                        r.login_s, t.ready, t.away, t.ringing, t.talking, t.dialing, t.outbound,
                        t.wrap_up,
                    ]
                    .map(|v| v.to_string()),
                );
                rec.extend([r.handled, r.missed].map(|v| v.to_string()));
                rec.push(r.talk_s.to_string());
                rec.push(r.outbound.to_string());
                rec.push(opt(r.occupancy));
                rec.extend(
                    self.reasons
                        .iter()
                        .map(|k| r.away_s.get(k).copied().unwrap_or(0.0).to_string()),
                );
                rec
            }
            ReportRow::Callback(r) => {
                let mut rec = vec![r.period.clone(), name(&r.service)];
                rec.extend(
                    [
                        r.requested,
                        r.assigned,
                        r.completed,
                        r.failed,
                        r.deleted,
                        r.open,
                    ]
                    .map(|v| v.to_string()),
                );
                rec.push(opt(r.processing_rate));
                rec
            }
        }
    }

    /// Appends a record to `out`, quoted as CSV needs (names with commas,
    /// quotes or line breaks).
    pub fn write(&self, out: &mut Vec<u8>, record: &[String]) {
        let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
        let _ = w.write_record(record);
        if let Ok(bytes) = w.into_inner() {
            out.extend_from_slice(&bytes);
        }
    }
}

/// A whole report as CSV (UTF-8 with a byte-order mark).
pub fn to_csv(report: &Report) -> Vec<u8> {
    let by = report.by;
    let rows: Vec<ReportRow> = match &report.rows {
        ReportRows::Queue(v) => v.iter().cloned().map(ReportRow::Queue).collect(),
        ReportRows::Agent(v) => v.iter().cloned().map(ReportRow::Agent).collect(),
        ReportRows::Callback(v) => v.iter().cloned().map(ReportRow::Callback).collect(),
    };
    let reasons: std::collections::BTreeSet<Arc<str>> = rows
        .iter()
        .filter_map(|r| match r {
            ReportRow::Agent(a) => Some(a.away_s.keys().cloned()),
            _ => None,
        })
        .flatten()
        .collect();
    let thresholds: std::collections::BTreeSet<u32> = rows
        .iter()
        .filter_map(|r| match r {
            ReportRow::Queue(q) => Some(q.answered_within.0.keys().copied()),
            _ => None,
        })
        .flatten()
        .collect();
    let w = CsvRows::new(by, reasons.into_iter().collect())
        .with_thresholds(thresholds.into_iter().collect());
    let mut out = "\u{feff}".as_bytes().to_vec();
    w.write(&mut out, &w.head());
    for r in &rows {
        w.write(&mut out, &w.record(r));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::AgentReportRow;

    #[test]
    fn names_that_would_be_formulas_are_text_in_the_csv() {
        let names = [
            "=HYPERLINK(\"http://evil\",\"x\")",
            "=cmd|' /C calc'!A0",
            "+1+1",
            "-2+3",
            "@SUM(1+1)",
            "\tx",
            "\rx",
            "김민준",
            "sales",
        ];
        let row = |agent: &str| AgentReportRow {
            period: "2026-11-21".into(),
            agent: agent.into(),
            name: Some(agent.into()),
            time_s: Default::default(),
            away_s: [(Arc::from("=1+1"), 60.0)].into_iter().collect(),
            login_s: 0.0,
            handled: 0,
            missed: 0,
            talk_s: 0.0,
            outbound: 0,
            occupancy: None,
        };
        let report = Report {
            tenant: "t".into(),
            from: "2026-11-21".into(),
            to: "2026-11-21".into(),
            by: By::Agent,
            step: crate::wire::Step::Day,
            rows: ReportRows::Agent(names.iter().map(|n| row(n)).collect()),
        };
        let csv = to_csv(&report);
        // Read back as a spreadsheet reads it: every cell of every record.
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(&csv[3..]);
        let records: Vec<csv::StringRecord> = r.records().map(|r| r.unwrap()).collect();
        for rec in &records {
            for cell in rec {
                assert!(
                    !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                    "a cell a spreadsheet would run: {cell:?}"
                );
            }
        }
        let agents: Vec<&str> = records[1..].iter().map(|r| &r[1]).collect();
        assert_eq!(agents[0], "'=HYPERLINK(\"http://evil\",\"x\")");
        assert_eq!(agents[3], "'-2+3");
        assert_eq!(&agents[7..], ["김민준", "sales"], "other names as they are");
    }
}
