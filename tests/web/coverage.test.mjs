// coverage.test.mjs - browser tests of the coverage report: the directory
// tree and the file view against an imported build (numbers and line
// colours equal the REST API's), deep links, and a 10k-line file served
// through request interception to check the source view stays fast.
import { check, eq, pctText, newPage, open, ready, api, shot, noErrors } from './lib.mjs';

const STATES = ['covered', 'partial', 'uncovered'];

// ---- a synthetic 10k-line file (request interception) ------------------------

async function test_long_file(env) {
  const N = 10000;
  const build = 'f'.repeat(40);
  const lines = [];
  for (let n = 1; n <= N; n++) {
    if (n % 3) continue;
    const total = 1 + (n % 4);
    const covered = n % 7 === 0 ? 0 : n % 5 === 0 ? total - 1 : total;
    lines.push({ line: n, state: covered === 0 ? 'uncovered' : covered < total ? 'partial' : 'covered', points: { covered, total } });
  }
  const source = Array.from({ length: N }, (_, i) => `\tx = f(${i + 1}); /* <b>&amp; line ${i + 1} */`).join('\n') + '\n';
  const file = {
    build_id: build, path: 'big/long.c', source,
    lines,
    functions: [{ name: 'f', line_start: 3, line_end: N, points: { covered: 1, total: 2 } }],
    totals: { lines: { covered: 1, total: 2 }, points: { covered: 1, total: 2 }, functions: { covered: 1, total: 1 } },
  };
  const page = await newPage(env);
  await page.route('**/api/v1/builds', (r) => r.fulfill({ json: { builds: [{ build_id: build, release: 'synthetic', last_seen: 0 }] } }));
  await page.route(`**/api/v1/builds/${build}/files/**`, (r) => r.fulfill({ json: file }));
  const t0 = Date.now();
  await open(page, env, `/file?build=${build}&path=big/long.c`);
  const ms = Date.now() - t0;
  check(ms < 5000, `10k-line file took ${ms} ms to render`);
  eq(await page.$$eval('#source .ln', (els) => els.length), N, 'rendered lines');
  // Source text is escaped, not interpreted.
  eq(await page.textContent('#L1'), '1\tx = f(1); /* <b>&amp; line 1 */', 'line 1 text');
  for (const l of [lines[0], lines[lines.length - 1], lines.find((x) => x.state === 'partial'), lines.find((x) => x.state === 'uncovered')]) {
    const cls = await page.getAttribute(`#L${l.line}`, 'class');
    check(cls.split(' ').includes(l.state), `line ${l.line}: class ${cls}, want ${l.state}`);
    const title = await page.getAttribute(`#L${l.line}`, 'title');
    check(title.includes(`${l.points.covered} of ${l.points.total} points`), `line ${l.line} title: ${title}`);
  }
  eq(await page.getAttribute('#L1', 'class'), 'ln', 'line without points is neutral');
  // Scrolling to the end and jumping around stays quick.
  const scrollMs = await page.evaluate(async () => {
    const t = performance.now();
    for (let y = 0; y < document.body.scrollHeight; y += 3000) {
      window.scrollTo(0, y);
      await new Promise((r) => requestAnimationFrame(r));
    }
    return performance.now() - t;
  });
  check(scrollMs < 8000, `scrolling through 10k lines took ${Math.round(scrollMs)} ms`);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.click('#next-uncovered');
  const firstTodo = lines.find((l) => l.state !== 'covered').line;
  eq(await page.textContent('#sel-line'), String(firstTodo), 'first jump');
  check(page.url().includes('line=' + firstTodo), 'line in URL: ' + page.url());
  await page.keyboard.press('n');
  const second = lines.filter((l) => l.state !== 'covered')[1].line;
  eq(await page.textContent('#sel-line'), String(second), 'second jump (key n)');
  await page.keyboard.press('p');
  eq(await page.textContent('#sel-line'), String(firstTodo), 'back (key p)');
  // A deep link to a line far down selects it and scrolls it into view.
  await open(page, env, `/file?build=${build}&path=big/long.c&line=9000`);
  eq(await page.textContent('#sel-line'), '9000', 'deep-linked line');
  await shot(page, 'file-long-synthetic.png');
  check(await page.$eval('#L9000', (el) => { const r = el.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }), 'line 9000 in view');
  noErrors(page);
  await page.close();
}

// ---- a build that was not imported ---------------------------------------------

async function test_report_without_import(env) {
  const { builds } = await api(env, '/api/v1/builds');
  const page = await newPage(env);
  await open(page, env, '/report');
  const url = new URL(page.url());
  check(builds.some((b) => b.build_id === url.searchParams.get('build')), 'report picked a build: ' + page.url());
  const r = await fetch(`${env.url}/api/v1/builds/${url.searchParams.get('build')}/tree`);
  if (r.status === 404) {
    check(await page.isVisible('#not-imported'), 'not-imported notice');
  } else {
    check(await page.isVisible('#tree'), 'tree of an imported build');
  }
  noErrors(page);
  await page.close();
}

export function coverageTests(env) {
  const tests = [test_report_without_import, test_long_file];
  return tests;
}
