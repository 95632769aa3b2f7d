// lib.test.mjs - unit tests of web/lib/ under node (node --test): the
// formatting, URL building, the API client (with fetch, location and
// localStorage stubbed) and the rule that lib/ never imports a view and
// runs nothing when loaded (importing it here, where there is no DOM,
// would throw otherwise).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';

const web = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../web');
const lib = (name) => import(path.join(web, 'lib', name));

test('every lib module loads without a DOM and imports no view', async () => {
  const files = fs.readdirSync(path.join(web, 'lib')).filter((f) => f.endsWith('.js'));
  assert.ok(files.length >= 8);
  for (const f of files) {
    const src = fs.readFileSync(path.join(web, 'lib', f), 'utf8');
    for (const m of src.matchAll(/^import .* from '([^']+)'/gm)) {
      assert.ok(m[1].startsWith('./'), `${f} imports ${m[1]}: lib/ imports only lib/`);
    }
    await lib(f);
  }
});

test('numbers, percentages and times', async () => {
  const { fmtNum, pct, fmtPct, fmtTime, ago } = await lib('format.js');
  assert.equal(fmtNum(1234567), '1,234,567');
  assert.equal(fmtNum(null), '–');
  assert.equal(fmtNum(undefined), '–');
  assert.equal(pct(1, 4), 25);
  assert.equal(pct(3, 0), null);
  assert.equal(fmtPct(pct(1, 3)), '33.3%');
  assert.equal(fmtPct(null), '–');
  assert.equal(fmtTime(0), '–');
  assert.equal(fmtTime(1700000000), '2023-11-14 22:13 UTC');
  const now = Date.now() / 1000;
  assert.equal(ago(0), 'never');
  assert.equal(ago(now - 30), '30 s ago');
  assert.equal(ago(now - 600), '10 min ago');
  assert.equal(ago(now - 7200), '2 h ago');
  assert.equal(ago(now - 3 * 86400), '3 days ago');
});

test('links keep repeated names and drop empty values', async () => {
  const { link } = await lib('router.js');
  assert.equal(link('/report'), '/report');
  assert.equal(link('/report', { build: 'ab', path: '' }), '/report?build=ab');
  assert.equal(link('/report', [['label', 'a'], ['label', 'b'], ['since', null]]), '/report?label=a&label=b');
  assert.equal(link('/file', { path: 'a b/c.c', line: 3 }), '/file?path=a+b%2Fc.c&line=3');
  assert.equal(link('/report', { label: ['x', 'y'] }), '/report?label=x&label=y');
});

// Stub the browser globals api() uses; returns the requests made.
function stubBrowser(answer, token) {
  const calls = [];
  globalThis.location = { origin: 'http://kcovd.test' };
  globalThis.localStorage = { getItem: () => token ?? null };
  globalThis.fetch = async (url, opts) => {
    calls.push({ url: String(url), headers: opts.headers });
    return answer();
  };
  return calls;
}

const reply = (status, body) => ({
  ok: status >= 200 && status < 300,
  status,
  statusText: 'status ' + status,
  json: async () => {
    if (body === undefined) throw new SyntaxError('no JSON');
    return body;
  },
});

test('api: query pairs, the token and the JSON body', async () => {
  const { api } = await lib('api.js');
  const calls = stubBrowser(() => reply(200, { builds: [] }), 'kc_secret');
  assert.deepEqual(await api('/api/v1/builds', [['a', '1'], ['b', ''], ['a', '2'], ['c', null]]), { builds: [] });
  assert.equal(calls[0].url, 'http://kcovd.test/api/v1/builds?a=1&a=2');
  assert.equal(calls[0].headers.Authorization, 'Bearer kc_secret');
  stubBrowser(() => reply(200, {}), null);
  await api('/x');
});

test('api: errors carry status and code, never only a message', async () => {
  const { api, ApiError } = await lib('api.js');
  stubBrowser(() => reply(404, { error: 'build ab has not been imported', code: 'not_imported', status: 404 }));
  await assert.rejects(api('/api/v1/builds/ab/tree'), (e) => {
    assert.ok(e instanceof ApiError);
    assert.equal(e.status, 404);
    assert.equal(e.code, 'not_imported');
    assert.equal(e.path, '/api/v1/builds/ab/tree');
    assert.match(e.message, /not been imported/);
    return true;
  });
  stubBrowser(() => reply(502, undefined)); // no JSON body: no code
  await assert.rejects(api('/y'), (e) => e.status === 502 && e.code === '' && e.message === 'status 502');
  stubBrowser(() => { throw new TypeError('connection refused'); });
  await assert.rejects(api('/z'), (e) => e instanceof ApiError && e.status === 0 && /cannot reach kcovd/.test(e.message));
});
