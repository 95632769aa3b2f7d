// lib.mjs - helpers shared by the browser tests: assertions, pages that
// record errors, waiting for a view to finish rendering, the REST API,
// screenshots.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const OUT = path.resolve(process.env.OUT_DIR || path.join(HERE, '..', 'out'));

export class Failure extends Error {}
export function check(cond, msg) {
  if (!cond) throw new Failure(msg);
}
export function eq(got, want, what) {
  const g = JSON.stringify(got), w = JSON.stringify(want);
  if (g !== w) throw new Failure(`${what}: got ${g}, want ${w}`);
}
// The UI's percentage text for covered/total.
export const pctText = (c, t) => (t ? ((100 * c) / t).toFixed(1) + '%' : '–');

// A page that records console errors and uncaught exceptions; tests check
// none happened (failed API requests the page expects, like a 404 for
// missing statistics, are allowed by pattern).
export async function newPage(env) {
  const page = await env.ctx.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push('pageerror: ' + e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of 404/.test(m.text())) {
      page.errors.push('console: ' + m.text());
    }
  });
  return page;
}

// Open a URL of the app and wait until the view finished rendering.
export async function open(page, env, url) {
  await page.goto(env.url + url);
  await ready(page);
}
export async function ready(page) {
  await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 20000 });
}
export async function api(env, p) {
  const r = await fetch(env.url + p);
  check(r.ok, `GET ${p}: ${r.status}`);
  return r.json();
}
export function shot(page, name) {
  return page.screenshot({ path: path.join(OUT, name), fullPage: false });
}
export function noErrors(page) {
  check(page.errors.length === 0, 'page errors: ' + page.errors.join(' | '));
}

