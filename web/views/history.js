// views/history.js - coverage over time from GET /api/v1/history
// (docs/api-coverage.md, "History"): the trend chart of the report and
// file views (trendBox: covered lines and percent per day, week or month
// of the page's path, per label when asked; drawn when the URL has
// trend=day|week|month, so the chart has a deep link and costs nothing
// otherwise), and the heatmap page (/heatmap: rows are a directory's
// entries depth=1..3 levels down, or with rows=subsystems the build's
// MAINTAINERS subsystems within it; columns periods, colour the
// percentage of lines covered; a cell opens the report of that row in
// that period's build with the period's days and builds merged, exactly
// the figure of the cell).
import { api } from '../lib/api.js';
import { loadChart } from '../lib/chart.js';
import { h } from '../lib/dom.js';
import { fmtNum, fmtPct, pct } from '../lib/format.js';
import { link, setQuery } from '../lib/router.js';
import { buildApi, buildList, filterPairs } from './filters.js';

export const STEPS = ['day', 'week', 'month'];
// What history takes of the coverage views' filters: labels, minus,
// days and subsystem (it merges builds by itself: no merge=; release=
// only means something with merge=window, which history always does).
const historyPairs = (q) => filterPairs(q).filter(([k]) => k !== 'merge' && (k !== 'release' || q.get('merge') === 'window'));

export const linePct = (p) => (p.lines_total ? pct(p.lines_covered, p.lines_total) : null);

// The trend section of a report or file page for path.
export async function trendBox(ctx, path, { file = false } = {}) {
  const q = ctx.q;
  const step = STEPS.includes(q.get('trend')) ? q.get('trend') : '';
  const perLabel = q.get('trend_series') === 'label';
  const choose = h('p', { class: 'trend-steps', id: 'trend-steps' }, 'Trend: ',
    STEPS.map((s) => [s === step ? h('strong', { dataset: { step: s } }, s)
      : h('button', { type: 'button', class: 'link', dataset: { step: s }, onclick: () => setQuery({ trend: s }) }, s), ' · ']),
    h('label', { title: 'One line per label' }, h('input', { type: 'checkbox', id: 'trend-per-label', checked: perLabel,
      onchange: (ev) => setQuery({ trend: step || 'day', trend_series: ev.target.checked ? 'label' : null }) }), ' per label'),
    step ? [' · ', h('button', { type: 'button', class: 'link', id: 'trend-hide', onclick: () => setQuery({ trend: null, trend_series: null }) }, 'hide')] : null);
  if (!step) return h('section', { id: 'trend', dataset: { step: '' } }, choose);
  const j = await api('/api/v1/history', [['path', path], ['step', step], ...historyPairs(q), ...(perLabel ? [['series', 'label']] : [])]);
  const series = perLabel ? j.series.map((s) => ({ name: s.label, periods: s.periods })) : [{ name: 'all labels', periods: j.periods }];
  const labels = (series[0]?.periods || []).map((p) => p.period);
  const Chart = await loadChart();
  const canvas = h('canvas', { id: 'trend-chart', 'aria-label': 'covered lines per ' + step });
  const box = h('div', { class: 'chartbox trendbox', dataset: { chart: 'trend' } }, canvas);
  const palette = ['#2457c5', '#d03a3a', '#2f9e44', '#e0a100', '#7048e8', '#0c8599'];
  const datasets = [];
  series.forEach((s, i) => {
    const color = palette[i % palette.length];
    datasets.push({ label: `${s.name}: covered lines`, data: s.periods.map((p) => p.lines_covered), borderColor: color,
      backgroundColor: color, yAxisID: 'lines', spanGaps: false, kcov: { series: s.name, kind: 'lines' } });
    datasets.push({ label: `${s.name}: % of lines`, data: s.periods.map(linePct), borderColor: color, backgroundColor: color,
      borderDash: [4, 4], yAxisID: 'pct', spanGaps: false, kcov: { series: s.name, kind: 'pct' } });
  });
  const section = h('section', { id: 'trend', dataset: { step } }, choose, box,
    h('p', { class: 'muted' }, `Each ${step}: its coverage merged onto its newest build (`,
      h('a', { href: link('/heatmap', [['step', step], ['path', file ? path.replace(/\/?[^/]*$/, '') : path], ...historyPairs(q)]), id: 'trend-heatmap' }, 'heatmap'), ').'));
  // drawn once in the page (Chart.js measures its box)
  requestAnimationFrame(() => {
    if (!canvas.isConnected) return;
    new Chart(canvas, {
      type: 'line', data: { labels, datasets },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        scales: { lines: { type: 'linear', position: 'left', beginAtZero: true, title: { display: true, text: 'covered lines' } },
          pct: { type: 'linear', position: 'right', min: 0, max: 100, grid: { drawOnChartArea: false }, title: { display: true, text: '% of lines' } } },
      },
    });
    section.dataset.drawn = '1';
  });
  return section;
}

// ---- the heatmap -----------------------------------------------------------------

const MAX_ROWS = 60;
const MAX_DEPTH = 3;

// The entries depth levels below dir (files above that depth too), in the
// tree's order; stops growing at MAX_ROWS.
async function dirRows(build, dir, depth, pairs) {
  const tree = await api(buildApi(build) + '/tree', [['path', dir], ...pairs.filter(([k]) => k === 'subsystem')]);
  const out = [];
  for (const c of tree.children || []) {
    if (c.type === 'dir' && depth > 1 && out.length < MAX_ROWS) out.push(...await dirRows(build, c.path, depth - 1, pairs));
    else out.push(c);
  }
  return out;
}

// The build's subsystems as rows (name, and a path-less type).
async function subsystemRows(build) {
  const j = await api(buildApi(build) + '/subsystems');
  return (j.subsystems || []).map((x) => ({ name: x.name, path: x.name, type: 'subsystem' }));
}

function cellColour(p) {
  if (p === null) return '';
  // red (0%) .. yellow .. green (100%)
  const hue = Math.round(1.2 * p);
  return `hsl(${hue}, 70%, 55%)`;
}

// The period's report: T with the period's days and its other builds merged.
function cellLink(q, row, per, file) {
  const others = per.builds.filter((b) => b !== per.build_id);
  return link(file ? '/file' : '/report', [['build', per.build_id], ['path', row], ...historyPairs(q).filter(([k]) => k !== 'since' && k !== 'until'),
    ['since', per.first_day], ['until', per.last_day], ['merge', others.join(',')]]);
}

// A subsystem's cell: the period's report of dir filtered by the subsystem.
function subsystemCellLink(q, dir, name, per) {
  const others = per.builds.filter((b) => b !== per.build_id);
  return link('/report', [['build', per.build_id], ['path', dir], ...historyPairs(q).filter(([k]) => !['since', 'until', 'subsystem'].includes(k)),
    ['subsystem', name], ['since', per.first_day], ['until', per.last_day], ['merge', others.join(',')]]);
}

export async function viewHeatmap(ctx) {
  ctx.root.dataset.page = 'heatmap';
  const q = ctx.q;
  const step = STEPS.includes(q.get('step')) ? q.get('step') : 'week';
  const dir = (q.get('path') || '').replace(/\/+$/, '');
  const sort = q.get('sort') === 'drop' ? 'drop' : 'name';
  const title = h('h1', {}, 'Coverage over time', dir ? ` of ${dir}/` : '');
  const builds = await buildList();
  const newest = builds.find((b) => b.imported);
  if (!newest) return ctx.mount(title, h('p', { class: 'notice', id: 'no-build' }, 'No imported build yet.'));
  // rows: the directory's entries DEPTH levels down in the newest imported
  // build, or its MAINTAINERS subsystems (rows=subsystems)
  const bySub = q.get('rows') === 'subsystems';
  const depth = Math.min(Math.max(Number(q.get('depth')) || 1, 1), MAX_DEPTH);
  const all = bySub ? await subsystemRows(newest.build_id) : await dirRows(newest.build_id, dir, depth, historyPairs(q));
  const children = all.slice(0, MAX_ROWS);
  const rows = await Promise.all(children.map(async (c) => {
    const j = await api('/api/v1/history', [['path', bySub ? dir : c.path], ['step', step], ...historyPairs(q).filter(([k]) => !bySub || k !== 'subsystem'), ...(bySub ? [['subsystem', c.name]] : [])]);
    const cells = j.periods.map((p) => ({ p, v: linePct(p) }));
    const known = cells.filter((c2) => c2.v !== null);
    const drop = known.length > 1 ? known[known.length - 1].v - Math.max(...known.map((c2) => c2.v)) : 0;
    return { c, cells, drop };
  }));
  if (sort === 'drop') rows.sort((a, b) => a.drop - b.drop || a.c.path.localeCompare(b.c.path));
  const periods = rows[0]?.cells.map((x) => x.p) || [];
  const stepLinks = h('p', { class: 'toolbar', id: 'heatmap-controls' }, 'Step: ',
    STEPS.map((s) => [s === step ? h('strong', {}, s) : h('a', { href: link('/heatmap', [['step', s], ['path', dir], ['sort', sort === 'drop' ? 'drop' : ''], ...historyPairs(q)]), dataset: { step: s } }, s), ' · ']),
    ' Sort: ', sort === 'drop' ? h('a', { href: link('/heatmap', [['step', step], ['path', dir], ...historyPairs(q)]), id: 'sort-name' }, 'by name')
      : h('a', { href: link('/heatmap', [['step', step], ['path', dir], ['sort', 'drop'], ...historyPairs(q)]), id: 'sort-drop' }, 'by biggest drop'),
    dir ? [' · ', h('a', { href: link('/heatmap', [['step', step], ['path', dir.includes('/') ? dir.replace(/\/[^/]*$/, '') : ''], ...historyPairs(q)]), id: 'heatmap-up' }, 'up')] : null,
    ' · Rows: ', [1, 2, 3].map((d) => [!bySub && d === depth ? h('strong', {}, `depth ${d}`) : h('a', { href: link('/heatmap', [['step', step], ['path', dir], ['depth', d > 1 ? String(d) : ''], ['sort', sort === 'drop' ? 'drop' : ''], ...historyPairs(q)]), dataset: { depth: d } }, `depth ${d}`), ' · ']),
    bySub ? h('strong', {}, 'subsystems') : h('a', { href: link('/heatmap', [['step', step], ['path', dir], ['rows', 'subsystems'], ['sort', sort === 'drop' ? 'drop' : ''], ...historyPairs(q).filter(([k]) => k !== 'subsystem')]), id: 'rows-subsystems' }, 'subsystems'));
  const table = h('table', { class: 'heatmap', id: 'heatmap' },
    h('thead', {}, h('tr', {}, h('th', {}, dir ? dir + '/' : '/'), periods.map((p) => h('th', { class: 'period', title: `${p.first_day} .. ${p.last_day}` }, p.period)),
      h('th', { title: 'last period minus the best earlier one, in points of percent' }, 'drop'))),
    h('tbody', {}, rows.map((r) => h('tr', { dataset: { path: r.c.path, kind: r.c.type } },
      h('td', { class: 'name' }, r.c.type === 'dir' ? h('a', { href: link('/heatmap', [['step', step], ['path', r.c.path], ['sort', sort === 'drop' ? 'drop' : ''], ...historyPairs(q)]) }, (depth > 1 ? r.c.path.slice(dir ? dir.length + 1 : 0) : r.c.name) + '/')
        : r.c.type === 'subsystem' ? h('a', { href: link('/subsystems', [['build', newest.build_id]]) }, r.c.name) : (depth > 1 ? r.c.path.slice(dir ? dir.length + 1 : 0) : r.c.name)),
      r.cells.map(({ p, v }) => h('td', { class: 'cell', style: v === null ? null : `background:${cellColour(v)}`,
        title: v === null ? `${p.period}: no coverage` : `${p.period}: ${fmtNum(p.lines_covered)} of ${fmtNum(p.lines_total)} lines (${fmtPct(v)})`,
        dataset: { period: p.period, covered: p.lines_covered ?? '', total: p.lines_total ?? '' } },
      v === null ? '' : h('a', { href: r.c.type === 'subsystem' ? subsystemCellLink(q, dir, r.c.name, p) : cellLink(q, r.c.path, p, r.c.type === 'file') }, Math.round(v)))),
      h('td', { class: 'num drop' }, r.drop ? r.drop.toFixed(1) : '')))));
  ctx.mount(title, stepLinks,
    h('p', { class: 'muted' }, `Rows: ${bySub ? `the MAINTAINERS subsystems of the newest imported build, within ${dir || 'the root'}` : `the entries ${depth > 1 ? depth + ' levels ' : ''}below ${dir || 'the root'} in the newest imported build`}; cells: % of lines covered in each ${step}, merged onto that ${step}'s newest build. `,
      all.length > MAX_ROWS ? `First ${MAX_ROWS} of ${all.length} rows.` : ''),
    table);
}
