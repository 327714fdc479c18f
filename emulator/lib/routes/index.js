'use strict';
/**
 * @file routes/index.js
 * @brief The route table and matcher. A route's normalized name ("POST /api/v0/token/:api_key_id")
 *        is what /dev/stats counts and what faults match.
 */
const { html } = require('../respond');
const { indexPage } = require('../login_page');

function build() {
  const table = [
    ...require('./token'),
    ...require('./verify'),
    ...require('./user'),
    ...require('./event'),
    ...require('./app'),
    ...require('./dev'),
    ['GET', '/', (ctx) => html(200, indexPage(ctx.info))],
  ].map(([method, pattern, handler, opt]) => {
    const segs = pattern.split('/').slice(1);
    return {
      method, pattern, handler, name: `${method} ${pattern}`, dev: !!(opt && opt.dev),
      segs, statics: segs.filter((s) => !s.startsWith(':')).length, hasParams: segs.some((s) => s.startsWith(':')),
    };
  });
  // Exact paths first; among param routes, more static segments win (/token/jwks before /token/:id).
  const exact = new Map();
  const params = [];
  for (const r of table) {
    if (r.hasParams) params.push(r);
    else {
      if (!exact.has(r.pattern)) exact.set(r.pattern, []);
      exact.get(r.pattern).push(r);
    }
  }
  params.sort((a, b) => b.statics - a.statics);
  return { table, exact, params };
}

/**
 * Match method + path. Returns {route, params} or {allowed: [methods], params?} (405) or null (404).
 */
function match(router, method, path) {
  const exact = router.exact.get(path);
  if (exact) {
    for (const r of exact) if (r.method === method) return { route: r, params: {} };
    return { allowed: [...new Set(exact.map((r) => r.method))] }; // a static path shadows param routes (/token/jwks vs /token/:id)
  }
  let allowed = null; // built only on the way to a 405 (the hot path never needs it)
  let allowedParams = null; // the path's parameters on that way (a preflight's CORS answer needs :api_key_id)
  const parts = path.split('/').slice(1);
  for (const r of router.params) {
    if (r.segs.length !== parts.length) continue;
    const params = {};
    let ok = true;
    for (let i = 0; i < parts.length; i++) {
      const s = r.segs[i];
      if (s.charCodeAt(0) === 58 /* : */) {
        if (parts[i] === '') { ok = false; break; }
        try { params[s.slice(1)] = decodeURIComponent(parts[i]); } catch { ok = false; break; }
      } else if (s !== parts[i]) { ok = false; break; }
    }
    if (!ok) continue;
    if (r.method === method) return { route: r, params };
    (allowed || (allowed = new Set())).add(r.method);
    if (!allowedParams) allowedParams = params;
  }
  if (allowed) return { allowed: [...allowed], params: allowedParams };
  return null;
}

module.exports = { build, match };
