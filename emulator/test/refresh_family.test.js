'use strict';
// Refresh-token families (RFC 9700 §4.14.2): reuse of a rotated refresh token revokes every token of that login,
// except that within --refresh-reuse-grace seconds (dev clock) of a rotation the immediately previous token may be
// presented once more and rotates the current one instead. /dev/stats counts both.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { emulator } = require('./helpers');

let E;
test.before(async () => { E = await emulator(); });
test.after(() => E.close());

const stats = async (emu = E) => (await emu.dev('/stats')).body;
const rtOf = (r) => { assert.equal(r.status, 200, JSON.stringify(r.body)); return r.body.refresh_token; };
const login = async (emu = E, who) => (await emu.login(who ? { identifier: who } : undefined)).oauth_token.refresh_token;

test('reuse of a rotated token revokes the whole login; other logins of the same user are untouched', async () => {
  await E.dev('/stats/reset', { method: 'POST' });
  const rt0 = await login(E, 'family@example.com');
  const other = await login(E, 'family@example.com'); // a second login (another device) of the same user
  const rt1 = rtOf(await E.refresh(rt0));
  const reuse = await E.refresh(rt0);
  assert.equal(reuse.status, 400);
  assert.match(reuse.body.msg, /not valid: it was already used \(rotated\), so every token of its login is now revoked/);
  const dead = await E.refresh(rt1);
  assert.equal(dead.status, 400);
  assert.match(dead.body.msg, /not valid: its login was revoked/);
  assert.equal((await stats()).refresh_families_revoked, 1);
  // Replaying again revokes nothing more and is not counted twice.
  assert.equal((await E.refresh(rt0)).status, 400);
  assert.equal((await E.refresh(rt1)).status, 400);
  assert.equal((await stats()).refresh_families_revoked, 1);
  rtOf(await E.refresh(other));
  assert.equal((await stats()).refresh_grace_reuses, 0);
});

test('an older token than the previous one revokes too, and so does reuse on the legacy POST /token path', async () => {
  const rt0 = await login();
  const rt1 = rtOf(await E.refresh(rt0));
  const rt2 = rtOf(await E.refresh(rt1));
  assert.equal((await E.refresh(rt0)).status, 400);
  assert.equal((await E.refresh(rt2)).status, 400);

  const a0 = await login();
  const a1 = rtOf(await E.refresh(a0));
  const legacy = await E.api('/token', { method: 'POST', headers: E.key, body: { grant_type: 'refresh_token', refresh_token: a0 } });
  assert.equal(legacy.status, 400);
  assert.equal((await E.refresh(a1)).status, 400);
});

test('no grace by default: even an immediate retry of the previous token revokes the login', async () => {
  assert.deepEqual((await E.dev('/settings')).body, { refresh_reuse_grace: 0 });
  const rt0 = await login();
  const rt1 = rtOf(await E.refresh(rt0));
  assert.equal((await E.refresh(rt0)).status, 400);
  assert.equal((await E.refresh(rt1)).status, 400);
});

test('--refresh-reuse-grace: the previous token works once within the window, on the dev clock, and never again', async () => {
  const G = await emulator({ refreshReuseGrace: 30 });
  try {
    assert.deepEqual((await G.dev('/settings')).body, { refresh_reuse_grace: 30 });
    const rt0 = await login(G);
    const rt1 = rtOf(await G.refresh(rt0)); // the response "got lost"
    await G.dev('/clock', { method: 'POST', body: { advance_seconds: 25 } });
    const retry = await G.refresh(rt0); // the client retries with the token it still has
    const rt2 = rtOf(retry);
    assert.notEqual(rt2, rt1);
    assert.ok(retry.body.access_token && retry.body.id_token);
    let s = await stats(G);
    assert.equal(s.refresh_grace_reuses, 1);
    assert.equal(s.refresh_families_revoked, 0);
    // The grace use rotated the current token: the family still has exactly one live token.
    const r1 = await G.refresh(rt1);
    const rt3 = rtOf(r1); // rt1 is now the immediately previous token, within its own window: once
    assert.equal((await stats(G)).refresh_grace_reuses, 2);
    const rt4 = rtOf(await G.refresh(rt3));
    // rt0 a second time: its one grace use is spent, so the login is revoked.
    assert.equal((await G.refresh(rt0)).status, 400);
    assert.equal((await G.refresh(rt4)).status, 400);
    s = await stats(G);
    assert.equal(s.refresh_families_revoked, 1);
    assert.equal(s.refresh_grace_reuses, 2);
    assert.equal(rt2.length > 0, true);
  } finally { await G.close(); }
});

test('grace: outside the window (dev clock) or for the token before the previous one, reuse revokes', async () => {
  const G = await emulator({ refreshReuseGrace: 30 });
  try {
    const rt0 = await login(G);
    const rt1 = rtOf(await G.refresh(rt0));
    await G.dev('/clock', { method: 'POST', body: { advance_seconds: 31 } });
    assert.equal((await G.refresh(rt0)).status, 400);
    assert.equal((await G.refresh(rt1)).status, 400);

    const b0 = await login(G);
    const b1 = rtOf(await G.refresh(b0));
    const b2 = rtOf(await G.refresh(b1));
    assert.equal((await G.refresh(b0)).status, 400); // not the immediately previous token
    assert.equal((await G.refresh(b2)).status, 400);
    const s = await stats(G);
    assert.equal(s.refresh_families_revoked, 2);
    assert.equal(s.refresh_grace_reuses, 0);
  } finally { await G.close(); }
});

test('the grace window can be set at run time (POST /dev/settings); bad settings are 400', async () => {
  try {
    assert.deepEqual((await E.dev('/settings', { method: 'POST', body: { refresh_reuse_grace: 10 } })).body, { refresh_reuse_grace: 10 });
    const rt0 = await login();
    rtOf(await E.refresh(rt0));
    rtOf(await E.refresh(rt0));
    for (const bad of [{ refresh_reuse_grace: -1 }, { refresh_reuse_grace: 1.5 }, { refresh_reuse_grace: '5' }, { refresh_reuse_grace: 86401 }, { nope: 1 }]) {
      assert.equal((await E.dev('/settings', { method: 'POST', body: bad })).status, 400, JSON.stringify(bad));
    }
    assert.deepEqual((await E.dev('/settings')).body, { refresh_reuse_grace: 10 });
  } finally {
    await E.dev('/settings', { method: 'POST', body: { refresh_reuse_grace: 0 } });
  }
});

test('logout with any token of a login ends it, and is not counted as reuse', async () => {
  await E.dev('/stats/reset', { method: 'POST' });
  const rt0 = await login();
  const rt1 = rtOf(await E.refresh(rt0));
  const out = await E.api(`/token/${E.info.api_key_id}`, { method: 'DELETE', headers: E.key, body: { refresh_token: rt0 } });
  assert.deepEqual(out.body, { success: true, revoked: true });
  assert.equal((await E.refresh(rt1)).status, 400);
  const again = await E.api(`/token/${E.info.api_key_id}`, { method: 'DELETE', headers: E.key, body: { refresh_token: rt1 } });
  assert.deepEqual(again.body, { success: true, revoked: false });
  const after = await E.refresh(rt1);
  assert.match(after.body.msg, /not valid: it was revoked \(logged out\)/);
  assert.equal((await stats()).refresh_families_revoked, 0);
});

test('a concurrent burst with one token: one winner, and the login is revoked (what a client without single-flight gets)', async () => {
  await E.dev('/stats/reset', { method: 'POST' });
  const rt0 = await login();
  const rs = await Promise.all(Array.from({ length: 8 }, () => E.refresh(rt0)));
  const winners = rs.filter((r) => r.status === 200);
  assert.equal(winners.length, 1);
  assert.equal((await E.refresh(winners[0].body.refresh_token)).status, 400);
  assert.equal((await stats()).refresh_families_revoked, 1);
});

test('--data: a family survives a restart (reuse after it still revokes the current token)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cotter-emu-family-'));
  try {
    const a = await emulator({ dataDir: dir });
    const rt0 = await login(a);
    const rt1 = rtOf(await a.refresh(rt0));
    await a.close();
    const b = await emulator({ dataDir: dir });
    try {
      const rt2 = rtOf(await b.refresh(rt1));
      // rt1 was rotated after the restart, so it is remembered: its reuse revokes rt2.
      assert.equal((await b.refresh(rt1)).status, 400);
      assert.equal((await b.refresh(rt2)).status, 400);
      assert.equal((await stats(b)).refresh_families_revoked, 1);
    } finally { await b.close(); }
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
});

test('refresh_by_user counts, per user ID, logins (new families), refresh grants (rotations, grace uses too), grace uses and revocations', async () => {
  const G = await emulator({ refreshReuseGrace: 30 });
  try {
    const a = await G.login({ identifier: 'per-user-a@example.com' });
    const b = await G.login({ identifier: 'per-user-b@example.com' });
    const a0 = a.oauth_token.refresh_token;
    rtOf(await G.refresh(a0));
    rtOf(await G.refresh(a0)); // the first answer "was lost": the grace use rotates its token (a grant, a grace use)
    assert.equal((await G.refresh(a0)).status, 400); // a0's one grace use is spent: a's family is revoked
    const b0 = b.oauth_token.refresh_token;
    const b1 = rtOf(await G.refresh(b0));
    rtOf(await G.refresh(b1));
    assert.equal((await G.refresh(b0)).status, 400); // not the previous token: b's family is revoked
    let s = await stats(G);
    assert.deepEqual(s.refresh_by_user[a.user.ID], { logins: 1, refresh_grants: 2, grace_reuses: 1, families_revoked: 1 });
    assert.deepEqual(s.refresh_by_user[b.user.ID], { logins: 1, refresh_grants: 2, grace_reuses: 0, families_revoked: 1 });
    assert.equal(Object.keys(s.refresh_by_user).length, 2);
    // A second login of a counts as one more login, not a grant.
    await G.login({ identifier: 'per-user-a@example.com' });
    assert.equal((await stats(G)).refresh_by_user[a.user.ID].logins, 2);
    s = (await G.dev('/stats/reset', { method: 'POST' })).body;
    assert.deepEqual(s.refresh_by_user, {});
  } finally { await G.close(); }
});
