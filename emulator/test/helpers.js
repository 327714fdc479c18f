'use strict';
/**
 * @file test/helpers.js
 * @brief Shared test helpers: an embedded emulator, JSON requests, PKCE, and a full login
 *        through the hosted page driven with plain HTTP (as the Python demo does).
 */
const crypto = require('node:crypto');
const http = require('node:http');
const { startEmulator } = require('..');

/** fetch wrapper returning {status, headers, body (parsed JSON or text)}. */
async function req(url, { method = 'GET', headers = {}, body, raw = false, redirect = 'manual' } = {}) {
  const init = { method, headers: { ...headers }, redirect };
  if (body !== undefined) {
    init.body = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    if (!init.headers['Content-Type']) init.headers['Content-Type'] = raw ? 'application/x-www-form-urlencoded' : 'application/json';
  }
  const r = await fetch(url, init);
  const text = await r.text();
  let parsed = text;
  if ((r.headers.get('content-type') || '').includes('application/json')) parsed = JSON.parse(text);
  return { status: r.status, headers: r.headers, body: parsed };
}

function pkce() {
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

/** A started emulator plus bound helpers. */
async function emulator(opts = {}) {
  const emu = await startEmulator(opts);
  const { info } = emu;
  const key = { API_KEY_ID: info.api_key_id };
  const secret = { API_KEY_ID: info.api_key_id, API_SECRET_KEY: info.api_secret_key };
  const api = (path, o) => req(info.base_url + path, o);
  // The dev API wants the dev_token of the JSON line in X-Cotter-Dev-Token.
  const devHeaders = { 'X-Cotter-Dev-Token': info.dev_token };
  const dev = (path, o = {}) => req(info.dev_url + path, { ...o, headers: { ...devHeaders, ...o.headers } });
  const origin = info.base_url.replace(/\/api\/v0$/, '');

  /** Drive the hosted page with plain HTTP: returns {code, state, challenge_id, redirect_url, verifier}. */
  async function loginViaPage({ identifier = `u${crypto.randomUUID().slice(0, 8)}@example.com`, type = 'EMAIL',
    redirectUrl = 'http://localhost:8912/callback', state = 'st-' + crypto.randomBytes(4).toString('hex'), apiKey = info.api_key_id,
    challenge: chosenChallenge } = {}) {
    // A chosen code_challenge (its verifier is then the caller's), or a fresh PKCE pair.
    const { verifier, challenge } = chosenChallenge ? { verifier: null, challenge: chosenChallenge } : pkce();
    const params = { api_key: apiKey, redirect_url: redirectUrl, type, state, code_challenge: challenge, auth_method: 'OTP' };
    const page = await req(`${origin}/app?${new URLSearchParams(params)}`);
    if (page.status !== 200) throw new Error(`GET /app: ${page.status}`);
    const sent = await req(`${origin}/app/identifier`, { method: 'POST', raw: true, body: new URLSearchParams({ ...params, identifier }).toString() });
    if (sent.status !== 200) throw new Error(`POST /app/identifier: ${sent.status} ${sent.body}`);
    const mail = (await dev(`/mailbox?to=${encodeURIComponent(identifier)}`)).body;
    const msg = mail[mail.length - 1];
    const done = await req(`${origin}/app/otp`, { method: 'POST', raw: true, body: new URLSearchParams({ sid: msg.session, otp: msg.otp }).toString() });
    if (done.status !== 302) throw new Error(`POST /app/otp: ${done.status}`);
    const loc = new URL(done.headers.get('location'));
    return { code: loc.searchParams.get('code'), state: loc.searchParams.get('state'), challenge_id: Number(loc.searchParams.get('challenge_id')),
      redirect_url: redirectUrl, verifier, identifier, location: loc };
  }

  /** Full login and code exchange: returns the get_identity body. */
  async function login(o) {
    const l = await loginViaPage(o);
    const r = await api('/verify/get_identity?oauth_token=true', { method: 'POST', headers: key,
      body: { code_verifier: l.verifier, authorization_code: l.code, challenge_id: l.challenge_id, redirect_url: l.redirect_url } });
    if (r.status !== 200) throw new Error(`get_identity: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  const refresh = (rt, headers = key) => api(`/token/${info.api_key_id}`, { method: 'POST', headers, body: { grant_type: 'refresh_token', refresh_token: rt } });

  return { emu, info, key, secret, api, dev, origin, loginViaPage, login, refresh, close: () => emu.close() };
}

/** Decode a JWT's header and payload without checking it. */
function decodeJwt(t) {
  const [h, p] = t.split('.');
  return { header: JSON.parse(Buffer.from(h, 'base64url')), payload: JSON.parse(Buffer.from(p, 'base64url')) };
}

/**
 * Raw HTTP request on a fresh connection that reports what really came over the wire:
 * {status, headers, body: Buffer, error} — `error` set when the socket died mid-response.
 */
function rawRequest(url, { method = 'GET', headers = {}, body, timeoutMs = 5000 } = {}) {
  return new Promise((resolve) => {
    const u = new URL(url);
    const r = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers, agent: false }, (res) => {
      const chunks = [];
      const times = [];
      res.on('data', (c) => { chunks.push(c); times.push(Date.now()); });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), times }));
      res.on('error', (error) => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), error, times }));
      res.on('aborted', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), error: new Error('aborted'), times }));
    });
    r.setTimeout(timeoutMs, () => r.destroy(new Error('timeout')));
    r.on('error', (error) => resolve({ error }));
    if (body !== undefined) r.write(typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body));
    r.end();
  });
}

module.exports = { req, pkce, emulator, decodeJwt, rawRequest };
