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
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let E;
let browser;
let callback; // {server, url, next: Promise of the received query}

function callbackServer() {
  return new Promise((resolve) => {
    let deliver;
    const hits = [];
    const server = http.createServer((req, res) => {
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
