'use strict';
/**
 * @file tests/node/helpers/redis.js
 * @brief Real Redis for the shared-store tests: Debian's `redis-server` started in a temp dir (no persistence),
 *        standalone on a Unix socket or as a 3-master cluster on loopback ports, killed when the test process ends.
 *
 *   const { startRedis, startCluster } = require('./helpers/redis');
 *   const r = await startRedis();            // r.sock, r.url ('unix:<sock>'), r.admin (ioredis), await r.kill()
 *   const c = await startCluster();          // c.nodes [{host, port}], c.url ('redis-cluster://...'), await c.stop()
 */
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const Redis = require('ioredis');

const live = new Set();
process.on('exit', () => { for (const p of live) { try { p.kill('SIGKILL'); } catch { /* gone */ } } });

const pause = (ms) => new Promise((r) => setTimeout(r, ms));

function spawnRedis(args, dir) {
  const log = fs.openSync(path.join(dir, `redis-${live.size}.log`), 'a');
  const p = spawn('redis-server', [...args, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir],
    { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  live.add(p);
  const exited = new Promise((r) => p.once('exit', r));
  p.once('error', () => {});
  return { proc: p, exited };
}

/** Polls PING (up to 20 s on a loaded machine: a readiness wait, not a measurement). */
async function waitReady(options) {
  for (let i = 0; i < 400; i++) {
    const c = new Redis({ ...options, lazyConnect: true, retryStrategy: null, maxRetriesPerRequest: 0 });
    c.on('error', () => {});
    try {
      await c.connect();
      if ((await c.ping()) === 'PONG') return c;
    } catch { /* not yet */ }
    c.disconnect();
    await pause(50);
  }
  throw new Error(`redis-server did not answer PING at ${JSON.stringify(options)}`);
}

/** A standalone redis-server on a Unix socket of a fresh temp dir (its socket file stays after a SIGKILL: refused). */
async function startRedis() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cotter-redis-'));
  const sock = path.join(dir, 'redis.sock');
  const { proc, exited } = spawnRedis(['--port', '0', '--unixsocket', sock, '--unixsocketperm', '700'], dir);
  const admin = await waitReady({ path: sock });
  async function kill() {
    admin.disconnect();
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
    live.delete(proc);
  }
  return { dir, sock, url: `unix:${sock}`, admin, kill, pid: proc.pid };
}

/** A port P with P and P + 10000 (the cluster bus) both free right now. */
async function clusterPort() {
  const listen = (port) => new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(null));
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const a = await listen(port);
    const b = a && await listen(port + 10000);
    if (a) a.close();
    if (b) b.close();
    if (a && b) return port;
  }
}

/** Script calls (EVALSHA + EVAL) counted by `INFO commandstats` since the last CONFIG RESETSTAT. */
async function scriptCalls(admin) {
  const info = await admin.info('commandstats');
  let n = 0;
  for (const m of info.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+)/gm)) n += Number(m[2]);
  return n;
}

/**
 * Three masters (`redis-server --cluster-enabled yes` x3, `redis-cli --cluster create`), waited for until every
 * node says cluster_state:ok. A node that cannot bind its port (taken meanwhile) makes the whole start retry.
 */
async function startCluster() {
  for (let attempt = 0; ; attempt++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cotter-cluster-'));
    const ports = [];
    while (ports.length < 3) {
      const p = await clusterPort();
      if (!ports.includes(p)) ports.push(p);
    }
    const procs = ports.map((port) => spawnRedis(['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes',
      '--cluster-config-file', path.join(dir, `nodes-${port}.conf`), '--dbfilename', `dump-${port}.rdb`], dir));
    const stop = async () => {
      for (const { proc, exited } of procs) {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
        await exited;
        live.delete(proc);
      }
    };
    try {
      const admins = [];
      for (const port of ports) admins.push(await waitReady({ host: '127.0.0.1', port }));
      const create = spawn('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`),
        '--cluster-replicas', '0', '--cluster-yes'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      create.stderr.on('data', (d) => { err += d; });
      const code = await new Promise((r) => create.once('exit', r));
      if (code !== 0) throw new Error(`redis-cli --cluster create: exit ${code}: ${err}`);
      for (let i = 0; i < 600; i++) {
        const states = await Promise.all(admins.map((a) => a.cluster('INFO')));
        if (states.every((s) => /cluster_state:ok/.test(s))) break;
        if (i === 599) throw new Error('the cluster did not reach cluster_state:ok');
        await pause(50);
      }
      for (const a of admins) a.disconnect();
      const nodes = ports.map((port) => ({ host: '127.0.0.1', port }));
      return { nodes, url: `redis-cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`, stop };
    } catch (e) {
      await stop();
      if (attempt >= 2) throw e;
    }
  }
}

/** An ioredis client for a URL of startRedis/startCluster (`unix:<path>` or `redis-cluster://h:p,...`). */
function connect(url, options = {}) {
  if (url.startsWith('redis-cluster://')) {
    const nodes = url.slice('redis-cluster://'.length).split(',').map((hp) => {
      const [host, port] = hp.split(':');
      return { host, port: Number(port) };
    });
    return new Redis.Cluster(nodes, { redisOptions: options });
  }
  if (url.startsWith('unix:')) return new Redis({ path: url.slice(5), ...options });
  return new Redis(url, options);
}

module.exports = { startRedis, startCluster, scriptCalls, connect };
