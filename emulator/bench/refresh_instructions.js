#!/usr/bin/env node
'use strict';
/**
 * @file bench/refresh_instructions.js
 * @brief CPU instructions the emulator server spends per refresh grant, counted by valgrind's callgrind. Unlike
 *        refresh_throughput.js this does not depend on how busy the machine is, so it can compare two versions
 *        of the server on a loaded machine (at ~50x slower speed: a few minutes).
 *
 * Runs the server (bin/cotter-emulator.js of EMULATOR_DIR, default this checkout) twice under callgrind: once with
 * only the 16 logins, once with N more refreshes over 8 keep-alive connections; prints one JSON line
 * {"bench":"emulator_refresh_instructions","n":N,"instructions_per_refresh":...,"startup_instructions":...}.
 *
 * Usage: node emulator/bench/refresh_instructions.js [N=1500] [EMULATOR_DIR]   (needs valgrind)
 */
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const N = Number(process.argv[2] || 1500);
const DIR = process.argv[3] || path.join(__dirname, '..', '..');

/** Total instructions of one server run that serves `n` refreshes. */
function run(n) {
  const out = path.join(os.tmpdir(), `cotter-emu-callgrind.${process.pid}.${n}`);
  const child = spawn('valgrind', ['--tool=callgrind', '--smc-check=all-non-file', `--callgrind-out-file=${out}`,
    process.execPath, path.join(DIR, 'emulator', 'bin', 'cotter-emulator.js')], { stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise((resolve, reject) => {
    let buf = '';
    let started = false;
    child.on('error', reject);
    child.stdout.on('data', (d) => {
      buf += d;
      if (started || !buf.includes('\n')) return;
      started = true;
      drive(JSON.parse(buf.split('\n')[0]), n).then(() => child.kill('SIGTERM'), (e) => { child.kill('SIGKILL'); reject(e); });
    });
    child.on('exit', () => {
      try {
        const m = /^(?:summary|totals): (\d+)/m.exec(fs.readFileSync(out, 'utf8'));
        fs.rmSync(out, { force: true });
        if (!m) throw new Error('no callgrind total');
        resolve(Number(m[1]));
      } catch (e) { reject(e); }
    });
  });
}

async function drive(info, n) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const post = (url, headers, body) => new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const r = http.request(url, { method: 'POST', agent, headers: { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } }, (res) => {
      let b = '';
      res.on('data', (c) => { b += c; });
      res.on('end', () => resolve(JSON.parse(b)));
    });
    r.on('error', reject);
    r.end(data);
  });
  const dev = info.dev_token ? { 'X-Cotter-Dev-Token': info.dev_token } : {}; // older versions had no dev token
  const chains = [];
  for (let i = 0; i < 16; i++) chains.push((await post(`${info.dev_url}/login`, dev, { identifier: `bench${i}@example.com` })).oauth_token.refresh_token);
  const url = `${info.base_url}/token/${info.api_key_id}`;
  let sent = 0;
  await Promise.all(chains.map(async (first) => {
    let rt = first;
    while (sent < n) {
      sent++;
      rt = (await post(url, { API_KEY_ID: info.api_key_id }, { grant_type: 'refresh_token', refresh_token: rt })).refresh_token;
      if (!rt) throw new Error('a refresh failed');
    }
  }));
  agent.destroy();
}

(async () => {
  const base = await run(0);
  const total = await run(N);
  process.stdout.write(JSON.stringify({ bench: 'emulator_refresh_instructions', n: N, dir: DIR,
    instructions_per_refresh: Math.round((total - base) / N), startup_instructions: base }) + '\n');
})().catch((e) => { process.stderr.write(`${e.stack}\n`); process.exit(1); });
