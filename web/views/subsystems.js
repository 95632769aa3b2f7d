// views/subsystems.js - coverage of a build per MAINTAINERS subsystem
// (/subsystems): GET /api/v1/builds/{build}/subsystems under the filter
// bar's filters, one row per subsystem with bars like the tree's, each
// linking to the report filtered by it (subsystem=), and the files of no
// subsystem. The report and file views keep subsystem= like the other
// filters (filters.js).
import { api } from '../lib/api.js';
import { h } from '../lib/dom.js';
import { fmtNum } from '../lib/format.js';
import { link, setQuery } from '../lib/router.js';
import { sortableTable } from '../lib/widgets.js';
import { buildApi, buildList, covOf, filterPairs, isNotImported, notImported, pctOf, toolbar } from './filters.js';

const KINDS = ['lines', 'points', 'functions'];

export async function viewSubsystems(ctx) {
  ctx.root.dataset.page = 'subsystems';
  const q = ctx.q;
  const builds = await buildList();
  const title = h('h1', {}, 'Coverage by subsystem');
  if (!q.get('build')) {
    const imported = builds.find((b) => b.imported);
    if (!imported) return ctx.mount(title, h('p', { class: 'notice', id: 'no-build' }, 'No imported build yet.'));
    return setQuery({ build: imported.build_id }, { replace: true });
  }
  const build = q.get('build');
  if (!builds.some((b) => b.build_id === build)) {
    return ctx.mount(title, h('p', { class: 'error' }, `No build ${build}.`), h('p', {}, h('a', { href: '/builds' }, 'All builds')));
  }
  // The list is of every subsystem: a subsystem= in the URL is ignored here.
  const pairs = filterPairs(q).filter(([k]) => k !== 'subsystem');
  const bar = toolbar(ctx, builds, '', { search: false });
  let s;
  try {
    s = await api(buildApi(build) + '/subsystems', pairs);
  } catch (e) {
    if (isNotImported(e)) return ctx.mount(title, bar, notImported(e, build));
    throw e;
  }
  const report = (extra) => link('/report', [['build', build], ...pairs, ...extra]);
  const rows = s.subsystems.map((x) => ({ ...x }));
  const none = { ...s.none, name: 'in no subsystem', none: true };
  const table = sortableTable({
    ctx, id: 'subsystems', rows, top: [none], defaultSort: 'name',
    rowAttrs: (r) => ({ dataset: { name: r.none ? '' : r.name, kind: r.none ? 'none' : 'subsystem' } }),
    columns: [
      { key: 'name', label: 'Subsystem', cls: 'name',
        cell: (r) => (r.none ? h('span', { class: 'muted' }, r.name) : h('a', { href: report([['subsystem', r.name]]) }, r.name)) },
      { key: 'files', label: 'Files', num: true },
      ...KINDS.map((k) => ({
        key: k, label: k[0].toUpperCase() + k.slice(1), value: (r) => pctOf(r, k),
        title: `covered / total ${k}; click to sort by percentage`, cell: (r) => covOf(r, k),
      })),
    ],
  });
  ctx.mount(title, bar,
    h('p', { class: 'muted' }, `Build ${build.slice(0, 12)}: ${fmtNum(s.files)} files; a file can be in several subsystems. `,
      h('a', { href: report([]) }, 'Report of all files')),
    s.maintainers ? null : h('p', { class: 'notice', id: 'no-maintainers' },
      'This build was imported without a MAINTAINERS file: import it with its source directory (--source) to see subsystems.'),
    table);
}
