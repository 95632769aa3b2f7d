// lib/api.js - the client of kcovd's REST API: GET with query pairs and
// the bearer token of this browser, JSON answers, and ApiError (status and
// the stable `code` of kcovd's error body) for everything else. Runs
// nothing when loaded; uses fetch, location and localStorage only when
// called.

// An error answer of kcovd: status, the stable `code` of the JSON error
// body (docs/api.md: "not_found", "not_imported", ...; "" when the answer
// had none) and its message. Decide on status and code, never on message.
// How to import a build, for the notices that need one.
export const IMPORT_HINT = 'kcovd import-build --vmlinux vmlinux --modules DIR --source DIR';

export class ApiError extends Error {
  constructor(status, message, path, code) {
    super(message);
    this.status = status;
    this.path = path;
    this.code = code || '';
  }
}

export const TOKEN_KEY = 'kcovd.token';

// GET path with params (an array of [name, value] pairs, so names can
// repeat; empty values are left out). Resolves to the JSON body, rejects
// with ApiError (status 0 for network errors).
export async function api(path, params) {
  const url = new URL(path, location.origin);
  for (const [k, v] of params || []) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.append(k, v);
  }
  const headers = { Accept: 'application/json' };
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = 'Bearer ' + token;
  let resp;
  try {
    resp = await fetch(url, { headers });
  } catch (e) {
    throw new ApiError(0, 'cannot reach kcovd: ' + e.message, path);
  }
  let body = null;
  try {
    body = await resp.json();
  } catch {
    body = null;
  }
  if (!resp.ok) throw new ApiError(resp.status, (body && body.error) || resp.statusText, path, body && body.code);
  return body;
}
