// coverage.test.mjs - browser tests of the coverage report: the directory
// tree and the file view against an imported build (numbers and line
// colours equal the REST API's), deep links, and a 10k-line file served
// through request interception to check the source view stays fast.
import { Failure, check, eq, pctText, newPage, open, ready, api, shot, noErrors } from './lib.mjs';

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
    lines.push({ line: n, state: covered === 0 ? 'uncovered' : covered < total ? 'partial' : 'covered', covered, points: total });
  }
  const source = Array.from({ length: N }, (_, i) => `\tx = f(${i + 1}); /* <b>&amp; line ${i + 1} */`).join('\n') + '\n';
  const file = {
    build_id: build, path: 'big/long.c', source,
    lines,
    functions: [{ name: 'f', line_start: 3, line_end: N, points: 2, covered: 1 }],
    lines_covered: 1, lines_partial: 0, lines_total: 2, points_covered: 1, points_total: 2, functions_covered: 1, functions_total: 1,
  };
  const page = await newPage(env);
  await page.route('**/api/v1/builds', (r) => r.fulfill({ json: { builds: [{ build_id: build, release: 'synthetic', last_seen: 0 }] } }));
  await page.route(`**/api/v1/builds/${build}/files/**`, (r) => r.fulfill({ json: file }));
  const t0 = Date.now();
  await open(page, env, `/file?build=${build}&path=big/long.c`);
  const ms = Date.now() - t0;
  eq(await page.$$eval('#source .ln', (els) => els.length), N, 'rendered lines');
  // Source text is escaped, not interpreted.
  eq(await page.textContent('#L1'), '1        x = f(1); /* <b>&amp; line 1 */', 'line 1 text (tab expanded)');
  for (const l of [lines[0], lines[lines.length - 1], lines.find((x) => x.state === 'partial'), lines.find((x) => x.state === 'uncovered')]) {
    const cls = await page.getAttribute(`#L${l.line}`, 'class');
    check(cls.split(' ').includes(l.state), `line ${l.line}: class ${cls}, want ${l.state}`);
    const title = await page.getAttribute(`#L${l.line}`, 'title');
    check(title.includes(`${l.covered} of ${l.points} points`), `line ${l.line} title: ${title}`);
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
  // Timings are printed, not asserted (timing goals belong in bench/): on a
  // loaded 2-core machine they vary several-fold.
  console.log(`note: 10k-line file rendered in ${ms} ms, scrolled through in ${Math.round(scrollMs)} ms`);
  await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
  check(await page.$eval(`#L${N}`, (el) => { const r = el.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; }),
    `line ${N} in view after scrolling to the end`);
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
  const picked = new URL(page.url()).searchParams.get('build');
  // The newest imported build (builds come newest first), else the newest.
  const want = builds.find((b) => b.imported) || builds[0];
  eq(picked, want.build_id, '/report picks the newest imported build');
  // The stand-in kernel's build was pushed to but never imported.
  let seen = 0;
  for (const b of builds) {
    const r = await fetch(`${env.url}/api/v1/builds/${b.build_id}/tree`);
    if (r.status !== 404) continue;
    seen++;
    await open(page, env, '/report?build=' + b.build_id);
    check(await page.isVisible('#not-imported'), 'not-imported notice');
    check((await page.textContent('#not-imported')).includes((await r.json()).error), 'the API\'s message');
    const sum = await fetch(`${env.url}/api/v1/builds/${b.build_id}/summary`);
    if (sum.ok) {
      // The raw PCs per binary are still shown.
      const s = await sum.json();
      const rows = await page.$$eval('#binaries tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent.trim())));
      eq(rows.map((x) => x[0]).sort(), s.binaries.map((x) => x.name).sort(), 'binaries of a build without import');
      for (const x of s.binaries) eq(rows.find((row) => row[0] === x.name)[4], x.pcs.toLocaleString('en-US'), 'PCs of ' + x.name);
    }
  }
  check(seen > 0, 'the fixture has a build without import');
  noErrors(page);
  await page.close();
}

// ---- an imported build with coverage pushed by kcov-collect ---------------------

const KINDS = ['lines', 'points', 'functions'];
// Query string of a path and filters (pairs, so labels can repeat).
const q = (path, filters = []) => new URLSearchParams([['path', path], ...filters]).toString();

// The tree table as {path: {kind, lines: [covered, total, pctText], ...}}.
async function readTree(page) {
  return page.$$eval('#tree tbody tr', (trs) => Object.fromEntries(trs.map((tr) => {
    const cells = [...tr.querySelectorAll('.cov')].map((c) => [Number(c.dataset.covered), Number(c.dataset.total), c.querySelector('.pct').textContent]);
    return [tr.dataset.kind === 'total' ? '(total)' : tr.dataset.path, { kind: tr.dataset.kind, lines: cells[0], points: cells[1], functions: cells[2] }];
  })));
}

// Check a tree view shows exactly the API's numbers for its directory.
export async function checkTree(page, env, build, dir, filters = []) {
  const t = await api(env, `/api/v1/builds/${build}/tree?` + q(dir, filters));
  const shown = await readTree(page);
  const want = { '(total)': t };
  for (const c of t.children) want[c.path] = c;
  eq(Object.keys(shown).sort(), Object.keys(want).sort(), `rows of ${dir || '/'}`);
  for (const [p, o] of Object.entries(want)) {
    if (p !== '(total)') eq(shown[p].kind, o.type, 'kind of ' + p);
    for (const k of KINDS) {
      const c = o[k + '_covered'], tot = o[k + '_total'];
      eq(shown[p][k], [c, tot, pctText(c, tot)], `${k} of ${p}`);
    }
  }
  const cards = await page.$$eval('.cards .card .v', (els) => els.map((e) => e.textContent));
  eq(cards, KINDS.map((k) => pctText(t[k + '_covered'], t[k + '_total'])), 'summary cards of ' + (dir || '/'));
  return t;
}

// Check a file view: every line's colour, the hover text of instrumented
// lines, the function table and the totals equal GET .../files/PATH.
async function checkFile(page, env, build, path, filters = []) {
  const f = await api(env, `/api/v1/builds/${build}/files/${path}?` + new URLSearchParams(filters));
  const rows = await page.$$eval('#source .ln', (els) => els.map((e) => [Number(e.dataset.line), e.className.replace(' selected', ''), e.title]));
  const byLine = new Map(f.lines.map((l) => [l.line, l]));
  const noSource = (await page.$('#source[data-nosource]')) !== null;
  if (f.source !== null && !noSource) {
    eq(rows.length, f.source.replace(/\n$/, '').split('\n').length, 'source lines of ' + path);
  } else {
    eq(rows.length, f.lines.length, 'line rows of ' + path);
  }
  let colored = 0;
  for (const [n, cls, title] of rows) {
    const l = byLine.get(n);
    if (!l) {
      eq(cls, 'ln', `class of line ${n} (no points) in ${path}`);
      continue;
    }
    colored++;
    eq(cls, 'ln ' + l.state, `class of line ${n} of ${path}`);
    check(title.startsWith(`${l.state}: ${l.covered} of ${l.points} points covered`), `title of line ${n}: ${title}`);
  }
  eq(colored, f.lines.length, 'coloured lines of ' + path);
  const states = new Set(f.lines.map((l) => l.state));
  const fns = await page.$$eval('#functions tbody tr', (trs) => trs.map((tr) => {
    const c = tr.querySelector('.cov');
    return [tr.querySelector('td.name').textContent, Number(c.dataset.covered), Number(c.dataset.total), c.querySelector('.pct').textContent];
  }));
  const wantFns = f.functions.slice().sort((a, b) => a.line_start - b.line_start)
    .map((x) => [x.name, x.covered, x.points, pctText(x.covered, x.points)]);
  eq(fns, wantFns, 'functions of ' + path);
  const totals = await page.$eval('#file-totals', (e) => ({ ...e.dataset }));
  for (const k of KINDS) {
    eq([Number(totals[k + 'Covered']), Number(totals[k + 'Total'])], [f[k + '_covered'], f[k + '_total']], `${k} totals of ${path}`);
  }
  return { f, states };
}

async function test_tree_walk_to_file(env) {
  const build = env.info.import.build_id;
  const page = await newPage(env);
  const requests = [];
  page.on('request', (r) => { if (r.url().includes('/api/')) requests.push(new URL(r.url()).pathname); });
  // From the builds page to the report of the imported build.
  await open(page, env, '/builds');
  await page.click(`#builds tr[data-build="${build}"] a`);
  await ready(page);
  eq(new URL(page.url()).searchParams.get('build'), build, 'build in the URL');
  await checkTree(page, env, build, '');
  await shot(page, 'report-tree.png');
  // Sorting by points coverage keeps the total on top and follows the URL.
  await page.click('#tree th[data-key="points"]');
  // Least covered first.
  check(page.url().includes('sort=points') && page.url().includes('dir=asc'), 'sort in URL: ' + page.url());
  const order = await page.$$eval('#tree tbody tr', (trs) => trs.map((tr) => tr.dataset.path));
  const root = await api(env, `/api/v1/builds/${build}/tree`);
  const pctv = (c) => c.points_covered / c.points_total;
  const sorted = root.children.slice().sort((a, b) => pctv(a) - pctv(b)).map((c) => pctv(c));
  eq(order.slice(1).map((p) => pctv(root.children.find((c) => c.path === p))), sorted, 'rows by points coverage');
  // Walk kernel/ -> sched/ -> alpha.c by clicking.
  for (const [dir, next] of [['kernel', 'kernel/sched'], ['kernel/sched', null]]) {
    await page.click(`#tree tr[data-path="${dir}"] a`);
    await ready(page);
    eq(new URL(page.url()).searchParams.get('path'), dir, 'path in the URL');
    eq(await page.$$eval('#crumbs a, #crumbs .here', (els) => els.slice(1).map((e) => e.textContent)), dir.split('/'), 'breadcrumbs');
    await checkTree(page, env, build, dir);
    if (!next) break;
  }
  await page.click('#tree tr[data-path="kernel/sched/alpha.c"] a');
  await ready(page);
  eq(new URL(page.url()).pathname, '/file', 'file view');
  const { states } = await checkFile(page, env, build, 'kernel/sched/alpha.c');
  check(states.has('partial') && states.has('covered'), 'alpha.c should have covered and partial lines: ' + [...states]);
  // Breadcrumb back to a directory.
  await page.click('#crumbs a:text-is("kernel")');
  await ready(page);
  await checkTree(page, env, build, 'kernel');
  // Lazy: only directory listings, files and fleet lists were fetched.
  for (const p of requests) {
    check(/\/api\/v1\/(builds|reports|machines|labels)$|\/tree$|\/summary$|\/files\//.test(p), 'unexpected request while browsing: ' + p);
  }
  check(!requests.some((p) => p.endsWith('/functions')), 'the function list was loaded while browsing');
  noErrors(page);
  await page.close();
}

async function test_file_view(env) {
  const build = env.info.import.build_id;
  const page = await newPage(env);
  await open(page, env, `/file?build=${build}&path=lib/gen.c`);
  const { f, states } = await checkFile(page, env, build, 'lib/gen.c');
  check(states.has('uncovered') && states.has('covered'), 'gen.c should have covered and uncovered lines');
  eq(f.source !== null, true, 'gen.c has its source');
  const todo = f.lines.filter((l) => l.state !== 'covered').map((l) => l.line);
  await page.click('#next-uncovered');
  eq(Number(await page.textContent('#sel-line')), todo[0], 'first uncovered line');
  await page.click('#next-uncovered');
  eq(Number(await page.textContent('#sel-line')), todo[1], 'second uncovered line');
  const l = f.lines.find((x) => x.line === todo[1]);
  check((await page.textContent('#line-panel')).includes(`${l.covered} of ${l.points} covered`), 'line panel points');
  check(page.url().includes('line=' + todo[1]), 'selected line in URL');
  await checkLineLabels(page, env, build, 'lib/gen.c', todo[1]);
  await page.hover(`#L${todo[1]} .no`);
  await shot(page, 'file-view.png');
  // Clicking a function jumps to its first line.
  const fn = f.functions[5];
  await page.click(`#functions a:text-is("${fn.name}")`);
  eq(Number(await page.textContent('#sel-line')), fn.line_start, 'jump to function');
  noErrors(page);
  await page.close();
}

// The "Covered by" chips of the selected line equal the API's labels of
// that line (under the page's filters).
async function checkLineLabels(page, env, build, path, line, filters = []) {
  const want = await api(env, `/api/v1/builds/${build}/labels?` +
    new URLSearchParams([['file', path], ['line', String(line)], ...filters]));
  await page.waitForFunction(() => !document.querySelector('#line-labels')?.textContent.includes('loading'));
  const got = await page.$$eval('#line-labels a.chip', (as) => as.map((a) => [a.dataset.label, Number(a.dataset.covered)]));
  eq(got, want.labels.map((e) => [e.label, e.covered]), `labels of ${path}:${line}`);
  const text = await page.textContent('#line-labels');
  if (!want.labels.length) check(text.includes('no label'), 'no label text: ' + text);
  check(!/null|undefined/.test(text), 'line labels text: ' + text);
  return want;
}

// For a line, which labels covered it: a line both suites covered shows
// both, a label filter narrows the list, and a chip opens the file under
// that label alone.
async function test_line_labels(env) {
  const build = env.info.import.build_id;
  const page = await newPage(env);
  // A line both ltp and syzkaller covered (the syzkaller bridge's label
  // syzkaller/web-syz may have covered it too).
  const both = (j) => ['ltp', 'syzkaller'].every((n) => j.labels.some((e) => e.label === n));
  let best = null;
  for (const path of ['fs/beta.c', 'kernel/sched/alpha.c', 'lib/gen.c']) {
    const f = await api(env, `/api/v1/builds/${build}/labels?file=${path}`);
    for (const e of f.labels) {
      for (const l of e.lines) {
        const j = await api(env, `/api/v1/builds/${build}/labels?file=${path}&line=${l.line}`);
        if (!best && both(j)) best = { path, line: l.line, j };
      }
    }
  }
  check(best, 'a line covered by ltp and syzkaller');
  const { path, line } = best;
  await open(page, env, `/file?build=${build}&path=${path}&line=${line}`);
  eq(Number(await page.textContent('#sel-line')), line, 'deep-linked line');
  const j = await checkLineLabels(page, env, build, path, line);
  check(both(j), 'both labels: ' + j.labels.map((e) => e.label));
  await shot(page, 'file-view-line-labels.png');
  // Under label=ltp only ltp is listed.
  await open(page, env, `/file?build=${build}&path=${path}&line=${line}&label=ltp`);
  const only = await checkLineLabels(page, env, build, path, line, [['label', 'ltp']]);
  eq(only.labels.map((e) => e.label), ['ltp'], 'filtered labels');
  // A chip is a link to the file under that label, at the same line.
  await open(page, env, `/file?build=${build}&path=${path}&line=${line}`);
  await page.waitForSelector('#line-labels a.chip[data-label="syzkaller"]');
  await page.click('#line-labels a.chip[data-label="syzkaller"]');
  await ready(page);
  const u = new URL(page.url()).searchParams;
  eq([u.getAll('label'), u.get('path'), u.get('line')], [['syzkaller'], path, String(line)], 'chip link');
  await checkFile(page, env, build, path, [['label', 'syzkaller']]);
  // A line no label covered says so.
  const f = await api(env, `/api/v1/builds/${build}/files/lib/gen.c`);
  const bare = f.lines.find((l) => l.covered === 0);
  check(bare, 'lib/gen.c has an uncovered line');
  await open(page, env, `/file?build=${build}&path=lib/gen.c&line=${bare.line}`);
  eq((await checkLineLabels(page, env, build, 'lib/gen.c', bare.line)).labels, [], 'labels of an uncovered line');
  noErrors(page);
  await page.close();
}

async function test_deep_links(env) {
  const build = env.info.import.build_id;
  const f = await api(env, `/api/v1/builds/${build}/files/fs/beta.c`);
  const line = f.lines.find((l) => l.state === 'partial') || f.lines[0];
  const page = await newPage(env);
  // A file view with a selected line, opened directly (a new tab).
  await open(page, env, `/file?build=${build}&path=fs/beta.c&line=${line.line}`);
  eq(Number(await page.textContent('#sel-line')), line.line, 'deep-linked line');
  check((await page.getAttribute(`#L${line.line}`, 'class')).includes('selected'), 'line highlighted');
  check((await page.textContent('#line-panel')).includes(line.state), 'state in the panel');
  await checkFile(page, env, build, 'fs/beta.c');
  // A directory with a sort order.
  await open(page, env, `/report?build=${build}&path=lib&sort=name&dir=desc`);
  await checkTree(page, env, build, 'lib');
  // Reload keeps the view.
  await open(page, env, `/report?build=${build}&path=kernel/sched`);
  await page.reload();
  await ready(page);
  await checkTree(page, env, build, 'kernel/sched');
  // An unknown file or directory is a clear message, not a blank page.
  await open(page, env, `/file?build=${build}&path=no/such.c`);
  check((await page.textContent('#missing')).includes('no file no/such.c'), 'unknown file message');
  await open(page, env, `/report?build=${build}&path=no/such`);
  check((await page.textContent('#missing')).includes('no directory no/such'), 'unknown directory message');
  await page.click('#missing a');
  await ready(page);
  await checkTree(page, env, build, '');
  noErrors(page);
  await page.close();
}

async function test_label_filters(env) {
  const build = env.info.import.build_id;
  const page = await newPage(env);
  const all = await api(env, `/api/v1/builds/${build}/tree`);
  const ltp = await api(env, `/api/v1/builds/${build}/tree?label=ltp`);
  check(ltp.points_covered > 0 && ltp.points_covered < all.points_covered, `ltp covers a part: ${ltp.points_covered} of ${all.points_covered}`);
  await open(page, env, `/report?build=${build}&label=ltp`);
  await checkTree(page, env, build, '', [['label', 'ltp']]);
  // The label suggestions are the API's label list.
  const known = (await api(env, '/api/v1/labels')).labels.map((l) => l.name);
  await page.waitForFunction((n) => document.querySelectorAll('#known-labels option').length === n, known.length);
  eq(await page.$$eval('#known-labels option', (os) => os.map((o) => o.value)), known, 'label suggestions');
  check(known.includes('ltp') && known.includes('syzkaller'), 'labels: ' + known);
  // The filter form: labels syzkaller, then minus.
  await page.fill('#filters input[name="label"]', 'syzkaller');
  await page.click('#filters button[type="submit"]');
  await ready(page);
  eq(new URL(page.url()).searchParams.getAll('label'), ['syzkaller'], 'label in the URL');
  await checkTree(page, env, build, '', [['label', 'syzkaller']]);
  await open(page, env, `/report?build=${build}&label=ltp&label=syzkaller&minus=syzkaller&path=lib`);
  const t = await api(env, `/api/v1/builds/${build}/tree?label=ltp&label=syzkaller&minus=syzkaller&path=lib`);
  await checkTree(page, env, build, 'lib', [['label', 'ltp'], ['label', 'syzkaller'], ['minus', 'syzkaller']]);
  check(t.points_covered < all.children.find((c) => c.path === 'lib').points_covered, 'minus removes coverage');
  // A day window that ends before any coverage arrived.
  await open(page, env, `/report?build=${build}&until=2000-01-01`);
  await checkTree(page, env, build, '', [['until', '2000-01-01']]);
  // "this week": the last 7 UTC days, which hold all the fixture's coverage.
  await page.click('#preset-week');
  await ready(page);
  const day = (ago) => new Date(Date.now() - ago * 86400000).toISOString().slice(0, 10);
  const u = new URL(page.url()).searchParams;
  eq([u.get('since'), u.get('until')], [day(6), day(0)], 'this week in the URL');
  const week = await checkTree(page, env, build, '', [['since', day(6)], ['until', day(0)]]);
  eq(week.points_covered, all.points_covered, 'this week covers everything pushed today');
  // Filters travel from the tree to a file.
  await open(page, env, `/report?build=${build}&label=ltp&path=fs`);
  await page.click('#tree tr[data-path="fs/beta.c"] a');
  await ready(page);
  eq(new URL(page.url()).searchParams.get('label'), 'ltp', 'label kept in the file view');
  await checkFile(page, env, build, 'fs/beta.c', [['label', 'ltp']]);
  noErrors(page);
  await page.close();
}

async function test_search(env) {
  const build = env.info.import.build_id;
  const page = await newPage(env);
  await open(page, env, `/report?build=${build}`);
  await page.fill('#search', 'gen_f1');
  await page.press('#search', 'Enter');
  await ready(page);
  eq(new URL(page.url()).searchParams.get('q'), 'gen_f1', 'query in the URL');
  const all = await api(env, `/api/v1/builds/${build}/functions?sort=name&limit=10000`);
  const want = all.functions.filter((f) => f.name.includes('gen_f1')).map((f) => f.name).sort();
  const got = await page.$$eval('#search-functions tbody td:first-child a', (as) => as.map((a) => a.textContent));
  eq(got.slice().sort(), want, 'functions found');
  await page.click('#search-functions a:text-is("gen_f12")');
  await ready(page);
  const fn = all.functions.find((f) => f.name === 'gen_f12');
  eq(Number(await page.textContent('#sel-line')), fn.line_start, 'function found opens at its line');
  // Files by path, within a directory.
  await open(page, env, `/report?build=${build}&path=kernel&q=alpha`);
  eq(await page.$$eval('#search-files td:first-child a', (as) => as.map((a) => a.textContent)), ['kernel/sched/alpha.c'], 'files found under kernel/');
  noErrors(page);
  await page.close();
}

// A file without stored source: the real answer with source removed.
async function test_file_without_source(env) {
  const build = env.info.import.build_id;
  const page = await newPage(env);
  await page.route(`**/api/v1/builds/${build}/files/**`, async (route) => {
    const resp = await route.fetch();
    const j = await resp.json();
    j.source = null;
    await route.fulfill({ response: resp, json: j });
  });
  await open(page, env, `/file?build=${build}&path=kernel/sched/alpha.c`);
  check(await page.isVisible('#no-source'), 'no-source note');
  await checkFile(page, env, build, 'kernel/sched/alpha.c');
  noErrors(page);
  await page.close();
}

// ---- subsystems ------------------------------------------------------------------

// The subsystems table as {name ('' for no subsystem): {files, lines: [covered, total, pctText], ...}}.
async function readSubsystems(page) {
  return page.$$eval('#subsystems tbody tr', (trs) => trs.map((tr) => {
    const cells = [...tr.querySelectorAll('.cov')].map((c) => [Number(c.dataset.covered), Number(c.dataset.total), c.querySelector('.pct').textContent]);
    return [tr.dataset.name, { files: tr.querySelector('td.num').textContent, lines: cells[0], points: cells[1], functions: cells[2] }];
  }));
}

async function checkSubsystems(page, env, build, filters = []) {
  const s = await api(env, `/api/v1/builds/${build}/subsystems?` + new URLSearchParams(filters));
  const want = [['', s.none], ...s.subsystems.map((x) => [x.name, x])];
  const shown = await readSubsystems(page);
  eq(shown.map(([n]) => n), want.map(([n]) => n), 'subsystem rows');
  for (const [i, [name, o]] of want.entries()) {
    eq(shown[i][1].files, String(o.files), `files of ${name || '(none)'}`);
    for (const k of KINDS) {
      const c = o[k + '_covered'], tot = o[k + '_total'];
      eq(shown[i][1][k], [c, tot, pctText(c, tot)], `${k} of ${name || '(none)'}`);
    }
  }
  return s;
}

async function test_subsystems(env) {
  const build = env.info.import.build_id;
  const page = await newPage(env);
  await open(page, env, `/subsystems?build=${build}`);
  const s = await checkSubsystems(page, env, build);
  eq(s.subsystems.map((x) => x.name), ['FILESYSTEMS', 'MINI DRIVER', 'SCHEDULER'], 'the fixture\'s subsystems');
  check(s.none.files === 1 && s.subsystems.some((x) => x.lines_covered > 0), 'fixture: one file of none, some coverage');
  // A subsystem's link is the report filtered by it.
  await page.click('#subsystems tr[data-name="FILESYSTEMS"] a');
  await ready(page);
  check(new URL(page.url()).searchParams.get('subsystem') === 'FILESYSTEMS', 'subsystem in the URL: ' + page.url());
  eq(await page.textContent('#subsystem-name'), 'FILESYSTEMS', 'filter note');
  const sub = [['subsystem', 'FILESYSTEMS']];
  const t = await checkTree(page, env, build, '', sub);
  const row = s.subsystems.find((x) => x.name === 'FILESYSTEMS');
  eq([t.files, t.lines_covered, t.lines_total], [row.files, row.lines_covered, row.lines_total], 'report total equals the subsystem row');
  // Deep link round trip: a reload, then a directory, keep the filter.
  await page.reload();
  await ready(page);
  await checkTree(page, env, build, '', sub);
  await page.click('#tree tr[data-path="fs"] a');
  await ready(page);
  check(new URL(page.url()).searchParams.get('subsystem') === 'FILESYSTEMS', 'filter kept into fs/: ' + page.url());
  await checkTree(page, env, build, 'fs', sub);
  // With a label, in both directions.
  await open(page, env, `/subsystems?build=${build}&label=ltp`);
  await checkSubsystems(page, env, build, [['label', 'ltp']]);
  await page.click('#subsystems tr[data-name="SCHEDULER"] a');
  await ready(page);
  const u = new URL(page.url()).searchParams;
  eq([u.getAll('label'), u.get('subsystem')], [['ltp'], 'SCHEDULER'], 'label and subsystem in the URL');
  await checkTree(page, env, build, '', [['label', 'ltp'], ['subsystem', 'SCHEDULER']]);
  // Dropping the filter shows every file again.
  await page.click('#subsystem-clear');
  await ready(page);
  check(!new URL(page.url()).searchParams.has('subsystem'), 'filter dropped: ' + page.url());
  await checkTree(page, env, build, '', [['label', 'ltp']]);
  await shot(page, 'report-after-subsystem.png');
  await open(page, env, `/subsystems?build=${build}`);
  await shot(page, 'subsystems.png');
  // merge=: the later build (everything covered) merged onto this one.
  // Each subsystem's merged totals equal the merged tree filtered by it
  // (a walk, not the per-file totals cache), merging adds coverage, and
  // the unmerged answer is unchanged afterwards.
  const later = env.info.later.build_id;
  const mg = await api(env, `/api/v1/builds/${build}/subsystems?merge=${later}`);
  const fig = (o) => [o.files, o.lines_covered, o.lines_partial, o.lines_total, o.functions_covered, o.points_covered, o.lost_lines];
  for (const x of mg.subsystems) {
    const t = await api(env, `/api/v1/builds/${build}/tree?` + new URLSearchParams([['subsystem', x.name], ['merge', later]]));
    eq(fig(x), fig(t), 'merged totals of ' + x.name);
  }
  const mini = (j) => j.subsystems.find((x) => x.name === 'MINI DRIVER');
  check(mini(mg).lines_covered > mini(s).lines_covered, `merge= adds no line to MINI DRIVER: ${mini(mg).lines_covered} vs ${mini(s).lines_covered}`);
  eq(await api(env, `/api/v1/builds/${build}/subsystems`), s, 'the unmerged answer after a merged one');
  await open(page, env, `/subsystems?build=${build}&merge=${later}`);
  await checkSubsystems(page, env, build, [['merge', later]]);
  noErrors(page);
  await page.close();
}

// Merged builds (merge=): a later build of the same tree (lib/gen.c changed)
// with everything covered, merged onto the imported build. Lines only the
// later build covered are hatched ("other"), the file's lost lines are
// listed per build, the tree has a lost column, the summary the totals;
// the merge control writes merge= and links keep it.
async function test_merge_view(env) {
  const build = env.info.import.build_id, later = env.info.later.build_id;
  const page = await newPage(env);
  const m = [['merge', later]];
  const f = await api(env, `/api/v1/builds/${build}/files/lib/gen.c?` + new URLSearchParams(m));
  await open(page, env, `/file?build=${build}&path=lib/gen.c&merge=${later}`);
  const rows = await page.$$eval('#source .ln', (els) => els.map((e) => [Number(e.dataset.line), e.className.replace(' selected', '')]));
  const byLine = new Map(f.lines.map((l) => [l.line, l]));
  let others = 0;
  for (const [n, cls] of rows) {
    const l = byLine.get(n);
    if (!l) { eq(cls, 'ln', `class of line ${n}`); continue; }
    const other = l.state !== 'uncovered' && l.covered === 0;
    others += other;
    eq(cls, 'ln ' + l.state + (other ? ' other' : ''), `merged class of line ${n}`);
    eq(l.builds.includes(later), l.state !== 'uncovered' && (l.covered === 0 || l.builds.includes(later)), `builds of line ${n}`);
  }
  check(others > 0, 'no line covered only by the later build');
  check(f.lost_lines > 0 && f.lost.length === 1, 'the later build lost no line of gen.c: ' + JSON.stringify(f.lost));
  eq(Number(await page.getAttribute('#lost-lines', 'data-lost')), f.lost_lines, 'lost lines shown');
  eq(Number(await page.getAttribute(`#lost-lines li[data-build="${later}"]`, 'data-lines')), f.lost[0].lines.length, 'lost lines of the later build');
  check((await page.textContent('#lost-lines')).includes('lines ' + f.lost[0].lines.join(', ')), 'lost line numbers');
  const hits = await page.$$eval('#functions tbody tr', (trs) => trs.map((tr) => [tr.querySelector('td.name').textContent, tr.lastElementChild.textContent]));
  for (const [name, hit] of hits) {
    const fn = f.functions.find((x) => x.name === name);
    eq(hit.startsWith('yes'), fn.hit, 'merged hit of ' + name);
  }
  const other = f.lines.find((l) => l.state !== 'uncovered' && l.covered === 0);
  await page.click(`#L${other.line} .no`);
  eq(await page.textContent('#line-builds'), later.slice(0, 12), 'builds of the selected line');
  await shot(page, 'file-view-merged.png');
  // The tree: lost lines per directory; the summary: merged builds and lost lines.
  const t = await api(env, `/api/v1/builds/${build}/tree?` + new URLSearchParams(m));
  await open(page, env, `/report?build=${build}&merge=${later}`);
  const lost = await page.$$eval('#tree tbody tr', (trs) => Object.fromEntries(trs.map((tr) =>
    [tr.dataset.kind === 'total' ? '(total)' : tr.dataset.path, Number(tr.lastElementChild.textContent.replace(/,/g, ''))])));
  const want = { '(total)': t.lost_lines };
  for (const c of t.children) want[c.path] = c.lost_lines;
  eq(lost, want, 'lost lines in the tree');
  check(want.lib > 0, 'lib/ lost nothing');
  const s = await api(env, `/api/v1/builds/${build}/summary?` + new URLSearchParams(m));
  eq(Number(await page.getAttribute('#merge-summary', 'data-lost')), s.lost_lines, 'summary lost lines');
  // Links keep merge=.
  await page.click('#tree tr[data-path="lib"] a');
  await ready(page);
  eq(new URL(page.url()).searchParams.get('merge'), later, 'merge= kept into a directory');
  // The control: pick the later build, then "this window", then none.
  await open(page, env, `/report?build=${build}`);
  check(await page.isHidden('#merge-builds'), 'build list hidden without "pick"');
  await page.selectOption('#merge-mode', 'pick');
  await page.selectOption('#merge-builds', [later]);
  await page.click('#filters button[type="submit"]');
  await ready(page);
  eq(new URL(page.url()).searchParams.get('merge'), later, 'picked build in the URL');
  eq(await page.$eval('#merge-builds', (s) => [...s.selectedOptions].map((o) => o.value)), [later], 'picked build shown');
  await page.selectOption('#merge-mode', 'window');
  await page.click('#filters button[type="submit"]');
  await ready(page);
  eq(new URL(page.url()).searchParams.get('merge'), 'window', 'merge=window in the URL');
  const sw = await api(env, `/api/v1/builds/${build}/summary?merge=window`);
  check(sw.merge.builds.includes(later), 'the window merges the later build');
  eq(Number(await page.getAttribute('#merge-summary', 'data-lost')), sw.lost_lines, 'window: summary lost lines');
  await page.selectOption('#merge-mode', '');
  await page.click('#filters button[type="submit"]');
  await ready(page);
  eq(new URL(page.url()).searchParams.get('merge'), null, 'no merge= after "none"');
  check(!(await page.$('#merge-summary')), 'no merge summary without merge=');
  noErrors(page);
  await page.close();
}

export function coverageTests(env) {
  if (!env.info.import) throw new Failure('the fixture imported no build: the coverage tests cannot run');
  return [test_report_without_import, test_long_file, test_tree_walk_to_file, test_file_view,
    test_line_labels, test_deep_links, test_label_filters, test_search, test_file_without_source,
    test_merge_view, test_subsystems];
}
