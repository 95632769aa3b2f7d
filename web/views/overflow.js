// views/overflow.js - the coverage buffer overflow page (/overflow).
import { api } from '../lib/api.js';
import { barChart, loadChart } from '../lib/chart.js';
import { h } from '../lib/dom.js';
import { fmtNum } from '../lib/format.js';
import { link, navigate } from '../lib/router.js';
import { cards, sortableTable } from '../lib/widgets.js';

// Overflow statistics (docs/overflow-stats.md): GET /api/v1/stats/overflow
// with group=, since=, until=, limit= taken from the page's URL. The fleet
// summary is the upstream cover letter's table (docs/overflow-stats.md:
// machines overflowing in at least half of their runs, median machine rate,
// unique vs trace); the groups get a chart and a table.
const GROUPS = ['machine', 'build', 'label', 'mode', 'workload', 'day', 'machine,mode', 'label,mode', 'build,mode', 'workload,mode', 'day,mode'];
const ratePct = (r) => (r === null || r === undefined ? '–' : (100 * r).toFixed(1) + '%');

export async function viewOverflow(ctx) {
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
