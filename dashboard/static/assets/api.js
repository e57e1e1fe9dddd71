// The hub's public API, as any client sees it; the session cookie stands in for the key.
import { API_PREFIX } from './contract.js';

const BASE = API_PREFIX;
let csrf = null;
let onUnauthorized = () => {};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

export async function api(path, { method = 'GET', body, headers: extra = {}, quiet = false } = {}) {
  const headers = { Accept: 'application/json', ...extra };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['X-CSRF-Token'] = csrf;
  let response;
  try {
    response = await fetch(BASE + path, {
      method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'network', 'The hub cannot be reached. Is it running?');
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const err = (data && data.error) || {};
    const e = new ApiError(response.status, err.code || `http_${response.status}`,
      err.message || response.statusText || 'request failed');
    if (response.status === 401 && !quiet) onUnauthorized(e);
    throw e;
  }
  return data;
}

export async function login(key) {
  const s = await api('/session', { method: 'POST', headers: { Authorization: `Bearer ${key}` }, quiet: true });
  csrf = s.csrf_token;
  return s;
}

export async function resume() {
  const s = await api('/session', { quiet: true });
  csrf = s.csrf_token;
  return s;
}

export async function logout() {
  try { await api('/session', { method: 'DELETE', quiet: true }); } finally { csrf = null; }
}

/** Query string from an object, skipping empty values; arrays repeat the key. */
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    for (const item of Array.isArray(v) ? v : [v]) u.append(k, item);
  }
  const s = u.toString();
  return s ? `?${s}` : '';
}

let pathsPromise = null;
/** The API paths this hub publishes (its OpenAPI document): pages for features another
 * hub version adds light up when the path is there. */
export function apiPaths() {
  pathsPromise ??= api('/openapi.json').then((doc) => doc.paths || {}).catch(() => ({}));
  return pathsPromise;
}
