// views/report.js - the coverage report of a build (/report): the
// directory tree loaded one directory at a time from
// /api/v1/builds/{build}/tree, search over functions, and the summary per
// binary. The file view is file.js; the filter bar is filters.js.
import { api, ApiError, IMPORT_HINT } from '../lib/api.js';
import { $, h } from '../lib/dom.js';
import { fmtNum, fmtPct, pct } from '../lib/format.js';
import { link, setQuery } from '../lib/router.js';
import { onKeys } from '../lib/keys.js';
import { cards, covCell, sortableTable } from '../lib/widgets.js';
import { trendBox } from './history.js';
import { buildApi, buildList, counts, covOf, crumbs, filterPairs, isNotImported, missing, notImported, pctOf, reportLink, subsystemNote, toolbar, unmergedPairs } from './filters.js';

const isDir = (c) => c.type === 'dir';
const childPath = (dir, c) => c.path || (dir ? dir + '/' + c.name : c.name);
const childName = (c) => c.name || c.path.split('/').pop();

export async function viewReport(ctx) {
  ctx.root.dataset.page = 'report';
  const q = ctx.q;
  const builds = await buildList();
  if (!builds.length) {
    return ctx.mount(h('h1', {}, 'Coverage'), h('p', { class: 'notice', id: 'no-build' }, 'No build known yet: import one with ',
      h('code', {}, IMPORT_HINT), ' (or POST /api/v1/builds), or let machines push coverage.'));
  }
  if (!q.get('build') || !builds.some((b) => b.build_id === q.get('build'))) {
    if (q.get('build')) {
      return ctx.mount(h('h1', {}, 'Coverage'), h('p', { class: 'error' }, `No build ${q.get('build')}.`),
        h('p', {}, h('a', { href: '/builds' }, 'All builds')));
    }
    // The newest imported build (the API lists the newest first); with none
    // imported, the newest build, whose page says how to import it.
    const imported = builds.find((b) => b.imported) || builds[0];
    return setQuery({ build: imported.build_id }, { replace: true });
  }
  const build = q.get('build');
  const dir = (q.get('path') || '').replace(/(.)\/+$/, '$1');
  const bar = toolbar(ctx, builds, dir);
  const head = [h('h1', {}, 'Coverage of ', h('span', { title: build }, builds.find((b) => b.build_id === build).release || build.slice(0, 12))), bar, crumbs(q, dir), subsystemNote(q, dir)];
  onKeys(ctx, { '/': () => $('#search', bar)?.focus() });
  if (q.get('q')) return searchView(ctx, head, build);
  let tree;
  try {
    tree = await api(buildApi(build) + '/tree', [['path', dir], ...filterPairs(q)]);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) throw e;
    if (isNotImported(e)) return ctx.mount(...head, notImported(e, build), await summaryTable(ctx, build, unmergedPairs(q)));
    return ctx.mount(...head, missing(e, q));
  }
  const children = tree.children || [];
  const totals = tree;
  const kinds = ['lines', 'points', 'functions'];
  const rows = children.map((c) => ({ c, path: childPath(dir, c), name: childName(c), dir: isDir(c) }));
  const totalRow = { c: totals, path: dir, name: dir ? 'total of ' + dir + '/' : 'total', total: true };
  const table = sortableTable({
    ctx, id: 'tree', rows, top: [totalRow], defaultSort: 'name',
    rowAttrs: (r) => ({ dataset: { path: r.path, kind: r.total ? 'total' : r.dir ? 'dir' : 'file' } }),
    columns: [
      { key: 'name', label: 'Name', cls: 'name', value: (r) => (r.dir ? '0' : '1') + r.name,
        cell: (r) => (r.total ? r.name : [h('a', {
          href: r.dir ? reportLink('/report', q, { path: r.path }) : reportLink('/file', q, { path: r.path }),
        }, h('span', { class: 'icon' }, r.dir ? '▸' : '·'), r.name + (r.dir ? '/' : '')),
        r.dir && r.c.files ? h('span', { class: 'muted count' }, ` ${fmtNum(r.c.files)} ${r.c.files === 1 ? 'file' : 'files'}`) : null]) },
      ...kinds.map((k) => ({
        key: k, label: k[0].toUpperCase() + k.slice(1), value: (r) => pctOf(r.c, k),
        title: `covered / total ${k}; click to sort by percentage`, cell: (r) => covOf(r.c, k),
      })),
      { key: 'size', label: 'Lines total', num: true, value: (r) => counts(r.c, 'lines').total,
        cell: (r) => fmtNum(counts(r.c, 'lines').total) },
      // merged queries: lines other builds covered that map onto no line here
      ...(totals.lost_lines === undefined ? [] : [{ key: 'lost', label: 'Lost lines', num: true,
        title: 'Lines covered in merged builds that are changed or have no source here', value: (r) => r.c.lost_lines ?? 0,
        cell: (r) => h('span', { class: r.c.lost_lines ? 'lost' : 'muted' }, fmtNum(r.c.lost_lines ?? 0)) }]),
    ],
  });
  const summary = dir ? null : await summaryTable(ctx, build, filterPairs(q));
  const trend = await trendBox(ctx, dir);
  ctx.mount(...head,
    cards(kinds.map((k) => {
      const c = counts(totals, k);
      return [`${k} covered`, fmtPct(pct(c.covered, c.total)), `${fmtNum(c.covered)} of ${fmtNum(c.total)}`];
    })),
    trend,
    children.length ? table : h('p', { class: 'notice' }, 'Nothing instrumented here.'),
    summary);
}

// Search: GET .../functions?q=TERM returns the functions whose name or file
// path contains the term (the server filters the whole build); pages of
// SEARCH_PAGE, at most SEARCH_PAGES of them.
const SEARCH_PAGE = 10000;
const SEARCH_PAGES = 20;
const searchCache = new Map();

async function allFunctions(build, filters, term) {
  const key = JSON.stringify([build, filters, term]);
  if (!searchCache.has(key)) {
    searchCache.set(key, (async () => {
      const out = [];
      let total = 0;
      for (let page = 0; page < SEARCH_PAGES; page++) {
        const j = await api(buildApi(build) + '/functions',
          [['q', term], ['sort', 'name'], ['limit', SEARCH_PAGE], ['offset', page * SEARCH_PAGE], ...filters]);
        out.push(...j.functions);
        total = j.total;
        if (out.length >= total || !j.functions.length) break;
      }
      return { functions: out, total };
    })().catch((e) => { searchCache.delete(key); throw e; }));
  }
  return searchCache.get(key);
}

async function searchView(ctx, head, build) {
  const q = ctx.q;
  const term = q.get('q').toLowerCase();
  const dir = q.get('path') || '';
  const under = (p) => !dir || p === dir || p.startsWith(dir.endsWith('/') ? dir : dir + '/');
  const { functions, total } = await allFunctions(build, filterPairs(q), term);
  const inDir = functions.filter((f) => under(f.file));
  const fns = inDir.filter((f) => f.name.toLowerCase().includes(term)).slice(0, 500);
  const files = new Map();
  for (const f of inDir) {
    if (!f.file.toLowerCase().includes(term)) continue;
    const e = files.get(f.file) || { path: f.file, functions: 0, hit: 0, points: 0, covered: 0 };
    e.functions++; e.hit += f.covered ? 1 : 0; e.points += f.points; e.covered += f.covered;
    files.set(f.file, e);
  }
  const fileRows = [...files.values()].slice(0, 500);
  ctx.mount(...head,
    h('p', {}, `Search for “${q.get('q')}”${dir ? ' under ' + dir + '/' : ''}: ${fileRows.length} files, ${fns.length} functions. `,
      h('a', { href: reportLink('/report', q, { path: dir }) }, 'Clear search')),
    functions.length < total ? h('p', { class: 'muted' }, `Searched the first ${fmtNum(functions.length)} of ${fmtNum(total)} functions.`) : null,
    h('div', { class: 'search-results', id: 'search-results' },
      fileRows.length ? [h('h2', {}, 'Files'), sortableTable({
        ctx, id: 'search-files', rows: fileRows, defaultSort: 'path',
        columns: [
          { key: 'path', label: 'File', cls: 'name', cell: (f) => h('a', { href: reportLink('/file', q, { path: f.path }) }, f.path) },
          { key: 'points', label: 'Points in functions', value: (f) => pct(f.covered, f.points), cell: (f) => covCell(f.covered, f.points) },
          { key: 'functions', label: 'Functions hit', value: (f) => pct(f.hit, f.functions), cell: (f) => covCell(f.hit, f.functions) },
        ],
      })] : null,
      fns.length ? [h('h2', {}, 'Functions'), sortableTable({
        ctx, id: 'search-functions', rows: fns, defaultSort: 'name',
        columns: [
          { key: 'name', label: 'Function', cls: 'name', cell: (f) => h('a', { href: reportLink('/file', q, { path: f.file, line: f.line_start }) }, f.name) },
          { key: 'file', label: 'File', cls: 'name', cell: (f) => h('a', { href: reportLink('/file', q, { path: f.file }) }, `${f.file}:${f.line_start}`) },
          { key: 'points', label: 'Points', value: (f) => pct(f.covered, f.points), cell: (f) => covCell(f.covered, f.points) },
        ],
      })] : null,
      !fileRows.length && !fns.length ? h('p', { class: 'notice' }, 'Nothing found.') : null));
}

// Points and unmatched PCs per binary of the build (GET .../summary).
async function summaryTable(ctx, build, filters) {
  let s;
  try {
    s = await api(buildApi(build) + '/summary', filters);
  } catch {
    return null;
  }
  return [mergeSummary(s), h('h2', {}, 'Binaries'), sortableTable({
    ctx, id: 'binaries', rows: s.binaries || [], defaultSort: 'name',
    columns: [
      { key: 'name', label: 'Binary', cls: 'name' },
      { key: 'kind', label: 'Kind' },
      { key: 'imported', label: 'Imported', cell: (b) => (b.imported ? 'yes' : 'no') },
      { key: 'points', label: 'Points covered', value: (b) => pct(b.covered_points, b.points),
        cell: (b) => (b.imported ? covCell(b.covered_points, b.points) : '–') },
      { key: 'pcs', label: 'PCs', num: true, title: 'Distinct canonical PCs received' },
      { key: 'unmatched_pcs', label: 'Unmatched PCs', num: true, title: 'PCs that match no coverage point of the imported binary' },
    ],
  }), h('p', { class: 'muted' }, 'Exports: ',
    h('a', { href: link(buildApi(build) + '/lcov', [['prefix', ctx.q.get('path')], ...filterPairs(ctx.q)]), target: '_blank' }, 'LCOV'), ' · ',
    h('a', { href: link(buildApi(build) + '/files.csv', [['prefix', ctx.q.get('path')], ...filterPairs(ctx.q)]), target: '_blank' }, 'files CSV'), ' · ',
    h('a', { href: link(buildApi(build) + '/functions.csv', [['prefix', ctx.q.get('path')], ...filterPairs(ctx.q)]), target: '_blank' }, 'functions CSV'))];
}

// What a merged summary says was merged and lost (files this build lacks).
function mergeSummary(s) {
  if (!s.merge) return null;
  const short = (b) => h('span', { title: b }, b.slice(0, 12));
  return h('div', { class: 'notice', id: 'merge-summary', dataset: { lost: s.lost_lines } },
    h('p', {}, `Merged ${s.merge.builds.length} other build(s) onto this one; `, h('strong', {}, `${fmtNum(s.lost_lines)} lost lines`),
      ' (covered there, changed or missing here).'),
    s.merge.skipped.length ? h('p', { class: 'muted' }, 'Not merged (never imported): ', s.merge.skipped.map((x) => [short(x.build_id), ' '])) : null,
    s.lost_files.length ? [h('p', {}, 'Files this build lacks:'), h('ul', { id: 'lost-files' }, s.lost_files.map((f) =>
      h('li', { dataset: { path: f.path, lost: f.lost_lines } }, `${f.path} `, short(f.build_id), `: ${fmtNum(f.lost_lines)} lost lines`)))] : null);
}

// ---- the file view -------------------------------------------------------------
