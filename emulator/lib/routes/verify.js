'use strict';
/**
 * @file routes/verify.js
 * @brief POST /api/v0/verify/get_identity (code exchange with PKCE, spec §2.8) and the
 *        serverless worker check POST /verify (spec §2.7).
 */
const { HttpError, isoTime, sha256 } = require('../util');
const { json } = require('../respond');
const { requireProject, refreshCookie, str } = require('../auth');
const { Store } = require('../store');

const PKCE_VERIFIER_RE = /^[A-Za-z0-9._~-]{43,128}$/;
const CODE_LIFETIME = 300; // "valid for 5 minutes, and can only be used once" (D-MOBILE)

/** The get_identity response body for `user` (also used by POST /dev/login). */
function identityResponse(app, project, user, authMethod, deviceName) {
  const nowMs = app.clock.nowMs();
  const oauth = app.tokens.issue(project, user, { auth_method: authMethod, auth_time: Math.floor(nowMs / 1000), custom_claims: null });
  const token = app.tokens.identityToken(project, user);
  return {
    identifier: {
      ID: user.identifier_id,
      created_at: user.created_at,
      deleted_at: null,
      device_name: deviceName || '',
      device_type: 'BROWSER',
      expiry: isoTime(Number(token.expire_at) * 1000),
      identifier: user.identifier,
      identifier_type: user.identifier_type,
      public_key: app.keys.identityPublicB64,
      timestamp: isoTime(nowMs),
      update_at: isoTime(nowMs),
    },
    token,
    oauth_token: oauth,
    user: Store.publicUser(user),
  };
}

function getIdentity(ctx) {
  const { app } = ctx;
  const project = requireProject(ctx);
  const body = ctx.json();
  const verifier = str(body, 'code_verifier', { max: 1024 });
  const code = str(body, 'authorization_code', { max: 1024 });
  const redirectUrl = str(body, 'redirect_url', { max: 4096 });
  let challengeId = body.challenge_id;
  if (typeof challengeId === 'string' && /^(0|[1-9]\d{0,14})$/.test(challengeId)) challengeId = Number(challengeId); // canonical only
  if (challengeId === undefined || challengeId === null) throw new HttpError(400, 'challenge_id is required');
  if (!Number.isSafeInteger(challengeId)) throw new HttpError(400, 'challenge_id must be an integer');

  const row = app.store.codes.get(code);
  if (!row) throw new HttpError(400, 'authorization_code is not valid');
  if (row.api_key_id !== project.api_key_id) throw new HttpError(403, 'authorization_code was issued to another project');
  // Any attempt consumes the code, so a wrong verifier cannot be retried against it.
  const used = row.used;
  row.used = true;
  if (used) throw new HttpError(400, 'authorization_code is not valid: it was already used');
  if (app.clock.now() - row.created_at >= CODE_LIFETIME) throw new HttpError(400, 'authorization_code is not valid: it expired');
  if (row.challenge_id !== challengeId) throw new HttpError(400, 'challenge_id does not match the authorization_code');
  if (row.redirect_url !== redirectUrl) throw new HttpError(400, 'redirect_url does not match the one used to authorize');
  // RFC 7636 §4.1: 43..128 unreserved characters; a short verifier is guessable whatever its challenge.
  if (!PKCE_VERIFIER_RE.test(verifier)) throw new HttpError(400, 'code_verifier must be 43-128 characters of [A-Z a-z 0-9 - . _ ~] (RFC 7636)');
  if (sha256(verifier).toString('base64url') !== row.code_challenge) throw new HttpError(400, 'code_verifier does not match code_challenge');

  const user = app.store.users.get(row.user_id);
  if (!user) throw new HttpError(400, 'authorization_code is not valid: unknown user');
  const out = identityResponse(app, project, user, row.auth_method, row.device_name);
  // oauth_token is returned with or without ?oauth_token=true (spec §7.3).
  return json(200, out, { 'Set-Cookie': refreshCookie(app, out.oauth_token.refresh_token), 'Cache-Control': 'no-store' });
}

const INVALID = { success: false, reason: 'Error: Invalid JWT token' };

/** The worker's verify: always 200 with success true/false (spec §2.7). */
function workerVerify(ctx) {
  const { app } = ctx;
  const body = ctx.json();
  const at = body.oauth_token && typeof body.oauth_token === 'object' ? body.oauth_token.access_token : undefined;
  const aud = ctx.req.headers.api_key_id;
  try {
    app.tokens.verifyJwt(at, aud ? { audience: aud } : {});
  } catch {
    return json(200, INVALID);
  }
  return json(200, { success: true });
}

module.exports = [
  ['POST', '/api/v0/verify/get_identity', getIdentity],
  ['POST', '/verify', workerVerify],
];
module.exports.identityResponse = identityResponse;
