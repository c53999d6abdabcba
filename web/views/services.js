// The services board (매체별 현황): calls per service and their total.
import { t } from "../i18n.js";
import { dur, esc, num, pct } from "../format.js";
import { fit, low, waitingCell } from "./common.js";

// The shortest recent window (15 minutes by default), or null.
export function recentOf(s) {
  return (s.recent || []).find((w) => w.minutes === 15) || (s.recent || [])[0] || null;
}

// The estimated wait of a service: the longest of its queues' (what a
// caller joining the worst of them should expect); "-" with none.
export function serviceEwt(snap, service) {
  const ewts = snap.queues.filter((q) => service === null || q.service === service)
    .map((q) => q.ewt_s).filter((v) => v !== null && v !== undefined);
  return ewts.length ? Math.max(...ewts) : null;
}

function servicesTable(snap) {
  const th = snap.thresholds || {};
  const ar = (v) => `<td class="${low(v, th.answer_rate_warn, th.answer_rate_alert)}">${pct(v)}</td>`;
  const sl = (v) => `<td class="${low(v, th.service_level_warn, th.service_level_alert)}">${pct(v)}</td>`;
  const row = (name, s, ewt, cls) => {
    const w = recentOf(s) || {};
    return `<tr class="${cls}"><td>${esc(name)}</td>${waitingCell(s, th)}` +
      `<td>${num(s.inbound)}</td><td>${num(s.answered)}</td><td>${num(s.abandoned)}</td>` +
      ar(s.answer_rate) + ar(w.answer_rate) + sl(s.service_level) + sl(w.service_level) +
      `<td>${ewt === null ? num(null) : dur(ewt)}</td></tr>`;
  };
  const minutes = (recentOf(snap.totals) || { minutes: 15 }).minutes;
  const recent = esc(t("recent_min").replace("{n}", minutes));
  const two = (k) => `<th colspan="2">${t(k)}</th>`;
  const one = (k) => `<th rowspan="2">${t(k)}</th>`;
  return `<table><thead><tr>${one("service")}${one("waiting")}${one("inbound")}${one("answered")}${one("abandoned")}` +
    `${two("answer_rate")}${two("service_level")}${one("ewt")}</tr>` +
    `<tr class="sub"><th>${t("today")}</th><th>${recent}</th><th>${t("today")}</th><th>${recent}</th></tr></thead><tbody>` +
    snap.services.map((r) => row(r.service, r, serviceEwt(snap, r.service), "")).join("") +
    row(t("total"), snap.totals, serviceEwt(snap, null), "total") + "</tbody></table>";
}

let root = null;

export default {
  id: "services",
  mount(el) { root = el; },
  // Drawn whole on each snapshot.
  update(snap, ctx) {
    if (!snap) return;
    root.innerHTML = servicesTable(snap);
    fit(root, ctx.state);
  },
  unmount() { root = null; },
};
