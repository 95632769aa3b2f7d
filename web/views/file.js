// views/file.js - the file view (/file): source with coloured lines from
// /api/v1/builds/{build}/files/{path}, the function table, jumping to the
// next uncovered line, and per-line details with the labels that covered
// the line (/api/v1/builds/{build}/labels). With base= (the toggle "new
// since build"), the lines new since that build are highlighted
// (/api/v1/builds/{build}/patch), with commit= only one commit's (the
// changes page links there).
import { api, ApiError } from '../lib/api.js';
import { esc, h } from '../lib/dom.js';
import { fmtNum, fmtPct, pct } from '../lib/format.js';
import { link, setQuery } from '../lib/router.js';
import { onKeys } from '../lib/keys.js';
import { cards, covCell, sortableTable } from '../lib/widgets.js';
import { trendBox } from './history.js';
import { buildApi, buildList, counts, crumbs, encodePath, filterPairs, isMerged, isNotImported, missing, notImported, pointsOf, reportLink, shortIds, toolbar, unmergedPairs } from './filters.js';

const STATES = ['covered', 'partial', 'uncovered'];
const CHUNK = 250; // source lines per content-visibility block

function lineState(l) {
  if (STATES.includes(l.state)) return l.state;
  const c = pointsOf(l);
  if (!c.total) return '';
  return c.covered === 0 ? 'uncovered' : c.covered === c.total ? 'covered' : 'partial';
}

// Merged queries: a line whose state comes from other builds only (its
// own points are not covered, docs/api-coverage.md).
const byOthers = (l) => Boolean(l?.builds) && lineState(l) !== 'uncovered' && !l.covered;

function lineTitle(l) {
  const c = pointsOf(l);
  const who = l.builds ? ` in this build; covered in ${l.builds.length ? shortIds(l.builds) : 'no build'}` : '';
  return `${lineState(l)}: ${c.covered} of ${c.total} points covered${who}`;
}

const lineClass = (l) => lineState(l) + (byOthers(l) ? ' other' : '');

// The lines merged builds covered that map onto no line here.
function lostBox(file) {
  if (!file.lost) return null;
  return h('div', { class: 'notice', id: 'lost-lines', dataset: { lost: file.lost_lines } },
    h('strong', {}, `${fmtNum(file.lost_lines)} lost lines`),
    ' (covered in merged builds, changed or without source here):',
    file.lost.length ? h('ul', {}, file.lost.map((x) => h('li', { dataset: { build: x.build_id, lines: x.lines.length } },
      h('span', { title: x.build_id }, x.build_id.slice(0, 12)), ` ${x.reason === 'no_source' ? 'no source to compare' : 'changed'}: lines ${x.lines.join(', ')}`)))
      : h('span', { class: 'muted' }, ' none'));
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
  const patch = await newLines(q, builds, build, path);
  const lines = (file.lines || []).slice().sort((a, b) => a.line - b.line);
  const byLine = new Map(lines.map((l) => [l.line, l]));
  const functions = file.functions || [];
  const source = typeof file.source === 'string' ? file.source : null;
  const totals = file;

  const srcBox = source !== null ? sourceView(source, byLine, patch.lines) : lineTable(lines, patch.lines);
  if (patch.lines) srcBox.classList.add('patch');
  const merged = isMerged(q);
  const panel = h('div', { class: 'linepanel notice', id: 'line-panel' }, h('span', { class: 'muted' }, 'Click a line number for its points and the labels that covered it.'));
  const fnTable = sortableTable({
    ctx, id: 'functions', rows: functions, defaultSort: 'line',
    columns: [
      { key: 'name', label: 'Function', cls: 'name', cell: (f) => h('a', { href: reportLink('/file', q, { path, line: f.line_start ?? f.line }), dataset: { line: f.line_start ?? f.line } }, f.name) },
      { key: 'line', label: 'Line', num: true, value: (f) => f.line_start ?? f.line, cell: (f) => String(f.line_start ?? f.line) },
      { key: 'points', label: 'Points', value: (f) => pct(f.covered, f.points), cell: (f) => covCell(f.covered, f.points) },
      { key: 'hit', label: 'Hit', value: (f) => ((f.hit ?? f.covered) ? 1 : 0), title: 'A function is hit when one of its points is covered (merged: in any merged build)',
        cell: (f) => ((f.hit ?? f.covered) ? h('span', { class: 'state-covered', title: f.builds ? 'hit in ' + shortIds(f.builds) : null }, f.covered || !f.builds ? 'yes' : 'yes (other builds)') : h('span', { class: 'state-uncovered' }, 'no')) },
    ],
  });
  const nextBtn = h('button', { type: 'button', id: 'next-uncovered', title: 'Next uncovered or partly covered line (n); previous: p' }, 'Next uncovered ↓');
  const prevBtn = h('button', { type: 'button', id: 'prev-uncovered', title: 'Previous uncovered or partly covered line (p)' }, '↑');
  const counts3 = ['lines', 'points', 'functions'].map((k) => [k, counts(totals, k)]);
  const trend = await trendBox(ctx, path, { file: true });
  ctx.mount(...head, trend,
    h('div', { class: 'fileview' },
      h('section', {},
        h('div', { class: 'toolbar' },
          h('span', { class: 'legend' }, h('span', { class: 'c' }, h('i'), 'covered'), h('span', { class: 'p' }, h('i'), 'partly covered'),
            h('span', { class: 'u' }, h('i'), 'not covered'), h('span', { class: 'n' }, h('i'), 'not instrumented'),
            merged ? h('span', { class: 'o' }, h('i'), 'covered only by other builds') : null),
          h('span', { class: 'grow' }), patch.toggle, prevBtn, nextBtn),
        patch.note,
        source === null ? h('p', { class: 'muted', id: 'no-source' }, 'The source of this file was not imported: its instrumented lines are listed instead.') : null,
        lostBox(file),
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
      l?.builds ? [h('dt', {}, 'Builds'), h('dd', { id: 'line-builds' }, l.builds.length ? shortIds(l.builds) : 'none')] : null,
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
      j = await api(buildApi(build) + '/labels', [['file', path], ['line', String(n)], ...unmergedPairs(q)]);
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
    box.replaceChildren(...(chips.length ? chips : ['no label' + (unmergedPairs(q).length ? ' in this filter' : '')]
      .concat(merged ? [' (labels of this build only)'] : [])));
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
  else if (patch.lines?.size) rowOf(Math.min(...patch.lines.keys()))?.scrollIntoView({ block: 'center' });
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
function sourceView(source, byLine, fresh) {
  const text = source.endsWith('\n') ? source.slice(0, -1) : source;
  const src = text.split('\n');
  const parts = [];
  for (let i = 0; i < src.length; i++) {
    if (i % CHUNK === 0) parts.push(i ? '</div><div class="chunk">' : '<div class="chunk">');
    const n = i + 1;
    const l = byLine.get(n);
    const st = (l ? lineClass(l) : '') + (fresh?.has(n) ? ' new' : '');
    parts.push(`<span class="ln${st ? ' ' + st.trim() : ''}" data-line="${n}" id="L${n}"${l ? ` title="${esc(lineTitle(l))}"` : ''}><span class="no">${n}</span>${esc(expandTabs(src[i])) || ' '}</span>`);
  }
  parts.push('</div>');
  const box = h('div', { class: 'src', id: 'source' });
  box.innerHTML = parts.join('');
  return box;
}

// Without source: the instrumented lines as rows.
function lineTable(lines, fresh) {
  const box = h('div', { class: 'src', id: 'source', dataset: { nosource: '1' } });
  const parts = ['<div class="chunk">'];
  lines.forEach((l, i) => {
    if (i && i % CHUNK === 0) parts.push('</div><div class="chunk">');
    const c = pointsOf(l);
    const st = lineState(l);
    parts.push(`<span class="ln ${lineClass(l)}${fresh?.has(l.line) ? ' new' : ''}" data-line="${l.line}" id="L${l.line}" title="${esc(lineTitle(l))}"><span class="no">${l.line}</span>${esc(st.padEnd(10))} ${c.covered}/${c.total} points</span>`);
  });
  parts.push('</div>');
  box.innerHTML = parts.join('');
  return box;
}

// The toggle "new since build" (base=) and, with a base, the file's new
// lines from the patch query (only commit='s with commit=): {toggle, note,
// lines: Map line -> patch entry, or null without base=}. A patch the API
// refuses (no such commit, builds from other repositories...) is said in
// the note; the file is still shown.
async function newLines(q, builds, build, path) {
  const base = q.get('base') || '';
  const commit = q.get('commit') || '';
  const toggle = h('label', { title: 'Highlight the lines that are new or changed since another build (no line of it maps onto them)' }, 'New since',
    h('select', { id: 'new-since' }, h('option', { value: '' }, 'off'),
      builds.filter((b) => b.imported && b.build_id !== build).map((b) =>
        h('option', { value: b.build_id, selected: b.build_id === base }, `${b.release || '(no release)'} · ${b.build_id.slice(0, 12)}`))));
  toggle.querySelector('select').addEventListener('change', (ev) => setQuery({ base: ev.target.value, commit: null }));
  if (!base) return { toggle, note: null, lines: null };
  const dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
  let p;
  try {
    p = await api(buildApi(build) + '/patch', [['base', base], ['path', dir], ['commit', commit], ...filterPairs(q)]);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status >= 500) throw e;
    return { toggle, lines: null, note: h('p', { class: 'error', id: 'patch-note', dataset: { code: e.code } }, 'New lines: ' + e.message) };
  }
  const f = p.files.find((x) => x.path === path) || { new_lines: 0, instrumented: 0, covered: 0, partial: 0, uncovered: 0, lines: [] };
  const unknown = p.unknown.some((u) => u.path === path);
  const lines = new Map(f.lines.map((l) => [l.line, l]));
  const what = commit ? ['commit ', h('code', { title: p.commit }, p.commit.slice(0, 12))] : ['build ', h('code', { title: base }, base.slice(0, 12))];
  const changes = link('/changes', [['build', build], ['base', base], ...filterPairs(q)]);
  const note = h('p', { class: 'notice', id: 'patch-note', dataset: { newLines: f.new_lines, instrumented: f.instrumented, covered: f.covered, partial: f.partial, uncovered: f.uncovered, commit } },
    unknown ? 'New lines cannot be told: a side has no source for this file. '
      : [h('strong', {}, `${fmtNum(f.new_lines)} new lines`), commit ? ' of ' : ' since ', ...what, f.status === 'added' ? ' (the file is new)' : '',
        `: ${fmtNum(f.covered)} covered, ${fmtNum(f.partial)} partly, ${fmtNum(f.uncovered)} not covered, ${fmtNum(f.new_lines - f.instrumented)} not instrumented. `],
    commit ? [h('a', { href: link('/file', [['build', build], ['path', path], ['base', base], ...filterPairs(q)]), id: 'patch-all' }, 'All new lines'), ' · '] : null,
    h('a', { href: changes, id: 'patch-changes' }, 'Commits since that build'));
  return { toggle, note, lines };
}
