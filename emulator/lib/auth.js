'use strict';
/**
 * @file auth.js
 * @brief The `API_KEY_ID` / `API_SECRET_KEY` header checks (spec §1, §7.2), the refresh-token
 *        cookie, and small body-field validators shared by the route modules.
 */
const { HttpError, safeEqual, isPlainObject } = require('./util');

const COOKIE_NAME = 'cotter_refresh_token';

/** The project named by the `API_KEY_ID` header (Node lower-cases header names). */
function requireProject(ctx) {
  const id = ctx.req.headers.api_key_id;
  if (!id) throw new HttpError(401, 'API_KEY_ID header is required');
  const p = ctx.app.store.projects.get(id);
  if (!p) throw new HttpError(401, 'API_KEY_ID is not valid');
  return p;
}

/** As requireProject, and `API_SECRET_KEY` must be that project's secret. */
function requireSecret(ctx) {
  const p = requireProject(ctx);
  const s = ctx.req.headers.api_secret_key;
  if (!s) throw new HttpError(401, 'API_SECRET_KEY header is required');
  if (!safeEqual(s, p.api_secret_key)) throw new HttpError(401, 'API_SECRET_KEY is not valid');
  return p;
}

function readCookie(req, name) {
  const h = req.headers.cookie;
  if (!h) return null;
  for (const part of h.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) {
      try { return decodeURIComponent(part.slice(i + 1).trim()); } catch { return part.slice(i + 1).trim(); }
    }
  }
  return null;
}

/** The refresh cookie. Under TLS it is `SameSite=None; Secure` so a web app on another
 * origin can send it with `credentials: include`; browsers refuse SameSite=None without Secure,
 * so plain HTTP uses Lax. */
function refreshCookie(app, token) {
  const attrs = app.config.tls ? 'SameSite=None; Secure' : 'SameSite=Lax';
  if (token === null) return `${COOKIE_NAME}=; Path=/api/v0/token; HttpOnly; ${attrs}; Max-Age=0`;
  return `${COOKIE_NAME}=${token}; Path=/api/v0/token; HttpOnly; ${attrs}; Max-Age=${app.config.refreshTtl}`;
}

function str(body, field, { required = true, max = 8192 } = {}) {
  const v = body[field];
  if (v === undefined || v === null || v === '') {
    if (required) throw new HttpError(400, `${field} is required`);
    return null;
  }
  if (typeof v !== 'string') throw new HttpError(400, `${field} must be a string`);
  if (v.length > max) throw new HttpError(400, `${field} is too long`);
  return v;
}

function obj(body, field) {
  const v = body[field];
  if (v === undefined || v === null) throw new HttpError(400, `${field} is required`);
  if (!isPlainObject(v)) throw new HttpError(400, `${field} must be an object`);
  return v;
}

/** Guess EMAIL vs PHONE and validate the shape; returns the type. */
function identifierType(identifier, declared) {
  const type = declared ? String(declared).toUpperCase() : (identifier.includes('@') ? 'EMAIL' : 'PHONE');
  if (type === 'EMAIL') {
    if (!/^[^\s@]{1,64}@[^\s@]+\.[^\s@]{1,63}$/.test(identifier.trim())) throw new HttpError(400, 'identifier is not a valid email address');
  } else if (type === 'PHONE') {
    if (!/^\+?[0-9]{6,15}$/.test(identifier.replace(/[\s().-]/g, ''))) throw new HttpError(400, 'identifier is not a valid phone number');
  } else {
    throw new HttpError(400, 'identifier_type must be EMAIL or PHONE');
  }
  return type;
}

module.exports = { requireProject, requireSecret, readCookie, refreshCookie, str, obj, identifierType, COOKIE_NAME };
