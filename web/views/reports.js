// The reports page (통계): the history store's sums by period and grouping
// as a table and a chart, and the same report as CSV. Not a wall view: it
// is laid out once and reloads when its form changes, not on snapshots.
// The chart is uPlot's (the vendored classic script, window.uPlot).
import { t } from "../i18n.js";
import { dur, esc, num, pct, span } from "../format.js";
import { auth } from "../socket.js";
import { $, intervalMs } from "./common.js";

const REPORT_BY = ["tenant", "service", "queue", "agent", "callback"];
const REPORT_STEP = ["interval", "hour", "day", "month"];
// The form starts from the URL the page was opened with (from, to, by,
// step) and is kept while other views are shown.
const params = new URLSearchParams(location.search);
const rep = {
  key: "", plot: null, data: null, error: null, loading: false,
  from: params.get("from") || "", to: params.get("to") || "",
  by: REPORT_BY.includes(params.get("by")) ? params.get("by") : "tenant",
  step: REPORT_STEP.includes(params.get("step")) ? params.get("step") : "day",
};

// Today in the tenant's zone (tz, from the snapshot), as YYYY-MM-DD.
function tenantToday(tz) {
  try {
    return new Date().toLocaleDateString("en-CA", tz ? { timeZone: tz } : {});
  } catch {
    return new Date().toLocaleDateString("en-CA");
  }
}

function shiftDay(day, n) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

// csv: "csv" (for machines), "excel" (for people, in the board's
// language), or nothing (the JSON the page draws).
function reportUrl(csv, state) {
  const q = new URLSearchParams({ from: rep.from, to: rep.to, by: rep.by, step: rep.step });
  if (csv === "excel") q.set("lang", state.lang === "ko" ? "ko" : "en");
  // A download link cannot send a header: it carries the token.
  if (csv) { q.set("format", csv); if (state.token) q.set("token", state.token); }
  return `/api/v1/tenants/${encodeURIComponent(state.tenant)}/history?${q}`;
}

function reportsLayout() {
  const opt = (list, cur, prefix) => list.map((v) =>
    `<option value="${v}"${v === cur ? " selected" : ""}>${esc(t(prefix + v))}</option>`).join("");
  return `<div class="reports"><form id="rep-form" class="rep-form">` +
    `<label>${esc(t("rep_from"))} <input type="date" name="from" value="${esc(rep.from)}"></label>` +
    `<label>${esc(t("rep_to"))} <input type="date" name="to" value="${esc(rep.to)}"></label>` +
    `<label>${esc(t("rep_step"))} <select name="step">${opt(REPORT_STEP, rep.step, "step_")}</select></label>` +
    `<label>${esc(t("rep_by"))} <select name="by">${opt(REPORT_BY, rep.by, "by_")}</select></label>` +
    `<a id="rep-excel" download>${esc(t("rep_excel"))}</a>` +
    `<a id="rep-csv" download class="machine">${esc(t("rep_csv"))}</a></form>` +
    `<div class="box rep-chart"><h2><span class="legend" id="rep-legend"></span></h2><div class="chart" id="rep-chart"></div></div>` +
    `<div id="rep-status"></div><div class="rep-table" id="rep-table"></div></div>`;
}

function reports(board, ctx) {
  const state = ctx.state;
  if (!rep.to) rep.to = tenantToday(state.snapshot?.tz);
  if (!rep.from) rep.from = shiftDay(rep.to, -6);
  const key = `reports/${state.lang}`;
  if (rep.key === key) return;
  rep.key = key;
  board.innerHTML = reportsLayout();
  $("rep-form").onchange = (e) => {
    const f = e.currentTarget.elements;
    Object.assign(rep, { from: f.from.value, to: f.to.value, step: f.step.value, by: f.by.value });
    history.replaceState(null, "", ctx.url({ from: rep.from, to: rep.to, step: rep.step, by: rep.by }));
    loadReport(ctx);
  };
  $("rep-form").onsubmit = (e) => e.preventDefault();
  loadReport(ctx);
}

async function loadReport(ctx) {
  const state = ctx.state;
  rep.loading = true; rep.error = null;
  $("rep-csv").href = reportUrl("csv", state);
  $("rep-excel").href = reportUrl("excel", state);
  $("rep-status").textContent = t("rep_loading");
  try {
    const r = await fetch(reportUrl(null, state), { headers: auth(state.token) });
    const body = await r.json().catch(() => ({}));
    if (r.status === 401) return ctx.login();
    // What went wrong in the board's language; the service's own words
    // (English) follow, for whoever fixes it.
    const why = r.status === 404 && /history/.test(body.error || "") ? t("rep_no_history")
      : r.status === 400 ? t("rep_bad") : r.status === 503 ? t("rep_busy") : t("rep_failed");
    if (r.ok) rep.data = body; else { rep.data = null; rep.error = `${why} (${body.error || r.statusText})`; }
  } catch (e) {
    rep.data = null; rep.error = `${t("rep_failed")} (${e})`;
  }
  rep.loading = false;
  drawReport(state);
}

const sumOf = (rows, k) => rows.reduce((s, r) => s + (r[k] || 0), 0);
const ratioOf = (n, d) => (d > 0 ? Math.round((n * 10000) / d) / 100 : null);
const meanOf = (sumS, n) => (n > 0 ? Math.round((sumS / n) * 10) / 10 : null);

// A period's label: the date, or the local time of an hour or interval.
function label(p) {
  return p.length > 10 ? `${p.slice(5, 10)} ${p.slice(11, 16)}` : p;
}

// The period still under way (today, this month, this hour or interval),
// if the report reaches it: its figures are so far, not a whole period.
function partialPeriod(periods, step, tz) {
  if (!periods.length) return null;
  const last = periods[periods.length - 1];
  const today = tenantToday(tz);
  if (step === "day") return last === today ? last : null;
  if (step === "month") return last === today.slice(0, 7) ? last : null;
  const starts = periods.map((p) => Date.parse(p));
  const len = step === "hour" ? 3600e3 : intervalMs(starts);
  const at = starts[starts.length - 1];
  return at <= Date.now() && Date.now() < at + len ? last : null;
}

// Sums of the rows of each period (of every group), in order.
function perPeriod(rows) {
  const by = new Map();
  for (const r of rows) {
    if (!by.has(r.period)) by.set(r.period, []);
    by.get(r.period).push(r);
  }
  return [...by.entries()];
}

function callsTotals(rows) {
  const s = (k) => sumOf(rows, k);
  return {
    inbound: s("inbound"), answered: s("answered"), abandoned: s("abandoned"), callbacks: s("callbacks"),
    answer_rate: ratioOf(s("answered"), s("inbound")), service_level: ratioOf(s("answered_in_sl"), s("inbound")),
    asa_s: meanOf(s("wait_answered_sum_s"), s("answered")), aht_s: meanOf(s("talk_sum_s") + s("wrap_sum_s"), s("ended")),
    wait_answered_max_s: Math.max(0, ...rows.map((r) => r.wait_answered_max_s)),
  };
}

function reportTable(d, partial) {
  const rows = d.rows;
  const periodLabel = (p) => label(p) + (p === partial ? ` (${t("so_far_short")})` : "");
  const sec = (v) => (v === null || v === undefined ? `<span class="null">${t("none")}</span>` : dur(v));
  if (d.by === "agent") {
    const head = ["rep_period", "agent", "login_time", "st_ready", "st_talking", "outbound", "st_wrap_up", "st_away", "handled", "missed", "occupancy"];
    return `<table><thead><tr>${head.map((k) => `<th>${esc(t(k))}</th>`).join("")}</tr></thead><tbody>` +
      rows.map((r) => `<tr><td>${esc(periodLabel(r.period))}</td><td title="${esc(r.agent)}">${esc(r.name || r.agent)}</td><td>${span(r.login_s)}</td>` +
        `<td>${dur(r.time_s.ready)}</td><td>${dur(r.time_s.ringing + r.time_s.talking)}</td>` +
        `<td>${dur(r.time_s.dialing + r.time_s.outbound)}</td><td>${dur(r.time_s.wrap_up)}</td><td>${dur(r.time_s.away)}</td>` +
        `<td>${num(r.handled)}</td><td>${num(r.missed)}</td><td>${pct(r.occupancy)}</td></tr>`).join("") + "</tbody></table>";
  }
  if (d.by === "callback") {
    const keys = ["requested", "assigned", "completed", "failed", "deleted", "open"];
    const row = (label, service, r, cls) => `<tr class="${cls}"><td>${esc(label)}</td><td>${esc(service ?? t("none"))}</td>` +
      keys.map((k) => `<td>${num(r[k])}</td>`).join("") + `<td>${pct(r.processing_rate)}</td></tr>`;
    const total = Object.fromEntries(keys.map((k) => [k, sumOf(rows, k)]));
    total.processing_rate = ratioOf(total.completed, total.assigned);
    return `<table><thead><tr><th>${esc(t("rep_period"))}</th><th>${esc(t("service"))}</th>` +
      keys.map((k) => `<th>${esc(t(k))}</th>`).join("") + `<th>${esc(t("processing_rate"))}</th></tr></thead><tbody>` +
      rows.map((r) => row(periodLabel(r.period), r.service, r, "")).join("") +
      row(t("total"), "", total, "total") + "</tbody></table>";
  }
  const groups = d.by === "service" ? ["service"] : d.by === "queue" ? ["service", "queue"] : [];
  const head = ["rep_period", ...groups, "inbound", "answered", "abandoned", "callbacks", "answer_rate", "service_level", "asa", "aht", "longest"];
  const row = (label, r, names, cls) => `<tr class="${cls}"><td>${esc(label)}</td>` +
    names.map((n) => `<td>${esc(n ?? t("none"))}</td>`).join("") +
    `<td>${num(r.inbound)}</td><td>${num(r.answered)}</td><td>${num(r.abandoned)}</td><td>${num(r.callbacks)}</td>` +
    `<td>${pct(r.answer_rate)}</td><td>${pct(r.service_level)}</td><td>${sec(r.asa_s)}</td><td>${sec(r.aht_s)}</td>` +
    `<td>${sec(r.wait_answered_max_s)}</td></tr>`;
  return `<table><thead><tr>${head.map((k) => `<th>${esc(t(k))}</th>`).join("")}</tr></thead><tbody>` +
    rows.map((r) => row(periodLabel(r.period), r, groups.map((g) => r[g]), "")).join("") +
    row(t("total"), callsTotals(rows), groups.map(() => ""), "total") + "</tbody></table>";
}

// The chart: the report's figures summed per period, with a ratio on a
// second axis.
function reportSeries(d) {
  const periods = perPeriod(d.rows);
  const col = (f) => periods.map(([, rs]) => f(rs));
  if (d.by === "agent") {
    return [[["handled", "#4da3ff", col((rs) => sumOf(rs, "handled"))], ["missed", "#ff4d4f", col((rs) => sumOf(rs, "missed"))]],
      ["occupancy", col((rs) => {
        const busy = rs.reduce((s, r) => s + r.time_s.ringing + r.time_s.talking + r.time_s.dialing + r.time_s.outbound + r.time_s.wrap_up, 0);
        return ratioOf(busy, busy + rs.reduce((s, r) => s + r.time_s.ready, 0));
      })], periods];
  }
  if (d.by === "callback") {
    return [[["requested", "#4da3ff", col((rs) => sumOf(rs, "requested"))], ["completed", "#3ddc84", col((rs) => sumOf(rs, "completed"))],
      ["open", "#ffb020", col((rs) => sumOf(rs, "open"))]],
      ["processing_rate", col((rs) => ratioOf(sumOf(rs, "completed"), sumOf(rs, "assigned")))], periods];
  }
  return [[["inbound", "#4da3ff", col((rs) => sumOf(rs, "inbound"))], ["answered", "#3ddc84", col((rs) => sumOf(rs, "answered"))],
    ["abandoned", "#ff4d4f", col((rs) => sumOf(rs, "abandoned"))]],
    ["answer_rate", col((rs) => ratioOf(sumOf(rs, "answered"), sumOf(rs, "inbound")))], periods];
}

// Drawn when a report arrives; by then another view may be shown, and
// then there is nothing to draw into. The period under way is drawn
// dashed (its figures are so far, so a fall there is not a drop), and
// labelled so in the table.
function drawReport(state) {
  const status = $("rep-status");
  if (!status) return;
  const d = rep.data;
  status.textContent = rep.error ? rep.error : d && !d.rows.length ? t("rep_empty") : "";
  status.className = rep.error ? "alert" : "";
  const partial = d ? partialPeriod(perPeriod(d.rows).map(([p]) => p), d.step, state.snapshot?.tz) : null;
  $("rep-table").innerHTML = d && d.rows.length ? reportTable(d, partial) : "";
  if (rep.plot) { rep.plot.destroy(); rep.plot = null; }
  $("rep-legend").innerHTML = "";
  if (!d || !d.rows.length) return;
  const [counts, [ratioKey, ratio], periods] = reportSeries(d);
  const labels = periods.map(([p]) => label(p));
  const cut = partial === null ? labels.length : labels.length - 1;
  // A whole period's line, and the period under way (joined to the one
  // before it) as a dashed line of its own.
  const whole = (v) => v.map((x, i) => (i < cut ? x : null));
  const soFar = (v) => v.map((x, i) => (i >= cut - 1 && cut < labels.length ? x : null));
  const el = $("rep-chart");
  // Axis labels scale with the board (its root font size), as on the dashboard.
  const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
  const font = `${Math.round(rem * 0.75)}px system-ui, sans-serif`;
  const axis = { stroke: "#8a9bb0", grid: { stroke: "#223041" }, ticks: { stroke: "#223041" }, font, size: rem * 3.2, space: rem * 2 };
  // Lines as thick across the room on a 4K screen as on a 1080p one.
  const line = Math.max(2, rem / 8);
  const series = [{ label: t("rep_period") }];
  const data = [labels.map((_, i) => i)];
  for (const [k, color, v] of counts) {
    series.push({ label: t(k), stroke: color, width: line, points: { show: labels.length < 60 } });
    data.push(whole(v));
    series.push({ label: t(k), stroke: color, width: line, dash: [line * 2, line * 2], points: { show: false } });
    data.push(soFar(v));
  }
  series.push({ label: t(ratioKey), stroke: "#e8eef5", width: line, dash: [line * 3, line * 2], scale: "pct" });
  data.push(ratio);
  rep.plot = new uPlot({
    width: el.clientWidth, height: Math.max(160, el.clientHeight), legend: { show: false },
    scales: { x: { time: false }, pct: { range: [0, 100] } },
    axes: [{ ...axis, values: (u, v) => v.map((i) => (Number.isInteger(i) ? labels[i] ?? "" : "")) },
      { ...axis, values: (u, v) => v.map((x) => x.toLocaleString()) },
      { ...axis, scale: "pct", side: 1, grid: { show: false }, values: (u, v) => v.map((x) => `${x}%`) }],
    series,
  }, data, el);
  // The lines are named in the chart's heading (no cursor values).
  $("rep-legend").innerHTML = counts.map(([k, color]) => `<i style="border-color:${color}"></i>${esc(t(k))}`).join("") +
    `<i class="ratio"></i>${esc(t(ratioKey))}` +
    (partial === null ? "" : `<i class="so-far"></i>${esc(label(partial))} ${esc(t("so_far_short"))}`);
  window.callboard.reportRows = d.rows.length;
  window.callboard.reportPartial = partial;
}

let root = null;

export default {
  id: "reports",
  mount(el) { root = el; },
  // Laid out on the first render, with or without a snapshot (the first
  // one only brings the tenant's zone), and again when the language
  // changes; snapshots change nothing on it.
  update(snap, ctx) { reports(root, ctx); },
  unmount() {
    rep.key = "";
    root = null;
  },
};
