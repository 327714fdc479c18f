/**
 * @file bench/node_event_loop.mjs
 * @brief Event-loop lag while 1,000 grant calls run at once: 1,000 concurrent `client.refresh()` calls (the
 * refresh grant) against the emulator in another process, with `perf_hooks.monitorEventLoopDelay` sampling every
 * millisecond. The same burst through Node's fetch is measured for scale. JSON lines:
 *  - node_event_loop_lag_p99_ms   ratio = p99 lag in ms (target ≤ 10 ms), ops_per_sec = grants/s of the burst;
 *  - node_fetch_event_loop_p99_ms the same with fetch (informational; it parses JSON on the loop).
 * Usage: node bench/node_event_loop.mjs [--calls N] [--rounds N]
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ROOT, arg, median, require } from './node_common.mjs';

const calls = Number(arg('calls', '1000'));
const rounds = Number(arg('rounds', '3'));
const { Client } = require('./');

function startEmulator() {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'emulator/bin/cotter-emulator.js'), '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.on('exit', (code) => reject(new Error(`emulator exited (${code})`)));
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve({ child, info: JSON.parse(out.split('\n')[0]) });
    });
  });
}

async function dev(info, p, body) {
  const r = await fetch(info.dev_url + p, { method: 'POST', headers: { 'content-type': 'application/json', 'x-cotter-dev-token': info.dev_token },
    body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`dev ${p}: HTTP ${r.status}`);
  return r.json();
}

/** `calls` fresh refresh tokens (logins through the dev API, 50 at a time). */
async function refreshTokens(info) {
  const out = [];
  while (out.length < calls) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, calls - out.length) },
      (_, i) => dev(info, '/login', { identifier: `lag${out.length + i}@example.com` })));
    for (const b of batch) out.push(b.oauth_token.refresh_token);
  }
  return out;
}

/** Runs `burst()` while sampling the loop; returns { p99, max, seconds } in ms / s. */
async function measure(burst) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  await new Promise((r) => setTimeout(r, 20));
  h.enable();
  const t0 = process.hrtime.bigint();
  await burst();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  h.disable();
  return { p99: h.percentile(99) / 1e6, max: h.max / 1e6, seconds };
}

const { child, info } = await startEmulator();
try {
  const client = new Client({ apiKeyId: info.api_key_id, apiSecretKey: info.api_secret_key, baseUrl: info.base_url });
  const refreshUrl = `${info.base_url}/token/${info.api_key_id}`;
  const ours = [];
  const peer = [];
  // Warm-up: connections, thread pool, JIT.
  await Promise.all((await refreshTokens(info)).slice(0, 64).map((rt) => client.refresh(rt)));
  for (let r = 0; r < rounds; r++) {
    let rts = await refreshTokens(info);
    ours.push(await measure(async () => {
      const res = await Promise.all(rts.map((rt) => client.refresh(rt)));
      if (res.length !== calls || !res.every((t) => t.accessToken)) throw new Error('a grant failed');
    }));
    rts = await refreshTokens(info);
    peer.push(await measure(async () => {
      await Promise.all(rts.map(async (rt) => {
        const res = await fetch(refreshUrl, {
          method: 'POST', headers: { API_KEY_ID: info.api_key_id, 'content-type': 'application/json' },
          body: JSON.stringify({ grant_type: 'refresh_token', refresh_token: rt }),
        });
        if (!(await res.json()).access_token) throw new Error('a fetch grant failed');
      }));
    }));
  }
  client.close();
  const line = (bench, runs, extra) => {
    const p99 = median(runs.map((x) => x.p99));
    process.stdout.write(JSON.stringify({
      bench, ops_per_sec: Math.round(calls / median(runs.map((x) => x.seconds))), baseline: 'p99 lag in ms (lower is better)',
      ratio: Math.round(p99 * 100) / 100, p99_ms: Math.round(p99 * 100) / 100, max_ms: Math.round(median(runs.map((x) => x.max)) * 100) / 100,
      concurrent_calls: calls, ...extra,
    }) + '\n');
  };
  line('node_event_loop_lag_p99_ms', ours, {});
  line('node_fetch_event_loop_p99_ms', peer, {});
} finally {
  child.removeAllListeners('exit');
  child.kill('SIGTERM');
}
