'use strict';
// Lifetimes: the addon in several worker threads at once (per-environment state, no statics), wrappers dropped
// without close() and collected by the GC (finalizers free the C objects in a safe order), and many
// create/close cycles.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { startEmulator, ROOT } = require('./helpers/emulator');

const LIB = path.join(ROOT, 'node/lib/index.js');
let emu;
before(async () => { emu = await startEmulator(); });
after(async () => { await emu.stop(); });

test('the addon works in 4 worker threads at once, and a worker can exit with calls done', async () => {
  const tok = await emu.login('worker@example.com');
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { Verifier, Client, CotterError } = require(${JSON.stringify(LIB)});
    (async () => {
      const v = new Verifier({ audience: workerData.info.api_key_id, baseUrl: workerData.info.base_url });
      const c = new Client({ apiKeyId: workerData.info.api_key_id, baseUrl: workerData.info.base_url });
      const claims = await Promise.all(Array.from({ length: 50 }, () => v.verify(workerData.token)));
      let err;
      try { v.verifySync('x'); } catch (e) { err = e; }
      const user = await c.getUser('worker@example.com');
      parentPort.postMessage({ ids: [...new Set(claims.map((x) => x.identifier))], isCotterError: err instanceof CotterError, code: err.code, user: user.identifier });
    })();`;
  const results = await Promise.all(Array.from({ length: 4 }, () => new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: { info: emu.info, token: tok.access_token } });
    w.once('message', (m) => { resolve(m); });
    w.once('error', reject);
  })));
  for (const r of results) assert.deepEqual(r, { ids: ['worker@example.com'], isCotterError: true, code: 'COTTER_EJWT_MALFORMED', user: 'worker@example.com' });
});

test('wrappers dropped without close() are collected without a crash (sessions before or after their client)', async () => {
  const tokForGc = await emu.login('gc@example.com');
  const script = `
    const { Verifier, Client, TokenSession } = require(${JSON.stringify(LIB)});
    const info = JSON.parse(process.env.EMU);
    const tok = JSON.parse(process.env.TOK);
    (async () => {
      for (let round = 0; round < 20; round++) {
        let c = new Client({ apiKeyId: info.api_key_id, baseUrl: info.base_url });
        let sessions = Array.from({ length: 5 }, () => new TokenSession(c, { token: tok }));
        await Promise.all(sessions.map((s) => s.getAccessToken()));
        let v = new Verifier({ audience: info.api_key_id, baseUrl: info.base_url });
        await v.verify(tok.access_token);
        if (round % 2) { c = null; global.gc(); sessions = null; } else { sessions = null; global.gc(); c = null; }
        v = null;
        global.gc();
        await new Promise((r) => setImmediate(r));
      }
      global.gc();
      console.log('survived');
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', timeout: 120000,
    env: { ...process.env, EMU: JSON.stringify(emu.info), TOK: JSON.stringify(tokForGc) } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /survived/);
});

test('1,000 create/close cycles of each wrapper', async () => {
  const { Verifier, Client, TokenSession } = require(LIB);
  const tok = await emu.login('cycles@example.com');
  for (let i = 0; i < 1000; i++) {
    const v = new Verifier({ audience: emu.info.api_key_id, baseUrl: emu.info.base_url });
    const c = new Client({ apiKeyId: emu.info.api_key_id, apiSecretKey: 's', baseUrl: emu.info.base_url });
    const s = new TokenSession(c, { token: tok, load: () => null, save: () => {} });
    s.close(); c.close(); v.close();
  }
  const c = new Client({ apiKeyId: emu.info.api_key_id, baseUrl: emu.info.base_url });
  const s = new TokenSession(c, { token: tok });
  assert.equal(await s.getAccessToken(), tok.access_token);
  s.close(); c.close();
});
