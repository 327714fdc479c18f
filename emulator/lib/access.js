'use strict';
/**
 * @file access.js
 * @brief Who may talk to the emulator, checked before any route runs:
 *  - the Host allow-list (a DNS-rebinding defence, as Vite and webpack-dev-server have): only a Host of
 *    localhost, 127.0.0.1, [::1], the bound address or an `--allowed-host` is served;
 *  - the dev API's token (`X-Cotter-Dev-Token`, the `dev_token` of the JSON line), compared in constant time;
 *  - which browser origins get CORS headers: on the API routes only the origins of the project's allowed
 *    redirect URLs, never `*`, `null` or an arbitrary origin; on /dev never any.
 */
const { safeEqual } = require('./util');

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];
const DEV_TOKEN_HEADER = 'x-cotter-dev-token';

/** A host name as it appears in a Host header: lower case, IPv6 in brackets. */
function canonicalHost(name) {
  const h = String(name).trim().toLowerCase();
  return h.includes(':') && h[0] !== '[' ? `[${h}]` : h;
}

/** The host name of a Host (or HTTP/2 :authority) value without its port; null when malformed. */
function hostnameOf(host) {
  if (typeof host !== 'string' || host === '') return null;
  let name = host;
  let port = '';
  if (host[0] === '[') {
    const end = host.indexOf(']');
    if (end < 0) return null;
    name = host.slice(0, end + 1);
    port = host.slice(end + 1);
    if (port !== '' && port[0] !== ':') return null;
    port = port.slice(1);
  } else {
    const i = host.indexOf(':');
    if (i >= 0) { name = host.slice(0, i); port = host.slice(i + 1); }
  }
  if (port !== '' && !/^\d{1,5}$/.test(port)) return null;
  return name.toLowerCase();
}

/** The Host allow-list. Answers are cached per header value (the refresh path sees one value). */
class HostCheck {
  /** @param {string} boundHost the --host address; @param {string[]} extra the --allowed-host names */
  constructor(boundHost, extra = []) {
    this.names = new Set([...LOOPBACK_NAMES, canonicalHost(boundHost), ...extra.map(canonicalHost)]);
    this.cache = new Map();
  }

  allows(hostHeader) {
    const hit = this.cache.get(hostHeader);
    if (hit !== undefined) return hit;
    const name = hostnameOf(hostHeader);
    const ok = name !== null && this.names.has(name);
    if (this.cache.size >= 256) this.cache.clear(); // bounded: a client could send any number of values
    this.cache.set(hostHeader, ok);
    return ok;
  }

  describe() { return [...this.names].join(', '); }
}

/** null when the request carries the right dev token, else the reason (for a 401). */
function devTokenProblem(req, devToken) {
  const given = req.headers[DEV_TOKEN_HEADER];
  if (given === undefined || given === '') {
    return 'the dev API needs the header X-Cotter-Dev-Token: the dev_token of the emulator\'s JSON line';
  }
  if (!safeEqual(given, devToken)) return 'X-Cotter-Dev-Token is not valid';
  return null;
}

/** Does the browser origin `origin` ("scheme://host[:port]") belong to one of the allowed URL entries? */
function originAllowed(origin, entries) {
  let u;
  try { u = new URL(origin); } catch { return false; }
  // Only a bare origin: no path, query, credentials; `null` and opaque (custom-scheme) origins never match.
  if (u.origin === 'null' || u.origin !== origin) return false;
  return entries.some((entry) => {
    const anyPort = /:\*(?=\/|$)/.test(entry);
    let e;
    try { e = new URL(entry.replace(/:\*(?=\/|$)/, '')); } catch { return false; }
    return e.protocol === u.protocol && e.hostname === u.hostname && (anyPort || e.port === u.port);
  });
}

/**
 * The origin to put in Access-Control-Allow-Origin for a request to an API route, or null. The project is the
 * one the request names (the API_KEY_ID header, else an :api_key_id in the path); a preflight names none (a
 * browser sends no custom header values with it), so then any project's allowed URLs count.
 */
function corsOrigin(app, req, params) {
  const origin = req.headers.origin;
  if (!origin || origin === 'null') return null;
  const id = req.headers.api_key_id || (params && params.api_key_id);
  const named = id ? app.store.projects.get(id) : null;
  const projects = named ? [named] : app.store.projects.values();
  for (const p of projects) if (originAllowed(origin, p.allowed_urls)) return origin;
  return null;
}

module.exports = { HostCheck, hostnameOf, canonicalHost, devTokenProblem, originAllowed, corsOrigin, DEV_TOKEN_HEADER };
