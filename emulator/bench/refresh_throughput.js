#!/usr/bin/env node
'use strict';
/**
 * @file bench/refresh_throughput.js
 * @brief Refresh-grant throughput of the emulator on keep-alive connections.
 *
 * Spawns the emulator binary in its own process (so the server has one core to itself and
 * the load generator another), creates CHAINS users, and runs one refresh chain per user
 * concurrently (each request uses the refresh token the previous one returned) over SOCKETS
 * keep-alive connections for DURATION seconds. Prints one JSON line:
 *   {"bench":"emulator_refresh","ops_per_sec":...,"requests":...,"errors":...,"seconds":...,"chains":...,
 *    "connections":...,"server_cpu":...,"server_us_per_req":...,"ops_per_server_cpu_sec":...,
 *    "client_cpu":...,"client":...,"sign_batch_mean":...}
 *
 * --client raw (default): the requests an SDK sends (same headers and JSON body), written as bytes
 *   on keep-alive net sockets, with a minimal Content-Length response parser. It costs the load
 *   generator ~30 µs of CPU per request, so the server (~145 µs) is what limits the run.
 * --client agent: node:http requests through an http.Agent. That client needs ~110 µs per request,
 *   so on a machine where other work shares its core it, not the server, sets the pace (then
 *   server_cpu drops well below 1.0).
 * server_us_per_req is the server's CPU time per request: on a busy machine it moves much less
 * than ops_per_sec, so compare it too.
 *
 * Usage: node emulator/bench/refresh_throughput.js [--seconds 5] [--chains 64] [--sockets 16]
 *        [--client agent|raw] [--no-pin]
 */
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const fs = require('node:fs');
const { spawn } = require('node:child_process');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const SECONDS = arg('--seconds', 5);
const CHAINS = arg('--chains', 64);
const SOCKETS = arg('--sockets', 16);
const PIN = !process.argv.includes('--no-pin');
const CLIENT = (() => { const i = process.argv.indexOf('--client'); return i > 0 ? process.argv[i + 1] : 'raw'; })();
if (CLIENT !== 'agent' && CLIENT !== 'raw') { console.error('--client must be agent or raw'); process.exit(2); }
const RT_RE = /"refresh_token":"([^"]+)"/;

function startServer() {
  return new Promise((resolve, reject) => {
    // EMULATOR_NODE_ARGS lets a profiler in (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
    const extra = (process.env.EMULATOR_NODE_ARGS || '').split(' ').filter(Boolean);
    // Pin the server to one core (taskset) when we can, so the number is "per core" and the
    // load generator does not steal from it.
    let cmd = process.execPath;
    let args = [...extra, path.join(__dirname, '..', 'bin', 'cotter-emulator.js')];
    if (PIN && fs.existsSync('/usr/bin/taskset')) { args = ['-c', '0', cmd, ...args]; cmd = '/usr/bin/taskset'; }
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve({ child, info: JSON.parse(out.split('\n')[0]) });
    });
    child.on('exit', (c) => reject(new Error(`emulator exited ${c}`)));
  });
}

function post(agent, url, headers, body) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const r = http.request(url, { method: 'POST', agent, headers: { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    r.on('error', reject);
    r.end(data);
  });
}

/** CPU seconds (user+system) used so far by process `pid`, from /proc (null elsewhere). */
function cpuSeconds(pid) {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime in clock ticks (USER_HZ = 100)
  } catch { return null; }
}

/**
 * A keep-alive connection for --client raw: request(bytes) resolves to {status, body} once the
 * whole response (Content-Length framing; the emulator always sends it) has arrived.
 */
function rawConnection(host, port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host, () => { socket.removeListener('error', reject); resolve(conn); });
    socket.once('error', reject);
    socket.setNoDelay(true);
    let buf = '';
    let pending = null;
    const conn = {
      socket,
      request(bytes) {
        return new Promise((res, rej) => { pending = { res, rej }; socket.write(bytes); });
      },
    };
    socket.setEncoding('latin1'); // byte-exact lengths; the bodies are ASCII JSON
    socket.on('data', (d) => {
      buf += d;
      const he = buf.indexOf('\r\n\r\n');
      if (he < 0 || !pending) return;
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(buf.slice(0, he));
      if (!m) { pending.rej(new Error('response without Content-Length')); pending = null; return; }
      const end = he + 4 + Number(m[1]);
      if (buf.length < end) return;
      const r = { status: Number(buf.slice(9, 12)), body: buf.slice(he + 4, end) };
      buf = buf.slice(end);
      const p = pending;
      pending = null;
      p.res(r);
    });
    socket.on('error', (e) => { if (pending) { pending.rej(e); pending = null; } });
    socket.on('close', () => { if (pending) { pending.rej(new Error('connection closed')); pending = null; } });
  });
}

function get(agent, url, headers = {}) {
  return new Promise((resolve, reject) => {
    http.get(url, { agent, headers }, (res) => {
      let b = '';
      res.on('data', (c) => { b += c; });
      res.on('end', () => resolve({ status: res.statusCode, body: b }));
    }).on('error', reject);
  });
}

async function main() {
  // The load generator runs on the other core.
  if (PIN && fs.existsSync('/usr/bin/taskset')) {
    try { require('node:child_process').execFileSync('/usr/bin/taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' }); } catch { /* single core */ }
  }
  const { child, info } = await startServer();
  try {
    const agent = new http.Agent({ keepAlive: true, maxSockets: SOCKETS });
    const refreshUrl = `${info.base_url}/token/${info.api_key_id}`;
    const headers = { API_KEY_ID: info.api_key_id };
    const devHeaders = { 'X-Cotter-Dev-Token': info.dev_token };
    const chains = [];
    for (let i = 0; i < CHAINS; i++) {
      const r = await post(agent, `${info.dev_url}/login`, devHeaders, { identifier: `bench${i}@example.com` });
      chains.push(JSON.parse(r.body).oauth_token.refresh_token);
    }
    await post(agent, `${info.dev_url}/stats/reset`, devHeaders, {});

    let requests = 0;
    let errors = 0;
    const deadline = Date.now() + SECONDS * 1000;
    const cpu0 = cpuSeconds(child.pid);
    const ccpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    if (CLIENT === 'agent') {
      await Promise.all(chains.map(async (rt) => {
        while (Date.now() < deadline) {
          const r = await post(agent, refreshUrl, headers, { grant_type: 'refresh_token', refresh_token: rt });
          requests++;
          if (r.status !== 200) { errors++; break; }
          rt = RT_RE.exec(r.body)[1];
        }
      }));
    } else {
      // One loop per socket, each serving its share of the chains in turn (one request in flight
      // per socket, as with the agent).
      const u = new URL(refreshUrl);
      const head = `POST ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nAPI_KEY_ID: ${info.api_key_id}\r\n` +
        'Content-Type: application/json\r\nConnection: keep-alive\r\nContent-Length: ';
      const per = Array.from({ length: Math.min(SOCKETS, CHAINS) }, () => []);
      chains.forEach((rt, i) => per[i % per.length].push(rt));
      await Promise.all(per.map(async (mine) => {
        const c = await rawConnection(u.hostname, Number(u.port));
        try {
          for (let i = 0; Date.now() < deadline; i = (i + 1) % mine.length) {
            const body = `{"grant_type":"refresh_token","refresh_token":"${mine[i]}"}`;
            const r = await c.request(head + Buffer.byteLength(body) + '\r\n\r\n' + body);
            requests++;
            if (r.status !== 200) { errors++; break; }
            mine[i] = RT_RE.exec(r.body)[1];
          }
        } finally { c.socket.destroy(); }
      }));
    }
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu1 = cpuSeconds(child.pid);
    const cc = process.cpuUsage(ccpu0);
    const serverCpu = cpu0 === null || cpu1 === null ? null : Number(((cpu1 - cpu0) / secs).toFixed(2));
    const serverUs = cpu0 === null || cpu1 === null || !requests ? null : Number(((cpu1 - cpu0) * 1e6 / requests).toFixed(1));
    const stats = JSON.parse((await get(agent, `${info.dev_url}/stats`, devHeaders)).body || '{}');
    agent.destroy();
    process.stdout.write(JSON.stringify({
      bench: 'emulator_refresh', ops_per_sec: Math.round(requests / secs), requests, errors, seconds: Number(secs.toFixed(2)),
      chains: CHAINS, sockets: SOCKETS, connections: stats.connections ?? null,
      server_cpu: serverCpu, // fraction of one core the server used; ~1.0 means the server was the bottleneck
      server_us_per_req: serverUs, // server CPU microseconds per request
      // Requests per second of server CPU: what a core the server had to itself would do. On a busy
      // machine the server gets only part of its core, and ops_per_sec falls while this does not.
      ops_per_server_cpu_sec: serverUs ? Math.round(1e6 / serverUs) : null,
      client_cpu: Number(((cc.user + cc.system) / 1e6 / secs).toFixed(2)), // the load generator's share of its core
      client: CLIENT,
      // Grant responses signed per batch (lib/tokens.js issueBatched): how many requests were
      // handled in one event-loop turn.
      sign_batch_mean: stats.sign_batches && stats.sign_batches.batches
        ? Number((stats.sign_batches.responses / stats.sign_batches.batches).toFixed(1)) : null,
    }) + '\n');
    if (errors) process.exitCode = 1;
  } finally {
    child.kill('SIGTERM');
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
