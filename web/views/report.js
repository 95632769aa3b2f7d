// views/report.js - the coverage report of a build: the filter bar (build,
// labels, time window, minus), the directory tree loaded one directory at a
// time from /api/v1/builds/{build}/tree, search, and the file view (source
// with coloured lines from /api/v1/builds/{build}/files/{path}, function
// table, jump to the next uncovered line, per-line details with the labels
// that covered the line from /api/v1/builds/{build}/labels).
import { api, ApiError, IMPORT_HINT } from '../lib/api.js';
import { $, esc, h } from '../lib/dom.js';
import { fmtNum, fmtPct, pct } from '../lib/format.js';
import { link, navigate, setQuery } from '../lib/router.js';
import { cards, covCell, sortableTable } from '../lib/widgets.js';

// Query parameters that select the coverage (kept when moving between the
// tree and files).
const FILTERS = ['label', 'since', 'until', 'minus'];

function filterPairs(q) {
  const out = [];
  for (const k of FILTERS) for (const v of q.getAll(k)) if (v) out.push([k, v]);
  return out;
}

// Link to a report view keeping the build and the filters of q.
function reportLink(path, q, extra) {
  return link(path, [['build', q.get('build')], ...filterPairs(q), ...Object.entries(extra || {})]);
}

const encodePath = (p) => p.split('/').map(encodeURIComponent).join('/');
const buildApi = (build) => '/api/v1/builds/' + encodeURIComponent(build);

// Totals of kind ('lines', 'points', 'functions') as the API spells them
// on a tree node or a file: KIND_covered, KIND_total (and lines_partial).
// Lines count as covered when all their points are; partly covered lines
// are counted apart.
export function counts(o, kind) {
  return { covered: o?.[kind + '_covered'] ?? 0, total: o?.[kind + '_total'] ?? 0, partial: o?.[kind + '_partial'] ?? 0 };
}
// Points of one line or function: {covered, points}.
const pointsOf = (o) => ({ covered: o?.covered ?? 0, total: o?.points ?? 0 });

function covOf(o, kind) {
  const c = counts(o, kind);
  const cell = covCell(c.covered, c.total, kind === 'lines' ? c.partial : 0);
  if (kind === 'lines' && c.partial) {
    cell.title = `${c.covered} of ${c.total} lines fully covered, ${c.partial} partly`;
    cell.append(h('span', { class: 'frac partial' }, `+${fmtNum(c.partial)} partly`));
  }
  return cell;
}
const pctOf = (o, kind) => { const c = counts(o, kind); return pct(c.covered, c.total); };

// ---- filter bar ------------------------------------------------------------

let labelCache = null;
async function knownLabels() {
  if (!labelCache) {
    labelCache = api('/api/v1/labels')
      .then((j) => j.labels.map((l) => l.name))
      .catch(() => []);
  }
  return labelCache;
}

function toolbar(ctx, builds, path, { search = true } = {}) {
  const q = ctx.q;
  const build = q.get('build');
  const labels = q.getAll('label');
  const form = h('form', { class: 'toolbar', id: 'filters' },
    h('label', {}, 'Build',
      h('select', { name: 'build', id: 'build-select' }, builds.map((b) =>
        h('option', { value: b.build_id, selected: b.build_id === build },
          `${b.release || '(no release)'} · ${b.build_id.slice(0, 12)}`)))),
    h('label', { title: 'Only coverage pushed under these labels (comma separated); empty: all' }, 'Labels',
      h('input', { name: 'label', list: 'known-labels', value: labels.join(', '), placeholder: 'all', size: 14 })),
    h('label', { title: 'Minus: leave out what these labels covered (L minus M)' }, 'Minus labels',
      h('input', { name: 'minus', list: 'known-labels', value: q.getAll('minus').join(', '), placeholder: 'none', size: 14 })),
    h('label', {}, 'Since', h('input', { type: 'date', name: 'since', value: q.get('since') || '' })),
    h('label', {}, 'Until', h('input', { type: 'date', name: 'until', value: q.get('until') || '' })),
    h('button', { type: 'submit' }, 'Apply'),
    h('span', { class: 'presets' }, 'Received: ',
      h('button', { type: 'button', class: 'link', id: 'preset-week', title: 'Coverage received in the last 7 days (UTC)' }, 'this week'), ' · ',
      h('button', { type: 'button', class: 'link', id: 'preset-today' }, 'today'), ' · ',
      h('button', { type: 'button', class: 'link', id: 'preset-all' }, 'any time')),
    h('span', { class: 'grow' }),
    search ? h('label', {}, 'Search files and functions',
      h('input', { type: 'search', name: 'q', id: 'search', value: q.get('q') || '', placeholder: 'name or path…  (/)', size: 22 })) : null,
    h('datalist', { id: 'known-labels' }));
  knownLabels().then((ls) => {
    const dl = $('#known-labels', form);
    if (dl) dl.replaceChildren(...ls.map((l) => h('option', { value: l })));
  });
  const split = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
  const go = () => {
    const f = new FormData(form);
    const pairs = [['build', f.get('build')]];
    const sameBuild = f.get('build') === build;
    if (sameBuild && path) pairs.push(['path', path]);
    if (sameBuild && ctx.root.dataset.page === 'file') pairs.push(['line', q.get('line')]);
    for (const l of split(f.get('label') || '')) pairs.push(['label', l]);
    for (const l of split(f.get('minus') || '')) pairs.push(['minus', l]);
    pairs.push(['since', f.get('since')], ['until', f.get('until')]);
    if (search && f.get('q')) pairs.push(['q', f.get('q')]);
    const page = ctx.root.dataset.page === 'file' && sameBuild ? '/file' : '/report';
    navigate(link(page, pairs));
  };
  form.addEventListener('submit', (ev) => { ev.preventDefault(); go(); });
  $('#build-select', form).addEventListener('change', go);
  const day = (ago) => new Date(Date.now() - ago * 86400000).toISOString().slice(0, 10);
  const preset = (since, until) => () => { form.since.value = since; form.until.value = until; go(); };
  $('#preset-week', form).addEventListener('click', preset(day(6), day(0)));
  $('#preset-today', form).addEventListener('click', preset(day(0), day(0)));
  $('#preset-all', form).addEventListener('click', preset('', ''));
  return form;
}

function crumbs(q, path, { file = false } = {}) {
  const build = q.get('build');
  const parts = path ? path.split('/').filter(Boolean) : [];
  const out = [h('a', { href: reportLink('/report', q), title: build }, build.slice(0, 12))];
  parts.forEach((p, i) => {
    out.push(h('span', { class: 'sep' }, '/'));
    const sub = parts.slice(0, i + 1).join('/');
    if (i === parts.length - 1) out.push(h('span', { class: 'here' }, p));
    else out.push(h('a', { href: reportLink('/report', q, { path: sub }) }, p));
  });
  return h('nav', { class: 'crumbs', id: 'crumbs', 'aria-label': file ? 'file path' : 'directory path' }, out);
}

async function buildList() {
  const { builds } = await api('/api/v1/builds');
  return builds;
}

const isNotImported = (e) => e instanceof ApiError && e.code === 'not_imported';

// A directory or file the build does not have.
function missing(e, q) {
  return h('div', { class: 'notice', id: 'missing' }, h('p', {}, e.message),
    h('p', {}, h('a', { href: reportLink('/report', q) }, 'The build\'s top directory')));
}

function notImported(e, build) {
  return h('div', { class: 'notice', id: 'not-imported' },
    h('p', {}, e.message),
    h('p', { class: 'muted' }, 'A build\'s files and functions are known once it is imported, e.g. ',
      h('code', {}, IMPORT_HINT), ' or POST /api/v1/builds. Its raw coverage is at ',
      h('a', { href: buildApi(build) + '/pcs', target: '_blank' }, buildApi(build) + '/pcs'), '.'));
}

// ---- the tree ----------------------------------------------------------------

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
  const head = [h('h1', {}, 'Coverage of ', h('span', { title: build }, builds.find((b) => b.build_id === build).release || build.slice(0, 12))), bar, crumbs(q, dir)];
  onKeys(ctx, { '/': () => $('#search', bar)?.focus() });
  if (q.get('q')) return searchView(ctx, head, build);
  let tree;
  try {
    tree = await api(buildApi(build) + '/tree', [['path', dir], ...filterPairs(q)]);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) throw e;
    if (isNotImported(e)) return ctx.mount(...head, notImported(e, build), await summaryTable(ctx, build));
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
    ],
  });
  const summary = dir ? null : await summaryTable(ctx, build);
  ctx.mount(...head,
    cards(kinds.map((k) => {
      const c = counts(totals, k);
      return [`${k} covered`, fmtPct(pct(c.covered, c.total)), `${fmtNum(c.covered)} of ${fmtNum(c.total)}`];
    })),
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
async function summaryTable(ctx, build) {
  let s;
  try {
    s = await api(buildApi(build) + '/summary', filterPairs(ctx.q));
  } catch {
    return null;
  }
  return [h('h2', {}, 'Binaries'), sortableTable({
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

// ---- the file view -------------------------------------------------------------

const STATES = ['covered', 'partial', 'uncovered'];
const CHUNK = 250; // source lines per content-visibility block

function lineState(l) {
  if (STATES.includes(l.state)) return l.state;
  const c = pointsOf(l);
  if (!c.total) return '';
  return c.covered === 0 ? 'uncovered' : c.covered === c.total ? 'covered' : 'partial';
}

function lineTitle(l) {
  const c = pointsOf(l);
  return `${lineState(l)}: ${c.covered} of ${c.total} points covered`;
}

export async function viewFile(ctx) {
  ctx.root.dataset.page = 'file';
  const q = ctx.q;
  const build = q.get('build');
  const path = q.get('path') || '';
  if (!build || !path) return ctx.mount(h('p', { class: 'error' }, 'A file view needs ?build= and ?path=.'));
  const builds = await buildList();
  const head = [toolbar(ctx, builds, path, { search: false }), crumbs(q, path, { file: true })];
  let file;
  try {
    file = await api(buildApi(build) + '/files/' + encodePath(path), filterPairs(q));
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) throw e;
    return ctx.mount(...head, isNotImported(e) ? notImported(e, build) : missing(e, q));
  }
  const lines = (file.lines || []).slice().sort((a, b) => a.line - b.line);
  const byLine = new Map(lines.map((l) => [l.line, l]));
  const functions = file.functions || [];
  const source = typeof file.source === 'string' ? file.source : null;
  const totals = file;

  const srcBox = source !== null ? sourceView(source, byLine) : lineTable(lines);
  const panel = h('div', { class: 'linepanel notice', id: 'line-panel' }, h('span', { class: 'muted' }, 'Click a line number for its points and the labels that covered it.'));
  const fnTable = sortableTable({
    ctx, id: 'functions', rows: functions, defaultSort: 'line',
    columns: [
      { key: 'name', label: 'Function', cls: 'name', cell: (f) => h('a', { href: reportLink('/file', q, { path, line: f.line_start ?? f.line }), dataset: { line: f.line_start ?? f.line } }, f.name) },
      { key: 'line', label: 'Line', num: true, value: (f) => f.line_start ?? f.line, cell: (f) => String(f.line_start ?? f.line) },
      { key: 'points', label: 'Points', value: (f) => pct(f.covered, f.points), cell: (f) => covCell(f.covered, f.points) },
      { key: 'hit', label: 'Hit', value: (f) => (f.covered ? 1 : 0), title: 'A function is hit when one of its points is covered',
        cell: (f) => (f.covered ? h('span', { class: 'state-covered' }, 'yes') : h('span', { class: 'state-uncovered' }, 'no')) },
    ],
  });
  const nextBtn = h('button', { type: 'button', id: 'next-uncovered', title: 'Next uncovered or partly covered line (n); previous: p' }, 'Next uncovered ↓');
  const prevBtn = h('button', { type: 'button', id: 'prev-uncovered', title: 'Previous uncovered or partly covered line (p)' }, '↑');
  const counts3 = ['lines', 'points', 'functions'].map((k) => [k, counts(totals, k)]);
  ctx.mount(...head,
    h('div', { class: 'fileview' },
      h('section', {},
        h('div', { class: 'toolbar' },
          h('span', { class: 'legend' }, h('span', { class: 'c' }, h('i'), 'covered'), h('span', { class: 'p' }, h('i'), 'partly covered'),
            h('span', { class: 'u' }, h('i'), 'not covered'), h('span', { class: 'n' }, h('i'), 'not instrumented')),
          h('span', { class: 'grow' }), prevBtn, nextBtn),
        source === null ? h('p', { class: 'muted', id: 'no-source' }, 'The source of this file was not imported: its instrumented lines are listed instead.') : null,
        srcBox),
      h('aside', {},
        cards(counts3.map(([k, c]) => [k, fmtPct(pct(c.covered, c.total)), `${fmtNum(c.covered)} of ${fmtNum(c.total)} ${k} covered`])),
        h('div', { id: 'file-totals', dataset: Object.fromEntries(counts3.flatMap(([k, c]) => [[k + 'Covered', c.covered], [k + 'Total', c.total]])) }),
        panel,
        h('h2', {}, `Functions (${functions.length})`),
        functions.length ? fnTable : h('p', { class: 'muted' }, 'No functions.'))));

  // Line selection, line panel, next/previous uncovered.
  const rowOf = (n) => srcBox.querySelector(`[data-line="${n}"]`);
  let selected = null;
  const select = (n, { scroll = true, updateUrl = true } = {}) => {
    if (selected) selected.classList.remove('selected');
    selected = rowOf(n);
    if (!selected) return;
    selected.classList.add('selected');
    if (scroll) selected.scrollIntoView({ block: 'center' });
    if (updateUrl) setQuery({ line: n }, { render: false });
    const l = byLine.get(n);
    const c = pointsOf(l);
    const labelBox = h('dd', { id: 'line-labels', class: 'muted' }, l ? 'loading…' : '');
    panel.replaceChildren(h('dl', {},
      h('dt', {}, 'Line'), h('dd', { id: 'sel-line' }, String(n)),
      h('dt', {}, 'State'), h('dd', { class: l ? 'state-' + lineState(l) : '' }, l ? lineState(l) : 'not instrumented'),
      l ? [h('dt', {}, 'Points'), h('dd', {}, `${c.covered} of ${c.total} covered`)] : null,
      l ? [h('dt', {}, 'Covered by'), labelBox] : null));
    if (l) lineLabels(labelBox, n);
  };
  // Which labels covered line n (asked when a line is selected; the answer
  // of an earlier selection that arrives late is dropped).
  let asked = 0;
  const lineLabels = async (box, n) => {
    const mine = ++asked;
    let j;
    try {
      j = await api(buildApi(build) + '/labels', [['file', path], ['line', String(n)], ...filterPairs(q)]);
    } catch (e) {
      if (mine === asked) box.replaceChildren(h('span', { class: 'error' }, 'labels: ' + e.message));
      return;
    }
    if (mine !== asked || !ctx.live()) return;
    const chips = j.labels.map((e) => h('a', {
      class: 'chip', dataset: { label: e.label, covered: e.covered },
      href: reportLink('/file', new URLSearchParams([['build', build], ['label', e.label]]), { path, line: n }),
      title: `${e.label} covered ${e.covered} of the line's ${j.points} points; first on ${e.first_day}, last on ${e.last_day}. Click: this file under ${e.label} alone.`,
    }, `${e.label} ${e.covered}/${j.points}`, h('small', {}, ' last ' + e.last_day)));
    if (j.labels_total > j.labels.length) chips.push(h('span', { class: 'muted' }, ` and ${j.labels_total - j.labels.length} more`));
    box.classList.toggle('muted', !chips.length);
    box.replaceChildren(...(chips.length ? chips : ['no label' + (filterPairs(q).length ? ' in this filter' : '')]));
  };
  const todo = lines.filter((l) => ['uncovered', 'partial'].includes(lineState(l))).map((l) => l.line);
  const jump = (dir) => {
    if (!todo.length) return;
    let cur = selected ? Number(selected.dataset.line) : null;
    if (cur === null) {
      // The line at the top of the window.
      const rows = srcBox.querySelectorAll('[data-line]');
      cur = 0;
      for (const r of rows) { if (r.getBoundingClientRect().top > 60) { cur = Number(r.dataset.line) - 1; break; } }
    }
    const next = dir > 0 ? todo.find((n) => n > cur) ?? todo[0] : [...todo].reverse().find((n) => n < cur) ?? todo[todo.length - 1];
    select(next);
  };
  nextBtn.addEventListener('click', () => jump(1));
  prevBtn.addEventListener('click', () => jump(-1));
  if (!todo.length) { nextBtn.disabled = true; prevBtn.disabled = true; nextBtn.textContent = 'Every line covered'; }
  srcBox.addEventListener('click', (ev) => {
    const no = ev.target.closest('.no');
    if (no) select(Number(no.parentElement.dataset.line), { scroll: false });
  });
  fnTable.addEventListener('click', (ev) => {
    const a = ev.target.closest('a[data-line]');
    if (!a) return;
    ev.preventDefault();
    ev.stopPropagation();
    select(Number(a.dataset.line));
  });
  onKeys(ctx, { n: () => jump(1), p: () => jump(-1) });
  const want = Number(q.get('line'));
  if (want) select(want, { updateUrl: false });
}

let keyHandler = null;
function onKeys(ctx, map) {
  if (keyHandler) document.removeEventListener('keydown', keyHandler);
  keyHandler = (ev) => {
    if (!ctx.live()) { document.removeEventListener('keydown', keyHandler); keyHandler = null; return; }
    if (ev.target.closest('input, select, textarea') || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const f = map[ev.key];
    if (f) { ev.preventDefault(); f(); }
  };
  document.addEventListener('keydown', keyHandler);
}

// Tabs to spaces (stops every 8 columns, as in the kernel's style), so the
// line-number gutter does not shift the first tab stop.
function expandTabs(line) {
  if (!line.includes('\t')) return line;
  let out = '';
  for (const ch of line) out += ch === '\t' ? ' '.repeat(8 - (out.length % 8)) : ch;
  return out;
}

// The source as one HTML string of line rows, in blocks the browser lays
// out only when visible (content-visibility), so 10k-line files scroll
// smoothly.
function sourceView(source, byLine) {
  const text = source.endsWith('\n') ? source.slice(0, -1) : source;
  const src = text.split('\n');
  const parts = [];
  for (let i = 0; i < src.length; i++) {
    if (i % CHUNK === 0) parts.push(i ? '</div><div class="chunk">' : '<div class="chunk">');
    const n = i + 1;
    const l = byLine.get(n);
    const st = l ? lineState(l) : '';
    parts.push(`<span class="ln${st ? ' ' + st : ''}" data-line="${n}" id="L${n}"${l ? ` title="${esc(lineTitle(l))}"` : ''}><span class="no">${n}</span>${esc(expandTabs(src[i])) || ' '}</span>`);
  }
  parts.push('</div>');
  const box = h('div', { class: 'src', id: 'source' });
  box.innerHTML = parts.join('');
  return box;
}

// Without source: the instrumented lines as rows.
function lineTable(lines) {
  const box = h('div', { class: 'src', id: 'source', dataset: { nosource: '1' } });
  const parts = ['<div class="chunk">'];
  lines.forEach((l, i) => {
    if (i && i % CHUNK === 0) parts.push('</div><div class="chunk">');
    const c = pointsOf(l);
    const st = lineState(l);
    parts.push(`<span class="ln ${st}" data-line="${l.line}" id="L${l.line}" title="${esc(lineTitle(l))}"><span class="no">${l.line}</span>${esc(st.padEnd(10))} ${c.covered}/${c.total} points</span>`);
  });
  parts.push('</div>');
  box.innerHTML = parts.join('');
  return box;
}
