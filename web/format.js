// Figures as the board shows them: escaped text, numbers, percentages,
// durations and the tenant's time of day. A figure the snapshot does not
// have (null) shows as the language's "none".
import { locale, t } from "./i18n.js";

export const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
export const num = (v) => (v === null || v === undefined ? `<span class="null">${t("none")}</span>` : v.toLocaleString());
export const pct = (v) => (v === null || v === undefined ? `<span class="null">${t("none")}</span>` : `${v.toFixed(1)}%`);
export const dur = (s) => {
  s = Math.max(0, Math.floor(s));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const mm = String(m).padStart(2, "0"), ss = String(sec).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${m}:${ss}`;
};

// A long duration (login time) in hours and minutes, so that it never
// reads as a time of day: 8시간 46분, 8 h 46 min; under an hour 46분.
export const span = (s) => {
  const m = Math.floor(Math.max(0, s) / 60), h = Math.floor(m / 60);
  return h ? t("h_m").replace("{h}", h).replace("{m}", m % 60) : t("m_only").replace("{m}", m);
};

// The clock shows the tenant's time (its zone, tz, is in the snapshot), not
// the kiosk's: a screen whose system runs on UTC still shows Seoul's 04:04.
export function tenantTime(date, tz) {
  try {
    return date.toLocaleTimeString(locale(), tz ? { timeZone: tz } : {});
  } catch {
    return date.toLocaleTimeString(locale());
  }
}
