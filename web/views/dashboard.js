// The integrated dashboard (통합대시보드): laid out once per view and
// language, then its figures and charts are updated in place on each
// snapshot. The charts are uPlot's (the vendored classic script,
// window.uPlot).
import { t } from "../i18n.js";
import { dur, esc, num, pct, tenantTime } from "../format.js";
import { auth } from "../socket.js";
import { since } from "../alarms.js";
import { $, high, intervalMs, low, waitingCell } from "./common.js";

// The guide's order of agent states on the dashboard chart.
const CHART_STATES = ["wrap_up", "dialing", "ringing", "talking", "ready", "away"];

const charts = { key: "", ivr: null, states: null };

function dashboardLayout() {
  return `<div class="dash">
    <div class="tiles">${["answer_rate", "service_level", "ivr_inflow", "consult", "callback_conv"]
      .map((k) => `<div class="tile"><div class="k">${esc(t(k))}<span class="since" id="since-${k}"></span></div>` +
        `<div class="v" id="tile-${k}"></div><div class="ref" id="ref-${k}"></div></div>`).join("")}</div>
    <div class="box"><h2>${esc(t("ivr_trend"))}<span class="legend" id="ivr-legend">` +
      `<i class="yesterday"></i>${esc(t("yesterday"))}<i class="today"></i>${esc(t("today"))}` +
      `<i class="so-far"></i>${esc(t("so_far"))}</span></h2><div class="chart" id="chart-ivr"></div></div>
    <div class="box"><h2>${esc(t("agent_states"))}</h2><div class="chart" id="chart-states"></div></div>
    <div class="box wide"><h2>${esc(t("queue_info"))}<span class="more" id="queues-more"></span></h2><div id="queues"></div></div>
    <div class="box"><h2>${esc(t("cb_box"))}</h2><div id="callbacks"></div></div>
    <div class="box"><h2>${esc(t("staffing"))}</h2><div id="staffing"></div></div></div>`;
}

// Yesterday up to the same time of day, from the history store: the sums of
// yesterday's intervals that had ended by now less a day (so up to one
// interval short of the exact minute). Fetched every 5 minutes; with no
// history store there is none, and the tiles say nothing of yesterday.
const yesterday = { tenant: null, at: 0, rows: null };

async function loadYesterday(state, tz) {
  // (Asked again after 5 minutes; after 30 s while there is none yet: a new
  // store may still be writing its past days.)
  const again = yesterday.rows && yesterday.rows.length ? 300e3 : 30e3;
  if (yesterday.tenant === state.tenant && Date.now() - yesterday.at < again) return;
  Object.assign(yesterday, { tenant: state.tenant, at: Date.now() });
  const day = new Date(Date.now() - 86400e3).toLocaleDateString("en-CA", { timeZone: tz });
  const q = new URLSearchParams({ from: day, to: day, by: "tenant", step: "interval" });
  try {
    const r = await fetch(`/api/v1/tenants/${encodeURIComponent(state.tenant)}/history?${q}`, { headers: auth(state.token) });
    yesterday.rows = r.ok ? (await r.json()).rows : null;
  } catch {
    yesterday.rows = null;
  }
}

// Yesterday's tile figures up to now less a day, or null.
function yesterdaySoFar(rows, now) {
  if (!rows || !rows.length) return null;
  const starts = rows.map((r) => Date.parse(r.period));
  const len = intervalMs(starts);
  const until = now - 86400e3;
  const done = rows.filter((r, i) => starts[i] + len <= until);
  const sum = (k) => done.reduce((s, r) => s + (r[k] || 0), 0);
  const ratio = (n, d) => (d > 0 ? (n * 100) / d : null);
  return {
    answer_rate: ratio(sum("answered"), sum("inbound")), service_level: ratio(sum("answered_in_sl"), sum("inbound")),
    ivr_inflow: sum("ivr"), consult: sum("inbound"), callback_conv: sum("callbacks"),
  };
}

// A chart's plot fills its box, less its legend (drawn beneath it).
const size = (el) => {
  const legend = el.querySelector(".u-legend");
  return { width: el.clientWidth, height: Math.max(80, el.clientHeight - (legend ? legend.offsetHeight : 0)) };
};

// The charts follow their boxes: the tables beside them settle the rows'
// heights only once they are filled.
function resizeCharts() {
  for (const [chart, id] of [[charts.ivr, "chart-ivr"], [charts.states, "chart-states"]]) {
    const want = size($(id));
    if (chart.width !== want.width || chart.height !== want.height) chart.setSize(want);
  }
}

function makeCharts() {
  // Axis labels scale with the board (its root font size), not fixed pixels.
  const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
  const font = `${Math.round(rem * 0.75)}px system-ui, sans-serif`;
  const axis = { stroke: "#8a9bb0", grid: { stroke: "#223041" }, ticks: { stroke: "#223041" }, font, size: rem * 1.9 };
  // The y axis: whole numbers, wide enough for "10,000", and a few ticks
  // even on a short chart (uPlot's default spacing leaves only 0 there).
  // Lines as thick across the room on a 4K screen as on a 1080p one.
  const line = Math.max(2, rem / 8);
  const yAxis = { ...axis, size: rem * 3.2, space: rem * 0.9, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000] };
  const hours = Array.from({ length: 24 }, (_, i) => i);
  const ivrEl = $("chart-ivr");
  charts.ivr = new uPlot({
    // The lines are named in the box's heading (no cursor values, no
    // room taken from the plot).
    ...size(ivrEl), legend: { show: false },
    // Counts from zero: a floor above it would exaggerate the hours' differences.
    scales: { x: { time: false }, y: { range: (u, min, max) => [0, Math.max(1, max) * 1.1] } },
    // Hour labels keep their distance on any screen (at 4K they are large).
    axes: [{ ...axis, space: rem * 3, incrs: [1, 2, 3, 4, 6, 12], values: (u, v) => v.map((h) => `${h}${t("hour")}`) }, yAxis],
    series: [{ label: t("hour") }, { label: t("yesterday"), stroke: "#8a9bb0", width: line },
             { label: t("today"), stroke: "#4da3ff", width: line * 1.5, fill: "rgba(77,163,255,.15)" },
             // The hour under way, dashed: it is not over, so it is not a dip.
             { label: t("so_far"), stroke: "#4da3ff", width: line, dash: [line * 3, line * 3], points: { show: false } }],
  }, [hours, hours.map(() => 0), hours.map(() => 0), hours.map(() => null)], ivrEl);
  const stEl = $("chart-states");
  charts.states = new uPlot({
    ...size(stEl), legend: { show: false },
    scales: { x: { time: false, range: [-0.5, CHART_STATES.length - 0.5] } },
    axes: [{ ...axis, splits: () => CHART_STATES.map((_, i) => i), values: () => CHART_STATES.map((s) => t("st_" + s)) }, yAxis],
    series: [{}, { label: t("agent_states"), fill: "#4da3ff", stroke: "#4da3ff", paths: uPlot.paths.bars({ size: [0.6] }), points: { show: false } }],
  }, [CHART_STATES.map((_, i) => i), CHART_STATES.map(() => 0)], stEl);
}

// The services most short of agents first (those with no traffic last);
// the panel then keeps as many as it holds.
export function neediest(services) {
  const gap = (s) => (s.staffing_gap === null || s.staffing_gap === undefined ? -Infinity : s.staffing_gap);
  return [...services].sort((a, b) => gap(b) - gap(a) || (a.service < b.service ? -1 : 1));
}

// Drops a table's last rows while its box overflows, the table itself when
// none is left; returns how many rows it dropped.
function keepWhatFits(table) {
  if (!table) return 0;
  const box = table.closest(".box");
  const rows = [...table.tBodies[0].rows];
  let dropped = 0;
  while (rows.length && box.scrollHeight > box.clientHeight) { rows.pop().remove(); dropped++; }
  // A heading over no rows says nothing: it goes too.
  if (!rows.length) table.remove();
  return dropped;
}

// The queues that most need a look first: any red figure, then amber, then
// the most customers waiting (used only when not all of them fit).
function attention(q, th) {
  const cls = [high(q.waiting, th.waiting_warn, th.waiting_alert),
    high(q.longest_wait_s, th.longest_wait_warn_s, th.longest_wait_alert_s),
    low(q.answer_rate, th.answer_rate_warn, th.answer_rate_alert),
    low(q.service_level, th.service_level_warn, th.service_level_alert)];
  return cls.includes("alert") ? 0 : cls.includes("warn") ? 1 : 2;
}

function queueTable(queues, th) {
  const secs = (v) => (v === null || v === undefined ? num(null) : dur(v));
  const accuracy = (e) => (e && e.n ? `${secs(e.mae)} / ${secs(e.p90)}<span class="sub">n=${num(e.n)}</span>` : num(null));
  return `<table><thead><tr><th>${t("queue")}</th><th>${t("waiting")}</th><th>${t("answer_rate")}</th>` +
    `<th>${t("service_level")}</th><th>${t("inbound")}</th><th>${t("answered")}</th><th>${t("abandoned")}</th>` +
    `<th>${t("ewt")}</th><th>${t("ewt_error")}</th></tr></thead><tbody>` +
    queues.map((q) => `<tr><td>${esc(q.queue)}</td>${waitingCell(q, th)}` +
      `<td class="${low(q.answer_rate, th.answer_rate_warn, th.answer_rate_alert)}">${pct(q.answer_rate)}</td>` +
      `<td class="${low(q.service_level, th.service_level_warn, th.service_level_alert)}">${pct(q.service_level)}</td>` +
      `<td>${num(q.inbound)}</td><td>${num(q.answered)}</td><td>${num(q.abandoned)}</td>` +
      `<td>${secs(q.ewt_s)}</td><td>${accuracy(q.ewt_error_s)}</td></tr>`).join("") + "</tbody></table>";
}

function updateDashboard(snap, state) {
  const th = snap.thresholds || {};
  loadYesterday(state, snap.tz);
  const before = yesterdaySoFar(yesterday.rows, Date.parse(snap.at));
  // A tile: its figure; since when it has been amber or red; its target
  // (where it turns amber) and yesterday's figure at the same time.
  const tile = (k, v, show, cls, target) => {
    const el = $("tile-" + k);
    el.innerHTML = show(v);
    el.className = "v " + (cls || "");
    // Since when, beside its name (kept short: the tile is narrow).
    const at = cls ? since(state.tenant, `dashboard|#tile-${k}`) || Date.now() : null;
    $("since-" + k).textContent = at ? t("since").replace("{t}", tenantTime(new Date(at), snap.tz).replace(/:\d\d( |$)/, "$1")) : "";
    const parts = [];
    if (target !== null && target !== undefined) parts.push(`${esc(t("target"))} ${target}%`);
    if (before) parts.push(`${esc(t("yesterday_now"))} ${show(before[k])}`);
    $("ref-" + k).innerHTML = parts.join(" · ");
  };
  tile("answer_rate", snap.totals.answer_rate, pct, low(snap.totals.answer_rate, th.answer_rate_warn, th.answer_rate_alert), th.answer_rate_warn);
  tile("service_level", snap.totals.service_level, pct, low(snap.totals.service_level, th.service_level_warn, th.service_level_alert), th.service_level_warn);
  tile("ivr_inflow", snap.totals.ivr, num);
  tile("consult", snap.totals.inbound, num);
  tile("callback_conv", snap.totals.callbacks, num);
  window.callboard.tiles = Object.fromEntries(["answer_rate", "service_level", "ivr_inflow", "consult", "callback_conv"]
    .map((k) => [k, [$("since-" + k).innerText, $("ref-" + k).innerText].filter(Boolean).join(" · ")]));
  // Hours still to come in the tenant's day (its zone, not the browser's) stay empty.
  const now = Number(new Date(snap.at).toLocaleString("en-US", { timeZone: snap.tz, hour: "numeric", hourCycle: "h23" }));
  const today = snap.hourly.ivr_today.map((v, h) => (h < now ? v : null));
  const soFar = snap.hourly.ivr_today.map((v, h) => (h === now || (h === now - 1 && now > 0) ? v : null));
  charts.ivr.setData([charts.ivr.data[0], snap.hourly.ivr_yesterday, today, soFar]);
  // For the browser test: the chart as drawn (its scales settle on the next frame).
  window.callboard.ivr = { chart: charts.ivr, dashedHour: now,
    legend: $("ivr-legend").innerText };
  const by = snap.agents.by_state;
  charts.states.setData([charts.states.data[0], CHART_STATES.map((s) => by[s])]);
  // Every queue in its order while they all fit; otherwise those that most
  // need a look, as many as fit, and how many more there are.
  // (The heading says how many more: a row saying so could itself not fit.)
  const box = $("queues");
  box.innerHTML = queueTable(snap.queues, th);
  $("queues-more").textContent = "";
  if (box.closest(".box").scrollHeight > box.closest(".box").clientHeight) {
    const order = [...snap.queues].sort((a, b) => attention(a, th) - attention(b, th) ||
      b.waiting - a.waiting || (a.queue < b.queue ? -1 : 1));
    box.innerHTML = queueTable(order, th);
    const n = keepWhatFits(box.querySelector("table"));
    $("queues-more").textContent = n === 1 ? t("more_queue") : n ? t("more_queues").replace("{n}", n) : "";
  }
  $("staffing").innerHTML = `<table><thead><tr><th>${t("service")}</th><th>${t("required")}</th><th>${t("available")}</th>` +
    `<th>${t("gap")}</th></tr></thead><tbody>` +
    neediest(snap.services).map((s) => `<tr><td>${esc(s.service)}</td><td>${num(s.agents_required)}</td>` +
      `<td>${num(s.agents_available)}</td>` +
      `<td class="${s.staffing_gap > 0 ? "alert" : ""}">${num(s.staffing_gap)}</td></tr>`).join("") + "</tbody></table>";
  keepWhatFits($("staffing").querySelector("table"));
  // Requested = completed + failed + deleted + open: every part is shown,
  // so the figures add up on the screen.
  const cb = snap.callbacks;
  $("callbacks").innerHTML = `<div class="cbs">` +
    [["requested", num(cb.requested)], ["assigned", num(cb.assigned)], ["completed", num(cb.completed)],
     ["failed", num(cb.failed)], ["deleted", num(cb.deleted)], ["open", num(cb.open)],
     ["processing_rate", pct(cb.processing_rate)]]
      .map(([k, v]) => `<div data-k="${k}">${esc(t(k === "processing_rate" ? "cb_rate" : k))}<b>${v}</b></div>`).join("") + "</div>" +
    (cb.open_by_agent && cb.open_by_agent.length
      ? `<table><thead><tr><th>${t("open_by_agent")}</th><th>${t("open")}</th></tr></thead><tbody>` +
        cb.open_by_agent.slice(0, 8).map((a) => `<tr><td>${esc(a.name || a.agent)}</td><td>${a.open}</td></tr>`)
          .join("") + "</tbody></table>"
      : "");
  keepWhatFits($("callbacks").querySelector("table"));
}

let root = null;

export default {
  id: "dashboard",
  mount(el) { root = el; },
  update(snap, ctx) {
    if (!snap) return;
    const key = `dashboard/${ctx.state.lang}`;
    if (charts.key !== key) {
      root.innerHTML = dashboardLayout();
      makeCharts();
      charts.key = key;
    }
    updateDashboard(snap, ctx.state);
    resizeCharts();
  },
  unmount() {
    charts.key = "";
    root = null;
  },
};
