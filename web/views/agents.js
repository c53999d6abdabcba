// The agent board (상담원별 현황): agents' states per service and their total.
import { t } from "../i18n.js";
import { esc, num, pct } from "../format.js";
import { fit, low, waitingCell } from "./common.js";

function agentsTable(snap) {
  const th = snap.thresholds || {};
  const row = (name, s, a, cls) => `<tr class="${cls}"><td>${esc(name)}</td>${waitingCell(s, th)}` +
    `<td>${num(a.login)}</td><td>${num(a.ready)}</td><td>${num(a.talking)}</td><td>${num(a.outbound)}</td><td>${num(a.break_work)}</td>` +
    `<td class="${low(s.answer_rate, th.answer_rate_warn, th.answer_rate_alert)}">${pct(s.answer_rate)}</td>` +
    `<td class="${low(s.service_level, th.service_level_warn, th.service_level_alert)}">${pct(s.service_level)}</td></tr>`;
  return `<table><thead><tr><th>${t("service")}</th><th>${t("waiting")}</th><th>${t("login")}</th><th>${t("ready")}</th>` +
    `<th>${t("talking")}</th><th>${t("outbound")}</th><th>${t("break_work")}</th><th>${t("answer_rate")}</th><th>${t("service_level")}</th></tr></thead><tbody>` +
    snap.services.map((r) => row(r.service, r, r.agents, "")).join("") + row(t("total"), snap.totals, snap.agents, "total") + "</tbody></table>" +
    `<p class="note">${esc(t("per_service_note"))}</p>`;
}

let root = null;

export default {
  id: "agents",
  mount(el) { root = el; },
  // Drawn whole on each snapshot.
  update(snap, ctx) {
    if (!snap) return;
    root.innerHTML = agentsTable(snap);
    fit(root, ctx.state);
  },
  unmount() { root = null; },
};
