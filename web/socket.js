// The connection to the service: one tenant's snapshots over the websocket,
// a resync over REST when some were skipped, reconnection with a growing
// pause, and the lost state (state.lostSince, body.lost) the banner shows.
//
// connect(state, on) reads and keeps state.tenant, token, seq, ws, backoff
// and lostSince, and calls back:
//   on.snapshot(snap, seq)  a snapshot newer than the one shown
//   on.lost()               the connection just went (draw the banner)
//   on.login()              the service wants a token
//   on.unknown()            the service has no such tenant (yet)

// The token as a request header, for fetch.
export function auth(token) {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

// Each view asks for what it draws: views that list no agents get the
// snapshot without its agent list (most of a large tenant's snapshot), the
// agent views get it whole, at most once a second.
const BOARD_VIEWS = ["overview", "services", "agents", "dashboard", "waiting-calls", "agent-list", "agent-stats"];

// The views the server sends at most once a second.
const SPACED_VIEWS = ["agent-list", "agent-stats"];

function viewQuery(state) {
  return BOARD_VIEWS.includes(state.view) ? `?view=${state.view}` : "";
}

async function resync(state, on) {
  const r = await fetch(`/api/v1/tenants/${encodeURIComponent(state.tenant)}/snapshot${viewQuery(state)}`,
    { headers: auth(state.token) });
  if (!r.ok) return;
  const seq = Number(r.headers.get("x-callboard-seq")) || 0;
  const snap = await r.json();
  if (seq >= state.seq && !olderThanShown(state, snap)) on.snapshot(snap, seq);
}

// Whether a snapshot is older than the one shown (an instance that has
// just started may still hold older ones): such a one is never shown.
function olderThanShown(state, snap) {
  const shown = state.snapshot;
  return Boolean(shown && shown.tenant === snap.tenant && Date.parse(snap.at) < Date.parse(shown.at));
}

export function connect(state, on) {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const q = new URLSearchParams({ tenant: state.tenant });
  if (state.token) q.set("token", state.token);
  if (BOARD_VIEWS.includes(state.view)) q.set("view", state.view);
  const ws = new WebSocket(`${proto}://${location.host}/api/v1/ws?${q}`);
  state.ws = ws;
  ws.onopen = () => {
    state.backoff = 1000;
    // "permessage-deflate ..." when the server compresses (the browser
    // inflates each message before onmessage).
    window.callboard.wsExtensions = ws.extensions;
  };
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.type === "status") {
      // Connected, and the service says why no snapshot comes yet.
      state.recovering = msg.status === "recovering";
      if (state.lostSince) { state.lostSince = null; document.body.classList.remove("lost"); }
      on.lost();
      return;
    }
    if (msg.type !== "snapshot") return;
    state.recovering = false;
    window.callboard.received = (window.callboard.received || 0) + 1;
    if (olderThanShown(state, msg.snapshot)) return;
    // The agent views are sent at most one snapshot a second, so numbers
    // are skipped by design; elsewhere a gap means a slow connection.
    const gap = state.seq && msg.seq > state.seq + 1 && !SPACED_VIEWS.includes(state.view);
    if (state.lostSince) { state.lostSince = null; document.body.classList.remove("lost"); }
    on.snapshot(msg.snapshot, msg.seq);
    // Snapshots were skipped: make sure nothing newer is missing.
    if (gap) resync(state, on).catch(() => {});
  };
  ws.onclose = async (ev) => {
    if (!state.lostSince) { state.lostSince = new Date(); document.body.classList.add("lost"); on.lost(); }
    if (ev.code === 1008 || ev.code === 1006) {
      // Refused upgrades surface as 1006: ask whether a token is needed,
      // or whether the tenant is unknown (it is retried, more slowly: its
      // first event may yet come).
      const probe = await fetch(`/api/v1/tenants`, { headers: auth(state.token) }).catch(() => null);
      if (probe && probe.status === 401) return on.login();
      if (!state.seq) {
        const r = await fetch(`/api/v1/tenants/${encodeURIComponent(state.tenant)}/snapshot`,
          { headers: auth(state.token) }).catch(() => null);
        if (r && r.status === 404) { on.unknown(); state.backoff = Math.max(state.backoff, 15000); }
      }
    }
    const wait = Math.min(state.backoff, 30000) * (0.8 + Math.random() * 0.4);
    state.backoff = Math.min(state.backoff * 2, 30000);
    setTimeout(() => connect(state, on), wait);
  };
}
