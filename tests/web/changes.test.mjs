// changes.test.mjs - browser tests of the changes page (/changes) and the
// file view's "new since build" highlight. The fixture imports both
// builds from a git repository of three commits (fixture.py HISTORY): the
// main build at the first, the later build at the last, whose two commits
// by two authors changed lib/gen.c (a branch inserted into gen_f3, a line
// of gen_f7 changed). Every number shown is checked against the REST API.
import { check, eq, newPage, open, ready, api, shot, noErrors } from './lib.mjs';

const SUBJECTS = ['gen: change gen_f7', 'gen: early return in gen_f3']; // newest first

async function readCommits(page) {
  return page.$$eval('#commits tbody tr', (trs) => trs.map((tr) => {
    const cov = tr.querySelector('.cov');
    return {
      id: tr.dataset.id,
      subject: tr.querySelector('.subject').textContent,
      author: tr.children[1].textContent,
      date: tr.children[2].textContent,
      new_lines: Number(tr.querySelector('td.new').textContent.replace(/,/g, '')),
      covered: Number(cov.dataset.covered),
      instrumented: Number(cov.dataset.total),
      uncovered: Number(tr.querySelector('td.uncovered').textContent.replace(/,/g, '')),
      files: [...tr.querySelectorAll('td.files a')].map((a) => a.dataset.path),
    };
  }));
}

const shown = (c) => ({ id: c.id, subject: c.subject, author: c.author, date: c.date.slice(0, 10), new_lines: c.new_lines,
  covered: c.covered, instrumented: c.instrumented, uncovered: c.uncovered, files: c.files });

// The source rows highlighted as new: [line, text].
const newRows = (page) => page.$$eval('#source .ln.new', (els) => els.map((e) => [Number(e.dataset.line), e.textContent.slice(e.querySelector('.no').textContent.length)]));

async function test_changes_page(env) {
  const build = env.info.import.build_id, later = env.info.later.build_id;
  const revs = env.info.revs;
  const page = await newPage(env);
  // The commits from the main build (first commit) to the later one.
  const j = await api(env, `/api/v1/builds/${later}/commits?base=${build}`);
  eq(j.commits.map((c) => c.subject), SUBJECTS, 'the fixture\'s commits');
  eq(j.commits.map((c) => c.id), [revs[2], revs[1]], 'commit ids');
  check(j.commits.every((c) => c.instrumented > 0 && c.new_lines > 0), 'every commit has instrumented new lines: ' + JSON.stringify(j.commits));
  await open(page, env, `/changes?build=${later}&base=${build}`);
  eq(await readCommits(page), j.commits.map(shown), 'commits by date');
  const tot = await page.$eval('#changes-totals', (e) => ({ ...e.dataset }));
  const sum = (k) => String(j.commits.reduce((n, c) => n + c[k], 0) + j.unattributed[k]);
  eq(tot, { newLines: sum('new_lines'), instrumented: sum('instrumented'), covered: sum('covered'), partial: sum('partial'), uncovered: sum('uncovered') }, 'totals');
  check((await page.textContent('#changes-range')).includes(revs[0].slice(0, 12)), 'range names the base commit');
  await shot(page, 'changes.png');
  // Sorted by uncovered new lines: the API's order, in the URL.
  await page.click('#commits th a[data-sort="uncovered"]');
  await ready(page);
  eq(new URL(page.url()).searchParams.get('sort'), 'uncovered', 'sort= in the URL');
  const ju = await api(env, `/api/v1/builds/${later}/commits?base=${build}&sort=uncovered`);
  eq(await readCommits(page), ju.commits.map(shown), 'commits by uncovered lines');
  eq(await page.$eval('#changes-sort', (s) => s.value), 'uncovered', 'sort control');
  // Reloading the deep link shows the same; filters are passed on.
  await page.reload();
  await ready(page);
  eq(await readCommits(page), ju.commits.map(shown), 'deep link reloaded');
  const jl = await api(env, `/api/v1/builds/${later}/commits?base=${build}&label=syzkaller`);
  await open(page, env, `/changes?build=${later}&base=${build}&label=syzkaller`);
  eq(await readCommits(page), jl.commits.map(shown), 'commits under label=syzkaller');
  // Each commit opens the file view with only its new lines highlighted.
  const seen = [];
  for (const c of j.commits) {
    await open(page, env, `/changes?build=${later}&base=${build}`);
    await page.click(`#commits tr[data-id="${c.id}"] td.files a[data-path="lib/gen.c"]`);
    await ready(page);
    const u = new URL(page.url()).searchParams;
    eq([u.get('build'), u.get('path'), u.get('base'), u.get('commit')], [later, 'lib/gen.c', build, c.id], 'file view URL');
    const p = await api(env, `/api/v1/builds/${later}/patch?base=${build}&path=lib&commit=${c.id}`);
    const f = p.files.find((x) => x.path === 'lib/gen.c');
    const rows = await newRows(page);
    eq(rows.map(([n]) => n), f.lines.map((l) => l.line), `new lines of ${c.subject}`);
    const note = await page.$eval('#patch-note', (e) => ({ ...e.dataset }));
    eq(note, { newLines: String(f.new_lines), instrumented: String(f.instrumented), covered: String(f.covered), partial: String(f.partial), uncovered: String(f.uncovered), commit: c.id }, 'patch note');
    seen.push(rows);
  }
  // Independently of kcovd: the changed lines of the two commits.
  check(seen[0].some(([, t]) => t.includes('return x - 70;')) && !seen[0].some(([, t]) => t.includes('x == 333')), 'gen_f7 commit: ' + JSON.stringify(seen[0]));
  check(seen[1].some(([, t]) => t.includes('if (x == 333)')) && !seen[1].some(([, t]) => t.includes('x - 70')), 'gen_f3 commit: ' + JSON.stringify(seen[1]));
  await shot(page, 'file-view-commit.png');
  // The pickers: from the default pair (the newest build against the one
  // before it: not an ancestor here) to the builds swapped.
  await open(page, env, '/changes');
  const q = new URL(page.url()).searchParams;
  eq([q.get('build'), q.get('base')], [build, later], 'default pair');
  eq(await page.getAttribute('#changes-error', 'data-code'), 'bad_input', 'a base that is not an ancestor');
  await page.selectOption('#changes-base', build);
  await ready(page);
  check(await page.isVisible('#changes-empty'), 'no commits from a build to itself');
  await page.selectOption('#changes-build', later);
  await ready(page);
  eq((await readCommits(page)).map((c) => c.id), j.commits.map((c) => c.id), 'commits after picking');
  page.errors = page.errors.filter((e) => !/status of 400/.test(e)); // the refused pair
  noErrors(page);
  await page.close();
}

async function test_file_new_since(env) {
  const build = env.info.import.build_id, later = env.info.later.build_id;
  const page = await newPage(env);
  await open(page, env, `/file?build=${later}&path=lib/gen.c`);
  eq((await newRows(page)).length, 0, 'nothing highlighted without base=');
  check(!(await page.$('#patch-note')), 'no note without base=');
  await page.selectOption('#new-since', build);
  await ready(page);
  const u = new URL(page.url()).searchParams;
  eq([u.get('base'), u.get('commit')], [build, null], 'base= in the URL');
  const p = await api(env, `/api/v1/builds/${later}/patch?base=${build}&path=lib`);
  const f = p.files.find((x) => x.path === 'lib/gen.c');
  const rows = await newRows(page);
  eq(rows.map(([n]) => n), f.lines.map((l) => l.line), 'lines new since the base');
  check(rows.some(([, t]) => t.includes('if (x == 333)')) && rows.some(([, t]) => t.includes('return x - 70;')), 'both changes highlighted');
  eq(rows.length, f.new_lines, 'one row per new line');
  eq(Number(await page.getAttribute('#patch-note', 'data-new-lines')), f.new_lines, 'new lines in the note');
  const j = await api(env, `/api/v1/builds/${later}/commits?base=${build}`);
  eq(j.commits.filter((c) => c.files.includes('lib/gen.c')).length, 2, 'both commits touched lib/gen.c');
  // Under merge=, the states are the merged ones and the base is kept.
  await open(page, env, `/file?build=${later}&path=lib/gen.c&base=${build}&merge=${build}`);
  const pm = await api(env, `/api/v1/builds/${later}/patch?base=${build}&path=lib&merge=${build}`);
  const fm = pm.files.find((x) => x.path === 'lib/gen.c');
  eq(Number(await page.getAttribute('#patch-note', 'data-covered')), fm.covered, 'merged covered new lines');
  await shot(page, 'file-view-new-since.png');
  // "All new lines" from one commit's view; the toggle off again.
  await open(page, env, `/file?build=${later}&path=lib/gen.c&base=${build}&commit=${j.commits[0].id}`);
  await page.click('#patch-all');
  await ready(page);
  eq((await newRows(page)).length, f.new_lines, 'all new lines after "All new lines"');
  await page.selectOption('#new-since', '');
  await ready(page);
  eq(new URL(page.url()).searchParams.get('base'), null, 'toggle off');
  eq((await newRows(page)).length, 0, 'nothing highlighted after the toggle');
  // A commit of no range: the note says so, the file is still shown.
  await open(page, env, `/file?build=${later}&path=lib/gen.c&base=${build}&commit=${'ab'.repeat(20)}`);
  eq(await page.getAttribute('#patch-note', 'data-code'), 'not_found', 'unknown commit');
  check(await page.isVisible('#source'), 'the file is shown');
  page.errors = page.errors.filter((e) => !/status of 404/.test(e));
  noErrors(page);
  await page.close();
}

export function changesTests() {
  return [test_changes_page, test_file_new_since];
}
