#!/usr/bin/env node
'use strict';
/**
 * @file bench/startup.js
 * @brief How long the emulator takes from `node emulator/bin/cotter-emulator.js --port 0` to its JSON line
 *        (issue #3: "starts in under a second"), plain and with --tls (which generates a CA and a certificate).
 *
 * Spawns the CLI ROUNDS times per mode, reads stdout until the first newline, checks that the line is the
 * JSON the CLI promises, then SIGTERMs it and waits for the exit. Prints one JSON line per mode:
 *   {"bench":"emulator_startup_ms","ms":<median>,"min":...,"max":...,"rounds":...}
 *   {"bench":"emulator_startup_tls_ms",...}
 * The test suite only has a hang guard (tests never time things); this is where the figure lives.
 *
 * Usage: node emulator/bench/startup.js [--rounds 15]
 */
const path = require('node:path');
const { spawn } = require('node:child_process');

const i = process.argv.indexOf('--rounds');
const ROUNDS = i > 0 ? Number(process.argv[i + 1]) : 15;
const CLI = path.join(__dirname, '..', 'bin', 'cotter-emulator.js');

function once(extra) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, [CLI, '--port', '0', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let ms = null;
    const guard = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('no JSON line within 30 s')); }, 30000);
    child.stdout.on('data', (d) => {
      if (ms !== null) return;
      out += d;
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const info = JSON.parse(out.slice(0, nl));
      if (typeof info.base_url !== 'string' || typeof info.api_key_id !== 'string') {
        reject(new Error('the first line is not the emulator JSON line'));
      }
      child.kill('SIGTERM');
    });
    child.on('exit', (code) => {
      clearTimeout(guard);
      if (ms === null) reject(new Error(`exited (${code}) before its JSON line`));
      else resolve(ms);
    });
    child.on('error', reject);
  });
}

async function main() {
  for (const [bench, extra] of [['emulator_startup_ms', []], ['emulator_startup_tls_ms', ['--tls']]]) {
    await once(extra); // warm the file cache
    const xs = [];
    for (let r = 0; r < ROUNDS; r++) xs.push(await once(extra));
    xs.sort((a, b) => a - b);
    const round = (x) => Math.round(x * 10) / 10;
    console.log(JSON.stringify({ bench, ms: round(xs[xs.length >> 1]), min: round(xs[0]), max: round(xs[xs.length - 1]), rounds: ROUNDS }));
  }
}

main().catch((e) => { console.error(`startup bench: ${e.message}`); process.exit(1); });
