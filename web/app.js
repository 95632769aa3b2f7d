// app.js - kcovd's browser UI: the shell (client-side routing on the path
// and query string, so every view has a URL that reproduces it), the API
// client, shared widgets (sortable tables, coverage bars) and the fleet
// pages (machines, one machine, builds, overflow). The coverage report
// (directory tree and file view) is in coverage.js.
import { viewReport, viewFile } from './coverage.js';

export const $ = (sel, root = document) => root.querySelector(sel);

// h('td', {class: 'num', title: 'x'}, child, ...): a DOM element. Children
// are nodes, strings or arrays of them; null/undefined/false are skipped.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  const add = (c) => {
    if (c === undefined || c === null || c === false) return;
    if (Array.isArray(c)) c.forEach(add);
    else el.append(c instanceof Node ? c : String(c));
  };
  children.forEach(add);
  return el;
}

export const esc = (s) => String(s).replace(/[&<>"']/g,
  (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

// ---- API client ----------------------------------------------------------

// An error answer of kcovd: status, the stable `code` of the JSON error
// body (docs/api.md: "not_found", "not_imported", ...; "" when the answer
// had none) and its message. Decide on status and code, never on message.
// How to import a build, for the notices that need one.
export const IMPORT_HINT = 'kcovd import-build --vmlinux vmlinux --modules DIR --source DIR';

export class ApiError extends Error {
  constructor(status, message, path, code) {
    super(message);
    this.status = status;
    this.path = path;
    this.code = code || '';
  }
}

const TOKEN_KEY = 'kcovd.token';

// GET path with params (an array of [name, value] pairs, so names can
// repeat; empty values are left out). Resolves to the JSON body, rejects
// with ApiError (status 0 for network errors).
export async function api(path, params) {
  const url = new URL(path, location.origin);
  for (const [k, v] of params || []) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.append(k, v);
  }
  const headers = { Accept: 'application/json' };
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = 'Bearer ' + token;
  let resp;
  try {
    resp = await fetch(url, { headers });
  } catch (e) {
    throw new ApiError(0, 'cannot reach kcovd: ' + e.message, path);
  }
  let body = null;
  try {
    body = await resp.json();
  } catch {
    body = null;
  }
  if (!resp.ok) throw new ApiError(resp.status, (body && body.error) || resp.statusText, path, body && body.code);
  return body;
}

export function errorBox(e) {
  const msg = e instanceof ApiError
    ? `${e.path}: ${e.status ? 'HTTP ' + e.status + ': ' : ''}${e.message}`
    : String(e && e.stack ? e.message : e);
  return h('div', { class: 'error', role: 'alert' }, msg,
    e instanceof ApiError && e.status === 401
      ? h('div', {}, 'This kcovd needs a read token: use “Token” at the top right.') : null);
}

// ---- formatting ------------------------------------------------------------

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

// A coverage cell: bar, percentage and "covered / total"; partial (lines
// partly covered) adds a yellow segment to the bar.
export function covCell(c, t, partial = 0) {
  const p = pct(c, t);
  const pp = pct(partial, t);
  return h('div', { class: 'cov' + (p === null ? ' none' : ''), dataset: { covered: c, total: t } },
    h('span', { class: 'bar' }, h('i', { style: `width:${p === null ? 0 : p.toFixed(2)}%` }),
      partial ? h('i', { class: 'part', style: `width:${pp.toFixed(2)}%` }) : null),
    h('span', { class: 'pct' }, fmtPct(p)),
    h('span', { class: 'frac' }, `${fmtNum(c)} / ${fmtNum(t)}`));
}

export function cards(items) {
  return h('div', { class: 'cards' }, items.map(([k, v, title]) =>
    h('div', { class: 'card', title }, h('div', { class: 'v' }, v), h('div', { class: 'k' }, k))));
}

// ---- sortable tables -------------------------------------------------------

// columns: [{key, label, num, value(row) -> sortable value, cell(row) ->
// node/string, title}]. The sort column and direction live in the URL
// (?sort=key&dir=asc|desc) so a sorted view has a link; clicking a header
// re-sorts in place with history.replaceState. top: rows kept above the
// sorted ones (totals).
export function sortableTable({ columns, rows, ctx, defaultSort, defaultDir = 'asc', top = [], rowAttrs, id }) {
  const q = ctx.q;
  let sort = columns.some((c) => c.key === q.get('sort')) ? q.get('sort') : defaultSort;
  let dir = q.get('dir') === 'desc' || q.get('dir') === 'asc' ? q.get('dir') : defaultDir;
  const thead = h('thead');
  const tbody = h('tbody');
  const table = h('table', { class: 'grid', id }, thead, tbody);

  const draw = () => {
    const col = columns.find((c) => c.key === sort);
    const val = col ? col.value || ((r) => r[col.key]) : null;
    const sorted = rows.slice();
    if (val) {
      sorted.sort((a, b) => {
        const x = val(a), y = val(b);
        const nx = x === null || x === undefined, ny = y === null || y === undefined;
        if (nx || ny) return nx && ny ? 0 : nx ? 1 : -1; // empty values last
        const d = typeof x === 'string' ? x.localeCompare(y) : x - y;
        return dir === 'asc' ? d : -d;
      });
    }
    thead.replaceChildren(h('tr', {}, columns.map((c) => h('th', {
      class: [c.num ? 'num' : '', c.nosort ? '' : 'sortable',
        c.key === sort ? 'sorted-' + dir : ''].join(' ').trim(),
      title: c.title,
      dataset: { key: c.key },
      onclick: c.nosort ? undefined : () => {
        if (sort === c.key) dir = dir === 'asc' ? 'desc' : 'asc';
        else { sort = c.key; dir = c.num ? 'desc' : 'asc'; }
        setQuery({ sort, dir }, { replace: true, render: false });
        draw();
      },
    }, c.label))));
    const tr = (r, extra) => h('tr', Object.assign({}, rowAttrs ? rowAttrs(r) : {}, extra || {}),
      columns.map((c) => h('td', { class: c.num ? 'num' : c.cls || '' },
        c.cell ? c.cell(r) : typeof r[c.key] === 'number' ? fmtNum(r[c.key]) : String(r[c.key] ?? '–'))));
    tbody.replaceChildren(...top.map((r) => tr(r, { class: 'totals' })), ...sorted.map((r) => tr(r)));
  };
  draw();
  return table;
}

// ---- routing ---------------------------------------------------------------

const routes = {
  '/report': viewReport,
  '/file': viewFile,
  '/builds': viewBuilds,
  '/machines': viewMachines,
  '/machine': viewMachine,
  '/overflow': viewOverflow,
};
let renderSeq = 0;

export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  render();
  if (!replace) window.scrollTo(0, 0);
}

// Change query parameters of the current URL (null/'' removes one; arrays
// repeat it).
export function setQuery(changes, { replace = false, render: rerender = true } = {}) {
  const q = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(changes)) {
    q.delete(k);
    for (const x of Array.isArray(v) ? v : [v]) if (x !== null && x !== undefined && x !== '') q.append(k, x);
  }
  const s = q.toString();
  const url = location.pathname + (s ? '?' + s : '') + location.hash;
  if (!rerender) history.replaceState(null, '', url);
  else navigate(url, { replace });
}

// Build "/path?k=v&..." from pairs or an object (empty values left out).
export function link(path, params) {
  const q = new URLSearchParams();
  const pairs = Array.isArray(params) ? params : Object.entries(params || {});
  for (const [k, v] of pairs) {
    for (const x of Array.isArray(v) ? v : [v]) if (x !== null && x !== undefined && x !== '') q.append(k, x);
  }
  const s = q.toString();
  return path + (s ? '?' + s : '');
}

async function render() {
  const seq = ++renderSeq;
  let path = location.pathname.replace(/\/+$/, '') || '/';
  if (path === '/' || path === '/index.html') {
    path = '/report';
    history.replaceState(null, '', path + location.search + location.hash);
  }
  const root = $('#view');
  document.body.dataset.state = 'loading';
  document.body.dataset.view = path.slice(1);
  const section = { '/file': 'report', '/machine': 'machines' }[path] || path.slice(1);
  document.querySelectorAll('header nav a').forEach((a) =>
    a.classList.toggle('active', a.dataset.section === section));
  const ctx = {
    q: new URLSearchParams(location.search),
    root,
    live: () => seq === renderSeq,
    // Replace the view's content, unless a newer navigation started.
    mount: (...nodes) => {
      if (seq === renderSeq) root.replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false));
    },
  };
  const view = routes[path];
  try {
    if (!view) {
      ctx.mount(h('h1', {}, 'Not found'), h('p', {}, 'No page ', h('code', {}, path), '. ',
        h('a', { href: '/report' }, 'Coverage report')));
    } else {
      await view(ctx);
    }
  } catch (e) {
    if (!(e instanceof ApiError)) console.error(e); // API errors are on the page
    ctx.mount(errorBox(e));
  }
  if (seq === renderSeq) document.body.dataset.state = 'ready';
}

document.addEventListener('click', (ev) => {
  const a = ev.target.closest('a[href]');
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey ||
      ev.altKey || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/') ||
      !(url.pathname.replace(/\/+$/, '') in routes || url.pathname === '/')) return;
  ev.preventDefault();
  if (url.pathname + url.search === location.pathname + location.search && url.hash) {
    location.hash = url.hash;
    return;
  }
  navigate(url.pathname + url.search + url.hash);
});
window.addEventListener('popstate', () => render());

$('#token-button').addEventListener('click', () => {
  const cur = localStorage.getItem(TOKEN_KEY) || '';
  const t = prompt('Bearer token for the API (empty: none). Stored in this browser only.', cur);
  if (t === null) return;
  if (t.trim()) localStorage.setItem(TOKEN_KEY, t.trim());
  else localStorage.removeItem(TOKEN_KEY);
  render();
});

// ---- fleet: machines -------------------------------------------------------

const STALE_S = 24 * 3600;

async function viewMachines(ctx) {
  const { machines } = await api('/api/v1/machines');
  const now = Date.now() / 1000;
  const sum = (k) => machines.reduce((a, m) => a + (m[k] || 0), 0);
  const recent = machines.filter((m) => m.last_push && now - m.last_push < STALE_S).length;
  const pcs = sum('pcs'), unknown = sum('unknown_pcs');
  const table = sortableTable({
    ctx, id: 'machines', rows: machines, defaultSort: 'name',
    rowAttrs: (m) => ({ class: !m.last_push || now - m.last_push >= STALE_S ? 'stale' : '', dataset: { machine: m.name } }),
    columns: [
      { key: 'name', label: 'Machine', cls: 'name', cell: (m) => h('a', { href: link('/machine', { name: m.name }) }, m.name) },
      { key: 'last_push', label: 'Last push', num: true, title: 'Machines silent for a day are red',
        cell: (m) => h('span', { class: 'last-push', title: fmtTime(m.last_push) }, ago(m.last_push)) },
      { key: 'first_seen', label: 'First seen', num: true, cell: (m) => fmtTime(m.first_seen) },
      { key: 'reports', label: 'Reports', num: true },
      { key: 'boots', label: 'Boots', num: true },
      { key: 'pcs', label: 'PCs received', num: true },
      { key: 'unknown_pcs', label: 'Unmatched PCs', num: true, title: 'PCs that fell in no known text region (not canonicalized)',
        cell: (m) => h('span', { title: fmtPct(pct(m.unknown_pcs, m.pcs)) + ' of the PCs received' }, fmtNum(m.unknown_pcs)) },
      { key: 'releases', label: 'Releases', value: (m) => (m.releases || []).join(' '),
        cell: (m) => (m.releases || []).map((r) => h('span', { class: 'chip' }, r)) },
    ],
  });
  ctx.mount(
    h('h1', {}, 'Machines'),
    cards([
      ['machines', fmtNum(machines.length)],
      ['pushed in the last 24 h', fmtNum(recent)],
      ['reports', fmtNum(sum('reports'))],
      ['boots', fmtNum(sum('boots'))],
      ['PCs received', fmtNum(pcs)],
      ['unmatched PCs', `${fmtNum(unknown)} (${fmtPct(pct(unknown, pcs))})`, 'PCs that fell in no known text region'],
    ]),
    machines.length ? table : h('p', { class: 'notice' }, 'No machine has pushed coverage yet.'));
}

async function viewMachine(ctx) {
  const name = ctx.q.get('name');
  if (!name) return ctx.mount(h('p', { class: 'error' }, 'No machine given (?name=).'));
  const limit = ctx.q.get('limit') || '200';
  const [{ machines }, { reports }] = await Promise.all([
    api('/api/v1/machines'),
    api('/api/v1/reports', [['machine', name], ['limit', limit]]),
  ]);
  const m = machines.find((x) => x.name === name);
  if (!m) return ctx.mount(h('h1', {}, name), h('p', { class: 'error' }, 'No such machine.'));
  const runs = reports.reduce((a, r) => a + r.runs, 0);
  const over = reports.reduce((a, r) => a + r.overflowed_runs, 0);
  ctx.mount(
    h('div', { class: 'crumbs' }, h('a', { href: '/machines' }, 'machines'), h('span', { class: 'sep' }, '/'), h('span', {}, name)),
    h('h1', {}, name),
    cards([
      ['last push', ago(m.last_push), fmtTime(m.last_push)],
      ['first seen', fmtTime(m.first_seen)],
      ['reports', fmtNum(m.reports)],
      ['boots', fmtNum(m.boots)],
      ['unmatched PCs', `${fmtNum(m.unknown_pcs)} / ${fmtNum(m.pcs)}`],
      [`overflowed runs (last ${reports.length} reports)`, `${fmtNum(over)} / ${fmtNum(runs)} (${fmtPct(pct(over, runs))})`],
    ]),
    h('p', {}, 'Releases: ', (m.releases || []).map((r) => h('span', { class: 'chip' }, r))),
    h('h2', {}, `Latest reports (${reports.length}${reports.length >= Number(limit) ? ', ' : ''}`,
      reports.length >= Number(limit) ? h('a', { href: link('/machine', { name, limit: Number(limit) * 5 }) }, 'more') : null, ')'),
    sortableTable({
      ctx, id: 'reports', rows: reports, defaultSort: 'received', defaultDir: 'desc',
      columns: [
        { key: 'received', label: 'Received', num: true, cell: (r) => h('span', { title: 'created ' + fmtTime(r.created) }, fmtTime(r.received)) },
        { key: 'label', label: 'Label', cell: (r) => h('span', { class: 'chip' }, r.label) },
        { key: 'boot_id', label: 'Boot', cls: 'name', cell: (r) => h('span', { title: r.boot_id }, r.boot_id.slice(0, 8)) },
        { key: 'pcs', label: 'PCs', num: true },
        { key: 'unknown_pcs', label: 'Unmatched', num: true },
        { key: 'runs', label: 'Runs', num: true },
        { key: 'overflowed_runs', label: 'Overflowed runs', num: true },
        { key: 'bytes', label: 'Bytes', num: true },
      ],
    }));
}

// ---- fleet: builds ---------------------------------------------------------

async function viewBuilds(ctx) {
  const { builds } = await api('/api/v1/builds');
  ctx.mount(
    h('h1', {}, 'Builds'),
    builds.length ? sortableTable({
      ctx, id: 'builds', rows: builds, defaultSort: 'last_seen', defaultDir: 'desc',
      rowAttrs: (b) => ({ dataset: { build: b.build_id } }),
      columns: [
        { key: 'build_id', label: 'Build id', cls: 'name',
          cell: (b) => h('a', { href: link('/report', { build: b.build_id }), title: 'Coverage report of ' + b.build_id }, b.build_id) },
        { key: 'release', label: 'Release' },
        { key: 'first_seen', label: 'First seen', num: true, cell: (b) => fmtTime(b.first_seen) },
        { key: 'last_seen', label: 'Last seen', num: true, cell: (b) => h('span', { title: fmtTime(b.last_seen) }, ago(b.last_seen)) },
        { key: 'machines', label: 'Machines', num: true },
        { key: 'boots', label: 'Boots', num: true },
        { key: 'modules', label: 'Modules', num: true },
        { key: 'imported', label: 'Imported', value: (b) => (b.imported ? 1 : 0), cell: (b) => (b.imported ? 'yes' : 'no'),
          title: 'Imported builds have files and functions (kcovd import-build)' },
        { key: 'files', label: 'Files', num: true },
        { key: 'points', label: 'Points', num: true, title: 'Coverage points of the import' },
        { key: 'covered_pcs', label: 'Covered PCs', num: true, title: 'Distinct canonical PCs covered, all binaries' },
      ],
    }) : h('p', { class: 'notice' }, 'No build known yet: builds appear when machines push coverage or a build is imported (',
      h('code', {}, IMPORT_HINT), ').'));
}

// ---- fleet: overflow -------------------------------------------------------

let chartLoad = null;
// Chart.js (vendored UMD build), loaded on the first page that draws.
export function loadChart() {
  if (window.Chart) return Promise.resolve(window.Chart);
  chartLoad = chartLoad || new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = '/vendor/chart.umd.min.js';
    s.onload = () => resolve(window.Chart);
    s.onerror = () => { chartLoad = null; reject(new Error('cannot load /vendor/chart.umd.min.js')); };
    document.head.append(s);
  });
  return chartLoad;
}

function barChart(Chart, canvas, labels, datasets, { yTitle, max } = {}) {
  const palette = ['#d03a3a', '#2457c5', '#2f9e44', '#e0a100', '#7048e8', '#0c8599'];
  return new Chart(canvas, {
    type: 'bar',
    data: { labels, datasets: datasets.map((d, i) => Object.assign({ backgroundColor: palette[i % palette.length] }, d)) },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false,
      scales: { y: { beginAtZero: true, max, title: { display: !!yTitle, text: yTitle } } },
      plugins: { legend: { display: datasets.length > 1 } },
    },
  });
}

// Overflow statistics (docs/overflow-stats.md): GET /api/v1/stats/overflow
// with group=, since=, until=, limit= taken from the page's URL. The fleet
// summary is the upstream cover letter's table (docs/overflow-stats.md:
// machines overflowing in at least half of their runs, median machine rate,
// unique vs trace); the groups get a chart and a table.
const GROUPS = ['machine', 'build', 'label', 'mode', 'workload', 'day', 'machine,mode', 'label,mode', 'build,mode', 'workload,mode', 'day,mode'];
const ratePct = (r) => (r === null || r === undefined ? '–' : (100 * r).toFixed(1) + '%');

async function viewOverflow(ctx) {
  const q = ctx.q;
  const group = q.get('group') || 'machine';
  const params = [['group', group], ['since', q.get('since')], ['until', q.get('until')], ['limit', q.get('limit')]];
  const stats = await api('/api/v1/stats/overflow', params);
  const form = h('form', { class: 'toolbar', id: 'overflow-filters' },
    h('label', {}, 'Group by', h('select', { name: 'group', id: 'group-select' },
      GROUPS.map((g) => h('option', { value: g, selected: g === group }, g.replace(',', ' × '))))),
    h('label', {}, 'Since', h('input', { type: 'date', name: 'since', value: q.get('since') || '' })),
    h('label', {}, 'Until', h('input', { type: 'date', name: 'until', value: q.get('until') || '' })),
    h('label', {}, 'Groups', h('input', { type: 'number', name: 'limit', min: 1, max: 100000, value: q.get('limit') || '50', size: 6 })),
    h('button', { type: 'submit' }, 'Apply'));
  const go = () => {
    const f = new FormData(form);
    navigate(link('/overflow', [['group', f.get('group')], ['since', f.get('since')], ['until', f.get('until')],
      ['limit', f.get('limit') === '50' ? '' : f.get('limit')]]));
  };
  form.addEventListener('submit', (ev) => { ev.preventDefault(); go(); });
  form.querySelector('select').addEventListener('change', go);

  const fl = stats.fleet || {};
  const modeRow = (name, m) => Object.assign({ mode: name }, m || {});
  const modes = [modeRow('all', fl), modeRow('unique', fl.unique), modeRow('trace', fl.trace)];
  const keys = (stats.group || group).split(',');
  const groups = stats.groups || [];
  const canvas = h('canvas', { 'aria-label': 'overflow rate by ' + group });
  const chartBox = h('div', { class: 'chartbox', dataset: { chart: 'groups' } }, canvas);
  const label = (g) => keys.map((k) => g[k]).join(' · ');
  ctx.mount(
    h('h1', {}, 'Coverage buffer overflows'),
    form,
    cards([
      ['machines with runs', fmtNum(fl.machines)],
      ['machines overflowing in ≥ 50% of runs', fmtNum(fl.machines_overflow_ge_50pct)],
      ['median machine overflow rate', ratePct(fl.median_machine_rate)],
      ['runs overflowed', `${fmtNum(fl.overflowed)} / ${fmtNum(fl.runs)} (${ratePct(fl.rate)})`],
      ['unique mode cut overflows by', ratePct(fl.unique_vs_trace_reduction), '1 − unique rate / trace rate'],
    ]),
    h('h2', {}, 'By coverage mode'),
    sortableTable({
      ctx: { q: new URLSearchParams() }, id: 'overflow-modes', rows: modes, defaultSort: '',
      columns: [
        { key: 'mode', label: 'Mode', nosort: true },
        { key: 'machines', label: 'Machines', num: true, nosort: true },
        { key: 'machines_overflow_ge_50pct', label: 'Machines ≥ 50% overflowed', num: true, nosort: true },
        { key: 'median_machine_rate', label: 'Median machine rate', num: true, nosort: true, cell: (m) => ratePct(m.median_machine_rate) },
        { key: 'runs', label: 'Runs', num: true, nosort: true },
        { key: 'overflowed', label: 'Overflowed', num: true, nosort: true },
        { key: 'rate', label: 'Rate', num: true, nosort: true, cell: (m) => ratePct(m.rate) },
      ],
    }),
    h('h2', {}, `By ${group.replace(',', ' × ')} (${groups.length} ${groups.length === 1 ? 'group' : 'groups'}${keys[0] === 'day' ? '' : ', worst first'})`),
    groups.length ? chartBox : h('p', { class: 'notice', id: 'no-overflow-stats' }, 'No overflow statistics yet: no runs in this window.'),
    groups.length ? sortableTable({
      ctx, id: 'overflow-groups', rows: groups, defaultSort: 'rate', defaultDir: 'desc',
      columns: [
        ...keys.map((k) => ({ key: k, label: k, cls: 'name',
          cell: (g) => (k === 'machine' ? h('a', { href: link('/machine', { name: g[k] }) }, g[k])
            : k === 'build' ? h('a', { href: link('/report', { build: g[k] }), title: g[k] }, String(g[k]).slice(0, 12)) : String(g[k] ?? '–')) })),
        { key: 'runs', label: 'Runs', num: true },
        { key: 'overflowed', label: 'Overflowed', num: true },
        { key: 'rate', label: 'Rate', num: true, cell: (g) => ratePct(g.rate) },
        { key: 'fill_p50', label: 'Fill p50', num: true, cell: (g) => ratePct(g.fill_p50), title: 'Buffer fill level of the median run' },
        { key: 'fill_p90', label: 'Fill p90', num: true, cell: (g) => ratePct(g.fill_p90) },
        { key: 'fill_p99', label: 'Fill p99', num: true, cell: (g) => ratePct(g.fill_p99) },
        { key: 'remote_runs', label: 'Remote runs', num: true },
        { key: 'remote_overflowed', label: 'Remote overflowed', num: true },
      ],
    }) : null);
  if (!groups.length || !ctx.live()) return;
  const Chart = await loadChart();
  if (!ctx.live()) return;
  if (keys[0] === 'day') {
    // Rate over time; one line per value of the second key.
    const days = [...new Set(groups.map((g) => g.day))].sort();
    const series = new Map();
    for (const g of groups) {
      const s = keys[1] ? String(g[keys[1]]) : 'rate';
      if (!series.has(s)) series.set(s, new Map());
      series.get(s).set(g.day, 100 * g.rate);
    }
    new Chart(canvas, {
      type: 'line',
      data: { labels: days, datasets: [...series].map(([name, m], i) => ({ label: name, data: days.map((d) => m.get(d) ?? null), borderColor: ['#d03a3a', '#2457c5', '#2f9e44', '#e0a100'][i % 4], spanGaps: true })) },
      options: { animation: false, responsive: true, maintainAspectRatio: false, scales: { y: { beginAtZero: true, max: 100, title: { display: true, text: '% of runs overflowed' } } } },
    });
  } else {
    const top = groups.slice(0, 40);
    barChart(Chart, canvas, top.map(label), [
      { label: 'runs overflowed (%)', data: top.map((g) => 100 * g.rate) },
      { label: 'buffer fill p90 (%)', data: top.map((g) => 100 * (g.fill_p90 ?? 0)) },
    ], { yTitle: '%', max: 100 });
  }
}

render();
