// The wallboard: one tenant's snapshots over the websocket, drawn as the
// guides' boards. No build step; served by `callboard serve` itself, as ES
// modules under /assets/ (uPlot, for the charts, is a classic script before
// this one: window.uPlot).
//
// URL: /?tenant=T&view=overview|services|agents|dashboard|waiting-calls|agent-list|agent-stats|reports
// (reports: &from=YYYY-MM-DD&to=YYYY-MM-DD&step=...&by=...)
//      &lang=ko|en [&rotate=SECONDS][&kiosk=1][&sound=1 (a beep when a figure turns red)]
//      [&token=TOKEN (kiosk screens only)]
//      [&sort=COLUMN&desc=1 (agent-stats)]
//
// This module keeps the state, draws the header, legend, banner and login,
// and shows one view of VIEWS in #board (views/common.js says what a view
// is). A new view is a new file in views/ and a line in VIEWS.
import { I18N, bindLang, t } from "./i18n.js";
import { esc, tenantTime } from "./format.js";
import { auth, connect } from "./socket.js";
import { scan } from "./alarms.js";
import overview from "./views/overview.js";
import services from "./views/services.js";
import agents from "./views/agents.js";
import dashboard from "./views/dashboard.js";
import agentList from "./views/agent-list.js";
import agentStats from "./views/agent-stats.js";
import reportsView from "./views/reports.js";
import waiting from "./views/waiting.js";

// The views, in the order of the header's links.
const VIEWS = [overview, services, agents, dashboard, waiting, agentList, agentStats, reportsView];

const params = new URLSearchParams(location.search);
const state = {
  tenant: params.get("tenant"),
  view: VIEWS.some((v) => v.id === params.get("view")) ? params.get("view") : "overview",
  lang: params.get("lang") || ((navigator.language || "ko").startsWith("ko") ? "ko" : "en"),
  rotate: Math.max(2, Number(params.get("rotate")) || 5),
  token: params.get("token") || localStorage.getItem("callboard.token") || "",
  snapshot: null, seq: 0, receivedAt: 0, shown: "services",
  ws: null, backoff: 1000, lostSince: null,
  sort: params.get("sort") || "agent", desc: params.get("desc") === "1",
  sound: params.get("sound") === "1",
};
if (!I18N[state.lang]) state.lang = "en";
bindLang(() => state.lang);
if (params.get("kiosk") === "1") document.body.classList.add("kiosk");

const $ = (id) => document.getElementById(id);

function url(extra) {
  const p = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(extra)) p.set(k, v);
  return `${location.pathname}?${p}`;
}

// What a view is given (views/common.js).
const ctx = { state, url, login, render };

function chrome() {
  document.documentElement.lang = state.lang;
  $("tenant").textContent = state.tenant || "callboard";
  // A token limited to some services: the title says which, small, below.
  const scope = state.snapshot?.scope;
  $("scope").hidden = !scope;
  $("scope").textContent = scope ? scope.join(", ") : "";
  $("view-name").textContent = t(state.view === "overview" ? state.shown : state.view);
  $("views").innerHTML = VIEWS.map(({ id: v }) =>
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

// The view shown in #board. Switching unmounts the one before, which
// forgets its layout, so coming back to it draws it afresh.
let mounted = null;

function show(id) {
  const view = VIEWS.find((v) => v.id === id);
  if (view !== mounted) {
    if (mounted) mounted.unmount();
    mounted = view;
    view.mount($("board"), ctx);
  }
  return view;
}

// How long the last render took (ms), for the browser test to read.
window.callboard = { lastRenderMs: null, renders: 0, seq: 0 };

function render() {
  const started = performance.now();
  const snap = state.snapshot;
  chrome();
  show(state.view).update(snap, ctx);
  const banner = $("banner");
  if (state.lostSince) {
    banner.hidden = false; banner.className = "";
    banner.textContent = t("lost").replace("{since}", tenantTime(state.lostSince, state.snapshot?.tz));
  } else if (state.recovering || (snap && snap.status !== "live")) {
    // The service reads its events back after a start: the figures come
    // in seconds (until then the last ones stay, greyed by the banner).
    banner.hidden = false; banner.className = "info";
    banner.textContent = t(state.recovering ? "recovering" : snap.status);
  } else {
    banner.hidden = true;
  }
  if (!snap) return;
  scan($("board"), state, shownView());
  window.callboard.lastRenderMs = performance.now() - started;
  window.callboard.renders += 1;
  window.callboard.seq = state.seq;
  window.callboard.agentsListed = snap.agent_list.length;
}

// The view on screen (the overview shows one of two in turn).
const shownView = () => (state.view === "overview" ? state.shown : state.view);

// Messages to the floor (POST /api/v1/tenants/T/messages): asked for every
// 10 seconds, shown as a ticker until each expires.
async function pollMessages() {
  if (!state.tenant) return;
  const r = await fetch(`/api/v1/tenants/${encodeURIComponent(state.tenant)}/messages`,
    { headers: auth(state.token) }).catch(() => null);
  if (r && r.ok) state.messages = (await r.json()).messages || [];
  drawTicker();
}

function drawTicker() {
  const now = Date.now();
  const shown = (state.messages || []).filter((m) => Date.parse(m.expires_at) > now).map((m) => m.text);
  const text = shown.join("   ◆   ");
  const el = $("ticker");
  el.hidden = !shown.length;
  const span = $("ticker-text");
  if (span.textContent !== text) {
    span.textContent = text;
    // About 8 characters a second, however long the text.
    span.style.animationDuration = `${Math.max(12, (text.length + 60) / 8)}s`;
  }
  window.callboard.messages = shown;
}

function tick() {
  // The tenant's time, once its first snapshot says its zone: never the
  // screen's own zone, not even for the first second.
  $("clock").textContent = state.snapshot ? tenantTime(new Date(), state.snapshot.tz) : "--:--:--";
  $("clock").title = state.snapshot?.tz || "";
  if (state.messages && state.messages.length) drawTicker(); // one that expires goes at once
  if (state.snapshot && mounted && mounted.tick) {
    mounted.tick(ctx);
    scan($("board"), state, shownView()); // an agent past a state's limit since the last snapshot
  }
}

function accept(snap, seq) {
  const first = !state.snapshot;
  state.snapshot = snap; state.seq = seq; state.receivedAt = Date.now();
  render();
  if (first) tick(); // the clock, in the tenant's zone from the first snapshot on
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
  const r = await fetch("/api/v1/tenants", { headers: auth(state.token) });
  if (r.status === 401) return login();
  const list = (await r.json()).tenants || [];
  if (list.length === 1) { location.replace(url({ tenant: list[0].tenant })); return; }
  chrome();
  $("board").innerHTML = `<div class="picker"><p>${esc(t("pick"))}</p>` +
    list.map((x) => `<a href="${esc(url({ tenant: x.tenant }))}">${esc(x.tenant)}</a>`).join("") + "</div>";
}

// The service has no such tenant: say so, and how to choose one.
function unknown() {
  if (state.snapshot) return;
  chrome();
  $("board").innerHTML = `<div class="picker unknown"><p>${esc(t("unknown_tenant").replace("{t}", state.tenant))}</p>` +
    `<a href="${esc(url({ tenant: "" }).replace(/([?&])tenant=(&|$)/, "$1"))}">${esc(t("pick"))}</a></div>`;
  window.callboard.unknown = true;
}

function start() {
  if (!state.tenant) { pickTenant(); return; }
  connect(state, { snapshot: accept, lost: render, login, unknown });
  // Reports need no snapshot; the first one only brings the tenant's zone.
  if (state.view === "reports") setTimeout(() => { if (!state.snapshot) render(); }, 1500);
}

$("lang").onclick = () => { state.lang = state.lang === "ko" ? "en" : "ko"; history.replaceState(null, "", url({ lang: state.lang })); render(); };
$("popout").onclick = () => window.open(location.href, "_blank", "popup,width=1920,height=1080");
$("fullscreen").onclick = () => (document.fullscreenElement ? document.exitFullscreen() : document.documentElement.requestFullscreen());
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
setInterval(pollMessages, 10000);
tick();
chrome();
start();
pollMessages();
