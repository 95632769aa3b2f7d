// syzkaller.test.mjs - the syzkaller bridge's data in the browser: the
// fixture (fixture.py load_syzkaller) runs the real `kcov-collect
// syzkaller` once against a fake syz-manager serving syzkaller's own
// formats, and these tests check that the overflow page and the report
// show exactly what that manager said (its programs, its overflowed
// programs, the points of its corpus under the label syzkaller/NAME).
import { check, eq, newPage, open, ready, api, shot, noErrors } from './lib.mjs';
import { checkTree } from './coverage.test.mjs';

const ratePct = (x) => (100 * x).toFixed(1) + '%';

// The rows of the overflow table as {key: cell text}.
async function overflowRows(page) {
  const heads = await page.$$eval('#overflow-groups thead th', (ths) => ths.map((t) => t.dataset.key));
  const rows = await page.$$eval('#overflow-groups tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent.trim())));
  return rows.map((r) => Object.fromEntries(heads.map((h, i) => [h, r[i]])));
}

async function test_syzkaller_overflow(env) {
  const syz = env.info.syzkaller;
  const page = await newPage(env);
  for (const group of ['machine', 'label']) {
    const key = group === 'machine' ? syz.machine : syz.label;
    // The API says what the manager said ...
    const st = await api(env, '/api/v1/stats/overflow?group=' + group);
    const g = st.groups.find((x) => x[group] === key);
    check(g, `no ${group} ${key} in the overflow statistics`);
    eq([g.runs, g.overflowed], [syz.runs, syz.overflowed], `programs and overflowed programs of ${key}`);
    // ... and so does the page.
    await open(page, env, '/overflow?group=' + group);
    const row = (await overflowRows(page)).find((r) => r[group] === key);
    check(row, `no row for ${key} on the overflow page by ${group}`);
    eq(row.runs, String(syz.runs), `runs of ${key}`);
    eq(row.rate, ratePct(syz.overflowed / syz.runs), `overflow rate of ${key}`);
    if ('overflowed' in row) eq(row.overflowed, String(syz.overflowed), `overflowed of ${key}`);
  }
  // The instance overflowed in more than half its programs: it counts in
  // the fleet's "machines at >= 50%".
  const fleet = (await api(env, '/api/v1/stats/overflow?group=machine')).fleet;
  const at50 = (await api(env, '/api/v1/stats/overflow?group=machine')).groups.filter((x) => x.rate >= 0.5).map((x) => x.machine);
  check(at50.includes(syz.machine), 'the syzkaller instance at >= 50%: ' + at50);
  eq(fleet.machines_overflow_ge_50pct, at50.length, 'machines at >= 50%');
  await open(page, env, '/overflow?group=machine');
  await shot(page, 'syzkaller-overflow.png');
  noErrors(page);
  await page.close();
}

async function test_syzkaller_coverage(env) {
  const syz = env.info.syzkaller;
  const build = syz.build_id;
  const page = await newPage(env);
  // The label's coverage is exactly the manager's corpus.
  const t = await api(env, `/api/v1/builds/${build}/tree?label=${encodeURIComponent(syz.label)}`);
  eq(t.points_covered, syz.points, `points covered under ${syz.label}`);
  const labels = (await api(env, '/api/v1/labels')).labels.map((l) => l.name);
  check(labels.includes(syz.label), 'labels: ' + labels);
  // Chosen in the report's filter form, it shows the API's figures.
  await open(page, env, `/report?build=${build}`);
  await page.fill('#filters input[name="label"]', syz.label);
  await page.click('#filters button[type="submit"]');
  await ready(page);
  eq(new URL(page.url()).searchParams.getAll('label'), [syz.label], 'label in the URL');
  await checkTree(page, env, build, '', [['label', syz.label]]);
  // The instance's page: its reports carry the label, and their programs
  // and overflowed programs add up to the manager's counters.
  await open(page, env, '/machine?name=' + encodeURIComponent(syz.machine));
  const heads = await page.$$eval('#reports thead th', (ths) => ths.map((t) => t.dataset.key));
  const rows = await page.$$eval('#reports tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent.trim())));
  check(rows.length > 0, 'no reports on the page of ' + syz.machine);
  eq([...new Set(rows.map((r) => r[heads.indexOf('label')]))], [syz.label], 'labels of the reports');
  const sum = (k) => rows.reduce((a, r) => a + Number(r[heads.indexOf(k)].replace(/[^0-9]/g, '')), 0);
  eq([sum('runs'), sum('overflowed_runs')], [syz.runs, syz.overflowed], 'runs and overflowed runs of the reports');
  await shot(page, 'syzkaller-report.png');
  noErrors(page);
  await page.close();
}

export function syzkallerTests() {
  return [test_syzkaller_overflow, test_syzkaller_coverage];
}
