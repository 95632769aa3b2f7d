// lib.mjs - helpers shared by the browser tests: the runner (a Python
// fixture that starts kcovd, Debian's Chromium through playwright-core),
// assertions, pages that record errors, waiting for a view to finish
// rendering, the REST API, screenshots.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const OUT = path.resolve(process.env.OUT_DIR || path.join(HERE, '..', 'out'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

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


// The fixture script (in this directory) starts kcovd and prints one JSON
// line describing it; closing its stdin stops it.
function startFixture(script, seconds) {
  const proc = spawn('python3', [path.join(HERE, script)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const rl = readline.createInterface({ input: proc.stdout });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start in ${seconds} s`)), seconds * 1000);
    proc.on('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
    rl.once('line', (line) => {
      clearTimeout(timer);
      resolve({ proc, info: JSON.parse(line) });
    });
  });
}

async function startBrowser() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'kcovd-web-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1360, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return { ctx, profile };
}

// Start fixture script, run testsOf(env)'s tests in order, stop the
// fixture (a non-zero exit of it fails the run: a kcovd sanitizer report
// or shutdown error), print "N passed, M failed" and exit.
export async function runSuite(script, testsOf, startSeconds = 180) {
  let passed = 0, failed = 0;
  try {
    fs.mkdirSync(OUT, { recursive: true });
    const { proc, info } = await startFixture(script, startSeconds);
    // The backend the run asked for (tests/web/run.sh --pg) is the one kcovd uses.
    const backend = process.env.KC_DB_BACKEND || 'sqlite';
    if (info.backend && info.backend !== backend) throw new Error(`kcovd runs on ${info.backend}, not ${backend}`);
    if (info.backend) console.log(`kcovd on ${info.backend}`);
    const { ctx, profile } = await startBrowser();
    const env = { url: info.url, info, ctx, out: OUT };
    for (const t of testsOf(env)) {
      const t0 = Date.now();
      try {
        await t(env);
        passed++;
        console.log(`ok   ${t.name} (${Date.now() - t0} ms)`);
      } catch (e) {
        failed++;
        console.log(`FAIL ${t.name}: ${e instanceof Failure ? e.message : e.stack}`);
      }
    }
    await ctx.close();
    fs.rmSync(profile, { recursive: true, force: true });
    proc.removeAllListeners('exit');
    proc.stdin.end();
    const code = await new Promise((r) => proc.once('exit', r));
    if (code !== 0) {
      failed++;
      console.log(`FAIL fixture: exited with ${code} (kcovd sanitizer report or shutdown error above)`);
    }
    console.log(`screenshots in ${OUT}`);
  } catch (e) {
    console.error(e);
    failed++;
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
