'use strict';
/**
 * @file tests/node/helpers/emulator.js
 * @brief Shared by every Node test: spawns the real emulator (`node emulator/bin/cotter-emulator.js --port 0`),
 *        reads its one JSON line, and offers the dev API, logins and a hosted-page driver.
 *
 *   const { startEmulator } = require('./helpers/emulator');
 *   const emu = await startEmulator(['--access-ttl', '60']);   // extra CLI flags, optional
 *   emu.info.base_url; await emu.dev('/faults', {...}); const tok = await emu.login('a@example.com');
 *   await emu.stop();
 */
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BIN = path.join(ROOT, 'emulator', 'bin', 'cotter-emulator.js');
const live = new Set();

// A test process that dies without calling stop() must not leave an emulator behind.
process.on('exit', () => { for (const c of live) { try { c.kill('SIGKILL'); } catch { /* already gone */ } } });

/**
 * One HTTP(S) request on a fresh connection (node:http/https, so an emulator started with --tls works: its CA is
 * passed as `ca`). Resolves to { status, headers (a Headers object), body (parsed JSON, or text) }. Never follows
 * redirects.
 */
function request(url, { method = 'GET', body, headers = {}, form = false, ca } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const h = { ...headers };
    let payload;
    if (body !== undefined) {
      payload = Buffer.from(form ? new URLSearchParams(body).toString() : JSON.stringify(body));
      h['Content-Type'] = form ? 'application/x-www-form-urlencoded' : 'application/json';
      h['Content-Length'] = String(payload.length);
    }
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.request(u, { method, headers: h, ca, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const out = new Headers();
        for (const [k, v] of Object.entries(res.headers)) out.set(k, Array.isArray(v) ? v.join(', ') : String(v));
        let parsed = text;
        if ((res.headers['content-type'] || '').includes('application/json') && text) parsed = JSON.parse(text);
        resolve({ status: res.statusCode, headers: out, body: parsed });
      });
    });
    req.setTimeout(30000, () => req.destroy(new Error(`${method} ${url}: no answer in 30 s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * Starts an emulator on a free loopback port. `args` are extra CLI flags (e.g. ['--tls'], ['--access-ttl', '5']).
 * Resolves once the JSON line has been read; rejects (with its stderr) when it exits first or takes > 15 s.
 */
function startEmulator(args = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let out = '';
    let err = '';
    let done = false;
    const timer = setTimeout(() => fail(new Error('emulator did not print its JSON line within 15 s')), 15000);
    function fail(e) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      live.delete(child);
      reject(new Error(`${e.message}\nstderr: ${err}`));
    }
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => { if (err.length < 65536) err += d; });
    child.on('error', fail);
    child.on('exit', (code, sig) => fail(new Error(`emulator exited early (code ${code}, signal ${sig})`)));
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      if (done) return;
      out += d;
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      done = true;
      clearTimeout(timer);
      let info;
      try { info = JSON.parse(out.slice(0, nl)); } catch (e) { done = false; fail(e); return; }
      resolve(makeHandle(child, info));
    });
  });
}

function makeHandle(child, info) {
  const origin = info.base_url.replace(/\/api\/v0$/, '');
  const ca = info.ca_file ? fs.readFileSync(info.ca_file) : undefined;
  const call = (url, o = {}) => request(url, { ca, ...o });
  const exited = new Promise((r) => child.once('exit', r));

  /** The dev API: GET without a body, POST with one (or pass `method`). Resolves to the parsed JSON body. */
  async function dev(p, body, method) {
    const r = await call(info.dev_url + p, { method: method || (body === undefined ? 'GET' : 'POST'), body,
      headers: { 'X-Cotter-Dev-Token': info.dev_token } }); // the dev API's token, from the JSON line
    if (r.status >= 400) throw new Error(`dev ${p}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  /** Logs `identifier` in through /dev/login; resolves to its oauth_token ({access_token, id_token, refresh_token, ...}). */
  async function login(identifier = `u${crypto.randomUUID().slice(0, 8)}@example.com`) {
    return (await dev('/login', { identifier })).oauth_token;
  }

  /**
   * Drives the hosted login page at `url` (e.g. from the SDK's loginUrl()) with plain HTTP, as a person would:
   * GET the page, submit the identifier, read the OTP from the dev mailbox, submit it. Resolves to the redirect
   * Location (a URL object) carrying code, state and challenge_id.
   */
  async function completeLoginPage(url, identifier) {
    const u = new URL(url);
    const page = await call(u.href);
    if (page.status !== 200) throw new Error(`GET /app: HTTP ${page.status}`);
    const params = Object.fromEntries(u.searchParams);
    const sent = await call(`${origin}/app/identifier`, { method: 'POST', form: true, body: { ...params, identifier } });
    if (sent.status !== 200) throw new Error(`POST /app/identifier: HTTP ${sent.status}`);
    const mail = await dev(`/mailbox?to=${encodeURIComponent(identifier)}`);
    const msg = mail[mail.length - 1];
    const done = await call(`${origin}/app/otp`, { method: 'POST', form: true, body: { sid: msg.session, otp: msg.otp } });
    if (done.status !== 302) throw new Error(`POST /app/otp: HTTP ${done.status}`);
    return new URL(done.headers.get('location'));
  }

  async function stop() {
    if (child.exitCode !== null || child.signalCode !== null) { live.delete(child); return; }
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
    live.delete(child);
  }

  return { info, origin, ca, pid: child.pid, dev, login, completeLoginPage, request: call, stop };
}

/** A token with the emulator's header (same kid) and claims, signed with a key of our own. */
function forge(realToken) {
  const [h, p] = realToken.split('.');
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const sig = crypto.sign('sha256', Buffer.from(`${h}.${p}`), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${h}.${p}.${sig.toString('base64url')}`;
}

/**
 * A loopback port that refuses connections until the test `t` ends. A python3 process keeps a socket bound to
 * it without listening (Node has no bind-without-listen), so nothing else can take the port meanwhile: not a
 * listener from listen(0), not the source port of an outgoing connection. (The port used to be bound and freed
 * at once: a freshly freed port that a server started next, e.g. by the same test, could get.) The holder
 * exits when its stdin closes: when `t` ends, or when this process dies.
 */
async function deadPort(t) {
  const holder = spawn('python3', ['-c', 'import socket, sys\ns = socket.socket()\ns.bind(("127.0.0.1", 0))\n'
    + 'print(s.getsockname()[1], flush=True)\nsys.stdin.read()'], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => holder.stdin.end());
  return new Promise((resolve, reject) => {
    let out = '';
    holder.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(Number(out.trim()));
    });
    holder.once('error', reject);
    holder.once('exit', (code) => reject(new Error(`the port holder exited (${code}) before printing its port`)));
  });
}

module.exports = { startEmulator, request, forge, deadPort, ROOT };
