/**
 * @file bench/verify_instructions.mjs
 * @brief Instructions per async verification on Node's JS thread and on the addon's verify threads, counted by
 * valgrind's callgrind: a figure the machine's load does not move, for A/B comparisons of addon builds on a shared
 * machine (where the JS thread's CPU time per verification varies 5–9 µs from slice to slice; issue 12).
 * Not run by bench/run (its name is not node_*): a development tool (about a minute of CPU per addon at the default
 * count; minutes of wall time on a loaded machine).
 *
 * Each addon is run twice under callgrind (--separate-threads), `--count` and 3 × `--count` verifications with 64 in
 * flight after as many for warm-up, straight through the addon's NativeVerifier (no index.js); the difference of
 * the two runs' totals per thread, over the extra verifications, cancels start-up and teardown.
 * `--cache 1024` (the default) hits the token cache: the verify threads barely work, and the JS thread's pipeline
 * (promise, settling, JSON.parse of the claims, continuation) is what is counted. `--cache 0` counts real ECDSA
 * verifications (slow under valgrind: use a smaller --count). Under valgrind threads run one at a time, so batches
 * are smaller than on real cores: compare builds with each other, not with wall-clock figures.
 * Usage: node bench/verify_instructions.mjs [--count N] [--cache N] NAME=ADDON.node [NAME=ADDON.node ...]
 * Prints one JSON line per addon: {"addon", "js_thread_instructions", "verify_threads_instructions", "cache"}.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { AUD, ISS, arg, material } from './node_common.mjs';

const self = fileURLToPath(import.meta.url);

if (process.argv[2] === '--child') {
  // Inside valgrind: `count` verifications of warm-up, then `count` more.
  const [, , , addon, count, cache] = process.argv;
  const m = createRequire(self)(path.resolve(addon));
  const { jwks, token } = material();
  const v = new m.NativeVerifier({ audience: AUD, issuer: ISS, jwksJson: jwks, tokenCache: Number(cache) });
  const run = async (n) => {
    let started = 0;
    await Promise.all(Array.from({ length: 64 }, async () => { while (started++ < n) await v.verify(token); }));
  };
  await run(Number(count));
  await run(Number(count));
  v.close();
} else {
  const count = Number(arg('count', '2000'));
  const cache = Number(arg('cache', '1024'));
  const addons = process.argv.slice(2).filter((a) => /^[^-][^=]*=/.test(a)).map((a) => a.split(/=(.*)/s, 2));
  if (addons.length === 0) throw new Error('usage: node bench/verify_instructions.mjs [--count N] [--cache N] NAME=ADDON.node ...');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cotter-callgrind-'));
  // Totals per thread of one callgrind run: the JS thread is part 1 (file suffix -01), the rest are other threads.
  const totals = (n, addon) => {
    const out = path.join(dir, `cg.${n}`);
    execFileSync('valgrind', ['--tool=callgrind', '--separate-threads=yes', '--smc-check=all-non-file',
      `--callgrind-out-file=${out}.%p`, process.execPath, self, '--child', addon, String(n), String(cache)],
    { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 << 20 });
    let js = 0;
    let others = 0;
    for (const f of fs.readdirSync(dir)) {
      if (!f.startsWith(`cg.${n}.`)) continue;
      const m = /^totals: (\d+)/m.exec(fs.readFileSync(path.join(dir, f), 'utf8'));
      if (m && /-01$/.test(f)) js += Number(m[1]);
      else if (m && /-\d+$/.test(f)) others += Number(m[1]);
      fs.rmSync(path.join(dir, f));
    }
    return { js, others };
  };
  for (const [name, addon] of addons) {
    const small = totals(count, addon);
    const large = totals(3 * count, addon);
    const extra = 2 * (3 * count - count);  // each run verifies its count twice (warm-up, then measured)
    process.stdout.write(JSON.stringify({
      addon: name, js_thread_instructions: Math.round((large.js - small.js) / extra),
      verify_threads_instructions: Math.round((large.others - small.others) / extra), cache,
    }) + '\n');
  }
  fs.rmSync(dir, { recursive: true, force: true });
}
