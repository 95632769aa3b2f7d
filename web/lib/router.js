// lib/router.js - client-side routing on the path and query string, so
// every view has a URL that reproduces it: start(routes) draws the view
// of the current URL and follows links and history; navigate, setQuery
// and link build and change URLs. It knows no view (main.js gives the
// table) and runs nothing when loaded.
import { ApiError } from './api.js';
import { $, h } from './dom.js';
import { errorBox } from './errorbox.js';

let routes = {}; // path -> view(ctx), given to start()
let renderSeq = 0;

export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  render();
  if (!replace) window.scrollTo(0, 0);
}

// Change query parameters of the current URL (null/'' removes one; arrays
// repeat it).
export function setQuery(changes, { replace = false, render: rerender = true } = {}) {
  const q = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(changes)) {
    q.delete(k);
    for (const x of Array.isArray(v) ? v : [v]) if (x !== null && x !== undefined && x !== '') q.append(k, x);
  }
  const s = q.toString();
  const url = location.pathname + (s ? '?' + s : '') + location.hash;
  if (!rerender) history.replaceState(null, '', url);
  else navigate(url, { replace });
}

// Build "/path?k=v&..." from pairs or an object (empty values left out).
export function link(path, params) {
  const q = new URLSearchParams();
  const pairs = Array.isArray(params) ? params : Object.entries(params || {});
  for (const [k, v] of pairs) {
    for (const x of Array.isArray(v) ? v : [v]) if (x !== null && x !== undefined && x !== '') q.append(k, x);
  }
  const s = q.toString();
  return path + (s ? '?' + s : '');
}

// Draw the view of the current URL.
export async function render() {
  const seq = ++renderSeq;
  let path = location.pathname.replace(/\/+$/, '') || '/';
  if (path === '/' || path === '/index.html') {
    path = '/report';
    history.replaceState(null, '', path + location.search + location.hash);
  }
  const root = $('#view');
  document.body.dataset.state = 'loading';
  document.body.dataset.view = path.slice(1);
  const section = { '/file': 'report', '/machine': 'machines' }[path] || path.slice(1);
  document.querySelectorAll('header nav a').forEach((a) =>
    a.classList.toggle('active', a.dataset.section === section));
  const ctx = {
    q: new URLSearchParams(location.search),
    root,
    live: () => seq === renderSeq,
    // Replace the view's content, unless a newer navigation started.
    mount: (...nodes) => {
      if (seq === renderSeq) root.replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false));
    },
  };
  const view = routes[path];
  try {
    if (!view) {
      ctx.mount(h('h1', {}, 'Not found'), h('p', {}, 'No page ', h('code', {}, path), '. ',
        h('a', { href: '/report' }, 'Coverage report')));
    } else {
      await view(ctx);
    }
  } catch (e) {
    if (!(e instanceof ApiError)) console.error(e); // API errors are on the page
    ctx.mount(errorBox(e));
  }
  if (seq === renderSeq) document.body.dataset.state = 'ready';
}

// Start the app: route the current URL and follow links and history
// within the page. table maps a path ("/report") to its view, an async
// function of ctx {q, root, live(), mount(...nodes)}.
export function start(table) {
  routes = table;
  document.addEventListener('click', (ev) => {
    const a = ev.target.closest('a[href]');
    if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey ||
        ev.altKey || a.target || a.hasAttribute('download')) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith('/api/') ||
        !(url.pathname.replace(/\/+$/, '') in routes || url.pathname === '/')) return;
    ev.preventDefault();
    if (url.pathname + url.search === location.pathname + location.search && url.hash) {
      location.hash = url.hash;
      return;
    }
    navigate(url.pathname + url.search + url.hash);
  });
  window.addEventListener('popstate', () => render());
  render();
}
