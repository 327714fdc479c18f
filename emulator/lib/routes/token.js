'use strict';
/**
 * @file routes/token.js
 * @brief /api/v0/token*: the identity/event/refresh grants (spec §2.1-2.3), logout (§2.4),
 *        custom claims (§2.5) and the JWKS (§2.6).
 */
const crypto = require('node:crypto');
const { HttpError } = require('../util');
const { json, rawJson } = require('../respond');
const { requireProject, requireSecret, readCookie, refreshCookie, str, obj, COOKIE_NAME } = require('../auth');
const { RESERVED_CLAIMS, oauthJson } = require('../tokens');

function tokenResponse(app, oauth) {
  return rawJson(200, oauthJson(oauth), { 'Set-Cookie': refreshCookie(app, oauth.refresh_token), 'Cache-Control': 'no-store' });
}

/** Rotate: the presented refresh token dies, a new one of its family (same session and claims) is issued; reuse
 * of a rotated token revokes the family, except within the grace window (Store.refreshSource). */
function refreshGrant(ctx, project, body) {
  const { app } = ctx;
  let token = body.refresh_token;
  if (token === undefined || token === null || token === '') token = readCookie(ctx.req, COOKIE_NAME);
  if (!token) throw new HttpError(400, 'refresh_token is required (in the body or the refresh cookie)');
  if (typeof token !== 'string') throw new HttpError(400, 'refresh_token must be a string');
  const { row } = app.store.refreshSource(token, project.api_key_id);
  const user = app.store.users.get(row.user_id);
  return app.tokens.issueBatched(project, user, row, row).then((oauth) => tokenResponse(app, oauth));
}

function identityGrant(ctx, project, body) {
  const { app } = ctx;
  const t = obj(body, 'identity_token');
  app.tokens.checkIdentityToken(t, project.api_key_id);
  const [user] = app.store.ensureUser(project.api_key_id, t.identifier, t.identifier_type);
  return app.tokens.issueBatched(project, user, { auth_method: 'OTP', auth_time: app.clock.now(), custom_claims: null })
    .then((oauth) => tokenResponse(app, oauth));
}

function eventGrant(ctx, project, body) {
  const { app } = ctx;
  const e = obj(body, 'event_token');
  app.tokens.checkEventToken(e, project.api_key_id);
  const user = app.store.getUser(project.api_key_id, e.client_user_id);
  if (!user) throw new HttpError(404, 'User not found');
  return app.tokens.issueBatched(project, user, { auth_method: e.method, auth_time: app.clock.now(), custom_claims: null })
    .then((oauth) => tokenResponse(app, oauth));
}

/** POST /api/v0/token — legacy path for every grant (RN and iOS refresh here, spec §7.1). */
function postToken(ctx) {
  const body = ctx.json();
  switch (body.grant_type) {
    case 'identity_token': return identityGrant(ctx, requireSecret(ctx), body);
    case 'event_token': return eventGrant(ctx, requireSecret(ctx), body);
    case 'refresh_token': return refreshGrant(ctx, requireProject(ctx), body);
    case undefined: case null: case '': throw new HttpError(400, 'grant_type is required');
    default: throw new HttpError(400, 'grant_type must be one of identity_token, event_token, refresh_token');
  }
}

function projectForPath(ctx) {
  const project = requireProject(ctx);
  if (ctx.params.api_key_id !== project.api_key_id) throw new HttpError(403, 'API_KEY_ID header does not match the API key id in the path');
  return project;
}

/** POST /api/v0/token/:api_key_id — the documented refresh (spec §2.3). */
function postTokenForKey(ctx) {
  const project = projectForPath(ctx);
  const body = ctx.json();
  if (body.grant_type !== undefined && body.grant_type !== 'refresh_token') throw new HttpError(400, 'grant_type must be refresh_token');
  return refreshGrant(ctx, project, body);
}

/** DELETE /api/v0/token/:api_key_id — logout: end the login of the given refresh token (its live token dies,
 * whichever token of the login was given), clear the cookie. */
function deleteTokenForKey(ctx) {
  const { app } = ctx;
  const project = projectForPath(ctx);
  const body = ctx.json();
  const token = (typeof body.refresh_token === 'string' && body.refresh_token) || readCookie(ctx.req, COOKIE_NAME);
  let revoked = false;
  if (token) {
    try {
      revoked = app.store.endLogin(app.store.findRefreshToken(token, project.api_key_id));
    } catch (e) { if (!(e instanceof HttpError)) throw e; } // logout is idempotent
  }
  return json(200, { success: true, revoked }, { 'Set-Cookie': refreshCookie(app, null) });
}

/** POST /api/v0/token/custom — re-mint `token` with custom top-level claims (spec §2.5). */
function postCustom(ctx) {
  const { app } = ctx;
  const project = requireSecret(ctx);
  const body = ctx.json();
  const token = str(body, 'token', { max: 16384 });
  const custom = obj(body, 'custom_attributes');
  const reserved = Object.keys(custom).filter((k) => RESERVED_CLAIMS.has(k));
  if (reserved.length) throw new HttpError(400, `custom_attributes may not set reserved claims: ${reserved.join(', ')}`);
  if (JSON.stringify(custom).length > 8192) throw new HttpError(400, 'custom_attributes is too large');
  let payload;
  try { payload = app.tokens.verifyJwt(token, { audience: project.api_key_id }); } catch (e) {
    throw new HttpError(400, `token is not valid: ${e.message}`);
  }
  const iat = app.clock.now();
  const claims = { ...payload, ...custom, exp: iat + app.config.accessTtl, iat, jti: crypto.randomUUID(), iss: app.config.issuer };
  const out = { token: app.tokens.signJwt(claims) };
  if (body.refresh_token !== undefined && body.refresh_token !== null && body.refresh_token !== '') {
    const row = app.store.checkRefreshToken(str(body, 'refresh_token'), project.api_key_id);
    if (row.user_id !== payload.sub) throw new HttpError(400, "refresh token is not valid for this token's user");
    const rt = app.store.createRefreshToken(project.api_key_id, row.user_id, {
      auth_method: row.auth_method, auth_time: row.auth_time, custom_claims: { ...row.custom_claims, ...custom },
    });
    out.refresh_token = rt;
    out.refresh_tokenn = rt; // the documented (misspelt) key, see README "Decisions"
  }
  return json(200, out, { 'Cache-Control': 'no-store' });
}

function getJwks(ctx) {
  const { app } = ctx;
  return rawJson(200, app.keys.jwksJson(), { 'Cache-Control': `public, max-age=${app.config.jwksMaxAge}` });
}

module.exports = [
  ['POST', '/api/v0/token', postToken],
  ['POST', '/api/v0/token/custom', postCustom],
  ['GET', '/api/v0/token/jwks', getJwks],
  ['POST', '/api/v0/token/:api_key_id', postTokenForKey],
  ['DELETE', '/api/v0/token/:api_key_id', deleteTokenForKey],
];
