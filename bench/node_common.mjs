/**
 * @file bench/node_common.mjs
 * @brief Helpers shared by the bench/node_*.mjs benchmarks (not a benchmark itself: bench/run runs node_*.mjs files
 * that print JSON lines; this one prints nothing). Loads the package from the repository root, builds a realistic
 * Cotter access token with node:crypto, and measures rates in interleaved rounds.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const require = createRequire(path.join(ROOT, 'package.json'));

export const AUD = 'aaf7319d-8f91-4752-a23f-c43ba862d548';
export const ISS = 'https://www.cotter.app';

/** An ES256 key, its JWKS document and a ~560-byte access token shaped like Cotter's (same claims as verify_bench). */
export function material() {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = 'SPACE_JWT_PUBLIC:8028AAA3-EC2D-4BAA-BE7A-7C8359CCB9F9';
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'ES256' };
  const now = Math.floor(Date.now() / 1000);
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b64({ alg: 'ES256', kid, typ: 'JWT' })}.${b64({
    sub: '09efb1b-e50f-41fd-8530-88ffbcd80f59', client_user_id: '09efb1b-e50f-41fd-8530-88ffbcd80f59',
    authentication_method: 'OTP', type: 'client_access_token', identifier: 'putri@cotter.app', scope: 'access',
    aud: AUD, exp: now + 3600, iat: now, jti: '47fba8ba-0000-4000-a22c-a2b8b72e8b98', iss: ISS,
  })}`;
  const sig = crypto.sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return { publicKey, jwks: JSON.stringify({ keys: [jwk] }), token: `${input}.${sig.toString('base64url')}` };
}

/** Calls per second of a synchronous `fn` over about `seconds`. */
export function rateSync(fn, seconds) {
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  for (;;) {
    for (let i = 0; i < 100; i++) fn();
    n += 100;
    const now = process.hrtime.bigint();
    if (now >= end) return n / (Number(now - start) / 1e9);
  }
}

/** Calls per second of an async `fn` awaited one at a time (concurrency 1) or with `inFlight` outstanding. */
export async function rateAsync(fn, seconds, inFlight = 1) {
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  let stop = false;
  async function lane() {
    while (!stop) {
      await fn();
      n++;
      if ((n & 63) === 0 && process.hrtime.bigint() >= end) stop = true;
    }
  }
  await Promise.all(Array.from({ length: inFlight }, lane));
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Interleaved rounds (machine noise hits every contender alike); the median rate of each. */
export async function medianRates(fns, seconds, rounds) {
  const samples = Object.fromEntries(Object.keys(fns).map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [k, fn] of Object.entries(fns)) samples[k].push(await fn(seconds));
  }
  return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
}

/**
 * CPU time (µs) this process has used so far, on the JS (main) thread and on all its other threads, from
 * /proc/self/task (Linux; null elsewhere): each thread's run time in ns from `schedstat` (the tick counts of `stat`
 * have a 10 ms resolution: 7% of a 20,000-verification JS-thread figure), `stat` where schedstat is not there.
 */
export function threadCpuMicros() {
  let main = 0;
  let others = 0;
  try {
    for (const tid of fs.readdirSync('/proc/self/task')) {
      let us;
      try {
        us = Number(fs.readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1000;
      } catch {
        const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        us = ((Number(f[11]) + Number(f[12])) * 1e6) / 100;  // utime + stime, in USER_HZ (100) ticks
      }
      if (tid === String(process.pid)) main += us;
      else others += us;
    }
  } catch {
    return null;
  }
  return { main, others };
}

export function emit(bench, ops, baseline, baseOps, extra = {}) {
  const line = { bench, ops_per_sec: Math.round(ops), baseline, ratio: baseOps ? Math.round((ops / baseOps) * 1000) / 1000 : null, ...extra };
  process.stdout.write(JSON.stringify(line) + '\n');
}

/** The first built verify_bench (bench/run builds build/bench), for the C ABI loop of the same machine and run. */
export function verifyBenchPath() {
  for (const dir of ['bench', ...fs.readdirSync(path.join(ROOT, 'build')).filter((d) => d !== 'bench')]) {
    const p = path.join(ROOT, 'build', dir, 'bench', 'verify_bench');
    if (fs.existsSync(p)) return p;
  }
  return null;
}

export function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

/** Starts the emulator (another process); resolves to { child, info, stop() }. */
export function startEmulator(args = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'emulator/bin/cotter-emulator.js'), '--port', '0', ...args],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.on('exit', (code) => reject(new Error(`emulator exited (${code})`)));
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      out += d;
      if (!out.includes('\n')) return;
      const info = JSON.parse(out.split('\n')[0]);
      resolve({ child, info, stop: () => { child.removeAllListeners('exit'); child.kill('SIGTERM'); } });
    });
  });
}

/** The emulator's dev API (POST with a JSON body, GET without one). */
export async function dev(info, p, body) {
  const headers = { 'x-cotter-dev-token': info.dev_token };
  const r = await fetch(info.dev_url + p, body === undefined ? { headers }
    : { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`dev ${p}: HTTP ${r.status}`);
  return r.json();
}

/** `n` fresh refresh tokens (logins through the dev API, 50 at a time). */
export async function refreshTokens(info, n, prefix = 'bench') {
  const out = [];
  while (out.length < n) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, n - out.length) },
      (_, i) => dev(info, '/login', { identifier: `${prefix}${out.length + i}@example.com` })));
    for (const b of batch) out.push(b.oauth_token.refresh_token);
  }
  return out;
}

/** The refresh grant through Node's fetch (undici), as a backend would write it. */
export function fetchRefresh(info) {
  const url = `${info.base_url}/token/${info.api_key_id}`;
  const headers = { API_KEY_ID: info.api_key_id, 'content-type': 'application/json' };
  return async (rt) => {
    const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ grant_type: 'refresh_token', refresh_token: rt }) });
    const body = await res.json();
    if (!body.access_token) throw new Error(`a fetch grant failed: HTTP ${res.status}`);
    return body;
  };
}
