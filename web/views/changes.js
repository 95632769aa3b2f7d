// views/changes.js - the changes page (/changes?build=T&base=S): the
// commits between two builds imported from git (GET
// /api/v1/builds/{T}/commits?base=S, docs/api-coverage.md "Patch
// coverage"), newest first or by uncovered new lines (sort=, done by the
// API), each with a bar of its covered / partly covered / uncovered new
// lines and links to its files' views showing only that commit's new lines
// (/file?...&base=S&commit=ID). The filter bar's filters (labels, merge=
// ...) are passed through.
import { api, ApiError } from '../lib/api.js';
import { h } from '../lib/dom.js';
import { fmtNum } from '../lib/format.js';
import { link, navigate, setQuery } from '../lib/router.js';
import { covCell } from '../lib/widgets.js';
import { buildApi, buildList, filterPairs } from './filters.js';

const SORTS = [['date', 'newest first'], ['uncovered', 'most uncovered new lines first']];
const label = (b) => `${b.release || '(no release)'} · ${b.build_id.slice(0, 12)}`;

// The file view of path in build with only the new lines since base (of
// commit, when given) highlighted, keeping the filters of q.
export function changesFileLink(q, build, base, path, commit) {
  return link('/file', [['build', build], ['path', path], ['base', base], ['commit', commit], ...filterPairs(q)]);
}

function picker(ctx, imported, build, base, sort) {
  const sel = (name, id, cur, opts) => h('select', { name, id }, opts.map(([v, t]) => h('option', { value: v, selected: v === cur }, t)));
  const choices = imported.map((b) => [b.build_id, label(b)]);
  const form = h('form', { class: 'toolbar', id: 'changes-form' },
    h('label', { title: 'The older build: its git revision is where the range starts' }, 'Base build', sel('base', 'changes-base', base, choices)),
    h('label', { title: 'The newer build: its commits since the base are listed' }, 'Target build', sel('build', 'changes-build', build, choices)),
    h('label', {}, 'Sort', sel('sort', 'changes-sort', sort, SORTS)),
    h('button', { type: 'submit' }, 'Show'));
  const go = () => {
    const f = new FormData(form);
    navigate(link('/changes', [['build', f.get('build')], ['base', f.get('base')], ['sort', f.get('sort')], ...filterPairs(ctx.q)]));
  };
  form.addEventListener('submit', (ev) => { ev.preventDefault(); go(); });
  form.querySelectorAll('select').forEach((s) => s.addEventListener('change', go));
  return form;
}

export async function viewChanges(ctx) {
  ctx.root.dataset.page = 'changes';
  const q = ctx.q;
  const title = h('h1', {}, 'Changes between builds');
  const imported = (await buildList()).filter((b) => b.imported);
  if (imported.length < 2) {
    return ctx.mount(title, h('p', { class: 'notice', id: 'changes-none' },
      'The changes page compares two builds imported from git (kcovd import-build --git REPO --rev REV); there are fewer than two imported builds.'));
  }
  if (!q.get('build') || !q.get('base')) {
    // The newest imported build against the one before it.
    const build = q.get('build') || imported[0].build_id;
    return setQuery({ build, base: q.get('base') || imported.find((b) => b.build_id !== build).build_id }, { replace: true });
  }
  const build = q.get('build'), base = q.get('base');
  const sort = q.get('sort') === 'uncovered' ? 'uncovered' : 'date';
  const form = picker(ctx, imported, build, base, sort);
  let j;
  try {
    j = await api(buildApi(build) + '/commits', [['base', base], ['sort', sort], ...filterPairs(q)]);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 400) throw e;
    return ctx.mount(title, form, h('p', { class: 'error', id: 'changes-error', dataset: { code: e.code } }, e.message));
  }
  const fileLink = (c, p) => changesFileLink(q, build, base, p, c.id);
  const sortLink = (s, text) => h('a', { href: link('/changes', [['build', build], ['base', base], ['sort', s], ...filterPairs(q)]),
    class: s === sort ? 'sorted' : null, dataset: { sort: s } }, text);
  const sum = (k) => j.commits.reduce((n, c) => n + c[k], 0) + j.unattributed[k];
  const rows = j.commits.map((c) => h('tr', { dataset: { id: c.id } },
    h('td', { class: 'name' }, h('code', { title: c.id }, c.id.slice(0, 12)), ' ',
      c.files.length ? h('a', { href: fileLink(c, c.files[0]), class: 'subject' }, c.subject) : h('span', { class: 'subject' }, c.subject)),
    h('td', { title: c.email }, c.author),
    h('td', { class: 'date' }, c.date.slice(0, 10)),
    h('td', { class: 'num new' }, fmtNum(c.new_lines)),
    h('td', {}, covCell(c.covered, c.instrumented, c.partial)),
    h('td', { class: 'num uncovered' }, fmtNum(c.uncovered)),
    h('td', { class: 'files' }, c.files.map((p) => h('a', { href: fileLink(c, p), class: 'chip', dataset: { path: p } }, p)))));
  const table = h('table', { class: 'grid', id: 'commits', dataset: { sort } },
    h('thead', {}, h('tr', {},
      h('th', {}, 'Commit'), h('th', {}, 'Author'), h('th', {}, sortLink('date', 'Date')),
      h('th', { class: 'num', title: 'Lines of the target build this commit added or changed, instrumented or not' }, 'New lines'),
      h('th', { title: 'Instrumented new lines: covered (green), partly covered (yellow), not covered (red)' }, 'Covered new lines'),
      h('th', { class: 'num' }, sortLink('uncovered', 'Uncovered')), h('th', {}, 'Files'))),
    h('tbody', {}, rows));
  const from = imported.find((b) => b.build_id === base), to = imported.find((b) => b.build_id === build);
  ctx.mount(title, form,
    h('p', { class: 'muted', id: 'changes-range' }, `${fmtNum(j.commits.length)} commits from `, h('code', {}, j.base_rev.slice(0, 12)),
      ` (${from ? label(from) : base.slice(0, 12)}) to `, h('code', {}, j.rev.slice(0, 12)), ` (${to ? label(to) : build.slice(0, 12)}), along first parents. `,
      h('a', { href: link('/report', [['build', build], ...filterPairs(q)]), id: 'changes-report' }, 'Target build\'s report')),
    h('div', { id: 'changes-totals', dataset: { newLines: sum('new_lines'), instrumented: sum('instrumented'), covered: sum('covered'), partial: sum('partial'), uncovered: sum('uncovered') } },
      covCell(sum('covered'), sum('instrumented'), sum('partial'))),
    j.commits.length ? table : h('p', { class: 'notice', id: 'changes-empty' }, 'No commits between the two builds.'),
    j.unattributed.new_lines ? h('p', { class: 'muted', id: 'changes-unattributed' }, `${fmtNum(j.unattributed.new_lines)} new lines blame puts on no commit of the range.`) : null,
    j.unknown.length ? h('p', { class: 'muted', id: 'changes-unknown' }, `${j.unknown.length} files without source on a side are not counted.`) : null);
}
