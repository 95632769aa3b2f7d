// views/fleet.js - the fleet pages: machines (/machines), one machine
// (/machine?name=) and builds (/builds).
import { api, IMPORT_HINT } from '../lib/api.js';
import { h } from '../lib/dom.js';
import { ago, fmtNum, fmtPct, fmtTime, pct } from '../lib/format.js';
import { link } from '../lib/router.js';
import { cards, sortableTable } from '../lib/widgets.js';

const STALE_S = 24 * 3600;

export async function viewMachines(ctx) {
  const { machines } = await api('/api/v1/machines');
  const now = Date.now() / 1000;
  const sum = (k) => machines.reduce((a, m) => a + (m[k] || 0), 0);
  const recent = machines.filter((m) => m.last_push && now - m.last_push < STALE_S).length;
  const pcs = sum('pcs'), unknown = sum('unknown_pcs');
  const table = sortableTable({
    ctx, id: 'machines', rows: machines, defaultSort: 'name',
    rowAttrs: (m) => ({ class: !m.last_push || now - m.last_push >= STALE_S ? 'stale' : '', dataset: { machine: m.name } }),
    columns: [
      { key: 'name', label: 'Machine', cls: 'name', cell: (m) => h('a', { href: link('/machine', { name: m.name }) }, m.name) },
      { key: 'last_push', label: 'Last push', num: true, title: 'Machines silent for a day are red',
        cell: (m) => h('span', { class: 'last-push', title: fmtTime(m.last_push) }, ago(m.last_push)) },
      { key: 'first_seen', label: 'First seen', num: true, cell: (m) => fmtTime(m.first_seen) },
      { key: 'reports', label: 'Reports', num: true },
      { key: 'boots', label: 'Boots', num: true },
      { key: 'pcs', label: 'PCs received', num: true },
      { key: 'unknown_pcs', label: 'Unmatched PCs', num: true, title: 'PCs that fell in no known text region (not canonicalized)',
        cell: (m) => h('span', { title: fmtPct(pct(m.unknown_pcs, m.pcs)) + ' of the PCs received' }, fmtNum(m.unknown_pcs)) },
      { key: 'releases', label: 'Releases', value: (m) => (m.releases || []).join(' '),
        cell: (m) => (m.releases || []).map((r) => h('span', { class: 'chip' }, r)) },
    ],
  });
  ctx.mount(
    h('h1', {}, 'Machines'),
    cards([
      ['machines', fmtNum(machines.length)],
      ['pushed in the last 24 h', fmtNum(recent)],
      ['reports', fmtNum(sum('reports'))],
      ['boots', fmtNum(sum('boots'))],
      ['PCs received', fmtNum(pcs)],
      ['unmatched PCs', `${fmtNum(unknown)} (${fmtPct(pct(unknown, pcs))})`, 'PCs that fell in no known text region'],
    ]),
    machines.length ? table : h('p', { class: 'notice' }, 'No machine has pushed coverage yet.'));
}

export async function viewMachine(ctx) {
  const name = ctx.q.get('name');
  if (!name) return ctx.mount(h('p', { class: 'error' }, 'No machine given (?name=).'));
  const limit = ctx.q.get('limit') || '200';
  const [{ machines }, { reports }] = await Promise.all([
    api('/api/v1/machines'),
    api('/api/v1/reports', [['machine', name], ['limit', limit]]),
  ]);
  const m = machines.find((x) => x.name === name);
  if (!m) return ctx.mount(h('h1', {}, name), h('p', { class: 'error' }, 'No such machine.'));
  const runs = reports.reduce((a, r) => a + r.runs, 0);
  const over = reports.reduce((a, r) => a + r.overflowed_runs, 0);
  ctx.mount(
    h('div', { class: 'crumbs' }, h('a', { href: '/machines' }, 'machines'), h('span', { class: 'sep' }, '/'), h('span', {}, name)),
    h('h1', {}, name),
    cards([
      ['last push', ago(m.last_push), fmtTime(m.last_push)],
      ['first seen', fmtTime(m.first_seen)],
      ['reports', fmtNum(m.reports)],
      ['boots', fmtNum(m.boots)],
      ['unmatched PCs', `${fmtNum(m.unknown_pcs)} / ${fmtNum(m.pcs)}`],
      [`overflowed runs (last ${reports.length} reports)`, `${fmtNum(over)} / ${fmtNum(runs)} (${fmtPct(pct(over, runs))})`],
    ]),
    h('p', {}, 'Releases: ', (m.releases || []).map((r) => h('span', { class: 'chip' }, r))),
    h('h2', {}, `Latest reports (${reports.length}${reports.length >= Number(limit) ? ', ' : ''}`,
      reports.length >= Number(limit) ? h('a', { href: link('/machine', { name, limit: Number(limit) * 5 }) }, 'more') : null, ')'),
    sortableTable({
      ctx, id: 'reports', rows: reports, defaultSort: 'received', defaultDir: 'desc',
      columns: [
        { key: 'received', label: 'Received', num: true, cell: (r) => h('span', { title: 'created ' + fmtTime(r.created) }, fmtTime(r.received)) },
        { key: 'label', label: 'Label', cell: (r) => h('span', { class: 'chip' }, r.label) },
        { key: 'boot_id', label: 'Boot', cls: 'name', cell: (r) => h('span', { title: r.boot_id }, r.boot_id.slice(0, 8)) },
        { key: 'pcs', label: 'PCs', num: true },
        { key: 'unknown_pcs', label: 'Unmatched', num: true },
        { key: 'runs', label: 'Runs', num: true },
        { key: 'overflowed_runs', label: 'Overflowed runs', num: true },
        { key: 'bytes', label: 'Bytes', num: true },
      ],
    }));
}

// ---- fleet: builds ---------------------------------------------------------

export async function viewBuilds(ctx) {
  const { builds } = await api('/api/v1/builds');
  ctx.mount(
    h('h1', {}, 'Builds'),
    builds.length ? sortableTable({
      ctx, id: 'builds', rows: builds, defaultSort: 'last_seen', defaultDir: 'desc',
      rowAttrs: (b) => ({ dataset: { build: b.build_id } }),
      columns: [
        { key: 'build_id', label: 'Build id', cls: 'name',
          cell: (b) => h('a', { href: link('/report', { build: b.build_id }), title: 'Coverage report of ' + b.build_id }, b.build_id) },
        { key: 'release', label: 'Release' },
        { key: 'first_seen', label: 'First seen', num: true, cell: (b) => fmtTime(b.first_seen) },
        { key: 'last_seen', label: 'Last seen', num: true, cell: (b) => h('span', { title: fmtTime(b.last_seen) }, ago(b.last_seen)) },
        { key: 'machines', label: 'Machines', num: true },
        { key: 'boots', label: 'Boots', num: true },
        { key: 'modules', label: 'Modules', num: true },
        { key: 'imported', label: 'Imported', value: (b) => (b.imported ? 1 : 0), cell: (b) => (b.imported ? 'yes' : 'no'),
          title: 'Imported builds have files and functions (kcovd import-build)' },
        { key: 'files', label: 'Files', num: true },
        { key: 'points', label: 'Points', num: true, title: 'Coverage points of the import' },
        { key: 'covered_pcs', label: 'Covered PCs', num: true, title: 'Distinct canonical PCs covered, all binaries' },
      ],
    }) : h('p', { class: 'notice' }, 'No build known yet: builds appear when machines push coverage or a build is imported (',
      h('code', {}, IMPORT_HINT), ').'));
}
