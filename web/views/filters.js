// views/filters.js - what the coverage views (report.js, file.js) share:
// the filter bar (build, labels, time window, minus) and the query
// parameters that select coverage, links that keep them, breadcrumbs,
// coverage cells by kind, and the notices for a missing or not imported
// build.
import { api, ApiError, IMPORT_HINT } from '../lib/api.js';
import { $, h } from '../lib/dom.js';
import { fmtNum, pct } from '../lib/format.js';
import { link, navigate } from '../lib/router.js';
import { covCell } from '../lib/widgets.js';

// Query parameters that select the coverage (kept when moving between the
// tree and files). merge= (build ids or "window") and release= merge other
// builds' coverage onto the build (docs/api-coverage.md, merged queries);
// subsystem= (a MAINTAINERS section) selects files.
export const FILTERS = ['label', 'since', 'until', 'minus', 'merge', 'release', 'subsystem'];
const MERGE = ['merge', 'release'];

export function filterPairs(q) {
  const out = [];
  for (const k of FILTERS) for (const v of q.getAll(k)) if (v) out.push([k, v]);
  return out;
}
// The filters without merge= (the labels query answers one build only).
export const unmergedPairs = (q) => filterPairs(q).filter(([k]) => !MERGE.includes(k));
export const isMerged = (q) => Boolean(q.get('merge'));
// The merged builds' short names for "builds" lists of the API.
export const shortIds = (ids) => (ids || []).map((b) => b.slice(0, 12)).join(', ');

// Link to a report view keeping the build and the filters of q.
export function reportLink(path, q, extra) {
  return link(path, [['build', q.get('build')], ...filterPairs(q), ...Object.entries(extra || {})]);
}

export const encodePath = (p) => p.split('/').map(encodeURIComponent).join('/');
export const buildApi = (build) => '/api/v1/builds/' + encodeURIComponent(build);

// Totals of kind ('lines', 'points', 'functions') as the API spells them
// on a tree node or a file: KIND_covered, KIND_total (and lines_partial).
// Lines count as covered when all their points are; partly covered lines
// are counted apart.
export function counts(o, kind) {
  return { covered: o?.[kind + '_covered'] ?? 0, total: o?.[kind + '_total'] ?? 0, partial: o?.[kind + '_partial'] ?? 0 };
}
// Points of one line or function: {covered, points}.
export const pointsOf = (o) => ({ covered: o?.covered ?? 0, total: o?.points ?? 0 });

export function covOf(o, kind) {
  const c = counts(o, kind);
  const cell = covCell(c.covered, c.total, kind === 'lines' ? c.partial : 0);
  if (kind === 'lines' && c.partial) {
    cell.title = `${c.covered} of ${c.total} lines fully covered, ${c.partial} partly`;
    cell.append(h('span', { class: 'frac partial' }, `+${fmtNum(c.partial)} partly`));
  }
  return cell;
}
export const pctOf = (o, kind) => { const c = counts(o, kind); return pct(c.covered, c.total); };

// ---- filter bar ------------------------------------------------------------

let labelCache = null;
export async function knownLabels() {
  if (!labelCache) {
    labelCache = api('/api/v1/labels')
      .then((j) => j.labels.map((l) => l.name))
      .catch(() => []);
  }
  return labelCache;
}

export function toolbar(ctx, builds, path, { search = true } = {}) {
  const q = ctx.q;
  const build = q.get('build');
  const labels = q.getAll('label');
  const merge = q.get('merge') || '';
  const mode = merge === 'window' ? 'window' : merge ? 'pick' : '';
  const picked = mode === 'pick' ? merge.split(',') : [];
  const pick = h('select', { name: 'merge-builds', id: 'merge-builds', multiple: true, size: 3, hidden: mode !== 'pick',
    title: 'The builds whose coverage is merged onto this one (ctrl-click for several)' },
  builds.filter((b) => b.imported && b.build_id !== build).map((b) =>
    h('option', { value: b.build_id, selected: picked.includes(b.build_id) },
      `${b.release || '(no release)'} · ${b.build_id.slice(0, 12)}`)));
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
    h('label', { title: 'Merge the coverage of other builds onto this build\'s lines: every build with coverage in the since/until window, or builds you pick' }, 'Merge builds',
      h('select', { name: 'merge-mode', id: 'merge-mode' },
        h('option', { value: '', selected: mode === '' }, 'none'),
        h('option', { value: 'window', selected: mode === 'window' }, 'this window'),
        h('option', { value: 'pick', selected: mode === 'pick' }, 'pick builds…')),
      pick),
    h('button', { type: 'submit' }, 'Apply'),
    h('span', { class: 'presets' }, 'Taken: ',
      h('button', { type: 'button', class: 'link', id: 'preset-week', title: 'Coverage taken in the last 7 days (UTC)' }, 'this week'), ' · ',
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
    if (sameBuild && ctx.root.dataset.page === 'file') pairs.push(['line', q.get('line')], ['base', q.get('base')], ['commit', q.get('commit')]);
    for (const l of split(f.get('label') || '')) pairs.push(['label', l]);
    for (const l of split(f.get('minus') || '')) pairs.push(['minus', l]);
    pairs.push(['since', f.get('since')], ['until', f.get('until')]);
    if (f.get('merge-mode') === 'window') pairs.push(['merge', 'window'], ['release', q.get('release')]);
    else if (f.get('merge-mode') === 'pick') pairs.push(['merge', f.getAll('merge-builds').filter((b) => b !== f.get('build')).join(',')]);
    if (sameBuild) pairs.push(['subsystem', q.get('subsystem')]);
    if (search && f.get('q')) pairs.push(['q', f.get('q')]);
    const here = ctx.root.dataset.page;
    const page = here === 'file' && sameBuild ? '/file' : here === 'subsystems' ? '/subsystems' : '/report';
    navigate(link(page, pairs));
  };
  form.addEventListener('submit', (ev) => { ev.preventDefault(); go(); });
  $('#build-select', form).addEventListener('change', go);
  $('#merge-mode', form).addEventListener('change', (ev) => { pick.hidden = ev.target.value !== 'pick'; });
  const day = (ago) => new Date(Date.now() - ago * 86400000).toISOString().slice(0, 10);
  const preset = (since, until) => () => { form.since.value = since; form.until.value = until; go(); };
  $('#preset-week', form).addEventListener('click', preset(day(6), day(0)));
  $('#preset-today', form).addEventListener('click', preset(day(0), day(0)));
  $('#preset-all', form).addEventListener('click', preset('', ''));
  return form;
}

export function crumbs(q, path, { file = false } = {}) {
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

export async function buildList() {
  const { builds } = await api('/api/v1/builds');
  return builds;
}

export const isNotImported = (e) => e instanceof ApiError && e.code === 'not_imported';

// A directory or file the build does not have.
export function missing(e, q) {
  return h('div', { class: 'notice', id: 'missing' }, h('p', {}, e.message),
    h('p', {}, h('a', { href: reportLink('/report', q) }, 'The build\'s top directory')));
}

export function notImported(e, build) {
  return h('div', { class: 'notice', id: 'not-imported' },
    h('p', {}, e.message),
    h('p', { class: 'muted' }, 'A build\'s files and functions are known once it is imported, e.g. ',
      h('code', {}, IMPORT_HINT), ' or POST /api/v1/builds. Its raw coverage is at ',
      h('a', { href: buildApi(build) + '/pcs', target: '_blank' }, buildApi(build) + '/pcs'), '.'));
}

// ---- the tree ----------------------------------------------------------------

// Under a subsystem filter: which one, and links to drop it or to pick
// another; without one, a link to the build's subsystems.
export function subsystemNote(q, dir) {
  const build = q.get('build');
  const sub = q.get('subsystem');
  const others = filterPairs(q).filter(([k]) => k !== 'subsystem');
  const all = link('/subsystems', [['build', build], ...others]);
  if (!sub) return h('p', { class: 'muted', id: 'subsystem-note' }, h('a', { href: all, id: 'subsystems-link' }, 'Coverage by subsystem (MAINTAINERS)'));
  return h('p', { class: 'notice', id: 'subsystem-note' }, 'Only files of subsystem ', h('strong', { id: 'subsystem-name' }, sub), '. ',
    h('a', { href: link('/report', [['build', build], ...others, ['path', dir]]), id: 'subsystem-clear' }, 'All files'), ' · ',
    h('a', { href: all }, 'All subsystems'));
}
