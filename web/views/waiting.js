// The waiting calls (대기 고객 목록): each call waiting now, the longest
// first, with its queue, wait so far, place in its queue and the wait
// estimated for it when it was queued; beside them the callback requests
// still open, per agent and not yet assigned.
import { t } from "../i18n.js";
import { dur, esc, num } from "../format.js";
import { countSince, fit, high } from "./common.js";

// More rows than a screen holds help nobody: the longest waits are shown,
// and how many more there are.
const MAX_ROWS = 60;

function waitingTable(snap, elapsed) {
  const th = snap.thresholds || {};
  const calls = snap.waiting_calls || [];
  const rows = calls.slice(0, MAX_ROWS).map((c) =>
    `<tr><td>${esc(c.queue)}<span class="sub">${esc(c.service)}</span></td>` +
    `<td class="${high(c.wait_s, th.longest_wait_warn_s, th.longest_wait_alert_s)}" data-since="${c.wait_s}">${dur(c.wait_s + elapsed)}</td>` +
    `<td>${num(c.position)}</td><td>${c.ewt_s === null || c.ewt_s === undefined ? num(null) : dur(c.ewt_s)}</td></tr>`).join("");
  const more = calls.length > MAX_ROWS
    ? `<tr class="more"><td colspan="4">${esc(t("more_calls").replace("{n}", (calls.length - MAX_ROWS).toLocaleString()))}</td></tr>` : "";
  const none = calls.length ? "" : `<tr class="more"><td colspan="4">${esc(t("no_waiting"))}</td></tr>`;
  return `<table class="calls"><thead><tr><th>${t("queue")}</th><th>${t("waited")}</th><th>${t("position")}</th>` +
    `<th>${t("ewt_at_queue")}</th></tr></thead><tbody>${rows}${more}${none}</tbody></table>`;
}

// Open callback requests: those assigned, per agent by name, and those no
// agent has yet (open less the assigned ones).
function callbacksTable(snap) {
  const cb = snap.callbacks;
  const per = cb.open_by_agent || [];
  const unassigned = Math.max(0, cb.open - per.reduce((s, a) => s + a.open, 0));
  return `<table class="open-cb"><thead><tr><th>${t("open_callbacks")}</th><th>${t("open")}</th></tr></thead><tbody>` +
    per.map((a) => `<tr><td>${esc(a.name || a.agent)}</td><td>${num(a.open)}</td></tr>`).join("") +
    `<tr><td>${esc(t("unassigned"))}</td><td>${num(unassigned)}</td></tr>` +
    `<tr class="total"><td>${esc(t("total"))}</td><td>${num(cb.open)}</td></tr></tbody></table>`;
}

let root = null;

export default {
  id: "waiting-calls",
  mount(el) { root = el; },
  // Drawn whole on each snapshot; the waits count on each second.
  update(snap, ctx) {
    if (!snap) return;
    const elapsed = (Date.now() - ctx.state.receivedAt) / 1000;
    root.innerHTML = `<div class="waiting">${waitingTable(snap, elapsed)}${callbacksTable(snap)}</div>`;
    fit(root, ctx.state);
  },
  tick(ctx) { countSince(ctx.state); },
  unmount() { root = null; },
};
