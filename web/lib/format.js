// lib/format.js - how numbers, percentages and times are shown. Pure
// functions; runs nothing when loaded.

export const fmtNum = (n) => (n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US'));

// Percentage of c in t with one decimal, or null when t is 0. The tests
// compute the same string from the REST API's numbers.
export function pct(c, t) {
  return t ? (100 * c) / t : null;
}
export const fmtPct = (p) => (p === null ? '–' : p.toFixed(1) + '%');

export function fmtTime(unix) {
  if (!unix) return '–';
  return new Date(unix * 1000).toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
}

export function ago(unix) {
  if (!unix) return 'never';
  const s = Math.max(0, Date.now() / 1000 - unix);
  if (s < 90) return Math.round(s) + ' s ago';
  if (s < 5400) return Math.round(s / 60) + ' min ago';
  if (s < 129600) return Math.round(s / 3600) + ' h ago';
  return Math.round(s / 86400) + ' days ago';
}
