'use strict';
// The login page in real headless Chromium: form → OTP from the dev mailbox → redirect to a
// local callback server of the test → code exchange with get_identity. Also Cancel.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const fs = require('node:fs');
const { emulator, pkce } = require('./helpers');

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  // evil.test plays a web site whose name resolves to this machine (a DNS-rebinding attacker's name).
  '--host-resolver-rules=MAP evil.test 127.0.0.1'];

let E;
let browser;
let callback; // {server, url, next: Promise of the received query}

function callbackServer() {
  return new Promise((resolve) => {
    let deliver;
    const hits = [];
    const server = http.createServer((req, res) => {
      if (req.url === '/page') { // a plain page for the cross-origin fetch tests
        res.writeHead(200, { 'Content-Type': 'text/html' });
        res.end('<!doctype html><title>page</title><p>page</p>');
        return;
      }
      const q = new URL(req.url, 'http://x').searchParams;
      hits.push(q);
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<!doctype html><title>done</title><h1 id="done">Logged in</h1>');
      if (deliver) { deliver(q); deliver = null; }
    });
    server.listen(0, '127.0.0.1', () => {
      resolve({ server, url: `http://127.0.0.1:${server.address().port}/callback`, next: () => new Promise((r) => { deliver = r; }), hits });
    });
  });
}

test.before(async () => {
  E = await emulator();
  callback = await callbackServer();
  const { chromium } = require('playwright-core');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
});
test.after(async () => {
  if (browser) await browser.close();
  if (callback) callback.server.close();
  if (E) await E.close();
});

test('chromium exists', () => { assert.ok(fs.existsSync(CHROMIUM)); });

test('log in through the page in Chromium and exchange the code', async () => {
  const page = await browser.newPage();
  try {
    const { verifier, challenge } = pkce();
    const state = 'browser-state-1';
    const url = `${E.info.login_url}?${new URLSearchParams({ api_key: E.info.api_key_id, redirect_url: callback.url, type: 'EMAIL',
      state, code_challenge: challenge, auth_method: 'OTP' })}`;
    await page.goto(url);
    assert.equal(await page.title(), 'Sign in');
    await page.fill('#identifier', 'chromium@example.com');
    const arrived = callback.next();
    await page.click('#submit');
    await page.waitForSelector('#otp');
    const mail = (await E.dev('/mailbox?to=chromium%40example.com')).body;
    assert.equal(mail.length, 1);
    await page.fill('#otp', mail[0].otp);
    await page.click('#submit');
    const q = await arrived;
    await page.waitForSelector('#done');
    assert.equal(q.get('state'), state);
    assert.ok(q.get('code'));
    assert.match(q.get('challenge_id'), /^\d+$/);
    assert.equal(new URL(page.url()).pathname, '/callback');

    const r = await E.api('/verify/get_identity?oauth_token=true', { method: 'POST', headers: E.key,
      body: { code_verifier: verifier, authorization_code: q.get('code'), challenge_id: Number(q.get('challenge_id')), redirect_url: callback.url } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.user.identifier, 'chromium@example.com');
    assert.match(r.body.identifier.device_name, /Chrome/);
    assert.equal((await E.refresh(r.body.oauth_token.refresh_token)).status, 200);
  } finally { await page.close(); }
});

test('a wrong OTP shows an error in the page; Cancel redirects with error and state', async () => {
  const page = await browser.newPage();
  try {
    const url = `${E.info.login_url}?${new URLSearchParams({ api_key: E.info.api_key_id, redirect_url: callback.url, type: 'EMAIL',
      state: 'cancel-state', code_challenge: pkce().challenge })}`;
    await page.goto(url);
    await page.fill('#identifier', 'cancel@example.com');
    await page.click('#submit');
    await page.waitForSelector('#otp');
    const otp = (await E.dev('/mailbox?to=cancel%40example.com')).body[0].otp;
    await page.fill('#otp', otp === '000000' ? '111111' : '000000');
    await page.click('#submit');
    await page.waitForSelector('#error');
    assert.match(await page.textContent('#error'), /not correct/);
    const arrived = callback.next();
    await page.click('#cancel');
    const q = await arrived;
    assert.equal(q.get('error'), 'access_denied');
    assert.equal(q.get('state'), 'cancel-state');
    assert.equal(q.get('code'), null);
  } finally { await page.close(); }
});

test('a disallowed redirect URL shows the 403 page in the browser', async () => {
  const page = await browser.newPage();
  try {
    const resp = await page.goto(`${E.info.login_url}?${new URLSearchParams({ api_key: E.info.api_key_id, redirect_url: 'https://evil.example/cb',
      type: 'EMAIL', state: 's', code_challenge: pkce().challenge })}`);
    assert.equal(resp.status(), 403);
    assert.match(await page.textContent('#error'), /not in the list of allowed URLs/);
  } finally { await page.close(); }
});

/** Runs fetch(url, init) in `page` and reports what the page could read: {status, body} or {error}. */
const pageFetch = (page, url, init = {}) => page.evaluate(async ([u, i]) => {
  try {
    const r = await fetch(u, i);
    return { status: r.status, body: await r.text() };
  } catch (e) { return { error: String(e) }; }
}, [url, init]);

test('a page on an allowed origin reads the API; no page reads the dev API, even one that knows the token', async () => {
  const page = await browser.newPage();
  try {
    await page.goto(callback.url.replace('/callback', '/page')); // http://127.0.0.1:<port>: an allowed URL of the project
    const jwks = await pageFetch(page, E.info.jwks_url, { credentials: 'include' });
    assert.equal(jwks.status, 200, JSON.stringify(jwks));
    assert.ok(JSON.parse(jwks.body).keys.length >= 1);
    const open = await pageFetch(page, E.info.dev_url + '/projects');
    assert.ok(open.error, JSON.stringify(open)); // 401 and no CORS: the page cannot read it
    const withToken = await pageFetch(page, E.info.dev_url + '/projects', { headers: { 'X-Cotter-Dev-Token': E.info.dev_token } });
    assert.ok(withToken.error, JSON.stringify(withToken)); // the preflight finds no CORS headers
    assert.doesNotMatch(JSON.stringify([open, withToken]), new RegExp(E.info.api_secret_key));
  } finally { await page.close(); }
});

test('a page on another origin cannot read the API (no CORS for it)', async () => {
  const page = await browser.newPage();
  try {
    await page.goto(`http://evil.test:${new URL(callback.url).port}/page`);
    const r = await pageFetch(page, E.info.jwks_url, { credentials: 'include' });
    assert.ok(r.error, JSON.stringify(r));
  } finally { await page.close(); }
});

test('DNS rebinding: the emulator refuses a request for a name that merely resolves to it', async () => {
  const page = await browser.newPage();
  try {
    const emuPort = new URL(E.origin).port;
    const resp = await page.goto(`http://evil.test:${emuPort}/api/v0/token/jwks`);
    assert.equal(resp.status(), 403);
    assert.match(await resp.text(), /Host .*evil\.test.* is not allowed/);
    // Same origin as the page now: without the Host check this fetch would read the dev API.
    const dev = await pageFetch(page, `http://evil.test:${emuPort}/dev/projects`, { headers: { 'X-Cotter-Dev-Token': E.info.dev_token } });
    assert.equal(dev.status, 403, JSON.stringify(dev));
    assert.doesNotMatch(dev.body, new RegExp(E.info.api_secret_key));
  } finally { await page.close(); }
});
