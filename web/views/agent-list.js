// The agent list (상담원 목록): a card per agent, its state, time in state
// and the day's figures.
import { reasonLabel, t } from "../i18n.js";
import { dur, esc } from "../format.js";
import { agentClass, countSince, fit, limitOf } from "./common.js";

// Handled, missed and AHT: the card's second line of figures.
function cardFigures(a) {
  return `${t("handled")} ${a.handled} · ${t("missed")} ${a.missed} · ${t("aht")} ${a.aht_s === null ? t("none") : dur(a.aht_s)}`;
}

// A card's classes: its state's colour, and over when the agent has been in
// it longer than the tenant's limit for that state.
function cardClass(a, elapsed, snap) {
  const limit = limitOf(snap, a);
  return `agent ${agentClass(a)}${limit && a.state_s + elapsed > limit ? " over" : ""}`;
}

function agentCard(a, elapsed, snap) {
  return `<div class="${cardClass(a, elapsed, snap)}"><div class="name">${esc(a.name || a.agent)}</div>` +
    `<div class="state">${esc(t("st_" + a.state))}${a.reason ? " · " + esc(reasonLabel(snap, a.reason)) : ""}</div>` +
    `<div class="meta"><span data-since="${a.since ? a.state_s : ""}" data-limit="${limitOf(snap, a)}">${a.since ? dur(a.state_s + elapsed) : ""}</span>` +
    `<span>${esc(cardFigures(a))}</span></div></div>`;
}

// The agent list is rebuilt only when its roster changes; otherwise each
// card is updated in place (hundreds of agents, a snapshot a second).
const roster = { key: "" };

function agentList(board, snap, state) {
  const elapsed = (Date.now() - state.receivedAt) / 1000;
  const key = state.lang + "|" + snap.agent_list.map((a) => a.agent).join("\u0000");
  const grid = board.querySelector(".agents");
  if (grid && roster.key === key) {
    const cards = grid.children;
    snap.agent_list.forEach((a, i) => {
      const card = cards[i];
      const cls = cardClass(a, elapsed, snap);
      if (card.className !== cls) card.className = cls;
      const st = `${t("st_" + a.state)}${a.reason ? " · " + reasonLabel(snap, a.reason) : ""}`;
      if (card.children[1].textContent !== st) card.children[1].textContent = st;
      const [since, handled] = card.children[2].children;
      since.dataset.since = a.since ? a.state_s : "";
      since.dataset.limit = limitOf(snap, a);
      since.textContent = a.since ? dur(a.state_s + elapsed) : "";
      const h = cardFigures(a);
      if (handled.textContent !== h) handled.textContent = h;
    });
    fit(board, state);
    return;
  }
  roster.key = key;
  const compact = snap.agent_list.length > 120 ? " compact" : "";
  board.innerHTML = `<div class="agents${compact}">` + snap.agent_list.map((a) => agentCard(a, elapsed, snap)).join("") + "</div>";
  fit(board, state);
}

let root = null;

export default {
  id: "agent-list",
  mount(el) { root = el; },
  update(snap, ctx) {
    if (!snap) return;
    agentList(root, snap, ctx.state);
  },
  tick(ctx) { countSince(ctx.state); },
  unmount() {
    roster.key = "";
    root = null;
  },
};
