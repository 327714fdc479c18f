'use strict';
// The hosted login page driven with plain HTTP form posts (the Python demo's way).
const test = require('node:test');
const assert = require('node:assert/strict');
const { emulator, pkce, req } = require('./helpers');

let E;
test.before(async () => { E = await emulator(); });
test.after(() => E.close());

const form = (path, fields) => req(E.origin + path, { method: 'POST', raw: true, body: new URLSearchParams(fields).toString() });
const params = (over = {}) => ({ api_key: E.info.api_key_id, redirect_url: 'http://127.0.0.1:5555/cb', type: 'EMAIL', state: 'abc',
  code_challenge: pkce().challenge, auth_method: 'OTP', ...over });

test('GET /app renders the form with stable ids and the hidden parameters', async () => {
  const r = await req(`${E.info.login_url}?${new URLSearchParams(params())}`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /text\/html/);
  for (const id of ['identifier', 'submit', 'cancel']) assert.match(r.body, new RegExp(`id="${id}"`));
  assert.match(r.body, /name="code_challenge" value="[A-Za-z0-9_-]{43}"/);
  assert.doesNotMatch(r.body, /<script|src="http|href="http/);
  const phone = await req(`${E.info.login_url}?${new URLSearchParams(params({ type: 'PHONE' }))}`);
  assert.match(phone.body, /type="tel"/);
});

test('OTP flow: code to mailbox, wrong code, right code → 302 with code, state, challenge_id', async () => {
  const p = params({ state: 'my state/+' });
  const sent = await form('/app/identifier', { ...p, identifier: 'Otp.User@Example.com' });
  assert.equal(sent.status, 200);
  assert.match(sent.body, /id="otp"/);
  const sid = sent.headers.get('x-cotter-login-session');
  assert.ok(sid);
  const mail = (await E.dev('/mailbox?to=otp.user%40example.com')).body;
  assert.equal(mail.length, 1);
  const m = mail[0];
  assert.match(m.otp, /^\d{6}$/);
  assert.equal(m.session, sid);
  assert.equal(m.channel, 'EMAIL');
  assert.match(m.magic_link, /^http:\/\/127\.0\.0\.1:\d+\/app\/magic\?t=/);
  const wrongOtp = m.otp === '000000' ? '111111' : '000000';
  const wrong = await form('/app/otp', { sid, otp: wrongOtp });
  assert.equal(wrong.status, 400);
  assert.match(wrong.body, /not correct/);
  const ok = await form('/app/otp', { sid, otp: m.otp });
  assert.equal(ok.status, 302);
  const loc = new URL(ok.headers.get('location'));
  assert.equal(loc.origin + loc.pathname, 'http://127.0.0.1:5555/cb');
  assert.equal(loc.searchParams.get('state'), 'my state/+');
  assert.match(loc.searchParams.get('challenge_id'), /^\d+$/);
  assert.ok(loc.searchParams.get('code').length >= 32);
  // The session is finished: the OTP cannot be replayed.
  assert.equal((await form('/app/otp', { sid, otp: m.otp })).status, 400);
});

test('too many wrong OTPs kill the session', async () => {
  const sent = await form('/app/identifier', { ...params(), identifier: 'brute@example.com' });
  const sid = sent.headers.get('x-cotter-login-session');
  const m = (await E.dev('/mailbox?to=brute%40example.com')).body.at(-1);
  const wrongOtp = m.otp === '000000' ? '111111' : '000000';
  let last;
  for (let i = 0; i < 5; i++) last = await form('/app/otp', { sid, otp: wrongOtp });
  assert.equal(last.status, 429);
  assert.equal((await form('/app/otp', { sid, otp: m.otp })).status, 400);
});

test('magic link flow and phone identifiers', async () => {
  const p = params({ auth_method: 'MAGIC_LINK', type: 'PHONE', redirect_url: 'http://localhost:7777/' });
  const sent = await form('/app/identifier', { ...p, identifier: '+1 555 000 1234' });
  assert.equal(sent.status, 200);
  assert.doesNotMatch(sent.body, /id="otp"/);
  const m = (await E.dev('/mailbox?to=%2B15550001234')).body.at(-1);
  assert.equal(m.channel, 'SMS');
  // OTP submission is refused for a magic-link login.
  assert.equal((await form('/app/otp', { sid: m.session, otp: m.otp })).status, 400);
  const r = await req(m.magic_link);
  assert.equal(r.status, 302);
  const loc = new URL(r.headers.get('location'));
  assert.equal(loc.searchParams.get('state'), 'abc');
  assert.ok(loc.searchParams.get('code'));
  assert.equal((await req(m.magic_link)).status, 400); // single use
  assert.equal((await req(E.origin + '/app/magic?t=bogus')).status, 400);
});

test('cancel redirects with error and state, from both pages', async () => {
  const r = await form('/app/identifier', { ...params(), action: 'cancel' });
  assert.equal(r.status, 302);
  const loc = new URL(r.headers.get('location'));
  assert.equal(loc.searchParams.get('error'), 'access_denied');
  assert.equal(loc.searchParams.get('state'), 'abc');
  assert.equal(loc.searchParams.get('code'), null);
  const sent = await form('/app/identifier', { ...params(), identifier: 'cancel2@example.com' });
  const sid = sent.headers.get('x-cotter-login-session');
  const c = await form('/app/otp', { sid, action: 'cancel' });
  assert.equal(c.status, 302);
  assert.equal(new URL(c.headers.get('location')).searchParams.get('error'), 'access_denied');
});

test('redirect URL allow-list: 403 page with Cotter message; custom entries', async () => {
  for (const bad of ['http://evil.example/cb', 'https://localhost:3000/cb', 'http://localhost.evil.example:80/', 'http://localhost:1@evil.example/', 'javascript:alert(1)']) {
    const r = await req(`${E.info.login_url}?${new URLSearchParams(params({ redirect_url: bad }))}`);
    assert.equal(r.status, 403, bad);
    assert.match(r.body, /is not in the list of allowed URLs\. Please contact the site owner\./);
    const f = await form('/app/identifier', { ...params({ redirect_url: bad }), identifier: 'x@example.com' });
    assert.equal(f.status, 403);
  }
  for (const good of ['http://localhost/', 'http://localhost:1234', 'http://127.0.0.1:9/a/b?x=1']) {
    assert.equal((await req(`${E.info.login_url}?${new URLSearchParams(params({ redirect_url: good }))}`)).status, 200, good);
  }
  const p = (await E.dev('/projects', { method: 'POST', body: { allowed_urls: ['cotter://auth', 'https://app.example.com/login'] } })).body;
  const ok = (u) => req(`${E.info.login_url}?${new URLSearchParams(params({ api_key: p.api_key_id, redirect_url: u }))}`).then((r) => r.status);
  assert.equal(await ok('cotter://auth'), 200);
  assert.equal(await ok('https://app.example.com/login/cb'), 200);
  assert.equal(await ok('https://app.example.com/other'), 403);
  assert.equal(await ok('http://localhost:3000/'), 403);
  // Existing query parameters on the redirect URL are kept.
  const sent = await form('/app/identifier', { ...params({ api_key: p.api_key_id, redirect_url: 'cotter://auth?x=1' }), identifier: 'scheme@example.com' });
  const m = (await E.dev('/mailbox?to=scheme%40example.com')).body.at(-1);
  assert.ok(sent.headers.get('x-cotter-login-session'));
  const done = await form('/app/otp', { sid: m.session, otp: m.otp });
  assert.match(done.headers.get('location'), /^cotter:\/\/auth\?x=1&code=[^&]+&state=abc&challenge_id=\d+$/);
});

test('bad parameters give 400 pages', async () => {
  const cases = [
    params({ api_key: undefined }), params({ api_key: '44444444-4444-4444-4444-444444444444' }), params({ redirect_url: '' }),
    params({ type: 'FAX' }), params({ auth_method: 'PIN' }), params({ code_challenge: 'short' }), params({ code_challenge: '' }),
  ];
  for (const c of cases) {
    const q = new URLSearchParams(Object.entries(c).filter(([, v]) => v !== undefined));
    const r = await req(`${E.info.login_url}?${q}`);
    assert.equal(r.status, 400, q.toString());
    assert.match(r.body, /id="error"/);
  }
  const r = await form('/app/identifier', { ...params(), identifier: 'not-an-email' });
  assert.equal(r.status, 400);
  assert.match(r.body, /valid email/);
  assert.equal((await form('/app/identifier', { ...params(), identifier: '' })).status, 400);
  assert.equal((await form('/app/otp', { sid: 'nope', otp: '123456' })).status, 400);
});

test('direct_login with input sends the code straight away', async () => {
  const r = await req(`${E.info.login_url}?${new URLSearchParams(params({ direct_login: 'true', input: 'direct@example.com' }))}`);
  assert.equal(r.status, 200);
  assert.match(r.body, /id="otp"/);
  assert.equal((await E.dev('/mailbox?to=direct%40example.com')).body.length, 1);
  const pre = await req(`${E.info.login_url}?${new URLSearchParams(params({ input: 'pre@example.com' }))}`);
  assert.match(pre.body, /value="pre@example.com"/);
});

test('OTP sends are rate limited per identifier', async () => {
  const E2 = await emulator({ otpRateLimit: 2 });
  try {
    const p = { api_key: E2.info.api_key_id, redirect_url: 'http://localhost:1/', type: 'EMAIL', state: 's', code_challenge: pkce().challenge };
    const send = () => req(`${E2.origin}/app/identifier`, { method: 'POST', raw: true, body: new URLSearchParams({ ...p, identifier: 'rl@example.com' }).toString() });
    assert.equal((await send()).status, 200);
    assert.equal((await send()).status, 200);
    const third = await send();
    assert.equal(third.status, 429);
    assert.ok(Number(third.headers.get('retry-after')) > 0);
    await E2.dev('/clock', { method: 'POST', body: { advance_seconds: 301 } });
    assert.equal((await send()).status, 200);
  } finally { await E2.close(); }
});

test('a fixed OTP can be configured', async () => {
  const E2 = await emulator({ fixedOtp: '424242' });
  try {
    const l = await E2.loginViaPage();
    const m = (await E2.dev('/mailbox?to=' + encodeURIComponent(l.identifier))).body.at(-1);
    assert.equal(m.otp, '424242');
  } finally { await E2.close(); }
});
