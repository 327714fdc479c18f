'use strict';
/**
 * @file routes/user.js
 * @brief The user API (spec §2.10) and the social-provider token API (spec §2.12).
 */
const { HttpError } = require('../util');
const { json } = require('../respond');
const { requireProject, requireSecret, str, identifierType } = require('../auth');
const { Store } = require('../store');

const PAGE_SIZE = 50;

/** POST /api/v0/user/create — idempotent: an existing identifier returns the existing user. */
function createUser(ctx) {
  const { app } = ctx;
  const project = requireProject(ctx);
  const body = ctx.json();
  let identifier = body.identifier;
  if ((identifier === undefined || identifier === null) && Array.isArray(body.identifiers)) identifier = body.identifiers[0];
  identifier = str({ identifier }, 'identifier', { max: 320 });
  const type = identifierType(identifier, body.identifier_type);
  const clientUserId = body.client_user_id === undefined || body.client_user_id === null ? null : str(body, 'client_user_id', { max: 256 });
  const [user] = app.store.ensureUser(project.api_key_id, identifier, type, clientUserId);
  return json(200, Store.publicUser(user));
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
  ['GET', '/api/v0/oauth/token/list/:cotter_user_id', listSocial],
  ['GET', '/api/v0/oauth/token/:provider/:cotter_user_id', getSocial],
  ['DELETE', '/api/v0/oauth/token/:provider/:cotter_user_id', deleteSocial],
];
