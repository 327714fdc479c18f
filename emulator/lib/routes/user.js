'use strict';
/**
 * @file routes/user.js
 * @brief The user API (spec §2.10) and the social-provider token API (spec §2.12).
 */
const { HttpError } = require('../util');
const { json } = require('../respond');
const { requireProject, requireSecret, str, identifierType } = require('../auth');
const { Store } = require('../store');
const { parseDeviceKey } = require('../devices');
const { enrolDevice, syncEnrolled, issueFor, METHOD } = require('./event');

const PAGE_SIZE = 50;

/**
 * POST /api/v0/user/create[?oauth_token=true] — idempotent: an existing identifier returns the existing user.
 * With ?oauth_token=true the User also carries an `oauth_token` (spec §2.10); minting tokens for any identifier
 * is a server-side act, so that needs API_SECRET_KEY (as the identity and event grants do).
 */
function createUser(ctx) {
  const { app } = ctx;
  const withTokens = ctx.query.get('oauth_token') === 'true';
  const project = withTokens ? requireSecret(ctx) : requireProject(ctx);
  const body = ctx.json();
  let identifier = body.identifier;
  if ((identifier === undefined || identifier === null) && Array.isArray(body.identifiers)) identifier = body.identifiers[0];
  identifier = str({ identifier }, 'identifier', { max: 320 });
  const type = identifierType(identifier, body.identifier_type);
  const clientUserId = body.client_user_id === undefined || body.client_user_id === null ? null : str(body, 'client_user_id', { max: 256 });
  const [user] = app.store.ensureUser(project.api_key_id, identifier, type, clientUserId);
  const out = Store.publicUser(user);
  if (!withTokens) return json(200, out);
  out.oauth_token = app.tokens.issue(project, user, { auth_method: 'OTP', auth_time: app.clock.now(), custom_claims: null });
  return json(200, out, { 'Cache-Control': 'no-store' });
}

/** Changing a user's methods needs the secret (server side) or that user's own access token (client side). */
function requireUserProof(ctx, project, user) {
  if (ctx.req.headers.api_secret_key !== undefined) { requireSecret(ctx); return; }
  const m = /^Bearer ([A-Za-z0-9._-]{1,16384})$/.exec(ctx.req.headers.authorization || '');
  if (!m) throw new HttpError(401, "changing a user's methods needs API_SECRET_KEY or Authorization: Bearer <the user's access token>");
  let payload;
  try { payload = ctx.app.tokens.verifyJwt(m[1], { audience: project.api_key_id }); } catch (e) {
    throw new HttpError(401, `the access token is not valid: ${e.message}`);
  }
  if (payload.sub !== user.ID) throw new HttpError(403, 'the access token belongs to another user');
}

/**
 * PUT /api/v0/user/:id[?oauth_token=true] (and PUT /user/methods?cotter_user_id=): enrol a trusted device's public
 * key (`enrolled: true`) or remove it (`enrolled: false`), spec §2.10. A user's first device enrols here; another
 * one only through an event the enrolled device approves (POST /event/create with register_new_device).
 */
function updateMethods(ctx) {
  const { app } = ctx;
  const project = requireProject(ctx);
  const id = ctx.params.id === 'methods' ? ctx.query.get('cotter_user_id') : ctx.params.id;
  const user = id ? app.store.getUser(project.api_key_id, id) : null;
  if (!user) throw new HttpError(404, 'User not found');
  requireUserProof(ctx, project, user);
  const b = ctx.json();
  if (b.method !== METHOD) throw new HttpError(400, `method must be ${METHOD} (PIN and BIOMETRIC are not emulated)`);
  if (typeof b.enrolled !== 'boolean') throw new HttpError(400, 'enrolled must be a boolean');
  const parsed = parseDeviceKey(str(b, 'code', { max: 4096 }), b.algorithm);
  const devices = user._devices || [];
  const known = devices.some((d) => d.public_key === parsed.canonical);
  if (b.enrolled) {
    if (devices.length && !known) {
      throw new HttpError(409, 'the user already has a trusted device: another one is enrolled by an event that device approves (POST /event/create with register_new_device)');
    }
    enrolDevice(app, user, parsed, b);
  } else {
    if (!known) throw new HttpError(404, 'that public key is not enrolled for this user');
    user._devices = devices.filter((d) => d.public_key !== parsed.canonical);
    syncEnrolled(app, user);
  }
  const out = Store.publicUser(user);
  if (ctx.query.get('oauth_token') === 'true') out.oauth_token = issueFor(app, project, user);
  return json(200, out, { 'Cache-Control': 'no-store' });
}

/** GET /api/v0/user?identifier= — unknown users are 200 with the all-zero ID (spec §7.7). */
function getUserByIdentifier(ctx) {
  const { app } = ctx;
  const project = requireProject(ctx);
  const identifier = ctx.query.get('identifier');
  if (!identifier) throw new HttpError(400, 'identifier query parameter is required');
  const type = identifier.includes('@') ? 'EMAIL' : 'PHONE';
  return json(200, Store.publicUser(app.store.findUser(project.api_key_id, identifier, type)));
}

/** GET /api/v0/user/list?page=N — 50 per page, newest first, wrapped (README "Decisions"). */
function listUsers(ctx) {
  const { app } = ctx;
  const project = requireSecret(ctx);
  const raw = ctx.query.get('page') ?? '0';
  if (!/^\d{1,9}$/.test(raw)) throw new HttpError(400, 'page must be a non-negative integer');
  const page = Number(raw);
  const all = app.store.listUsers(project.api_key_id);
  const users = all.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE).map(Store.publicUser);
  return json(200, { users, page, page_size: PAGE_SIZE, total: all.length, has_more: (page + 1) * PAGE_SIZE < all.length });
}

function getUserById(ctx) {
  const { app } = ctx;
  const project = requireProject(ctx);
  const user = app.store.getUser(project.api_key_id, ctx.params.id);
  if (!user) throw new HttpError(404, 'User not found');
  return json(200, Store.publicUser(user));
}

// ---- social provider tokens ----------------------------------------------------------------

function socialUser(ctx) {
  const project = requireSecret(ctx);
  const user = ctx.app.store.getUser(project.api_key_id, ctx.params.cotter_user_id);
  if (!user) throw new HttpError(404, 'User not found');
  return user;
}

function providerName(ctx) {
  const p = ctx.params.provider.toUpperCase();
  if (!/^[A-Z][A-Z0-9_]{0,31}$/.test(p)) throw new HttpError(400, 'provider_name is not valid');
  return p;
}

function listSocial(ctx) {
  const user = socialUser(ctx);
  return json(200, ctx.app.store.social.get(user.ID) || []);
}

function getSocial(ctx) {
  const user = socialUser(ctx);
  const p = providerName(ctx);
  const row = (ctx.app.store.social.get(user.ID) || []).find((r) => r.identity_provider === p);
  if (!row) throw new HttpError(404, `No ${p} token for this user`);
  return json(200, row);
}

function deleteSocial(ctx) {
  const user = socialUser(ctx);
  const p = providerName(ctx);
  const list = ctx.app.store.social.get(user.ID) || [];
  const rest = list.filter((r) => r.identity_provider !== p);
  if (rest.length === list.length) throw new HttpError(404, `No ${p} token for this user`);
  ctx.app.store.social.set(user.ID, rest);
  ctx.app.store.changed();
  return json(200, { success: true });
}

module.exports = [
  ['POST', '/api/v0/user/create', createUser],
  ['GET', '/api/v0/user', getUserByIdentifier],
  ['GET', '/api/v0/user/list', listUsers],
  ['GET', '/api/v0/user/:id', getUserById],
  ['PUT', '/api/v0/user/:id', updateMethods],
  ['GET', '/api/v0/oauth/token/list/:cotter_user_id', listSocial],
  ['GET', '/api/v0/oauth/token/:provider/:cotter_user_id', getSocial],
  ['DELETE', '/api/v0/oauth/token/:provider/:cotter_user_id', deleteSocial],
];
