// demo.mjs - the browser walks the run command's demo (issue 23): a kcovd
// with scripts/demo.py loaded exactly as scripts/run.sh loads it
// (demo_fixture.py), and the pages a new user opens first: the report of
// the newest build with hundreds of files, the overflow page with the 24
// machines, the newest build with the older one merged onto it, and the
// trend chart over the demo's two weeks. Every figure shown is checked
// against the REST API's answer. Prints "N passed, M failed".
import { chartData } from './history.test.mjs';
import { checkTree } from './coverage.test.mjs';
import { check, eq, newPage, open, ready, api, shot, noErrors, runSuite } from './lib.mjs';

async function test_demo_report(env) {
  const page = await newPage(env);
  await open(page, env, '/report');
  const t = await checkTree(page, env, env.info.new, '');
  check(t.files >= 150, `only ${t.files} files in the demo's tree`);
  for (const d of ['kernel', 'mm', 'fs', 'net', 'drivers']) {
    check(t.children.some((c) => c.path === d), `no ${d}/ row`);
  }
  await page.click('#tree tr[data-path="fs"] a');
  await ready(page);
  await checkTree(page, env, env.info.new, 'fs');
  await shot(page, 'demo-report.png');
  noErrors(page);
  await page.close();
}

async function test_demo_overflow(env) {
  const page = await newPage(env);
  await open(page, env, '/overflow');
  const st = await api(env, '/api/v1/stats/overflow?group=machine');
  eq(st.groups.length, 24, 'machines in the overflow statistics');
  const rows = await page.$$eval('#overflow-groups tbody tr', (trs) => trs.length);
  eq(rows, 24, 'machine rows on the overflow page');
  check(st.fleet.machines_overflow_ge_50pct >= 3, 'a handful of machines overflow in half their programs');
  const cards = await page.textContent('.cards');
  check(cards.includes(String(st.fleet.machines_overflow_ge_50pct)), 'cards: ' + cards);
  await shot(page, 'demo-overflow.png');
  noErrors(page);
  await page.close();
}

async function test_demo_merged(env) {
  const page = await newPage(env);
  const { new: nb, old } = env.info;
  await open(page, env, `/report?build=${nb}&merge=${old}`);
  const t = await checkTree(page, env, nb, '', [['merge', old]]);
  const own = await api(env, `/api/v1/builds/${nb}/tree`);
  check(t.lines_covered > own.lines_covered, `merging adds no line: ${t.lines_covered} vs ${own.lines_covered}`);
  check(t.lost_lines > 0, 'the changed files lose no line');
  // the summary counts the lines of files this build lacks too
  const sum = await api(env, `/api/v1/builds/${nb}/summary?merge=${old}`);
  check(sum.lost_files.length > 0 && sum.lost_lines > t.lost_lines, 'the removed file lost no line');
  eq(Number(await page.getAttribute('#merge-summary', 'data-lost')), sum.lost_lines, 'lost lines in the merge summary');
  const lostFiles = await page.$$eval('#lost-files li', (lis) => lis.map((li) => li.dataset.path));
  eq(lostFiles, sum.lost_files.map((f) => f.path), 'files this build lacks');
  await shot(page, 'demo-merged.png');
  noErrors(page);
  await page.close();
}

async function test_demo_history(env) {
  const page = await newPage(env);
  await open(page, env, `/report?build=${env.info.new}&trend=day`);
  const j = await api(env, '/api/v1/history?path=&step=day');
  const chart = await chartData(page);
  eq(chart.labels, j.periods.map((p) => p.period), 'the chart\'s days');
  const lines = chart.sets.find((s) => s.kind === 'lines').data;
  eq(lines, j.periods.map((p) => p.lines_covered), 'covered lines per day');
  const days = lines.filter((v) => v !== null && v > 0).length;
  check(days >= 14, `only ${days} days with coverage in the demo's history`);
  await shot(page, 'demo-history.png');
  noErrors(page);
  await page.close();
}

runSuite('demo_fixture.py', () => [test_demo_report, test_demo_overflow, test_demo_merged,
  test_demo_history], 900);
