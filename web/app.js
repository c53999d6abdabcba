// The wallboard: one tenant's snapshots over the websocket, drawn as the
// guides' boards. No build step; served by `callboard serve` itself.
//
// URL: /?tenant=T&view=overview|services|agents|dashboard|agent-list|agent-stats|reports
// (reports: &from=YYYY-MM-DD&to=YYYY-MM-DD&step=...&by=...)
//      &lang=ko|en [&rotate=SECONDS][&kiosk=1][&token=TOKEN (kiosk screens only)]
//      [&sort=COLUMN&desc=1 (agent-stats)]
"use strict";

const I18N = {
  ko: {
    overview: "종합 현황", services: "매체별 현황", agents: "상담원별 현황", "agent-list": "상담원 목록",
    service: "서비스명", waiting: "대기 고객", longest: "최장 대기", inbound: "인입", answered: "응대",
    abandoned: "포기", answer_rate: "응대율", service_level: "서비스 레벨", login: "LOGIN",
    ready: "대기중", talking: "상담중", outbound: "O/B", break_work: "휴식/업무처리", total: "합계",
    agent: "상담원", state: "상태", reason: "사유", in_state: "경과", handled: "처리",
    st_logged_out: "로그아웃", st_ready: "수신대기", st_away: "자리비움", st_ringing: "벨울림중",
    st_talking: "통화중", st_dialing: "다이얼링중", st_outbound: "발신통화중", st_wrap_up: "후처리",
    lost: "연결 끊김: {since}부터, 다시 연결하는 중", recovering: "데이터 복구 중", stale: "데이터 지연: 원본 연결 끊김",
    thresholds: "기준", sl: "서비스 레벨", ar: "응대율", wait: "대기 고객", lw: "최장 대기",
    warn: "주의", alert: "경고", popout: "새 창", fullscreen: "전체 화면", lang: "English",
    pick: "테넌트를 고르세요", token: "토큰을 입력하세요", ok: "확인", none: "-",
    dashboard: "통합대시보드", ivr_inflow: "총인입", consult: "상담요청", callback_conv: "콜백전환",
    ivr_trend: "IVR 콜 인입 추이", today: "오늘", yesterday: "어제", agent_states: "상담사 상태",
    queue_info: "상담큐 정보", queue: "상담큐", cb_box: "콜백 처리 현황", requested: "요청", assigned: "할당",
    completed: "완료", open: "미완료", processing_rate: "처리율", open_by_agent: "상담원별 미완료", hour: "시",
    "agent-stats": "상담원 통계", missed: "미응답", aht: "평균처리시간", occupancy: "점유율",
    login_time: "로그인 시간", away_time: "휴식 시간", no_reason: "사유 없음",
    reports: "통계", rep_from: "시작일", rep_to: "종료일", rep_step: "단위", rep_by: "구분", rep_csv: "CSV 다운로드",
    rep_period: "기간", rep_loading: "불러오는 중…", rep_empty: "이 기간의 통계가 없습니다",
    step_interval: "구간별", step_hour: "시간별", step_day: "일별", step_month: "월별",
    by_tenant: "전체", by_service: "서비스별", by_queue: "상담큐별", by_agent: "상담원별", by_callback: "콜백 처리현황",
    callbacks: "콜백", failed: "실패", deleted: "삭제", asa: "평균 대기",
  },
  en: {
    overview: "Overview", services: "Services", agents: "Agent board", "agent-list": "Agents",
    service: "Service", waiting: "Waiting", longest: "Longest wait", inbound: "Inbound", answered: "Answered",
    abandoned: "Abandoned", answer_rate: "Answer rate", service_level: "Service level", login: "LOGIN",
    ready: "Ready", talking: "Talking", outbound: "O/B", break_work: "Break/Work", total: "Total",
    agent: "Agent", state: "State", reason: "Reason", in_state: "In state", handled: "Handled",
    st_logged_out: "Logged out", st_ready: "Ready", st_away: "Away", st_ringing: "Ringing",
    st_talking: "On a call", st_dialing: "Dialing", st_outbound: "Outbound call", st_wrap_up: "Wrap-up",
    lost: "Connection lost since {since}; reconnecting", recovering: "Recovering data", stale: "Data delayed: source disconnected",
    thresholds: "Thresholds", sl: "SL", ar: "Answer rate", wait: "Waiting", lw: "Longest wait",
    warn: "amber", alert: "red", popout: "Pop out", fullscreen: "Full screen", lang: "한국어",
    pick: "Choose a tenant", token: "Enter your access token", ok: "OK", none: "-",
    dashboard: "Dashboard", ivr_inflow: "IVR inflow", consult: "Queued", callback_conv: "Callback conversions",
    ivr_trend: "IVR inflow per hour", today: "Today", yesterday: "Yesterday", agent_states: "Agent states",
    queue_info: "Queues", queue: "Queue", cb_box: "Callbacks", requested: "Requested", assigned: "Assigned",
    completed: "Completed", open: "Open", processing_rate: "Processing rate", open_by_agent: "Open per agent", hour: "h",
    "agent-stats": "Agent statistics", missed: "Missed", aht: "AHT", occupancy: "Occupancy",
    login_time: "Login time", away_time: "Away time", no_reason: "no reason",
    reports: "Reports", rep_from: "From", rep_to: "To", rep_step: "Step", rep_by: "By", rep_csv: "Download CSV",
    rep_period: "Period", rep_loading: "Loading…", rep_empty: "No history for this period",
    step_interval: "Interval", step_hour: "Hourly", step_day: "Daily", step_month: "Monthly",
    by_tenant: "Tenant", by_service: "Service", by_queue: "Queue", by_agent: "Agent", by_callback: "Callback status",
    callbacks: "Callbacks", failed: "Failed", deleted: "Deleted", asa: "ASA",
  },
};
const VIEWS = ["overview", "services", "agents", "dashboard", "agent-list", "agent-stats", "reports"];
// The guide's order of agent states on the dashboard chart.
const CHART_STATES = ["wrap_up", "dialing", "ringing", "talking", "ready", "away"];
const BUSY = new Set(["ringing", "talking", "dialing", "outbound"]);

const params = new URLSearchParams(location.search);
const state = {
  tenant: params.get("tenant"),
  view: VIEWS.includes(params.get("view")) ? params.get("view") : "overview",
  lang: params.get("lang") || ((navigator.language || "ko").startsWith("ko") ? "ko" : "en"),
  rotate: Math.max(2, Number(params.get("rotate")) || 5),
  token: params.get("token") || localStorage.getItem("callboard.token") || "",
  snapshot: null, seq: 0, receivedAt: 0, shown: "services",
  ws: null, backoff: 1000, lostSince: null,
  sort: params.get("sort") || "agent", desc: params.get("desc") === "1",
};
if (!I18N[state.lang]) state.lang = "en";
if (params.get("kiosk") === "1") document.body.classList.add("kiosk");

const $ = (id) => document.getElementById(id);
const locale = () => (state.lang === "ko" ? "ko-KR" : "en-GB");
const t = (k) => I18N[state.lang][k] ?? k;
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const num = (v) => (v === null || v === undefined ? `<span class="null">${t("none")}</span>` : v.toLocaleString());
const pct = (v) => (v === null || v === undefined ? `<span class="null">${t("none")}</span>` : `${v.toFixed(1)}%`);
const dur = (s) => {
  s = Math.max(0, Math.floor(s));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const mm = String(m).padStart(2, "0"), ss = String(sec).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${m}:${ss}`;
};

// Threshold classes: low is bad for ratios, high is bad for waits.
function low(v, warn, alert) {
  if (v === null || v === undefined) return "";
  if (alert !== null && alert !== undefined && v < alert) return "alert";
  if (warn !== null && warn !== undefined && v < warn) return "warn";
  return "";
}
function high(v, warn, alert) {
  if (alert !== null && alert !== undefined && v > alert) return "alert";
  if (warn !== null && warn !== undefined && v > warn) return "warn";
  return "";
}

function url(extra) {
  const p = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(extra)) p.set(k, v);
  return `${location.pathname}?${p}`;
}

function chrome() {
  document.documentElement.lang = state.lang;
  $("tenant").textContent = state.tenant || "callboard";
  $("view-name").textContent = t(state.view === "overview" ? state.shown : state.view);
  $("views").innerHTML = VIEWS.map((v) =>
    `<a href="${esc(url({ view: v }))}" class="${v === state.view ? "on" : ""}" data-view="${v}">${esc(t(v))}</a>`).join("");
  $("lang").textContent = t("lang");
  $("popout").textContent = t("popout");
  $("fullscreen").textContent = t("fullscreen");
  const th = state.snapshot?.thresholds;
  $("legend").innerHTML = th ? `${esc(t("thresholds"))}: ` + [
    [t("sl"), th.service_level_warn, th.service_level_alert, "<", "%"],
    [t("ar"), th.answer_rate_warn, th.answer_rate_alert, "<", "%"],
    [t("wait"), th.waiting_warn, th.waiting_alert, ">", ""],
    [t("lw"), th.longest_wait_warn_s, th.longest_wait_alert_s, ">", "s"],
  ].filter((r) => r[1] != null || r[2] != null).map(([n, w, a, op, u]) =>
    `${esc(n)} <b class="warn">${esc(t("warn"))} ${op} ${w ?? "-"}${u}</b> <b class="alert">${esc(t("alert"))} ${op} ${a ?? "-"}${u}</b>`).join(" · ") : "";
}

// Waiting customers, with the longest current wait beneath.
function waitingCell(s, th) {
  const lw = high(s.longest_wait_s, th.longest_wait_warn_s, th.longest_wait_alert_s);
  return `<td class="${high(s.waiting, th.waiting_warn, th.waiting_alert) || lw}">${num(s.waiting)}` +
    `<span class="sub">${s.waiting ? dur(s.longest_wait_s) : ""}</span></td>`;
}

function servicesTable(snap) {
  const th = snap.thresholds || {};
  const row = (name, s, cls) => `<tr class="${cls}"><td>${esc(name)}</td>${waitingCell(s, th)}` +
    `<td>${num(s.inbound)}</td><td>${num(s.answered)}</td><td>${num(s.abandoned)}</td>` +
    `<td class="${low(s.answer_rate, th.answer_rate_warn, th.answer_rate_alert)}">${pct(s.answer_rate)}</td>` +
    `<td class="${low(s.service_level, th.service_level_warn, th.service_level_alert)}">${pct(s.service_level)}</td></tr>`;
  return `<table><thead><tr><th>${t("service")}</th><th>${t("waiting")}</th><th>${t("inbound")}</th><th>${t("answered")}</th>` +
    `<th>${t("abandoned")}</th><th>${t("answer_rate")}</th><th>${t("service_level")}</th></tr></thead><tbody>` +
    snap.services.map((r) => row(r.service, r, "")).join("") + row(t("total"), snap.totals, "total") + "</tbody></table>";
}

function agentsTable(snap) {
  const th = snap.thresholds || {};
  const row = (name, s, a, cls) => `<tr class="${cls}"><td>${esc(name)}</td>${waitingCell(s, th)}` +
    `<td>${num(a.login)}</td><td>${num(a.ready)}</td><td>${num(a.talking)}</td><td>${num(a.outbound)}</td><td>${num(a.break_work)}</td>` +
    `<td class="${low(s.answer_rate, th.answer_rate_warn, th.answer_rate_alert)}">${pct(s.answer_rate)}</td>` +
    `<td class="${low(s.service_level, th.service_level_warn, th.service_level_alert)}">${pct(s.service_level)}</td></tr>`;
  return `<table><thead><tr><th>${t("service")}</th><th>${t("waiting")}</th><th>${t("login")}</th><th>${t("ready")}</th>` +
    `<th>${t("talking")}</th><th>${t("outbound")}</th><th>${t("break_work")}</th><th>${t("answer_rate")}</th><th>${t("service_level")}</th></tr></thead><tbody>` +
    snap.services.map((r) => row(r.service, r, r.agents, "")).join("") + row(t("total"), snap.totals, snap.agents, "total") + "</tbody></table>";
}

function agentClass(a) {
  return a.state === "ready" ? "ready" : BUSY.has(a.state) ? "busy" : a.state === "logged_out" ? "logged_out" : "away";
}

// Handled, missed and AHT: the card's second line of figures.
function cardFigures(a) {
  return `${t("handled")} ${a.handled} · ${t("missed")} ${a.missed} · ${t("aht")} ${a.aht_s === null ? t("none") : dur(a.aht_s)}`;
}

function agentCard(a, elapsed) {
  return `<div class="agent ${agentClass(a)}"><div class="name">${esc(a.name || a.agent)}</div>` +
    `<div class="state">${esc(t("st_" + a.state))}${a.reason ? " · " + esc(a.reason) : ""}</div>` +
    `<div class="meta"><span data-since="${a.since ? a.state_s : ""}">${a.since ? dur(a.state_s + elapsed) : ""}</span>` +
    `<span>${esc(cardFigures(a))}</span></div></div>`;
}

// The agent list is rebuilt only when its roster changes; otherwise each
// card is updated in place (hundreds of agents, a snapshot a second).
const roster = { key: "" };

function agentList(snap) {
  const elapsed = (Date.now() - state.receivedAt) / 1000;
  const key = state.lang + "|" + snap.agent_list.map((a) => a.agent).join("\u0000");
  const grid = document.querySelector(".agents");
  if (grid && roster.key === key) {
    const cards = grid.children;
    snap.agent_list.forEach((a, i) => {
      const card = cards[i];
      const cls = `agent ${agentClass(a)}`;
      if (card.className !== cls) card.className = cls;
      const st = `${t("st_" + a.state)}${a.reason ? " · " + a.reason : ""}`;
      if (card.children[1].textContent !== st) card.children[1].textContent = st;
      const [since, handled] = card.children[2].children;
      since.dataset.since = a.since ? a.state_s : "";
      since.textContent = a.since ? dur(a.state_s + elapsed) : "";
      const h = cardFigures(a);
      if (handled.textContent !== h) handled.textContent = h;
    });
    return;
  }
  roster.key = key;
  const compact = snap.agent_list.length > 120 ? " compact" : "";
  $("board").innerHTML = `<div class="agents${compact}">` + snap.agent_list.map((a) => agentCard(a, elapsed)).join("") + "</div>";
  fit();
}

// The agent statistics (상담원 통계) for the supervisor's desk: one row per
// agent logged in today, sortable by any column, in up to three panels side
// by side so that 200 agents fit one screen.
const STAT_COLS = [
  ["agent", (a) => (a.name || a.agent).toLowerCase()],
  ["state", (a) => `${"1234567"[["ready", "ringing", "talking", "dialing", "outbound", "wrap_up", "away"].indexOf(a.state)] || 8}${String(1e9 - a.state_s).padStart(10, "0")}`],
  ["handled", (a) => a.handled],
  ["missed", (a) => a.missed],
  ["aht", (a) => a.aht_s ?? -1],
  ["occupancy", (a) => a.occupancy ?? -1],
  ["login_time", (a) => a.login_s],
  ["away_time", (a) => a.time_today_s.away],
];

function agentStats(snap) {
  const elapsed = (Date.now() - state.receivedAt) / 1000;
  const key = (STAT_COLS.find(([k]) => k === state.sort) || STAT_COLS[0])[1];
  const rows = snap.agent_list.filter((a) => a.state !== "logged_out" || a.login_s > 0);
  rows.sort((x, y) => {
    const a = key(x), b = key(y);
    const c = a < b ? -1 : a > b ? 1 : 0;
    return (state.desc ? -c : c) || (x.agent < y.agent ? -1 : 1);
  });
  const away = (a) => Object.entries(a.away_today_s).filter(([, s]) => s > 0)
    .map(([r, s]) => `${esc(r || t("no_reason"))} ${dur(s)}`).join(" · ");
  const row = (a) => `<tr><td>${esc(a.name || a.agent)}</td>` +
    `<td class="st ${agentClass(a)}">${esc(t("st_" + a.state))}${a.reason ? " · " + esc(a.reason) : ""} ` +
    `<span class="sub" data-since="${a.since ? a.state_s : ""}">${a.since ? dur(a.state_s + elapsed) : ""}</span></td>` +
    `<td>${num(a.handled)}</td><td>${num(a.missed)}</td><td>${a.aht_s === null ? num(null) : dur(a.aht_s)}</td>` +
    `<td>${pct(a.occupancy)}</td><td>${dur(a.login_s)}</td>` +
    `<td>${dur(a.time_today_s.away)}<span class="sub">${away(a)}</span></td></tr>`;
  const head = "<thead><tr>" + STAT_COLS.map(([k]) =>
    `<th data-sort="${k}" class="${k === state.sort ? (state.desc ? "desc" : "asc") : ""}">${esc(t(k === "agent" ? "agent" : k))}</th>`).join("") + "</tr></thead>";
  const panels = rows.length > 140 ? 3 : rows.length > 60 ? 2 : 1;
  const per = Math.ceil(rows.length / panels) || 1;
  let html = `<div class="stats panels-${panels}">`;
  for (let i = 0; i < panels; i++) {
    html += `<table>${head}<tbody>${rows.slice(i * per, (i + 1) * per).map(row).join("")}</tbody></table>`;
  }
  $("board").innerHTML = html + "</div>";
  fit();
}

// Scales the board to the screen: the largest font at which all of it
// shows without scrolling (a grid reflows as it shrinks, hence the passes).
// Measuring forces a layout, so it is done only when the board's shape
// (view, language, rows, window) changes; otherwise the last size is reused.
const fitted = { key: "", size: 1 };

function fit() {
  const board = $("board");
  const el = board.firstElementChild;
  if (!el) return;
  const view = state.view === "overview" ? state.shown : state.view;
  const key = [view, state.lang, el.querySelectorAll("tr, .agent").length, innerWidth, innerHeight].join("|");
  if (fitted.key === key) {
    el.style.fontSize = `${fitted.size}rem`;
    return;
  }
  // Grow a short board (up to 1.8x) and shrink a long one until it fits,
  // in height and in width.
  let size = 1;
  el.style.fontSize = "1rem";
  const ratio = () => Math.min(board.clientHeight / el.scrollHeight, board.clientWidth / el.scrollWidth);
  // A full-width table always measures as wide as the board: grow by height.
  const tall = board.clientHeight / el.scrollHeight;
  if (tall > 1) {
    size = Math.min(1.8, tall * 0.95);
    el.style.fontSize = `${size}rem`;
  }
  for (let i = 0; i < 4 && ratio() < 1; i++) {
    size = Math.max(0.25, size * ratio() * 0.98);
    el.style.fontSize = `${size}rem`;
  }
  fitted.key = key;
  fitted.size = size;
}

// The integrated dashboard: laid out once per view and language, then its
// figures and charts are updated in place on each snapshot.
const charts = { key: "", ivr: null, states: null };

function dashboardLayout() {
  return `<div class="dash">
    <div class="tiles">${["answer_rate", "service_level", "ivr_inflow", "consult", "callback_conv"]
      .map((k) => `<div class="tile"><div class="k">${esc(t(k))}</div><div class="v" id="tile-${k}"></div></div>`).join("")}</div>
    <div class="box"><h2>${esc(t("ivr_trend"))}</h2><div class="chart" id="chart-ivr"></div></div>
    <div class="box"><h2>${esc(t("agent_states"))}</h2><div class="chart" id="chart-states"></div></div>
    <div class="box"><h2>${esc(t("queue_info"))}</h2><div id="queues"></div></div>
    <div class="box"><h2>${esc(t("cb_box"))}</h2><div id="callbacks"></div></div></div>`;
}

function makeCharts() {
  const size = (el) => ({ width: el.clientWidth, height: Math.max(120, el.clientHeight) });
  const axis = { stroke: "#8a9bb0", grid: { stroke: "#223041" }, ticks: { stroke: "#223041" } };
  const hours = Array.from({ length: 24 }, (_, i) => i);
  const ivrEl = $("chart-ivr");
  charts.ivr = new uPlot({
    ...size(ivrEl), legend: { show: true },
    scales: { x: { time: false } },
    axes: [{ ...axis, values: (u, v) => v.map((h) => `${h}${t("hour")}`) }, axis],
    series: [{ label: t("hour") }, { label: t("yesterday"), stroke: "#8a9bb0", width: 2 },
             { label: t("today"), stroke: "#4da3ff", width: 3, fill: "rgba(77,163,255,.15)" }],
  }, [hours, hours.map(() => 0), hours.map(() => 0)], ivrEl);
  const stEl = $("chart-states");
  charts.states = new uPlot({
    ...size(stEl), legend: { show: false },
    scales: { x: { time: false, range: [-0.5, CHART_STATES.length - 0.5] } },
    axes: [{ ...axis, splits: () => CHART_STATES.map((_, i) => i), values: () => CHART_STATES.map((s) => t("st_" + s)) }, axis],
    series: [{}, { label: t("agent_states"), fill: "#4da3ff", stroke: "#4da3ff", paths: uPlot.paths.bars({ size: [0.6] }), points: { show: false } }],
  }, [CHART_STATES.map((_, i) => i), CHART_STATES.map(() => 0)], stEl);
}

function updateDashboard(snap) {
  const th = snap.thresholds || {};
  const tile = (k, html, cls) => { const el = $("tile-" + k); el.innerHTML = html; el.className = "v " + (cls || ""); };
  tile("answer_rate", pct(snap.totals.answer_rate), low(snap.totals.answer_rate, th.answer_rate_warn, th.answer_rate_alert));
  tile("service_level", pct(snap.totals.service_level), low(snap.totals.service_level, th.service_level_warn, th.service_level_alert));
  tile("ivr_inflow", num(snap.totals.ivr));
  tile("consult", num(snap.totals.inbound));
  tile("callback_conv", num(snap.totals.callbacks));
  // Hours still to come in the tenant's day (its zone, not the browser's) stay empty.
  const now = Number(new Date(snap.at).toLocaleString("en-US", { timeZone: snap.tz, hour: "numeric", hourCycle: "h23" }));
  const today = snap.hourly.ivr_today.map((v, h) => (h <= now ? v : null));
  charts.ivr.setData([charts.ivr.data[0], snap.hourly.ivr_yesterday, today]);
  const by = snap.agents.by_state;
  charts.states.setData([charts.states.data[0], CHART_STATES.map((s) => by[s])]);
  $("queues").innerHTML = `<table><thead><tr><th>${t("queue")}</th><th>${t("waiting")}</th><th>${t("answer_rate")}</th>` +
    `<th>${t("service_level")}</th><th>${t("inbound")}</th><th>${t("answered")}</th><th>${t("abandoned")}</th></tr></thead><tbody>` +
    snap.queues.map((q) => `<tr><td>${esc(q.queue)}</td>${waitingCell(q, th)}` +
      `<td class="${low(q.answer_rate, th.answer_rate_warn, th.answer_rate_alert)}">${pct(q.answer_rate)}</td>` +
      `<td class="${low(q.service_level, th.service_level_warn, th.service_level_alert)}">${pct(q.service_level)}</td>` +
      `<td>${num(q.inbound)}</td><td>${num(q.answered)}</td><td>${num(q.abandoned)}</td></tr>`).join("") + "</tbody></table>";
  const cb = snap.callbacks;
  $("callbacks").innerHTML = `<div class="cbs">` +
    [["requested", num(cb.requested)], ["assigned", num(cb.assigned)], ["completed", num(cb.completed)],
     ["open", num(cb.open)], ["processing_rate", pct(cb.processing_rate)]]
      .map(([k, v]) => `<div>${esc(t(k))}<b>${v}</b></div>`).join("") + "</div>" +
    (cb.open_by_agent && cb.open_by_agent.length
      ? `<table><thead><tr><th>${t("open_by_agent")}</th><th>${t("open")}</th></tr></thead><tbody>` +
        cb.open_by_agent.slice(0, 8).map((a) => `<tr><td>${esc(a.agent)}</td><td>${a.open}</td></tr>`).join("") + "</tbody></table>"
      : "");
}

// The reports page (통계): the history store's sums by period and grouping
// as a table and a chart, and the same report as CSV. Not a wall view: it
// is laid out once and reloads when its form changes, not on snapshots.
const REPORT_BY = ["tenant", "service", "queue", "agent", "callback"];
const REPORT_STEP = ["interval", "hour", "day", "month"];
const rep = {
  key: "", plot: null, data: null, error: null, loading: false,
  from: params.get("from") || "", to: params.get("to") || "",
  by: REPORT_BY.includes(params.get("by")) ? params.get("by") : "tenant",
  step: REPORT_STEP.includes(params.get("step")) ? params.get("step") : "day",
};

// Today in the tenant's zone, as YYYY-MM-DD.
function tenantToday() {
  const tz = state.snapshot?.tz;
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

function reportUrl(csv) {
  const q = new URLSearchParams({ from: rep.from, to: rep.to, by: rep.by, step: rep.step });
  // A download link cannot send a header: it carries the token.
  if (csv) { q.set("format", "csv"); if (state.token) q.set("token", state.token); }
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
    `<a id="rep-csv" download>${esc(t("rep_csv"))}</a></form>` +
    `<div class="box rep-chart"><div class="chart" id="rep-chart"></div></div>` +
    `<div id="rep-status"></div><div class="rep-table" id="rep-table"></div></div>`;
}

function reports() {
  if (!rep.to) rep.to = tenantToday();
  if (!rep.from) rep.from = shiftDay(rep.to, -6);
  const key = `reports/${state.lang}`;
  if (rep.key === key) return;
  rep.key = key;
  $("board").innerHTML = reportsLayout();
  $("rep-form").onchange = (e) => {
    const f = e.currentTarget.elements;
    Object.assign(rep, { from: f.from.value, to: f.to.value, step: f.step.value, by: f.by.value });
    history.replaceState(null, "", url({ from: rep.from, to: rep.to, step: rep.step, by: rep.by }));
    loadReport();
  };
  $("rep-form").onsubmit = (e) => e.preventDefault();
  loadReport();
}

async function loadReport() {
  rep.loading = true; rep.error = null;
  $("rep-csv").href = reportUrl(true);
  $("rep-status").textContent = t("rep_loading");
  try {
    const r = await fetch(reportUrl(false), { headers: auth() });
    const body = await r.json().catch(() => ({}));
    if (r.status === 401) return login();
    if (r.ok) rep.data = body; else { rep.data = null; rep.error = body.error || r.statusText; }
  } catch (e) {
    rep.data = null; rep.error = String(e);
  }
  rep.loading = false;
  drawReport();
}

const sumOf = (rows, k) => rows.reduce((s, r) => s + (r[k] || 0), 0);
const ratioOf = (n, d) => (d > 0 ? Math.round((n * 10000) / d) / 100 : null);
const meanOf = (sumS, n) => (n > 0 ? Math.round((sumS / n) * 10) / 10 : null);

// A period's label: the date, or the local time of an hour or interval.
function periodLabel(p) {
  return p.length > 10 ? `${p.slice(5, 10)} ${p.slice(11, 16)}` : p;
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

function reportTable(d) {
  const rows = d.rows;
  const sec = (v) => (v === null || v === undefined ? `<span class="null">${t("none")}</span>` : dur(v));
  if (d.by === "agent") {
    const head = ["rep_period", "agent", "login_time", "st_ready", "st_talking", "outbound", "st_wrap_up", "st_away", "handled", "missed", "occupancy"];
    return `<table><thead><tr>${head.map((k) => `<th>${esc(t(k))}</th>`).join("")}</tr></thead><tbody>` +
      rows.map((r) => `<tr><td>${esc(periodLabel(r.period))}</td><td>${esc(r.agent)}</td><td>${dur(r.login_s)}</td>` +
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

function drawReport() {
  const status = $("rep-status");
  if (!status) return;
  const d = rep.data;
  status.textContent = rep.error ? rep.error : d && !d.rows.length ? t("rep_empty") : "";
  status.className = rep.error ? "alert" : "";
  $("rep-table").innerHTML = d && d.rows.length ? reportTable(d) : "";
  if (rep.plot) { rep.plot.destroy(); rep.plot = null; }
  if (!d || !d.rows.length) return;
  const [counts, [ratioKey, ratio], periods] = reportSeries(d);
  const labels = periods.map(([p]) => periodLabel(p));
  const el = $("rep-chart");
  const axis = { stroke: "#8a9bb0", grid: { stroke: "#223041" }, ticks: { stroke: "#223041" } };
  rep.plot = new uPlot({
    width: el.clientWidth, height: Math.max(160, el.clientHeight), legend: { show: true },
    scales: { x: { time: false }, pct: { range: [0, 100] } },
    axes: [{ ...axis, values: (u, v) => v.map((i) => labels[i] ?? "") }, axis,
      { ...axis, scale: "pct", side: 1, grid: { show: false }, values: (u, v) => v.map((x) => `${x}%`) }],
    series: [{ label: t("rep_period"), value: (u, i) => labels[i] ?? "" },
      ...counts.map(([k, color]) => ({ label: t(k), stroke: color, width: 2, points: { show: labels.length < 60 } })),
      { label: t(ratioKey), stroke: "#e8eef5", width: 2, dash: [6, 4], scale: "pct" }],
  }, [labels.map((_, i) => i), ...counts.map(([, , v]) => v), ratio], el);
  window.callboard.reportRows = d.rows.length;
}

// How long the last render took (ms), for the browser test to read.
window.callboard = { lastRenderMs: null, renders: 0, seq: 0 };

function render() {
  const started = performance.now();
  const snap = state.snapshot;
  chrome();
  const view = state.view === "overview" ? state.shown : state.view;
  if (view !== "reports") rep.key = "";
  if (view === "reports") {
    charts.key = "";
    roster.key = "";
    reports();
  }
  if (!snap) return;
  if (view === "reports") {
    // Laid out above; snapshots change nothing on it.
  } else if (view === "dashboard") {
    roster.key = "";
    const key = `dashboard/${state.lang}`;
    if (charts.key !== key) {
      $("board").innerHTML = dashboardLayout();
      makeCharts();
      charts.key = key;
    }
    updateDashboard(snap);
  } else if (view === "agent-list") {
    charts.key = "";
    agentList(snap);
  } else if (view === "agent-stats") {
    charts.key = "";
    roster.key = "";
    agentStats(snap);
  } else {
    charts.key = "";
    roster.key = "";
    $("board").innerHTML = view === "services" ? servicesTable(snap) : agentsTable(snap);
    fit();
  }
  const banner = $("banner");
  if (state.lostSince) {
    banner.hidden = false; banner.className = "";
    banner.textContent = t("lost").replace("{since}", tenantTime(state.lostSince));
  } else if (snap.status !== "live") {
    banner.hidden = false; banner.className = "info";
    banner.textContent = t(snap.status);
  } else {
    banner.hidden = true;
  }
  window.callboard.lastRenderMs = performance.now() - started;
  window.callboard.renders += 1;
  window.callboard.seq = state.seq;
}

// The clock shows the tenant's time (its zone is in the snapshot), not the
// kiosk's: a screen whose system runs on UTC still shows Seoul's 04:04.
function tenantTime(date) {
  const tz = state.snapshot?.tz;
  try {
    return date.toLocaleTimeString(locale(), tz ? { timeZone: tz } : {});
  } catch {
    return date.toLocaleTimeString(locale());
  }
}

function tick() {
  $("clock").textContent = tenantTime(new Date());
  $("clock").title = state.snapshot?.tz || "";
  if (state.snapshot && (state.view === "agent-list" || state.view === "agent-stats")) {
    const elapsed = (Date.now() - state.receivedAt) / 1000;
    for (const el of document.querySelectorAll("[data-since]")) {
      if (el.dataset.since !== "") el.textContent = dur(Number(el.dataset.since) + elapsed);
    }
  }
}

function accept(snap, seq) {
  state.snapshot = snap; state.seq = seq; state.receivedAt = Date.now();
  render();
}

async function resync() {
  const r = await fetch(`/api/v1/tenants/${encodeURIComponent(state.tenant)}/snapshot`, { headers: auth() });
  if (!r.ok) return;
  const seq = Number(r.headers.get("x-callboard-seq")) || 0;
  if (seq >= state.seq) accept(await r.json(), seq);
}

function auth() {
  return state.token ? { Authorization: `Bearer ${state.token}` } : {};
}

function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const q = new URLSearchParams({ tenant: state.tenant });
  if (state.token) q.set("token", state.token);
  const ws = new WebSocket(`${proto}://${location.host}/api/v1/ws?${q}`);
  state.ws = ws;
  ws.onopen = () => { state.backoff = 1000; };
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.type !== "snapshot") return;
    const gap = state.seq && msg.seq > state.seq + 1;
    if (state.lostSince) { state.lostSince = null; document.body.classList.remove("lost"); }
    accept(msg.snapshot, msg.seq);
    // Snapshots were skipped: make sure nothing newer is missing.
    if (gap) resync().catch(() => {});
  };
  ws.onclose = async (ev) => {
    if (!state.lostSince) { state.lostSince = new Date(); document.body.classList.add("lost"); render(); }
    if (ev.code === 1008 || ev.code === 1006) {
      // Refused upgrades surface as 1006: ask whether a token is needed.
      const probe = await fetch(`/api/v1/tenants`, { headers: auth() }).catch(() => null);
      if (probe && probe.status === 401) return login();
    }
    const wait = Math.min(state.backoff, 30000) * (0.8 + Math.random() * 0.4);
    state.backoff = Math.min(state.backoff * 2, 30000);
    setTimeout(connect, wait);
  };
}

function login() {
  const d = $("login");
  $("login-text").textContent = t("token");
  $("login-ok").textContent = t("ok");
  d.showModal();
  $("login-form").onsubmit = () => {
    state.token = $("login-token").value.trim();
    localStorage.setItem("callboard.token", state.token);
    setTimeout(start, 0);
  };
}

async function pickTenant() {
  const r = await fetch("/api/v1/tenants", { headers: auth() });
  if (r.status === 401) return login();
  const list = (await r.json()).tenants || [];
  if (list.length === 1) { location.replace(url({ tenant: list[0].tenant })); return; }
  chrome();
  $("board").innerHTML = `<div class="picker"><p>${esc(t("pick"))}</p>` +
    list.map((x) => `<a href="${esc(url({ tenant: x.tenant }))}">${esc(x.tenant)}</a>`).join("") + "</div>";
}

function start() {
  if (!state.tenant) { pickTenant(); return; }
  connect();
  // Reports need no snapshot; the first one only brings the tenant's zone.
  if (state.view === "reports") setTimeout(() => { if (!state.snapshot) render(); }, 1500);
}

$("lang").onclick = () => { state.lang = state.lang === "ko" ? "en" : "ko"; history.replaceState(null, "", url({ lang: state.lang })); render(); };
$("popout").onclick = () => window.open(location.href, "_blank", "popup,width=1920,height=1080");
$("fullscreen").onclick = () => (document.fullscreenElement ? document.exitFullscreen() : document.documentElement.requestFullscreen());
$("board").onclick = (e) => {
  const th = e.target.closest("th[data-sort]");
  if (!th) return;
  state.desc = th.dataset.sort === state.sort ? !state.desc : th.dataset.sort !== "agent";
  state.sort = th.dataset.sort;
  history.replaceState(null, "", url({ sort: state.sort, desc: state.desc ? "1" : "0" }));
  render();
};
$("views").onclick = (e) => {
  const a = e.target.closest("a[data-view]");
  if (!a) return;
  e.preventDefault();
  state.view = a.dataset.view;
  history.replaceState(null, "", url({ view: state.view }));
  render();
};
setInterval(() => {
  if (state.view !== "overview") return;
  state.shown = state.shown === "services" ? "agents" : "services";
  render();
}, state.rotate * 1000);
setInterval(tick, 1000);
tick();
chrome();
start();
