'use strict';
/**
 * @file faults.js
 * @brief Per-route fault injection for the next N requests, and the request/connection
 *        counters of GET /dev/stats. Both use the normalized route names of routes/index.js
 *        ("POST /api/v0/token/:api_key_id"); the fault route "*" matches every non-dev route.
 */
const { HttpError, isPlainObject } = require('./util');

/** The mutually exclusive fault kinds; `latency_ms` may be combined with any of them. */
const KINDS = ['status', 'reset', 'truncate', 'malformed_json', 'oversized', 'slow_drip', 'non_json', 'redirect'];

/** Kinds that replace the handler (the request has no side effect); the rest garble a real response. */
const SKIPS_HANDLER = new Set(['status', 'reset', 'oversized', 'non_json', 'redirect']);

class Faults {
  constructor(routeNames) {
    this.routeNames = new Set(routeNames);
    this.list = [];
    this.nextId = 1;
  }

  /** Validate and queue one fault spec; returns the stored fault. Throws HttpError(400). */
  add(spec) {
    if (!isPlainObject(spec)) throw new HttpError(400, 'a fault must be a JSON object');
    const route = spec.route;
    if (typeof route !== 'string' || !(route === '*' || this.routeNames.has(route))) {
      throw new HttpError(400, `unknown fault route ${JSON.stringify(route)}; use "*" or one of: ${[...this.routeNames].join(', ')}`);
    }
    const kinds = KINDS.filter((k) => spec[k] !== undefined && spec[k] !== false && spec[k] !== null);
    if (kinds.length > 1) throw new HttpError(400, `a fault may have only one of ${KINDS.join(', ')}`);
    const latency = spec.latency_ms === undefined ? 0 : Number(spec.latency_ms);
    if (!Number.isFinite(latency) || latency < 0 || latency > 600000) throw new HttpError(400, 'latency_ms must be 0..600000');
    if (kinds.length === 0 && latency === 0) throw new HttpError(400, `a fault needs latency_ms or one of ${KINDS.join(', ')}`);
    const count = spec.count === undefined ? 1 : Number(spec.count);
    if (!Number.isInteger(count) || count < 1) throw new HttpError(400, 'count must be a positive integer');
    const kind = kinds[0] || 'latency';
    if (kind === 'status' && !(Number.isInteger(spec.status) && spec.status >= 100 && spec.status <= 599)) {
      throw new HttpError(400, 'status must be an integer HTTP status');
    }
    if (kind === 'redirect' && typeof spec.redirect !== 'string') throw new HttpError(400, 'redirect must be a URL string');
    const f = { id: this.nextId++, route, count, kind, latency_ms: latency, spec };
    this.list.push(f);
    return f;
  }

  /** The first queued fault for `routeName` (consuming one of its count), or null. */
  take(routeName, isDev) {
    if (this.list.length === 0 || isDev) return null;
    const i = this.list.findIndex((f) => f.route === routeName || f.route === '*');
    if (i < 0) return null;
    const f = this.list[i];
    if (--f.count <= 0) this.list.splice(i, 1);
    return f;
  }

  clear() { this.list = []; }

  describe() { return this.list.map((f) => ({ id: f.id, remaining: f.count, kind: f.kind, ...f.spec, count: f.count })); }
}

class Stats {
  constructor() { this.reset(); }
  reset() {
    this.requests = Object.create(null); // on arrival, before any fault latency or body
    this.handled_requests = Object.create(null); // when the handler starts (the request has its effect)
    this.connections = 0; // accepted TCP connections
    this.h2_sessions = 0; // HTTP/2 sessions (--tls, ALPN h2)
    this.h2_streams = 0; // HTTP/2 streams that carried a non-dev request
    this.client_aborts = 0; // requests whose client went away while a fault held them
    this.faults_injected = 0;
    this.sign_batches = { batches: 0, responses: 0, largest: 0 }; // see Tokens.issueBatched
    this.refresh_families_revoked = 0; // logins revoked because a rotated refresh token was used again
    this.refresh_grace_reuses = 0; // previous tokens accepted once within --refresh-reuse-grace
    // Per user ID: {logins, refresh_grants, grace_reuses, families_revoked}, so that a fleet test can check each
    // session (one login) on its own: refresh grants are rotations (a grace use rotates too), logins new families.
    this.refresh_by_user = new Map();
  }
  /** Counts one `field` of refresh_by_user for `userId`. */
  userEvent(userId, field) {
    let u = this.refresh_by_user.get(userId);
    if (!u) this.refresh_by_user.set(userId, u = { logins: 0, refresh_grants: 0, grace_reuses: 0, families_revoked: 0 });
    u[field]++;
  }
  hit(routeName) { this.requests[routeName] = (this.requests[routeName] || 0) + 1; }
  handled(routeName) { this.handled_requests[routeName] = (this.handled_requests[routeName] || 0) + 1; }
  signBatch(n) {
    const b = this.sign_batches;
    b.batches++;
    b.responses += n;
    if (n > b.largest) b.largest = n;
  }
  toJSON() {
    return { requests: { ...this.requests }, handled: { ...this.handled_requests }, connections: this.connections,
      h2_sessions: this.h2_sessions, h2_streams: this.h2_streams, client_aborts: this.client_aborts, faults_injected: this.faults_injected,
      sign_batches: { ...this.sign_batches }, refresh_families_revoked: this.refresh_families_revoked,
      refresh_grace_reuses: this.refresh_grace_reuses,
      refresh_by_user: Object.fromEntries([...this.refresh_by_user].map(([id, u]) => [id, { ...u }])) };
  }
}

module.exports = { Faults, Stats, KINDS, SKIPS_HANDLER };
