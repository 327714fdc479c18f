'use strict';
/**
 * @file routes/dev.js
 * @brief The dev API under /dev (loopback only, no auth): mailbox, projects, users, token
 *        minting, expiry, key rotation, clock, faults, stats, reset. See README "Dev API".
 */
const crypto = require('node:crypto');
const { HttpError, isPlainObject } = require('../util');
const { json } = require('../respond');
const { str, identifierType } = require('../auth');
const { Store } = require('../store');
const { identityResponse } = require('./verify');

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Project from body.api_key_id, the API_KEY_ID header, or the default project. */
function projectOf(ctx, body) {
  const id = (body && body.api_key_id) || ctx.query.get('api_key_id') || ctx.req.headers.api_key_id || ctx.app.config.apiKeyId;
  const p = ctx.app.store.projects.get(id);
  if (!p) throw new HttpError(404, `unknown project ${id}`);
  return p;
}

/** User from body.user_id, or body.identifier (created if missing). */
function userOf(ctx, project, body, { create = true } = {}) {
  const { store } = ctx.app;
  if (body.user_id) {
    const u = store.getUser(project.api_key_id, String(body.user_id));
    if (!u) throw new HttpError(404, 'User not found');
    return u;
  }
  const identifier = str(body, 'identifier', { max: 320 });
  const type = identifierType(identifier, body.identifier_type);
  if (!create) {
    const u = store.findUser(project.api_key_id, identifier, type);
    if (!u) throw new HttpError(404, 'User not found');
    return u;
  }
  return store.ensureUser(project.api_key_id, identifier, type)[0];
}

const settingsOf = (app) => ({ refresh_reuse_grace: app.config.refreshReuseGrace });

function int(body, field, dflt, { min = -1e12, max = 1e12 } = {}) {
  const v = body[field];
  if (v === undefined || v === null) return dflt;
  if (!Number.isInteger(v) || v < min || v > max) throw new HttpError(400, `${field} must be an integer in [${min}, ${max}]`);
  return v;
}

const routes = {
  'GET /dev': (ctx) => json(200, { ...ctx.info, endpoints: Object.keys(routes) }),

  'GET /dev/mailbox': (ctx) => {
    const to = ctx.query.get('to');
    const all = ctx.app.store.mailbox;
    if (!to) return json(200, all);
    const want = to.includes('@') ? to.trim().toLowerCase() : to.replace(/[\s().-]/g, '');
    return json(200, all.filter((m) => m.to === want));
  },
  'DELETE /dev/mailbox': (ctx) => {
    const n = ctx.app.store.mailbox.length;
    ctx.app.store.mailbox = [];
    return json(200, { deleted: n });
  },

  'GET /dev/projects': (ctx) => json(200, [...ctx.app.store.projects.values()]),
  'POST /dev/projects': (ctx) => {
    const b = ctx.json();
    if (b.api_key_id !== undefined && !(typeof b.api_key_id === 'string' && UUID_RE.test(b.api_key_id))) {
      throw new HttpError(400, 'api_key_id must be a UUID');
    }
    if (b.api_key_id && ctx.app.store.projects.has(b.api_key_id)) throw new HttpError(409, 'project already exists');
    if (b.api_secret_key !== undefined) str(b, 'api_secret_key', { max: 256 });
    if (b.allowed_urls !== undefined && !(Array.isArray(b.allowed_urls) && b.allowed_urls.every((u) => typeof u === 'string'))) {
      throw new HttpError(400, 'allowed_urls must be an array of strings');
    }
    return json(201, ctx.app.store.addProject(b));
  },

  'POST /dev/users': (ctx) => {
    const b = ctx.json();
    return json(200, Store.publicUser(userOf(ctx, projectOf(ctx, b), b)));
  },

  'POST /dev/social_tokens': (ctx) => {
    const b = ctx.json();
    const project = projectOf(ctx, b);
    const user = userOf(ctx, project, b);
    if (b.tokens !== undefined && !isPlainObject(b.tokens)) throw new HttpError(400, 'tokens must be an object');
    return json(201, ctx.app.store.addSocialToken(project.api_key_id, user, b));
  },

  /** A whole successful login without the page: the get_identity response body. */
  'POST /dev/login': (ctx) => {
    const b = ctx.json();
    const project = projectOf(ctx, b);
    const user = userOf(ctx, project, b);
    return json(200, identityResponse(ctx.app, project, user, b.auth_method || 'OTP', 'dev'));
  },

  'POST /dev/identity_token': (ctx) => {
    const b = ctx.json();
    const project = projectOf(ctx, b);
    const user = userOf(ctx, project, b);
    const expireAt = int(b, 'expire_at', undefined, { min: 0 });
    return json(200, { identity_token: ctx.app.tokens.identityToken(project, user, expireAt), user: Store.publicUser(user) });
  },

  'POST /dev/event_token': (ctx) => {
    const b = ctx.json();
    const project = projectOf(ctx, b);
    const user = userOf(ctx, project, b);
    const o = {
      event: b.event === undefined ? undefined : str(b, 'event', { max: 128 }),
      method: b.method === undefined ? undefined : str(b, 'method', { max: 64 }),
      approved: b.approved, new: b.new, timestamp: int(b, 'timestamp', undefined, { min: 0 }),
    };
    if (o.approved !== undefined && typeof o.approved !== 'boolean') throw new HttpError(400, 'approved must be a boolean');
    if (o.new !== undefined && typeof o.new !== 'boolean') throw new HttpError(400, 'new must be a boolean');
    return json(200, { event_token: ctx.app.tokens.eventToken(project, user, o), user: Store.publicUser(user) });
  },

  /** Mint access + id tokens with chosen claims and lifetime (negative ttl = already expired). */
  'POST /dev/access_token': (ctx) => {
    const { app } = ctx;
    const b = ctx.json();
    const project = projectOf(ctx, b);
    const user = b.user_id || b.identifier ? userOf(ctx, project, b) : null;
    const claims = b.claims === undefined ? {} : b.claims;
    if (!isPlainObject(claims)) throw new HttpError(400, 'claims must be an object');
    const iat = int(b, 'iat', app.clock.now());
    const ttl = int(b, 'ttl', app.config.accessTtl);
    let key = app.keys.current;
    if (b.kid !== undefined) {
      key = app.keys.find(b.kid);
      if (!key) throw new HttpError(404, 'unknown kid');
    }
    const s = { auth_method: b.auth_method || 'OTP', auth_time: iat, custom_claims: null };
    const u = user || { ID: crypto.randomUUID(), identifier: 'dev@example.com' };
    if (!user) u.client_user_id = u.ID;
    const access = { ...app.tokens.accessClaims(project, u, s, iat, ttl), ...claims };
    const id = { ...app.tokens.idClaims(project, u, s, iat, ttl), ...claims };
    for (const c of [access, id]) for (const k of Object.keys(c)) if (c[k] === null) delete c[k]; // null removes a claim
    return json(200, { access_token: app.tokens.signJwt(access, key), id_token: app.tokens.signJwt(id, key), access_claims: access, id_claims: id });
  },

  /** Expire a user's refresh tokens and/or make the next N token responses carry tokens of ttl seconds. */
  'POST /dev/expire_tokens': (ctx) => {
    const { store } = ctx.app;
    const b = ctx.json();
    const out = {};
    let user = null;
    if (b.user_id || b.identifier) user = userOf(ctx, projectOf(ctx, b), b, { create: false });
    if (b.refresh_tokens !== false && user) out.expired_refresh_tokens = store.expireUserRefreshTokens(user.ID);
    if (b.next_access_ttl !== undefined) {
      const ttl = int(b, 'next_access_ttl', 0);
      const count = int(b, 'count', 1, { min: 1, max: 1e6 });
      store.ttlOverrides.set(user ? user.ID : '*', { ttl, count });
      out.next_access_ttl = ttl;
      out.count = count;
    }
    if (!user && b.next_access_ttl === undefined) throw new HttpError(400, 'give user_id or identifier, and/or next_access_ttl');
    return json(200, out);
  },

  'GET /dev/keys': (ctx) => {
    const k = ctx.app.keys;
    return json(200, { current: k.current.kid, keys: k.published().map((x) => ({ kid: x.kid, retire_at: x.retireAt })),
      identity_public_key: k.identityPublicB64 });
  },
  'POST /dev/keys/rotate': (ctx) => {
    const b = ctx.json();
    const { app } = ctx;
    if (b.kid !== undefined) str(b, 'kid', { max: 256 });
    let fresh;
    try {
      fresh = app.keys.rotate({ kid: b.kid, graceSeconds: int(b, 'grace_seconds', app.config.keyGrace, { min: 0 }), dropOld: b.drop_old === true });
    } catch (e) { throw new HttpError(409, e.message); }
    app.store.changed();
    return json(200, { kid: fresh.kid, kids: app.keys.published().map((x) => x.kid) });
  },
  'POST /dev/keys/drop': (ctx) => {
    const b = ctx.json();
    const kid = str(b, 'kid', { max: 256 });
    if (!ctx.app.keys.drop(kid)) throw new HttpError(404, 'no such retired kid (the current key cannot be dropped)');
    ctx.app.store.changed();
    return json(200, { dropped: kid, kids: ctx.app.keys.published().map((x) => x.kid) });
  },

  'GET /dev/clock': (ctx) => json(200, { now: ctx.app.clock.now(), offset_seconds: ctx.app.clock.offsetMs / 1000 }),
  'POST /dev/clock': (ctx) => {
    const b = ctx.json();
    const { clock } = ctx.app;
    if (b.advance_seconds !== undefined) clock.offsetMs += int(b, 'advance_seconds', 0) * 1000;
    else if (b.offset_seconds !== undefined) clock.offsetMs = int(b, 'offset_seconds', 0) * 1000;
    else throw new HttpError(400, 'give advance_seconds or offset_seconds');
    return json(200, { now: clock.now(), offset_seconds: clock.offsetMs / 1000 });
  },

  /** Settings that a test may change while the emulator runs (they start as the flags say). */
  'GET /dev/settings': (ctx) => json(200, settingsOf(ctx.app)),
  'POST /dev/settings': (ctx) => {
    const b = ctx.json();
    const unknown = Object.keys(b).filter((k) => k !== 'refresh_reuse_grace');
    if (unknown.length) throw new HttpError(400, `unknown setting(s): ${unknown.join(', ')}; known: refresh_reuse_grace`);
    if (b.refresh_reuse_grace !== undefined) ctx.app.config.refreshReuseGrace = int(b, 'refresh_reuse_grace', 0, { min: 0, max: 86400 });
    return json(200, settingsOf(ctx.app));
  },

  'GET /dev/faults': (ctx) => json(200, { faults: ctx.app.faults.describe() }),
  'POST /dev/faults': (ctx) => {
    const b = ctx.json();
    const specs = Array.isArray(b.faults) ? b.faults : [b];
    const { faults } = ctx.app;
    const before = faults.list.length;
    try { for (const s of specs) faults.add(s); } catch (e) { faults.list.length = before; throw e; }
    return json(200, { faults: faults.describe() });
  },
  'DELETE /dev/faults': (ctx) => { ctx.app.faults.clear(); return json(200, { faults: [] }); },

  'GET /dev/stats': (ctx) => json(200, ctx.app.stats.toJSON()),
  'POST /dev/stats/reset': (ctx) => { ctx.app.stats.reset(); return json(200, ctx.app.stats.toJSON()); },

  /** Clear all state but projects and keys (and the clock offset, faults, stats). */
  'POST /dev/reset': (ctx) => {
    const { app } = ctx;
    app.store.resetVolatile();
    app.faults.clear();
    app.stats.reset();
    app.clock.offsetMs = 0;
    app.store.changed();
    return json(200, { reset: true });
  },
};

module.exports = Object.entries(routes).map(([k, fn]) => {
  const [method, p] = k.split(' ');
  return [method, p, fn, { dev: true }];
});
