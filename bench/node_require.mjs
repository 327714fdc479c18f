/**
 * @file bench/node_require.mjs
 * @brief Cold `require('cotter-native')` time (the package root, addon included), each in a fresh process, median of
 * N; jsonwebtoken and jose measured the same way for scale. JSON lines {"bench","ops_per_sec","baseline","ratio","ms"}:
 * for node_require_cotter the ratio is the time in ms (target ≤ 50 ms).
 * Usage: node bench/node_require.mjs [--runs N]
 */
import { execFileSync } from 'node:child_process';
import { ROOT, arg, median } from './node_common.mjs';

const runs = Number(arg('runs', '11'));

function coldMs(code) {
  const samples = [];
  for (let i = 0; i < runs; i++) {
    const out = execFileSync(process.execPath, ['-e', `const t = performance.now(); ${code}; process.stdout.write(String(performance.now() - t));`],
      { cwd: ROOT, encoding: 'utf8' });
    samples.push(Number(out));
  }
  return median(samples);
}

const line = (bench, ms) => process.stdout.write(JSON.stringify({
  bench, ops_per_sec: Math.round((1000 / ms) * 10) / 10, baseline: 'ms (lower is better)', ratio: Math.round(ms * 100) / 100, ms: Math.round(ms * 100) / 100,
}) + '\n');

line('node_require_cotter', coldMs(`require(${JSON.stringify(ROOT)})`));
line('node_peer_require_jsonwebtoken', coldMs("require('jsonwebtoken')"));
line('node_peer_require_jose', coldMs("require('jose')"));
