'use strict';
/**
 * @file tests/leaks/leak_node.js
 * @brief Node leak loop: creates and frees every object type of cotter-native (Verifier, Client, TokenSession,
 * Token, PKCE, login helpers, legacy tokens, errors, the compat classes) and verifies N tokens (default 1,000,000),
 * half on the calling thread (verifySync) and half on the thread pool (verify), and runs the asynchronous client
 * path (concurrent, aborted, deadline-bound and closed-in-flight calls; sessions with storage hooks). Two measures
 * are sampled 21 times (after a warm-up and after each twentieth of N), each with its own limit: native growth
 * (anonymous RSS minus V8's heap and V8's own malloc) under 1 MiB per million verifications in both halves and
 * 3 MiB overall, and JS objects retained after full collections under 512 KiB (docs/hardening.md §3 says why
 * not the RSS alone).
 *
 * Usage: node --expose-gc tests/leaks/leak_node.js MATERIAL.json [N] — MATERIAL.json is the line printed by
 * tests/leaks/material.js against a running emulator. Run by scripts/test-hardening.sh on the release addon
 * (sanitizer quarantines make RSS meaningless).
 */
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const v8 = require('node:v8');

const cotter = require(path.resolve(__dirname, '..', '..', 'node', 'lib'));
const { CotterAccessToken } = require(path.resolve(__dirname, '..', '..', 'node', 'lib', 'compat'));

const { Client, CotterError, Token, TokenSession, Verifier } = cotter;

// V8 grows its young generation (up to 16 MiB per semi-space) under allocation pressure, whenever it likes: that
// is heap sizing, not a leak, and it would swamp a 1 MiB budget. The loop re-runs itself with the young
// generation pinned to 1 MiB (and gc exposed); the old generation's sizing is subtracted (memory()).
if (!process.execArgv.includes('--max-semi-space-size=1') || typeof global.gc !== 'function') {
  const { spawnSync } = require('node:child_process');
  const r = spawnSync(process.execPath, ['--expose-gc', '--max-semi-space-size=1', '--min-semi-space-size=1', __filename,
    ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status === null ? 1 : r.status);
}

const BLOCK = 1000;
const SEGMENTS = 20; // samples: one after the warm-up and one after each segment
const m = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const n = process.argv[3] ? Number(process.argv[3]) : 1_000_000;
if (!Number.isInteger(n) || n < SEGMENTS * BLOCK) {
  console.error(`leak_node: N must be an integer of at least ${SEGMENTS * BLOCK} (${SEGMENTS} segments of whole blocks)`);
  process.exit(2);
}
const token = m.access_token;
const aud = m.api_key_id;
const EDGE = 5; // samples per window compared
// Limits, KiB per N verifications. Native: a steady leak of more than one byte per verification fails at N =
// 1,000,000 (every allocation is at least 32 bytes); without a leak, in 24 runs idle and loaded: steady at most
// 560, total at most 1085. Retained JS: one claims object kept per 100 verifications showed as 4.4 MiB; without a
// leak, at most 88.
const NATIVE_LIMIT = 1024;
const NATIVE_TOTAL_LIMIT = 3072;
const RETAINED_LIMIT = 512;

const verifier = new Verifier({ audience: aud, jwks: m.jwks });
const client = new Client({ apiKeyId: aud, apiSecretKey: m.api_secret_key, baseUrl: m.base_url, workerUrl: m.worker_url,
  maxHostConnections: 8 });
const oauth = JSON.stringify({ access_token: token, refresh_token: '41:r', id_token: 'x', token_type: 'Bearer', auth_method: 'OTP', expires_in: 3600 });

function expectCode(fn, code) {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof CotterError, String(e));
    if (code) assert.equal(e.code, code);
    return;
  }
  assert.fail(`expected ${code}`);
}

async function expectReject(p) {
  await assert.rejects(p, (e) => e instanceof CotterError);
}

async function churnOffline() {
  const v = new Verifier({ audience: aud, jwks: m.jwks, tokenCache: 16 });
  assert.ok(v.verifySync(token).sub && (await v.verify(token)).sub && v.checkSync(token));
  expectCode(() => v.verifySync('a.b.c'), 'COTTER_EJWT_MALFORMED');
  await expectReject(v.verify('a.b.c'));
  v.close();
  expectCode(() => new Verifier({ audience: aud, jwks: '{"keys": 7}' }));

  const t = Token.from(oauth);
  assert.equal(Token.from(t.toOAuthToken()).accessToken, token);
  expectCode(() => Token.from('[]'), 'COTTER_EPROTOCOL');

  const p = cotter.pkce();
  assert.equal(cotter.pkce(p.verifier), p.challenge);
  cotter.loginUrl({ apiKeyId: aud, redirectUrl: 'http://localhost:8080', state: p.state, codeChallenge: p.challenge });
  assert.equal(cotter.parseLoginRedirect('code=abc&challenge_id=7&state=s', 's').code, 'abc');
  expectCode(() => cotter.parseLoginRedirect('code=abc&state=t', 's'), 'COTTER_ESTATE');
  cotter.verifyIdentityToken(m.identity_token, aud, { publicKey: m.identity_public_key });

  const c = new Client({ apiKeyId: aud, apiSecretKey: m.api_secret_key, baseUrl: m.base_url });
  const s = new TokenSession(c, { token: oauth });
  assert.equal(await s.getAccessToken(), token);
  s.close();
  c.close();

  assert.equal(new CotterAccessToken(token, verifier).getID(), m.user_id);
}

async function churnOnline() {
  assert.equal((await client.getUser(m.identifier)).id, m.user_id);
  assert.ok((await client.listUsers(0)).length > 0);
  await client.listSocialTokens(m.user_id);
  await client.getSocialToken('GITHUB', m.user_id);
  await client.verifyRemote(token);
  await expectReject(client.refresh('not-a-refresh-token'));
  const remote = new Verifier({ audience: aud, jwksUrl: m.jwks_url });
  assert.ok((await remote.verify(token)).sub);
  await remote.refresh({ timeoutMs: 5000 });
  remote.close();

  // The asynchronous path, on the loop's long-lived client: 32 calls at once (settled in batches), calls aborted
  // before they start and right after (cancelled on the I/O thread, or done first: every handle is freed either
  // way), a session with storage hooks (opened off the loop), and a client closed with calls in flight.
  const users = await Promise.all(Array.from({ length: 32 }, () => client.getUser(m.identifier)));
  assert.ok(users.every((u) => u.id === m.user_id));
  await expectReject(client.getUser(m.identifier, { signal: AbortSignal.abort() }));
  const ac = new AbortController();
  const aborted = Array.from({ length: 8 }, () => client.getUserById(m.user_id, { signal: ac.signal }));
  ac.abort();
  await Promise.allSettled(aborted);
  let stored = oauth;
  const s = new TokenSession(client, { load: async () => stored, save: async (json) => { stored = json; } });
  assert.equal(await s.getAccessToken({ timeoutMs: 5000 }), token);
  await s.setToken(oauth);
  s.close();
  const c = new Client({ apiKeyId: aud, apiSecretKey: m.api_secret_key, baseUrl: m.base_url, maxHostConnections: 2 });
  const inFlight = Array.from({ length: 4 }, () => c.listUsers(0));
  c.close();
  await Promise.all(inFlight);
}

/** Verifications `from` to `to`: blocks of BLOCK, alternately on this thread and on the thread pool. */
async function run(from, to) {
  for (let done = from, block = 0; done < to; done += BLOCK, block++) {
    const k = Math.min(BLOCK, to - done);
    if (block % 2 === 0) {
      for (let i = 0; i < k; i++) if (!verifier.verifySync(token).sub) throw new Error('no sub');
    } else {
      const all = [];
      for (let i = 0; i < k; i++) all.push(verifier.verify(token));
      for (const c of await Promise.all(all)) if (!c.sub) throw new Error('no sub');
    }
    await churnOffline();
    if (done % 20000 === 0) await churnOnline();
  }
}

/** Anonymous resident memory and V8's own view, KiB. Anonymous memory is counted from the page tables
 *  (/proc/self/smaps_rollup): /proc/self/status and process.memoryUsage() read the kernel's per-CPU RSS counters,
 *  which lag by up to hundreds of KiB; file pages (the node binary's text, paged in as new paths run) are no leak. */
function memory() {
  const roll = fs.readFileSync('/proc/self/smaps_rollup', 'utf8');
  const kib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(roll)[1]);
  const h = v8.getHeapStatistics();
  const m = { rss: kib('Rss'), anon: kib('Anonymous'), heap: h.total_physical_size >> 10,
    malloced: h.malloced_memory >> 10, external: h.external_memory >> 10, used: h.used_heap_size >> 10 };
  // Ours: what no V8 heap page or V8-internal allocation explains (the addon, the library, libcurl, OpenSSL, and
  // external memory such as Buffers). The JS objects still reachable after full collections are measured apart.
  m.native = m.anon - m.heap - m.malloced;
  return m;
}

async function settle() {
  // Finalizers of native objects run after collection, on later turns of the loop.
  for (let i = 0; i < 3; i++) {
    global.gc();
    await new Promise((r) => setImmediate(r));
  }
}

function median(xs) {
  const s = [...xs].sort((x, y) => x - y);
  return (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2;
}

/** Native growth, KiB per N verifications, from the lowest of EDGE samples at the start, in the middle and at the
 *  end (native memory jitters upward only, by up to 2 MiB and for several samples at a time: V8 pages pooled
 *  after a collection, arena tops not yet trimmed). `steady` is the lower of the two halves' rates, scaled to N:
 *  a leak per call grows both halves alike, and a one-time step (a new malloc high-water mark) grows only one.
 *  `total` is from start to end, for a leak that is not steady. */
function nativeGrowth(samples, at) {
  const xs = samples.map((x) => x.native);
  const mid = (xs.length - EDGE) >> 1;
  const a = Math.min(...xs.slice(0, EDGE));
  const b = Math.min(...xs.slice(mid, mid + EDGE));
  const c = Math.min(...xs.slice(-EDGE));
  // Under a steady leak each floor is its window's first sample.
  const [ta, tb, tc] = [at[0], at[mid], at[xs.length - EDGE]];
  const steady = Math.round(Math.min((b - a) / (tb - ta), (c - b) / (tc - tb)) * n);
  return { steady, total: Math.round(((c - a) * n) / (tc - ta)), last: c, xs };
}

/** Retained JS, KiB per N verifications: from the median of the first EDGE samples of the heap used after
 *  collection to the median of the last EDGE (it jitters both ways, by about 0.2 MiB), scaled to N. */
function retainedGrowth(samples, at) {
  const xs = samples.map((x) => x.used);
  const first = median(xs.slice(0, EDGE));
  const last = median(xs.slice(-EDGE));
  const span = at[xs.length - 1 - (EDGE >> 1)] - at[EDGE >> 1];
  return { growth: Math.round(((last - first) * n) / span), last, xs };
}

(async () => {
  // Warm-up: the online churn's connections, threads and their malloc arenas (they settle only after dozens of
  // rounds), then verify threads and their arenas, caches and JIT. Its last segment runs after a settle, like
  // every measured one: a sample taken before the first settle sat 0.2-0.9 MiB below the next (probably V8 pages
  // pooled by that collection: resident, and in no heap space); after one, it still can (by up to 1.1 MiB).
  const seg = Math.max(BLOCK, Math.ceil(n / SEGMENTS / BLOCK) * BLOCK);
  const warm = Math.min(n, 200_000);
  for (let i = 0; i < 40; i++) await churnOnline();
  await run(0, Math.max(0, warm - seg));
  await settle();
  await run(Math.max(0, warm - seg), warm);
  await settle();
  // SEGMENTS segments, a sample after each (and before the first), collected and settled.
  const samples = [memory()];
  const at = [0];
  for (let done = 0; done < n; done = Math.min(n, done + seg)) {
    await run(done, Math.min(n, done + seg));
    await settle();
    samples.push(memory());
    at.push(Math.min(n, done + seg));
  }
  verifier.close();
  client.close();
  const native = nativeGrowth(samples, at);
  const retained = retainedGrowth(samples, at);
  // Self-check: the measure must see a known allocation. 4 MiB of native memory (a Buffer, written) and 2 MiB of
  // JS objects (a double array), kept alive while one more sample is taken: at least half of each must show, or
  // the gate is blind and must not pass.
  const probeNative = Buffer.allocUnsafeSlow(4 << 20).fill(1);
  const probeJs = Array.from({ length: 1 << 18 }, (_, i) => i + 0.5);
  await settle();
  const probe = memory();
  const seen = { native: probe.native - native.last, used: probe.used - retained.last };
  const blind = seen.native < 2048 || seen.used < 1024 || probeNative[7] !== 1 || probeJs.length !== 1 << 18;
  const f = samples[0];
  const l = samples[samples.length - 1];
  console.log(`leak_node: ${n} verifications (+${Math.ceil(n / BLOCK)} object churns, ${Math.ceil(n / 20000)} online) ` +
    `in ${at.length - 1} segments; native growth: steady ${native.steady} KiB (limit ${NATIVE_LIMIT}), total ` +
    `${native.total} KiB (limit ${NATIVE_TOTAL_LIMIT}); retained JS ` +
    `${retained.growth} KiB (limit ${RETAINED_LIMIT}); anonymous RSS ${f.anon} -> ${l.anon} KiB, V8 heap resident ` +
    `${f.heap} -> ${l.heap} KiB, V8 malloced ${f.malloced} -> ${l.malloced} KiB, external ${f.external} -> ` +
    `${l.external} KiB, RSS ${f.rss} -> ${l.rss} KiB; probe seen: native ${seen.native} of 4096 KiB, JS ${seen.used} ` +
    `of 2048 KiB${blind ? ' (BLIND: failing)' : ''}`);
  console.log(`leak_node: native samples ${native.xs.join(' ')}; JS heap used ${retained.xs.join(' ')}`);
  const ok = native.steady < NATIVE_LIMIT && native.total < NATIVE_TOTAL_LIMIT && retained.growth < RETAINED_LIMIT;
  process.exitCode = ok && !blind ? 0 : 1;
})().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
