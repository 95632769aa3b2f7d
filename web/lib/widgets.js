// lib/widgets.js - the pieces every view shows: coverage
// cells (bar, percentage, covered / total), cards and sortable tables
// whose sort lives in the URL. Runs nothing when loaded.
import { h } from './dom.js';
import { fmtNum, fmtPct, pct } from './format.js';
import { setQuery } from './router.js';

// A coverage cell: bar, percentage and "covered / total"; partial (lines
// partly covered) adds a yellow segment to the bar.
export function covCell(c, t, partial = 0) {
  const p = pct(c, t);
  const pp = pct(partial, t);
  return h('div', { class: 'cov' + (p === null ? ' none' : ''), dataset: { covered: c, total: t } },
    h('span', { class: 'bar' }, h('i', { style: `width:${p === null ? 0 : p.toFixed(2)}%` }),
      partial ? h('i', { class: 'part', style: `width:${pp.toFixed(2)}%` }) : null),
    h('span', { class: 'pct' }, fmtPct(p)),
    h('span', { class: 'frac' }, `${fmtNum(c)} / ${fmtNum(t)}`));
}

export function cards(items) {
  return h('div', { class: 'cards' }, items.map(([k, v, title]) =>
    h('div', { class: 'card', title }, h('div', { class: 'v' }, v), h('div', { class: 'k' }, k))));
}

// ---- sortable tables -------------------------------------------------------

// columns: [{key, label, num, value(row) -> sortable value, cell(row) ->
// node/string, title}]. The sort column and direction live in the URL
// (?sort=key&dir=asc|desc) so a sorted view has a link; clicking a header
// re-sorts in place with history.replaceState. top: rows kept above the
// sorted ones (totals).
export function sortableTable({ columns, rows, ctx, defaultSort, defaultDir = 'asc', top = [], rowAttrs, id }) {
  const q = ctx.q;
  let sort = columns.some((c) => c.key === q.get('sort')) ? q.get('sort') : defaultSort;
  let dir = q.get('dir') === 'desc' || q.get('dir') === 'asc' ? q.get('dir') : defaultDir;
  const thead = h('thead');
  const tbody = h('tbody');
  const table = h('table', { class: 'grid', id }, thead, tbody);

  const draw = () => {
    const col = columns.find((c) => c.key === sort);
    const val = col ? col.value || ((r) => r[col.key]) : null;
    const sorted = rows.slice();
    if (val) {
      sorted.sort((a, b) => {
        const x = val(a), y = val(b);
        const nx = x === null || x === undefined, ny = y === null || y === undefined;
        if (nx || ny) return nx && ny ? 0 : nx ? 1 : -1; // empty values last
        const d = typeof x === 'string' ? x.localeCompare(y) : x - y;
        return dir === 'asc' ? d : -d;
      });
    }
    thead.replaceChildren(h('tr', {}, columns.map((c) => h('th', {
      class: [c.num ? 'num' : '', c.nosort ? '' : 'sortable',
        c.key === sort ? 'sorted-' + dir : ''].join(' ').trim(),
      title: c.title,
      dataset: { key: c.key },
      onclick: c.nosort ? undefined : () => {
        if (sort === c.key) dir = dir === 'asc' ? 'desc' : 'asc';
        else { sort = c.key; dir = c.num ? 'desc' : 'asc'; }
        setQuery({ sort, dir }, { replace: true, render: false });
        draw();
      },
    }, c.label))));
    const tr = (r, extra) => h('tr', Object.assign({}, rowAttrs ? rowAttrs(r) : {}, extra || {}),
      columns.map((c) => h('td', { class: c.num ? 'num' : c.cls || '' },
        c.cell ? c.cell(r) : typeof r[c.key] === 'number' ? fmtNum(r[c.key]) : String(r[c.key] ?? '–'))));
    tbody.replaceChildren(...top.map((r) => tr(r, { class: 'totals' })), ...sorted.map((r) => tr(r)));
  };
  draw();
  return table;
}
