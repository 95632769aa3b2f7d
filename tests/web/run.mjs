// run.mjs - end-to-end tests of kcovd's browser UI. fixture.py starts a
// kcovd serving a copy of web/ with coverage pushed by the real
// kcov-collect (KCOV stand-in machines) and, when kcovd can import builds,
// an imported build; playwright-core drives the system's Chromium
// (/usr/bin/chromium, headless, fresh profile) against it, and every
// number the pages show is checked against the REST API's answer.
// Screenshots go to $OUT_DIR (default: ../out). Prints "N passed, N
// failed" and exits non-zero on failure.
import fs from 'node:fs';
import path from 'node:path';

import { changesTests } from './changes.test.mjs';
import { coverageTests } from './coverage.test.mjs';
import { historyTests } from './history.test.mjs';
import { syzkallerTests } from './syzkaller.test.mjs';
import { check, eq, newPage, open, ready, api, shot, noErrors, runSuite } from './lib.mjs';

// ---- tests: static files -----------------------------------------------------

async function test_static_files(env) {
  const get = (p, method = 'GET') => fetch(env.url + p, { method });
  const cases = [
    ['/', 200, 'text/html'],
    ['/report', 200, 'text/html'],                    // app route: index.html
    ['/machine?name=x', 200, 'text/html'],
    ['/some/deep/route', 200, 'text/html'],
    ['/main.js', 200, 'text/javascript'],
    ['/lib/api.js', 200, 'text/javascript'],          // web/lib/ and web/views/ are served
    ['/views/report.js', 200, 'text/javascript'],
    ['/app.css', 200, 'text/css'],
    ['/vendor/chart.umd.min.js', 200, 'text/javascript'],
    ['/inside.css', 200, 'text/css'],                 // symlink inside the directory
    ['/missing.js', 404, 'application/json'],
    ['/escape.txt', 404, 'application/json'],         // symlink to /etc/passwd
    ['/escape-dir/passwd', 404, 'application/json'],  // symlinked directory
    ['/big.txt', 500, 'application/json'],            // over the size limit
    ['/.gitignore', 400, 'application/json'],
    ['/api/v1/nothing', 404, 'application/json'],
  ];
  for (const [p, status, type] of cases) {
    const r = await get(p);
    eq(r.status, status, 'status of ' + p);
    check((r.headers.get('content-type') || '').startsWith(type), `${p}: content type ${r.headers.get('content-type')}`);
    if (status >= 400) check(typeof (await r.json()).error === 'string', p + ': no JSON error');
  }
  const index = fs.readFileSync(path.join(env.info.web_dir, 'index.html'), 'utf8');
  eq(await (await get('/')).text(), index, 'body of /');
  const head = await get('/app.css', 'HEAD');
  eq(head.status, 200, 'HEAD status');
  eq(await head.text(), '', 'HEAD body');
  // Traversal sent raw (fetch would normalize "..").
  for (const raw of ['/../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/vendor/../../etc/passwd', '/a/%2E%2E/index.html']) {
    const status = await rawStatus(env, raw);
    eq(status, 400, 'status of ' + raw);
  }
  const csp = (await get('/')).headers.get('content-security-policy') || '';
  check(csp.includes("default-src 'self'"), 'no CSP on index.html: ' + csp);
}

// Status of a request whose path goes on the wire exactly as given.
async function rawStatus(env, rawPath) {
  const net = await import('node:net');
  const { hostname, port } = new URL(env.url);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(port), hostname, () => {
      s.write(`GET ${rawPath} HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`);
    });
    let buf = '';
    s.on('data', (d) => { buf += d; });
    s.on('end', () => resolve(Number(buf.split(' ')[1])));
    s.on('error', reject);
  });
}

// ---- tests: fleet pages --------------------------------------------------------

async function test_machines_page(env) {
  const { machines } = await api(env, '/api/v1/machines');
  eq(machines.map((m) => m.name).sort(), env.info.machines.map((m) => m.name).sort(), 'machines in the API');
  const page = await newPage(env);
  await open(page, env, '/machines');
  const rows = await page.$$eval('#machines tbody tr', (trs) => trs.map((tr) => ({
    name: tr.dataset.machine,
    cells: [...tr.children].map((td) => td.textContent.trim()),
  })));
  eq(rows.map((r) => r.name), machines.map((m) => m.name).sort(), 'machine rows (sorted by name)');
  const heads = await page.$$eval('#machines thead th', (ths) => ths.map((t) => t.dataset.key));
  for (const row of rows) {
    const m = machines.find((x) => x.name === row.name);
    const cell = (k) => row.cells[heads.indexOf(k)];
    for (const k of ['reports', 'boots', 'pcs', 'unknown_pcs']) eq(cell(k), m[k].toLocaleString('en-US'), `${m.name} ${k}`);
    check(/ago$/.test(cell('last_push')), `${m.name} last push: ${cell('last_push')}`);
    for (const rel of m.releases) check(cell('releases').includes(rel), `${m.name} release ${rel}`);
  }
  const cardText = await page.textContent('.cards');
  const reports = machines.reduce((a, m) => a + m.reports, 0);
  check(cardText.includes(String(reports)), 'reports card: ' + cardText);
  await shot(page, 'fleet-machines.png');
  // Sort by reports, descending: the URL keeps it; opening the URL restores it.
  await page.click('#machines th[data-key="boots"]');
  await page.click('#machines th[data-key="pcs"]');
  check(page.url().includes('sort=pcs') && page.url().includes('dir=desc'), 'sort not in URL: ' + page.url());
  const order = await page.$$eval('#machines tbody tr', (trs) => trs.map((tr) => tr.dataset.machine));
  eq(order, machines.slice().sort((a, b) => b.pcs - a.pcs).map((m) => m.name), 'rows sorted by PCs');
  const page2 = await newPage(env);
  await open(page2, env, '/machines?sort=pcs&dir=desc');
  eq(await page2.$$eval('#machines tbody tr', (trs) => trs.map((tr) => tr.dataset.machine)), order, 'sorted deep link');
  noErrors(page);
  noErrors(page2);
  await page.close();
  await page2.close();
}

async function test_machine_page(env) {
  const name = env.info.machines[2].name;
  const { reports } = await api(env, '/api/v1/reports?machine=' + encodeURIComponent(name) + '&limit=200');
  const page = await newPage(env);
  await open(page, env, '/machines');
  await page.click(`#machines a:text-is("${name}")`);
  await ready(page);
  check(page.url().endsWith('/machine?name=' + name), 'URL after click: ' + page.url());
  eq(await page.textContent('h1'), name, 'heading');
  const rows = await page.$$eval('#reports tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent.trim())));
  eq(rows.length, reports.length, 'report rows');
  const heads = await page.$$eval('#reports thead th', (ths) => ths.map((t) => t.dataset.key));
  const byReceived = reports.slice().sort((a, b) => b.received - a.received);
  eq(rows.map((r) => r[heads.indexOf('runs')]).join(','), byReceived.map((r) => String(r.runs)).join(','), 'runs column');
  eq(rows.map((r) => r[heads.indexOf('label')]).sort().join(','), reports.map((r) => r.label).sort().join(','), 'labels');
  // Back to the list with the browser's back button.
  await page.goBack();
  await ready(page);
  check(page.url().endsWith('/machines'), 'back: ' + page.url());
  check(await page.isVisible('#machines'), 'machines table after back');
  noErrors(page);
  await page.close();
}

async function test_builds_page(env) {
  const { builds } = await api(env, '/api/v1/builds');
  check(builds.length >= 1, 'no build in the API');
  const page = await newPage(env);
  await open(page, env, '/builds');
  const rows = await page.$$eval('#builds tbody tr', (trs) => trs.map((tr) => ({
    id: tr.dataset.build, cells: [...tr.children].map((td) => td.textContent.trim()),
  })));
  eq(rows.map((r) => r.id).sort(), builds.map((b) => b.build_id).sort(), 'build rows');
  const heads = await page.$$eval('#builds thead th', (ths) => ths.map((t) => t.dataset.key));
  for (const r of rows) {
    const b = builds.find((x) => x.build_id === r.id);
    for (const k of ['machines', 'boots', 'modules', 'files', 'points', 'covered_pcs']) eq(r.cells[heads.indexOf(k)], b[k].toLocaleString('en-US'), `${b.build_id} ${k}`);
    eq(r.cells[heads.indexOf('imported')], b.imported ? 'yes' : 'no', `${b.build_id} imported`);
    eq(r.cells[heads.indexOf('release')], b.release, 'release');
  }
  const href = await page.getAttribute(`#builds tr[data-build="${builds[0].build_id}"] a`, 'href');
  eq(href, '/report?build=' + builds[0].build_id, 'report link');
  noErrors(page);
  await page.close();
}

async function test_overflow_page(env) {
  const r = await fetch(env.url + '/api/v1/stats/overflow');
  const page = await newPage(env);
  await open(page, env, '/overflow');
  eq(r.status, 200, 'status of /api/v1/stats/overflow');
  const ratePct = (x) => (x === null || x === undefined ? '–' : (100 * x).toFixed(1) + '%');
  const checkGroups = async (group) => {
    const st = await api(env, '/api/v1/stats/overflow?group=' + group);
    const keys = group.split(',');
    const heads = await page.$$eval('#overflow-groups thead th', (ths) => ths.map((t) => t.dataset.key));
    const rows = await page.$$eval('#overflow-groups tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent.trim())));
    eq(rows.length, st.groups.length, 'groups by ' + group);
    const want = st.groups.slice().sort((a, b) => b.rate - a.rate);
    rows.forEach((row, i) => {
      const g = want[i];
      eq(row[heads.indexOf('rate')], ratePct(g.rate), `rate of group ${i}`);
      eq(row[heads.indexOf('runs')], String(g.runs), `runs of group ${i}`);
    });
    const byKey = (g) => keys.map((k) => String(g[k]).slice(0, k === 'build' ? 12 : undefined)).join('|');
    eq(rows.map((row) => keys.map((k) => row[heads.indexOf(k)]).join('|')).sort(), st.groups.map(byKey).sort(), 'group keys');
    return st;
  };
  const st = await checkGroups('machine');
  check(st.fleet.machines_overflow_ge_50pct > 0, 'the fixture should overflow on some machines');
  const cardText = await page.textContent('.cards');
  check(cardText.includes(`${st.fleet.overflowed} / ${st.fleet.runs} (${ratePct(st.fleet.rate)})`), 'fleet card: ' + cardText);
  const modes = await page.$$eval('#overflow-modes tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent.trim())));
  eq(modes.map((m) => m[0]), ['all', 'unique', 'trace'], 'mode rows');
  eq(modes.map((m) => m[2]), [st.fleet, st.fleet.unique, st.fleet.trace].map((m) => String(m.machines_overflow_ge_50pct)), 'machines >= 50%');
  eq(modes.map((m) => m[6]), [st.fleet, st.fleet.unique, st.fleet.trace].map((m) => ratePct(m.rate)), 'rates');
  await page.waitForFunction(() => [...document.querySelectorAll('canvas')].every((c) => window.Chart && window.Chart.getChart(c)), null, { timeout: 10000 });
  await shot(page, 'fleet-overflow.png');
  await page.selectOption('#group-select', 'machine,mode');
  await ready(page);
  check(page.url().includes('group=machine%2Cmode'), 'group in the URL: ' + page.url());
  await checkGroups('machine,mode');
  await open(page, env, '/overflow?group=day');
  await checkGroups('day');
  // Every chart on the page was drawn by Chart.js.
  await page.waitForFunction(() => [...document.querySelectorAll('canvas')].every((c) => window.Chart && window.Chart.getChart(c)), null, { timeout: 10000 });
  await shot(page, 'fleet-overflow-by-day.png');
  noErrors(page);
  await page.close();
}

async function test_routes_and_navigation(env) {
  const page = await newPage(env);
  await open(page, env, '/no-such-page');
  eq(await page.textContent('h1'), 'Not found', 'unknown route');
  await page.click('header nav a[data-section="builds"]');
  await ready(page);
  check(page.url().endsWith('/builds'), 'nav to builds: ' + page.url());
  await page.click('header nav a[data-section="machines"]');
  await ready(page);
  check(await page.isVisible('#machines'), 'machines after nav');
  await page.goBack();
  await ready(page);
  check(page.url().endsWith('/builds') && await page.isVisible('#builds'), 'back to builds');
  await page.goForward();
  await ready(page);
  check(page.url().endsWith('/machines'), 'forward to machines');
  // "/" is the coverage report.
  await open(page, env, '/');
  check(new URL(page.url()).pathname === '/report', 'root goes to /report: ' + page.url());
  noErrors(page);
  await page.close();
}

// A kcovd with --read-auth: the pages say a token is needed; the Token
// button stores one and the API answers.
async function test_read_token(env) {
  const page = await newPage(env);
  const base = { ...env, url: env.info.auth_url };
  const r = await fetch(base.url + '/api/v1/machines');
  eq(r.status, 401, 'API without a token');
  await page.goto(base.url + '/machines');
  await ready(page);
  check((await page.textContent('#view')).includes('read token'), '401 explained');
  page.once('dialog', (d) => d.accept(env.info.read_token));
  await page.click('#token-button');
  await ready(page);
  await page.waitForSelector('#machines');
  const { machines } = await api(env, '/api/v1/machines');
  eq(await page.$$eval('#machines tbody tr', (trs) => trs.length), machines.length, 'machines with a token');
  // The token stays for the next page and the next visit.
  await page.goto(base.url + '/builds');
  await ready(page);
  check(await page.isVisible('#builds'), 'builds with the stored token');
  await page.evaluate(() => localStorage.removeItem('kcovd.token'));
  page.errors = page.errors.filter((e) => !/status of 401/.test(e));
  noErrors(page);
  await page.close();
}

// ---- runner --------------------------------------------------------------------

runSuite('fixture.py', (env) => [test_static_files, test_machines_page, test_machine_page,
  test_builds_page, test_overflow_page, test_routes_and_navigation, test_read_token,
  ...coverageTests(env), ...changesTests(), ...historyTests(), ...syzkallerTests()]);
