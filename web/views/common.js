// What several views share: threshold classes, the waiting cell, agents'
// state classes, fitting the board to the screen, and time in state
// counted on between snapshots.
//
// A view is an object { id, mount(root, ctx), update(snap, ctx), unmount() }
// with an optional tick(ctx); app.js keeps the list (VIEWS) and shows one
// at a time in #board:
//   id       its name in the URL (view=) and its title's I18N key
//   mount    it becomes the view shown; root is #board, drawn by update
//   update   each render: draw from snap, which is null until the first
//            snapshot arrives (a view that needs one returns)
//   unmount  another view is shown: forget what was laid out, so that the
//            next mount draws afresh
//   tick     each second while shown, once a snapshot is in
// ctx is { state, url(extra), login(), render() } from app.js.
import { dur, num } from "../format.js";

export const $ = (id) => document.getElementById(id);

// Threshold classes: low is bad for ratios, high is bad for waits.
export function low(v, warn, alert) {
  if (v === null || v === undefined) return "";
  if (alert !== null && alert !== undefined && v < alert) return "alert";
  if (warn !== null && warn !== undefined && v < warn) return "warn";
  return "";
}
export function high(v, warn, alert) {
  if (alert !== null && alert !== undefined && v > alert) return "alert";
  if (warn !== null && warn !== undefined && v > warn) return "warn";
  return "";
}

// Waiting customers, with the longest current wait beneath.
export function waitingCell(s, th) {
  const lw = high(s.longest_wait_s, th.longest_wait_warn_s, th.longest_wait_alert_s);
  return `<td class="${high(s.waiting, th.waiting_warn, th.waiting_alert) || lw}">${num(s.waiting)}` +
    `<span class="sub">${s.waiting ? dur(s.longest_wait_s) : ""}</span></td>`;
}

const BUSY = new Set(["ringing", "talking", "dialing", "outbound"]);

export function agentClass(a) {
  return a.state === "ready" ? "ready" : BUSY.has(a.state) ? "busy" : a.state === "logged_out" ? "logged_out" : "away";
}

// Scales the board to the screen: the largest font at which all of it
// shows without scrolling (a grid reflows as it shrinks, hence the passes).
// Measuring forces a layout, so it is done only when the board's shape
// (view, language, rows, window) changes; otherwise the last size is reused.
const fitted = { key: "", size: 1 };

export function fit(board, state) {
  const el = board.firstElementChild;
  if (!el) return;
  // The room inside the board's padding (clientHeight counts the padding).
  const pad = getComputedStyle(board);
  const roomH = board.clientHeight - parseFloat(pad.paddingTop) - parseFloat(pad.paddingBottom);
  const roomW = board.clientWidth - parseFloat(pad.paddingLeft) - parseFloat(pad.paddingRight);
  const view = state.view === "overview" ? state.shown : state.view;
  const key = [view, state.lang, el.querySelectorAll("tr, .agent").length, innerWidth, innerHeight].join("|");
  if (fitted.key === key) {
    el.style.fontSize = `${fitted.size}rem`;
    // The same shape can still grow (a longer state name wraps a card):
    // measured again only when the last size no longer fits.
    if (el.scrollHeight <= roomH && el.scrollWidth <= roomW) return;
  }
  // Grow a short board (up to 1.8x) and shrink a long one until it fits,
  // in height and in width.
  let size = 1;
  el.style.fontSize = "1rem";
  const ratio = () => Math.min(roomH / el.scrollHeight, roomW / el.scrollWidth);
  // A full-width table always measures as wide as the board: grow by height.
  const tall = roomH / el.scrollHeight;
  if (tall > 1) {
    size = Math.min(1.8, tall * 0.95);
    el.style.fontSize = `${size}rem`;
  }
  for (let i = 0; i < 6 && ratio() < 1; i++) {
    size = Math.max(0.25, size * ratio() * 0.98);
    el.style.fontSize = `${size}rem`;
  }
  fitted.key = key;
  fitted.size = size;
}

// The length of a report's intervals (ms), from their starts (ms): the
// smallest gap between them, else 15 minutes (the default interval).
export function intervalMs(starts) {
  const gaps = starts.slice(1).map((v, i) => v - starts[i]).filter((g) => g > 0);
  return gaps.length ? Math.min(...gaps) : 900e3;
}

// Whether an agent has been in its state longer than the tenant allows
// (snapshot state_limits_s: break 15 min, wrap-up 2, a call 10 by default).
export function limitOf(snap, a) {
  const limit = (snap.state_limits_s || {})[a.state];
  return a.since && limit ? limit : "";
}

// Time in state goes on between snapshots: each [data-since] holds the
// seconds it had when the snapshot came, and [data-limit] the seconds after
// which its card or row is marked over.
export function countSince(state) {
  const elapsed = (Date.now() - state.receivedAt) / 1000;
  for (const el of document.querySelectorAll("[data-since]")) {
    if (el.dataset.since === "") continue;
    const s = Number(el.dataset.since) + elapsed;
    el.textContent = dur(s);
    if (el.dataset.limit) el.closest(".agent, tr")?.classList.toggle("over", s > Number(el.dataset.limit));
  }
}
