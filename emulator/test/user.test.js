'use strict';
// The user API and the social-provider token API.
const test = require('node:test');
const assert = require('node:assert/strict');
const { emulator } = require('./helpers');

let E;
test.before(async () => { E = await emulator(); });
test.after(() => E.close());

const NULL_UUID = '00000000-0000-0000-0000-000000000000';

test('create, get by identifier, get by id, unknown users', async () => {
  const c = await E.api('/user/create', { method: 'POST', headers: E.key, body: { identifier: 'hello@gmail.com' } });
  assert.equal(c.status, 200);
  const u = c.body;
  for (const k of ['ID', 'created_at', 'update_at', 'deleted_at', 'issuer', 'client_user_id', 'enrolled', 'default_method', 'identifier', 'identifiers']) assert.ok(k in u, k);
  assert.equal(u.issuer, E.info.api_key_id);
  assert.equal(u.client_user_id, u.ID);
  assert.deepEqual(u.enrolled, []);
  // Idempotent.
  const again = await E.api('/user/create', { method: 'POST', headers: E.key, body: { identifier: 'HELLO@gmail.com' } });
  assert.equal(again.body.ID, u.ID);
  const byIdent = await E.api('/user?identifier=' + encodeURIComponent('hello@gmail.com'), { headers: E.key });
  assert.equal(byIdent.status, 200);
  assert.equal(byIdent.body.ID, u.ID);
  const unknown = await E.api('/user?identifier=nobody%40example.com', { headers: E.key });
  assert.equal(unknown.status, 200);
  assert.equal(unknown.body.ID, NULL_UUID);
  const byId = await E.api('/user/' + u.ID, { headers: E.key });
  assert.equal(byId.status, 200);
  assert.deepEqual(byId.body, u);
  const missing = await E.api('/user/' + NULL_UUID, { headers: E.key });
  assert.equal(missing.status, 404);
  assert.equal(typeof missing.body.msg, 'string');
  // Phone numbers; client_user_id of old flows.
  const ph = await E.api('/user/create', { method: 'POST', headers: E.key, body: { identifier: '+1 (234) 567-8901', client_user_id: 'my-id-1' } });
  assert.equal(ph.body.identifier, '+12345678901');
  assert.equal(ph.body.client_user_id, 'my-id-1');
  assert.equal((await E.api('/user/my-id-1', { headers: E.key })).body.ID, ph.body.ID);
  assert.equal((await E.api('/user?identifier=%2B12345678901', { headers: E.key })).body.ID, ph.body.ID);
});

test('user API rejections', async () => {
  assert.equal((await E.api('/user/create', { method: 'POST', body: { identifier: 'a@b.co' } })).status, 401);
  assert.equal((await E.api('/user/create', { method: 'POST', headers: E.key, body: {} })).status, 400);
  assert.equal((await E.api('/user/create', { method: 'POST', headers: E.key, body: { identifier: 'not an email' } })).status, 400);
  assert.equal((await E.api('/user/create', { method: 'POST', headers: E.key, body: { identifier: 42 } })).status, 400);
  assert.equal((await E.api('/user?identifier=a%40b.co')).status, 401);
  assert.equal((await E.api('/user', { headers: E.key })).status, 400);
  // Users are per project.
  const u = (await E.api('/user/create', { method: 'POST', headers: E.key, body: { identifier: 'mine@example.com' } })).body;
  const other = (await E.dev('/projects', { method: 'POST', body: {} })).body;
  assert.equal((await E.api('/user/' + u.ID, { headers: { API_KEY_ID: other.api_key_id } })).status, 404);
});

test('user list: secret required, 50 per page, newest first', async () => {
  const p = (await E.dev('/projects', { method: 'POST', body: {} })).body;
  const h = { API_KEY_ID: p.api_key_id, API_SECRET_KEY: p.api_secret_key };
  const ids = [];
  for (let i = 0; i < 55; i++) {
    ids.push((await E.api('/user/create', { method: 'POST', headers: { API_KEY_ID: p.api_key_id }, body: { identifier: `list${i}@example.com` } })).body.ID);
    await E.dev('/clock', { method: 'POST', body: { advance_seconds: 1 } });
  }
  await E.dev('/clock', { method: 'POST', body: { offset_seconds: 0 } });
  const p0 = await E.api('/user/list?page=0', { headers: h });
  assert.equal(p0.status, 200);
  assert.equal(p0.body.users.length, 50);
  assert.equal(p0.body.total, 55);
  assert.equal(p0.body.has_more, true);
  assert.equal(p0.body.users[0].identifier, 'list54@example.com');
  const p1 = await E.api('/user/list?page=1', { headers: h });
  assert.deepEqual(p1.body.users.map((u) => u.ID), ids.slice(0, 5).reverse());
  assert.equal(p1.body.has_more, false);
  assert.equal((await E.api('/user/list?page=9', { headers: h })).body.users.length, 0);
  assert.equal((await E.api('/user/list?page=0', { headers: { API_KEY_ID: p.api_key_id } })).status, 401);
  assert.equal((await E.api('/user/list?page=0', { headers: { API_KEY_ID: p.api_key_id, API_SECRET_KEY: E.info.api_secret_key } })).status, 401);
  assert.equal((await E.api('/user/list?page=-1', { headers: h })).status, 400);
  assert.equal((await E.api('/user/list?page=x', { headers: h })).status, 400);
});

test('social provider tokens: list, get, delete; secret required; unknown user', async () => {
  const u = (await E.api('/user/create', { method: 'POST', headers: E.key, body: { identifier: 'social@example.com' } })).body;
  const gh = await E.dev('/social_tokens', { method: 'POST', body: { user_id: u.ID, identity_provider: 'GITHUB', provider_username: 'octo',
    provider_user_id: '20483939', tokens: { access_token: 'gho_abc', scope: 'repo,user', token_type: 'bearer' } } });
  assert.equal(gh.status, 201);
  await E.dev('/social_tokens', { method: 'POST', body: { user_id: u.ID, identity_provider: 'GOOGLE' } });
  const list = await E.api('/oauth/token/list/' + u.ID, { headers: E.secret });
  assert.equal(list.status, 200);
  assert.equal(list.body.length, 2);
  const g = list.body.find((x) => x.identity_provider === 'GITHUB');
  for (const k of ['ID', 'created_at', 'updated_at', 'deleted_at', 'company_id', 'user_id', 'provider_user_id', 'provider_username', 'identity_provider', 'tokens']) assert.ok(k in g, k);
  assert.equal(g.company_id, E.info.api_key_id);
  assert.equal(g.deleted_at, '0001-01-01T00:00:00Z');
  assert.deepEqual(g.tokens, { access_token: 'gho_abc', scope: 'repo,user', token_type: 'bearer' });
  const one = await E.api(`/oauth/token/GITHUB/${u.ID}`, { headers: E.secret });
  assert.equal(one.status, 200);
  assert.deepEqual(one.body, g);
  assert.equal((await E.api(`/oauth/token/github/${u.ID}`, { headers: E.secret })).status, 200);
  assert.equal((await E.api(`/oauth/token/GITHUB/${u.ID}`, { headers: E.key })).status, 401);
  assert.equal((await E.api(`/oauth/token/list/${u.ID}`, { headers: { ...E.key, API_SECRET_KEY: 'bad' } })).status, 401);
  const del = await E.api(`/oauth/token/GITHUB/${u.ID}`, { method: 'DELETE', headers: E.secret });
  assert.equal(del.status, 200);
  assert.deepEqual(del.body, { success: true });
  assert.equal((await E.api(`/oauth/token/GITHUB/${u.ID}`, { headers: E.secret })).status, 404);
  assert.equal((await E.api(`/oauth/token/GITHUB/${u.ID}`, { method: 'DELETE', headers: E.secret })).status, 404);
  assert.equal((await E.api(`/oauth/token/list/${u.ID}`, { headers: E.secret })).body.length, 1);
  assert.equal((await E.api(`/oauth/token/list/${NULL_UUID}`, { headers: E.secret })).status, 404);
  assert.equal((await E.api(`/oauth/token/GITHUB/${NULL_UUID}`, { headers: E.secret })).status, 404);
  assert.equal((await E.api(`/oauth/token/bad-name!/${u.ID}`, { headers: E.secret })).status, 400);
});
