// Alarms on the screen: a figure that turns red (or amber) is remembered
// with the time it did, so that its tile can say since when; a cell that
// has just turned red flashes for a few seconds, and with &sound=1 the
// kiosk beeps once for it. The times are kept in the browser
// (localStorage, per tenant), so a reload still knows them; a figure that
// is no longer coloured is forgotten.
//
// scan(board, state) runs after each render: every element with the class
// alert or warn (cells, tiles, agent cards past their state's limit, class
// over) is an alarm, named by its id, or by its row's first cell and its
// column, or by its card's name.

const FLASH_MS = 4000;

const memory = { tenant: null, since: {} };

function load(tenant) {
  if (memory.tenant === tenant) return;
  memory.tenant = tenant;
  try {
    memory.since = JSON.parse(localStorage.getItem(`callboard.alarms.${tenant}`) || "{}");
  } catch {
    memory.since = {};
  }
}

function save() {
  try {
    localStorage.setItem(`callboard.alarms.${memory.tenant}`, JSON.stringify(memory.since));
  } catch { /* a full or disabled storage only loses the times on reload */ }
}

function nameOf(el, view) {
  if (el.id) return `${view}|#${el.id}`;
  const card = el.closest(".agent");
  if (card) return `${view}|agent|${card.querySelector(".name")?.textContent}`;
  const row = el.closest("tr");
  if (row) {
    const first = row.cells[0]?.textContent;
    return el === row ? `${view}|row|${first}` : `${view}|${first}|${el.cellIndex}`;
  }
  return null;
}

const levelOf = (el) => (el.classList.contains("alert") || el.classList.contains("over") ? "alert" : "warn");

let audio = null;
function beep() {
  try {
    audio = audio || new AudioContext();
    const t0 = audio.currentTime;
    for (const [at, hz] of [[0, 880], [0.25, 660]]) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = hz;
      gain.gain.setValueAtTime(0.2, t0 + at);
      gain.gain.exponentialRampToValueAtTime(0.001, t0 + at + 0.2);
      osc.connect(gain).connect(audio.destination);
      osc.start(t0 + at);
      osc.stop(t0 + at + 0.2);
    }
  } catch { /* no audio on this screen */ }
  window.callboard.beeps = (window.callboard.beeps || 0) + 1;
}

// When the tenant's alarm named `key` began (ms since the epoch), or null.
// A view asks while it draws, before this render's scan: the first draw
// after a reload must already read the times the browser kept.
export function since(tenant, key) {
  load(tenant);
  const s = memory.since[key];
  return s ? s[1] : null;
}

export function scan(board, state, view) {
  load(state.tenant);
  const now = Date.now();
  const seen = new Set();
  let fresh = false, changed = false;
  for (const el of board.querySelectorAll(".alert, .warn, .over")) {
    const key = nameOf(el, view);
    if (!key) continue;
    seen.add(key);
    const level = levelOf(el);
    const had = memory.since[key];
    if (!had || had[0] !== level) {
      memory.since[key] = [level, now];
      changed = true;
      if (level === "alert") fresh = true;
    }
    // Flashes for its first seconds, in step across redraws.
    const age = now - memory.since[key][1];
    if (level === "alert" && age < FLASH_MS) {
      el.classList.add("flash");
      el.style.animationDelay = `-${age}ms`;
    }
    el.dataset.alarm = key;
  }
  // A view forgets only its own alarms (another view's are not on screen).
  for (const key of Object.keys(memory.since)) {
    if (key.startsWith(`${view}|`) && !seen.has(key)) { delete memory.since[key]; changed = true; }
  }
  if (changed) save();
  if (fresh && state.sound) beep();
  window.callboard.alarms = Object.keys(memory.since).length;
}
