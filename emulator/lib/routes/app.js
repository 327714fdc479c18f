'use strict';
/**
 * @file routes/app.js
 * @brief The hosted login flow (spec §2.9): GET /app → POST /app/identifier (sends an OTP or a
 *        magic link to the dev mailbox) → POST /app/otp or GET /app/magic → 302 to
 *        redirect_url?code=…&state=…&challenge_id=…  (or ?error=access_denied&state=… on Cancel).
 *
 * Everything is plain HTML forms, so a browser, Playwright or urllib can drive it.
 */
const crypto = require('node:crypto');
const { HttpError, randomToken, isoTime, safeEqual } = require('../util');
const { html, redirect } = require('../respond');
const { identifierType } = require('../auth');
const page = require('../login_page');

const SESSION_TTL = 900; // seconds a login session (and its OTP / magic link) lives
const MAX_OTP_ATTEMPTS = 5;
const SEND_WINDOW = 300; // D-RATE: limits are per 5 minutes

/** Is `url` allowed by one of the project's entries? Entries are origins with an optional
 * path prefix; a port of `*` matches any port (`http://localhost:*`). */
function redirectAllowed(url, allowed) {
  let u;
  try { u = new URL(url); } catch { return false; }
  if (u.username || u.password) return false;
  return allowed.some((entry) => {
    const anyPort = /:\*(?=\/|$)/.test(entry);
    let e;
    try { e = new URL(entry.replace(/:\*(?=\/|$)/, '')); } catch { return false; }
    if (e.protocol !== u.protocol || e.hostname !== u.hostname) return false;
    if (!anyPort && e.port !== u.port) return false;
    const p = e.pathname.replace(/\/$/, '');
    return !p || u.pathname === p || u.pathname.startsWith(p + '/');
  });
}

/** Append query parameters to a redirect URL, keeping the ones it has (custom schemes too). */
function withQuery(url, params) {
  try {
    const u = new URL(url);
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) u.searchParams.set(k, String(v));
    return u.toString();
  } catch {
    const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null)).toString();
    return url + (url.includes('?') ? '&' : '?') + q;
  }
}

/** An error shown as an HTML page instead of JSON. */
class PageError extends HttpError {
  constructor(status, title, msg) { super(status, msg); this.title = title; }
}

function readParams(get) {
  const p = {};
  for (const f of [...page.PARAM_FIELDS, 'input', 'direct_login']) {
    const v = get(f);
    if (v !== null && v !== undefined) {
      if (v.length > 4096) throw new PageError(400, 'Bad request', `${f} is too long`);
      p[f] = v;
    }
  }
  p.type = (p.type || 'EMAIL').toUpperCase();
  p.auth_method = (p.auth_method || 'OTP').toUpperCase();
  return p;
}

/** Validate the authorize parameters; returns the project. */
function checkParams(app, p) {
  if (!p.api_key) throw new PageError(400, 'Bad request', 'api_key is required');
  const project = app.store.projects.get(p.api_key);
  if (!project) throw new PageError(400, 'Unknown project', 'api_key does not name a known project (API_KEY_ID)');
  if (!p.redirect_url) throw new PageError(400, 'Bad request', 'redirect_url is required');
  if (!redirectAllowed(p.redirect_url, project.allowed_urls)) {
    // Cotter's own wording (spec §1, PY README "Allowed Origin Error").
    throw new PageError(403, 'Redirect URL not allowed', `The redirect URL ${p.redirect_url} or the parent origin :// is not in the list of allowed URLs. Please contact the site owner.`);
  }
  if (p.type !== 'EMAIL' && p.type !== 'PHONE') throw new PageError(400, 'Bad request', 'type must be EMAIL or PHONE');
  if (p.auth_method !== 'OTP' && p.auth_method !== 'MAGIC_LINK') throw new PageError(400, 'Bad request', 'auth_method must be OTP or MAGIC_LINK');
  if (!p.code_challenge || !/^[A-Za-z0-9_-]{43,128}$/.test(p.code_challenge)) {
    throw new PageError(400, 'Bad request', 'code_challenge is required: base64url(SHA-256(code_verifier)) without padding');
  }
  return project;
}

function cancelRedirect(p) {
  return redirect(withQuery(p.redirect_url, { error: 'access_denied', error_description: 'The user cancelled the login', state: p.state }));
}

/** Create a login session, deliver the OTP + magic link to the mailbox, render the next page. */
function startSession(ctx, project, p, identifierRaw) {
  const { app } = ctx;
  let type;
  try { type = identifierType(identifierRaw, p.type); } catch (e) {
    return html(400, page.identifierPage({ ...p, input: identifierRaw }, e.message));
  }
  const identifier = type === 'PHONE' ? identifierRaw.replace(/[\s().-]/g, '') : identifierRaw.trim().toLowerCase();
  const now = app.clock.now();
  const sends = (app.store.sendLog.get(identifier) || []).filter((t) => t > now - SEND_WINDOW);
  if (sends.length >= app.config.otpRateLimit) {
    return html(429, page.errorPage('Too many requests', 'Too many codes were sent to this address. Try again in a few minutes.'), { 'Retry-After': String(SEND_WINDOW) });
  }
  sends.push(now);
  app.store.sendLog.set(identifier, sends);

  const s = {
    sid: randomToken(18), api_key_id: project.api_key_id, redirect_url: p.redirect_url, state: p.state ?? null,
    code_challenge: p.code_challenge, type, auth_method: p.auth_method, identifier,
    otp: app.config.fixedOtp || String(crypto.randomInt(0, 1000000)).padStart(6, '0'),
    magic: randomToken(24), attempts: 0, expires_at: now + SESSION_TTL, user_agent: ctx.req.headers['user-agent'] || '',
  };
  app.store.sessions.set(s.sid, s);
  app.store.magic.set(s.magic, s.sid);
  const magicLink = `${ctx.origin}/app/magic?t=${s.magic}`;
  app.store.mailbox.push({
    id: app.store.mailbox.length + 1,
    to: identifier,
    channel: type === 'PHONE' ? 'SMS' : 'EMAIL',
    api_key_id: project.api_key_id,
    auth_method: s.auth_method,
    otp: s.otp,
    magic_link: magicLink,
    session: s.sid,
    subject: 'Your sign-in code',
    text: `Your verification code is ${s.otp}. Or sign in with this link: ${magicLink}`,
    created_at: isoTime(app.clock.nowMs()),
  });
  const body = s.auth_method === 'MAGIC_LINK' ? page.magicLinkPage(s) : page.otpPage(s);
  return html(200, body, { 'X-Cotter-Login-Session': s.sid });
}

/** Success: mint the authorization code and send the browser back to the app. */
function complete(app, s) {
  app.store.sessions.delete(s.sid);
  app.store.magic.delete(s.magic);
  const [user] = app.store.ensureUser(s.api_key_id, s.identifier, s.type);
  const code = app.store.createCode(s, user);
  return redirect(withQuery(s.redirect_url, { code: code.code, state: s.state, challenge_id: code.challenge_id }));
}

function liveSession(app, sid) {
  const s = typeof sid === 'string' ? app.store.sessions.get(sid) : null;
  if (!s || s.expires_at <= app.clock.now()) {
    throw new PageError(400, 'Login expired', 'This login session is unknown or expired. Please start again from your app.');
  }
  return s;
}

/** Wrap a handler so HttpErrors become HTML pages. */
const pageRoute = (fn) => (ctx) => {
  try { return fn(ctx); } catch (e) {
    if (!(e instanceof HttpError)) throw e;
    return html(e.status, page.errorPage(e.title || 'Error', e.message));
  }
};

function getApp(ctx) {
  const p = readParams((k) => ctx.query.get(k));
  const project = checkParams(ctx.app, p);
  if (p.direct_login === 'true' && p.input) return startSession(ctx, project, p, p.input);
  return html(200, page.identifierPage(p));
}

function postIdentifier(ctx) {
  const form = ctx.form();
  const p = readParams((k) => form.get(k));
  const project = checkParams(ctx.app, p);
  if (form.get('action') === 'cancel') return cancelRedirect(p);
  const identifier = form.get('identifier');
  if (!identifier || !identifier.trim()) return html(400, page.identifierPage(p, 'Please enter your ' + (p.type === 'PHONE' ? 'phone number' : 'email')));
  if (identifier.length > 320) return html(400, page.identifierPage(p, 'That is too long'));
  return startSession(ctx, project, p, identifier);
}

function postOtp(ctx) {
  const { app } = ctx;
  const form = ctx.form();
  const s = liveSession(app, form.get('sid'));
  if (form.get('action') === 'cancel') {
    app.store.sessions.delete(s.sid);
    app.store.magic.delete(s.magic);
    return cancelRedirect(s);
  }
  if (s.auth_method !== 'OTP') return html(400, page.magicLinkPage(s, 'Use the link we sent you.'));
  const otp = (form.get('otp') || '').trim();
  if (safeEqual(otp, s.otp)) return complete(app, s);
  s.attempts++;
  if (s.attempts >= MAX_OTP_ATTEMPTS) {
    app.store.sessions.delete(s.sid);
    app.store.magic.delete(s.magic);
    return html(429, page.errorPage('Too many attempts', 'Too many wrong codes. Please start again from your app.'));
  }
  return html(400, page.otpPage(s, `That code is not correct. ${MAX_OTP_ATTEMPTS - s.attempts} attempts left.`));
}

function getMagic(ctx) {
  const { app } = ctx;
  const sid = app.store.magic.get(ctx.query.get('t') || '');
  return complete(app, liveSession(app, sid));
}

module.exports = [
  ['GET', '/app', pageRoute(getApp)],
  ['POST', '/app/identifier', pageRoute(postIdentifier)],
  ['POST', '/app/otp', pageRoute(postOtp)],
  ['GET', '/app/magic', pageRoute(getMagic)],
];
module.exports.redirectAllowed = redirectAllowed;
