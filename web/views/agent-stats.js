// The agent statistics (상담원 통계) for the supervisor's desk: one row per
// agent logged in today, sortable by any column, in up to three panels side
// by side so that 200 agents fit one screen.
import { reasonLabel, t } from "../i18n.js";
import { dur, esc, num, pct, span } from "../format.js";
import { agentClass, countSince, fit, limitOf } from "./common.js";

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

function agentStats(board, snap, state) {
  const elapsed = (Date.now() - state.receivedAt) / 1000;
  const key = (STAT_COLS.find(([k]) => k === state.sort) || STAT_COLS[0])[1];
  const rows = snap.agent_list.filter((a) => a.state !== "logged_out" || a.login_s > 0);
  rows.sort((x, y) => {
    const a = key(x), b = key(y);
    const c = a < b ? -1 : a > b ? 1 : 0;
    return (state.desc ? -c : c) || (x.agent < y.agent ? -1 : 1);
  });
  const away = (a) => Object.entries(a.away_today_s).filter(([, s]) => s > 0)
    .map(([r, s]) => `${esc(r ? reasonLabel(snap, r) : t("no_reason"))} ${dur(s)}`).join(" · ");
  const over = (a) => { const l = limitOf(snap, a); return l && a.state_s + elapsed > l ? "over" : ""; };
  const row = (a) => `<tr class="${over(a)}"><td>${esc(a.name || a.agent)}</td>` +
    `<td class="st ${agentClass(a)}">${esc(t("st_" + a.state))}${a.reason ? " · " + esc(reasonLabel(snap, a.reason)) : ""} ` +
    `<span class="sub" data-since="${a.since ? a.state_s : ""}" data-limit="${limitOf(snap, a)}">${a.since ? dur(a.state_s + elapsed) : ""}</span></td>` +
    `<td>${num(a.handled)}</td><td>${num(a.missed)}</td><td>${a.aht_s === null ? num(null) : dur(a.aht_s)}</td>` +
    `<td>${pct(a.occupancy)}</td><td class="login">${span(a.login_s)}</td>` +
    `<td>${dur(a.time_today_s.away)}<span class="sub">${away(a)}</span></td></tr>`;
  const head = "<thead><tr>" + STAT_COLS.map(([k]) =>
    `<th data-sort="${k}" class="${k === state.sort ? (state.desc ? "desc" : "asc") : ""}">${esc(t(k === "agent" ? "agent" : k))}</th>`).join("") + "</tr></thead>";
  const panels = rows.length > 140 ? 3 : rows.length > 60 ? 2 : 1;
  const per = Math.ceil(rows.length / panels) || 1;
  let html = `<div class="stats panels-${panels}">`;
  for (let i = 0; i < panels; i++) {
    html += `<table>${head}<tbody>${rows.slice(i * per, (i + 1) * per).map(row).join("")}</tbody></table>`;
  }
  board.innerHTML = html + "</div>";
  fit(board, state);
}

let root = null;
let sortOnClick = null;

export default {
  id: "agent-stats",
  mount(el, ctx) {
    root = el;
    // A column's heading sorts by it (the URL keeps the choice: sort, desc);
    // a second click turns the order round.
    sortOnClick = (e) => {
      const th = e.target.closest("th[data-sort]");
      if (!th) return;
      const state = ctx.state;
      state.desc = th.dataset.sort === state.sort ? !state.desc : th.dataset.sort !== "agent";
      state.sort = th.dataset.sort;
      history.replaceState(null, "", ctx.url({ sort: state.sort, desc: state.desc ? "1" : "0" }));
      ctx.render();
    };
    root.addEventListener("click", sortOnClick);
  },
  update(snap, ctx) {
    if (!snap) return;
    agentStats(root, snap, ctx.state);
  },
  tick(ctx) { countSince(ctx.state); },
  unmount() {
    root.removeEventListener("click", sortOnClick);
    sortOnClick = null;
    root = null;
  },
};
