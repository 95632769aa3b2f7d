// history.test.mjs - browser tests of coverage over time: the trend chart
// of the report and file views draws exactly GET /api/v1/history's
// series (read back from the Chart.js instance), per label too, and its
// step survives deep links; the heatmap's cells equal the history figures
// of each row, a cell opens the report of that period whose total is
// the cell's figure, and sorting by the biggest drop and walking into a
// directory keep their URLs. The fixture pushes reports taken 9, 5 and 2
// days ago besides today's (fixture.py load_history).
import { check, eq, newPage, open, ready, api, shot, noErrors } from './lib.mjs';
import { checkTree } from './coverage.test.mjs';

const linePct = (p) => (p.lines_total ? (100 * p.lines_covered) / p.lines_total : null);
const hist = (env, params) => api(env, '/api/v1/history?' + new URLSearchParams(params));

export async function chartData(page) {
  await page.waitForFunction(() => document.querySelector('#trend')?.dataset.drawn === '1', null, { timeout: 20000 });
  return page.evaluate(() => {
    const c = window.Chart.getChart(document.querySelector('#trend-chart'));
    return { labels: c.data.labels, sets: c.data.datasets.map((d) => ({ ...d.kcov, data: d.data })) };
  });
}

function checkSeries(chart, series, what) {
  eq(chart.labels, series[0].periods.map((p) => p.period), what + ': periods');
  eq(chart.sets.map((s) => [s.series, s.kind]), series.flatMap((s) => [[s.name, 'lines'], [s.name, 'pct']]), what + ': datasets');
  for (const s of series) {
    eq(chart.sets.find((x) => x.series === s.name && x.kind === 'lines').data, s.periods.map((p) => p.lines_covered), `${what}: ${s.name} lines`);
    eq(chart.sets.find((x) => x.series === s.name && x.kind === 'pct').data, s.periods.map(linePct), `${what}: ${s.name} percent`);
  }
}

async function test_trend_chart(env) {
  const build = env.info.import.build_id, later = env.info.later.build_id;
  const page = await newPage(env);
  await open(page, env, `/report?build=${build}`);
  check(await page.isVisible('#trend-steps') && !(await page.$('#trend-chart')), 'no chart before a step is chosen');
  await page.click('#trend-steps [data-step="day"]');
  await ready(page);
  eq(new URL(page.url()).searchParams.get('trend'), 'day', 'trend= in the URL');
  const j = await hist(env, [['path', ''], ['step', 'day']]);
  checkSeries(await chartData(page), [{ name: 'all labels', periods: j.periods }], 'root by day');
  // the fixture: four days with coverage, growing, today merged over both builds
  const known = j.periods.filter((p) => p.lines_covered !== null);
  eq(known.length, 4, 'days with coverage');
  check(new Set(known.map((p) => p.lines_covered)).size >= 3, 'the days differ: ' + known.map((p) => p.lines_covered));
  const today = j.periods[j.periods.length - 1];
  eq([today.build_id, today.builds.slice().sort()], [build, [build, later].sort()], 'today: T and its builds');
  const t = await api(env, `/api/v1/builds/${build}/tree?` + new URLSearchParams([['since', today.first_day], ['until', today.last_day], ['merge', later]]));
  eq([today.lines_covered, today.lines_total, today.lost_lines], [t.lines_covered, t.lines_total, t.lost_lines], 'today equals the merged tree of today');
  await shot(page, 'report-trend.png');
  // per label, and a reload keeps it
  await page.click('#trend-per-label');
  await ready(page);
  eq(new URL(page.url()).searchParams.get('trend_series'), 'label', 'per label in the URL');
  const sj = await hist(env, [['path', ''], ['step', 'day'], ['series', 'label']]);
  const series = sj.series.map((s) => ({ name: s.label, periods: s.periods }));
  check(series.some((s) => s.name === 'ltp') && series.some((s) => s.name === 'syzkaller'), 'labels: ' + series.map((s) => s.name));
  checkSeries(await chartData(page), series, 'per label');
  await page.reload();
  await ready(page);
  checkSeries(await chartData(page), series, 'per label after reload');
  // a directory by week with a label filter, and a file by month
  await open(page, env, `/report?build=${build}&path=lib&label=ltp&trend=week`);
  const wj = await hist(env, [['path', 'lib'], ['step', 'week'], ['label', 'ltp']]);
  checkSeries(await chartData(page), [{ name: 'all labels', periods: wj.periods }], 'lib/ by week, ltp');
  await open(page, env, `/file?build=${build}&path=lib/gen.c&trend=month`);
  const mj = await hist(env, [['path', 'lib/gen.c'], ['step', 'month']]);
  checkSeries(await chartData(page), [{ name: 'all labels', periods: mj.periods }], 'lib/gen.c by month');
  check(mj.periods.some((p) => p.lines_covered > 0), 'gen.c covered in some month');
  await page.click('#trend-hide');
  await ready(page);
  check(!new URL(page.url()).searchParams.has('trend') && !(await page.$('#trend-chart')), 'hidden');
  noErrors(page);
  await page.close();
}

async function readHeatmap(page) {
  return page.$$eval('#heatmap tbody tr', (trs) => trs.map((tr) => ({
    path: tr.dataset.path,
    cells: [...tr.querySelectorAll('td.cell')].map((td) => [td.dataset.period, td.dataset.covered, td.dataset.total]),
  })));
}

async function test_heatmap(env) {
  const build = env.info.import.build_id;
  const page = await newPage(env);
  await open(page, env, '/heatmap?step=day');
  const tree = await api(env, `/api/v1/builds/${build}/tree`);
  const rows = await readHeatmap(page);
  eq(rows.map((r) => r.path), tree.children.map((c) => c.path), 'rows: the root\'s children in the newest build');
  const drops = {};
  for (const r of rows) {
    const j = await hist(env, [['path', r.path], ['step', 'day']]);
    eq(r.cells, j.periods.map((p) => [p.period, String(p.lines_covered ?? ''), String(p.lines_total ?? '')]), 'cells of ' + r.path);
    const known = j.periods.map(linePct).filter((v) => v !== null);
    drops[r.path] = known.length > 1 ? known[known.length - 1] - Math.max(...known) : 0;
  }
  check(rows.some((r) => r.cells.filter((c) => c[1] !== '').length >= 3), 'no row has three days');
  await shot(page, 'heatmap.png');
  // a cell opens the report of its period: T, its days, its builds merged
  const row = rows.find((r) => r.path === 'lib');
  const cell = row.cells.filter((c) => c[1] !== '')[0];
  await page.click(`#heatmap tr[data-path="lib"] td[data-period="${cell[0]}"] a`);
  await ready(page);
  const u = new URL(page.url());
  eq([u.pathname, u.searchParams.get('path'), u.searchParams.get('since'), u.searchParams.get('until')], ['/report', 'lib', cell[0], cell[0]], 'cell link');
  const filters = [...u.searchParams].filter(([k]) => !['build', 'path'].includes(k));
  const t = await checkTree(page, env, u.searchParams.get('build'), 'lib', filters);
  eq([String(t.lines_covered), String(t.lines_total)], [cell[1], cell[2]], 'the report of the cell shows its figure');
  // sort by the biggest drop (deep link), then into a directory and up
  await open(page, env, '/heatmap?step=day');
  await page.click('#sort-drop');
  await ready(page);
  eq(new URL(page.url()).searchParams.get('sort'), 'drop', 'sort= in the URL');
  eq((await readHeatmap(page)).map((r) => r.path), Object.keys(drops).sort((a, b) => drops[a] - drops[b] || a.localeCompare(b)), 'rows by drop');
  await page.click('#heatmap tr[data-path="lib"] td.name a');
  await ready(page);
  eq(new URL(page.url()).searchParams.get('path'), 'lib', 'into lib/');
  const lib = await api(env, `/api/v1/builds/${build}/tree?path=lib`);
  eq((await readHeatmap(page)).map((r) => r.path).sort(), lib.children.map((c) => c.path).sort(), 'rows of lib/');
  await page.click('#heatmap-up');
  await ready(page);
  eq(new URL(page.url()).searchParams.get('path'), null, 'up to the root');
  // by week, with a label: still the API's figures
  await open(page, env, '/heatmap?step=week&label=syzkaller');
  for (const r of await readHeatmap(page)) {
    const j = await hist(env, [['path', r.path], ['step', 'week'], ['label', 'syzkaller']]);
    eq(r.cells, j.periods.map((p) => [p.period, String(p.lines_covered ?? ''), String(p.lines_total ?? '')]), 'weekly syzkaller cells of ' + r.path);
  }
  noErrors(page);
  await page.close();
}

// Rows at depth 2 (the grandchildren, files above that depth too) and by
// subsystem: each row's cells equal its history, a subsystem's cell opens
// the period's report filtered by that subsystem, showing the cell's figure.
async function test_heatmap_rows(env) {
  const build = env.info.import.build_id;
  const page = await newPage(env);
  const cellsOf = (j) => j.periods.map((p) => [p.period, String(p.lines_covered ?? ''), String(p.lines_total ?? '')]);
  await open(page, env, '/heatmap?step=day');
  await page.click('#heatmap-controls a[data-depth="2"]');
  await ready(page);
  eq(new URL(page.url()).searchParams.get('depth'), '2', 'depth= in the URL');
  const tree = await api(env, `/api/v1/builds/${build}/tree`);
  const want = [];
  for (const c of tree.children) {
    if (c.type !== 'dir') { want.push(c.path); continue; }
    const sub = await api(env, `/api/v1/builds/${build}/tree?path=${encodeURIComponent(c.path)}`);
    want.push(...sub.children.map((x) => x.path));
  }
  const deep = await readHeatmap(page);
  eq(deep.map((r) => r.path), want.slice(0, 60), 'rows two levels down');
  check(deep.some((r) => r.path.split('/').length === 2), 'no row at depth 2');
  for (const r of deep.slice(0, 8)) {
    eq(r.cells, cellsOf(await hist(env, [['path', r.path], ['step', 'day']])), 'cells of ' + r.path);
  }
  await page.click('#rows-subsystems');
  await ready(page);
  eq(new URL(page.url()).searchParams.get('rows'), 'subsystems', 'rows= in the URL');
  const subs = await api(env, `/api/v1/builds/${build}/subsystems`);
  const srows = await readHeatmap(page);
  eq(srows.map((r) => r.path), subs.subsystems.map((x) => x.name), 'one row per subsystem');
  for (const r of srows) {
    eq(r.cells, cellsOf(await hist(env, [['path', ''], ['step', 'day'], ['subsystem', r.path]])), 'cells of subsystem ' + r.path);
  }
  const row = srows.find((r) => r.cells.some((c) => c[1] !== '' && c[1] !== '0'));
  check(row, 'no subsystem with covered lines');
  const cell = row.cells.find((c) => c[1] !== '' && c[1] !== '0');
  await page.click(`#heatmap tr[data-path="${row.path}"] td[data-period="${cell[0]}"] a`);
  await ready(page);
  const u = new URL(page.url());
  eq([u.pathname, u.searchParams.get('subsystem'), u.searchParams.get('since')], ['/report', row.path, cell[0]], 'subsystem cell link');
  const filters = [...u.searchParams].filter(([k]) => !['build', 'path'].includes(k));
  const t = await checkTree(page, env, u.searchParams.get('build'), '', filters);
  eq([String(t.lines_covered), String(t.lines_total)], [cell[1], cell[2]], 'the report of the subsystem cell shows its figure');
  await shot(page, 'heatmap-subsystems.png');
  noErrors(page);
  await page.close();
}

export const historyTests = () => [test_trend_chart, test_heatmap, test_heatmap_rows];
