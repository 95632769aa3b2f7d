// lib/errorbox.js - how a failed view shows its error: the request and
// kcovd's status and message, with a hint when a read token is needed.
// Runs nothing when loaded.
import { ApiError } from './api.js';
import { h } from './dom.js';

export function errorBox(e) {
  const msg = e instanceof ApiError
    ? `${e.path}: ${e.status ? 'HTTP ' + e.status + ': ' : ''}${e.message}`
    : String(e && e.stack ? e.message : e);
  return h('div', { class: 'error', role: 'alert' }, msg,
    e instanceof ApiError && e.status === 401
      ? h('div', {}, 'This kcovd needs a read token: use “Token” at the top right.') : null);
}
