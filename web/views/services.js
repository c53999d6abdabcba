// The services board (매체별 현황): calls per service and their total.
import { t } from "../i18n.js";
import { esc, num, pct } from "../format.js";
import { fit, low, waitingCell } from "./common.js";

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
