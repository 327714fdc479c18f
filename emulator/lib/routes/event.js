'use strict';
/**
 * @file routes/event.js
 * @brief Trusted devices (spec §2.11): an Event Token comes from a real approval by an enrolled device.
 *
 *  - PUT /user/:id (routes/user.js) enrols a device's public key for a user.
 *  - POST /event/create[?oauth_token=true]: the trusted device itself signs an approved event → the Event Token
 *    (+ oauth_token). With register_new_device it also enrols another device's key.
 *  - POST /event/create_pending[?code_challenge=]: another device asks; GET /event/new/:client_user_id shows the
 *    request to the trusted device; POST /event/respond/:event_id approves or rejects it (signed by the trusted
 *    device); GET /event/get/:event_id[?oauth_token=true&code_verifier=] polls it, and once approved returns the
 *    Event Token (+ oauth_token, only with the verifier of the request's code_challenge).
 *
 * The Event Token is the event object signed by the emulator's Ed25519 key (spec §4.2, Tokens.eventToken); the
 * `event_token` grant and cotter_event_token_verify accept it.
 */
const { HttpError, isoTime, sha256, asciiEqual } = require('../util');
const { json } = require('../respond');
const { requireProject, str } = require('../auth');
const { parseDeviceKey, verifyDeviceSignature, eventSigningMessage } = require('../devices');

const METHOD = 'TRUSTED_DEVICE'; // PIN and BIOMETRIC are not emulated
const CHALLENGE_RE = /^[A-Za-z0-9_-]{43,128}$/;
const VERIFIER_RE = /^[A-Za-z0-9._~-]{43,128}$/;

/** Public fields of an event row (the Event Token); the row's own keys start with '_'. */
function publicEvent(row) {
  const out = {};
  for (const [k, v] of Object.entries(row)) if (k[0] !== '_') out[k] = v;
  return out;
}

/** The user the body names by client_user_id (or user_id); returns [user, the id as sent]. */
function userOf(ctx, project, b) {
  const id = b.user_id !== undefined && b.client_user_id === undefined ? str(b, 'user_id', { max: 256 }) : str(b, 'client_user_id', { max: 256 });
  const user = ctx.app.store.getUser(project.api_key_id, id);
  if (!user) throw new HttpError(404, 'User not found');
  return [user, id];
}

function checkCommon(ctx, project, b) {
  if (str(b, 'issuer', { max: 64 }) !== project.api_key_id) throw new HttpError(403, 'issuer does not match API_KEY_ID');
  if (str(b, 'method', { max: 64 }) !== METHOD) throw new HttpError(400, `method must be ${METHOD} (PIN and BIOMETRIC are not emulated)`);
  str(b, 'event', { max: 128 });
  const ts = str(b, 'timestamp', { max: 20 });
  if (!/^\d{1,15}$/.test(ts)) throw new HttpError(400, 'timestamp must be unix seconds as a string');
  const age = ctx.app.clock.now() - Number(ts);
  if (age > ctx.app.config.eventTokenMaxAge || age < -60) throw new HttpError(400, 'timestamp is not recent (event tokens live --event-token-max-age seconds)');
}

/** The enrolled device whose key the body presents, after checking the body's signature (`code`) with it. */
function signingDevice(user, b) {
  const presented = parseDeviceKey(str(b, 'public_key', { max: 4096 }), b.algorithm);
  const device = (user._devices || []).find((d) => d.public_key === presented.canonical && d.algorithm === presented.algorithm);
  if (!device) throw new HttpError(403, 'public_key is not a trusted device of this user');
  if (!verifyDeviceSignature(presented, eventSigningMessage(b), str(b, 'code', { max: 4096 }))) {
    throw new HttpError(403, 'the event signature (code) is not valid for this device and event');
  }
  return device;
}

/** Add a device to a user (PUT /user/:id and register_new_device). */
function enrolDevice(app, user, parsed, b) {
  if (!user._devices) user._devices = [];
  if (!user._devices.some((d) => d.public_key === parsed.canonical)) {
    user._devices.push({
      public_key: parsed.canonical, algorithm: parsed.algorithm, created_at: isoTime(app.clock.nowMs()),
      device_name: typeof b.device_name === 'string' ? b.device_name.slice(0, 256) : '',
      device_type: typeof b.device_type === 'string' ? b.device_type.slice(0, 256) : '',
    });
  }
  syncEnrolled(app, user);
}

/** user.enrolled / default_method follow the devices. */
function syncEnrolled(app, user) {
  const has = (user._devices || []).length > 0;
  const rest = (user.enrolled || []).filter((m) => m !== METHOD);
  user.enrolled = has ? [...rest, METHOD] : rest;
  user.default_method = has ? METHOD : (rest.length ? rest[rest.length - 1] : null);
  user.update_at = user.updated_at = isoTime(app.clock.nowMs());
  app.store.changed();
}

/** Tokens for the user of an approved event, as the event_token grant would issue them. */
const issueFor = (app, project, user) =>
  app.tokens.issue(project, user, { auth_method: METHOD, auth_time: app.clock.now(), custom_claims: null });

function newEvent(ctx, project, user, b, { approved, pending }) {
  const e = ctx.app.tokens.eventToken(project, user, {
    event: b.event, method: METHOD, approved, new: pending, timestamp: Number(b.timestamp),
    ip: typeof b.ip === 'string' ? b.ip.slice(0, 64) : ctx.req.socket.remoteAddress,
    location: typeof b.location === 'string' ? b.location.slice(0, 128) : 'Unknown',
  });
  const row = { ...e, _api_key_id: project.api_key_id, _user: user.ID, _code_challenge: null, _tokens_issued: false };
  ctx.app.store.events.set(e.ID, row);
  return row;
}

function eventRow(ctx, project) {
  const id = ctx.params.event_id;
  const row = /^\d{1,15}$/.test(id) ? ctx.app.store.events.get(Number(id)) : undefined;
  if (!row || row._api_key_id !== project.api_key_id) throw new HttpError(404, 'Event not found');
  return row;
}

/** POST /event/create — an event approved by the trusted device that signs it. */
function createEvent(ctx) {
  const { app } = ctx;
  const project = requireProject(ctx);
  const b = ctx.json();
  checkCommon(ctx, project, b);
  if (b.approved !== true) throw new HttpError(400, 'approved must be true (an event that needs approval is POST /event/create_pending)');
  const [user] = userOf(ctx, project, b);
  signingDevice(user, b);
  if (b.register_new_device !== undefined && b.register_new_device !== false) {
    if (b.register_new_device !== true) throw new HttpError(400, 'register_new_device must be a boolean');
    enrolDevice(app, user, parseDeviceKey(str(b, 'new_device_public_key', { max: 4096 }), b.new_device_algorithm), b);
  }
  const row = newEvent(ctx, project, user, b, { approved: true, pending: false });
  const out = publicEvent(row);
  if (ctx.query.get('oauth_token') === 'true') {
    row._tokens_issued = true;
    out.oauth_token = issueFor(app, project, user);
  }
  return json(200, out, { 'Cache-Control': 'no-store' });
}

/** POST /event/create_pending — another device asks a trusted device to approve (new: true, approved: false). */
function createPending(ctx) {
  const project = requireProject(ctx);
  const b = ctx.json();
  checkCommon(ctx, project, b);
  const [user] = userOf(ctx, project, b);
  if (!(user._devices || []).length) throw new HttpError(400, 'the user has no trusted device to approve this event');
  const challenge = ctx.query.get('code_challenge');
  if (challenge !== null && !CHALLENGE_RE.test(challenge)) throw new HttpError(400, 'code_challenge must be base64url(SHA-256(code_verifier)), 43-128 characters');
  const row = newEvent(ctx, project, user, b, { approved: false, pending: true });
  row._code_challenge = challenge;
  return json(200, publicEvent(row));
}

/** GET /event/new/:client_user_id — the newest event waiting for this user's trusted device, or null. */
function newForUser(ctx) {
  const project = requireProject(ctx);
  const user = ctx.app.store.getUser(project.api_key_id, ctx.params.client_user_id);
  if (!user) throw new HttpError(404, 'User not found');
  let found = null;
  for (const row of ctx.app.store.events.values()) if (row._user === user.ID && row.new && row._api_key_id === project.api_key_id) found = row;
  return json(200, found ? publicEvent(found) : null);
}

/** POST /event/respond/:event_id — the trusted device approves (or rejects) a pending event, signed. */
function respond(ctx) {
  const { app } = ctx;
  const project = requireProject(ctx);
  const row = eventRow(ctx, project);
  const b = ctx.json();
  if (typeof b.approved !== 'boolean') throw new HttpError(400, 'approved must be a boolean');
  for (const f of ['event', 'timestamp']) {
    if (b[f] !== row[f]) throw new HttpError(400, `${f} does not match the event`);
  }
  checkCommon(ctx, project, b); // also: the request is still recent
  const [user] = userOf(ctx, project, b);
  if (user.ID !== row._user) throw new HttpError(403, 'the event belongs to another user');
  signingDevice(user, b);
  if (!row.new) throw new HttpError(409, 'the event was already answered');
  row.new = false;
  row.approved = b.approved;
  row.UpdatedAt = new Date(app.clock.nowMs()).toISOString();
  app.tokens.signEvent(row);
  return json(200, publicEvent(row));
}

/** GET /event/get/:event_id — poll an event; approved + ?oauth_token=true + the PKCE verifier → tokens, once. */
function getEvent(ctx) {
  const { app } = ctx;
  const project = requireProject(ctx);
  const row = eventRow(ctx, project);
  const out = publicEvent(row);
  if (ctx.query.get('oauth_token') !== 'true' || !row.approved) return json(200, out, { 'Cache-Control': 'no-store' });
  // The tokens go only to whoever created the request: they prove it with the verifier of its code_challenge.
  if (!row._code_challenge) throw new HttpError(403, 'tokens need the event to be created with ?code_challenge= (PKCE) and its code_verifier here');
  const verifier = ctx.query.get('code_verifier') || '';
  if (!VERIFIER_RE.test(verifier) || !asciiEqual(sha256(verifier).toString('base64url'), row._code_challenge)) {
    throw new HttpError(403, 'code_verifier does not match the code_challenge of the event');
  }
  if (row._tokens_issued) throw new HttpError(409, 'the tokens of this event were already issued');
  const age = app.clock.now() - Number(row.timestamp);
  if (age > app.config.eventTokenMaxAge) throw new HttpError(400, 'the event is too old to issue tokens for');
  row._tokens_issued = true;
  const user = app.store.users.get(row._user);
  if (!user) throw new HttpError(404, 'User not found');
  out.oauth_token = issueFor(app, project, user);
  return json(200, out, { 'Cache-Control': 'no-store' });
}

module.exports = [
  ['POST', '/api/v0/event/create', createEvent],
  ['POST', '/api/v0/event/create_pending', createPending],
  ['GET', '/api/v0/event/new/:client_user_id', newForUser],
  ['POST', '/api/v0/event/respond/:event_id', respond],
  ['GET', '/api/v0/event/get/:event_id', getEvent],
];
module.exports.enrolDevice = enrolDevice;
module.exports.syncEnrolled = syncEnrolled;
module.exports.METHOD = METHOD;
module.exports.issueFor = issueFor;
