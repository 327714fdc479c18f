'use strict';
/**
 * @file tests/node/helpers/shared_store_child.js
 * @brief One replica of tests/node/shared_store.test.js: a process with its own client, RedisStore (ioredis,
 *        standalone or Cluster) and one TokenSession per shared session id. Driven by lines on stdin:
 *          `go`   -> every session's getAccessToken once, in a random order, `lanes` calls in flight at once;
 *                    answers one JSON line {ok, errors: {CODE: n}, bad} (bad: a result that is not a JWT)
 *          `exit` -> closes everything, exits 0.
 *        argv[2]: JSON {baseUrl, apiKeyId, apiSecretKey, redis (helpers/redis.js connect URL), prefix, ids, lanes}.
 */
const readline = require('node:readline');
const { Client, TokenSession, RedisStore } = require('../../../node/lib/index.js');
const { connect } = require('./redis');

const cfg = JSON.parse(process.argv[2]);
const redis = connect(cfg.redis);
redis.on('error', () => {});  // reported through the calls that fail
const store = new RedisStore(redis, { keyPrefix: cfg.prefix });
const client = new Client({ apiKeyId: cfg.apiKeyId, apiSecretKey: cfg.apiSecretKey, baseUrl: cfg.baseUrl });
const sessions = cfg.ids.map((id) => new TokenSession(client, { sharedStore: store, sharedSessionId: id }));

async function round() {
  const order = sessions.map((s, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const out = { ok: 0, errors: {}, bad: 0 };
  let next = 0;
  async function lane() {
    while (next < order.length) {
      const s = sessions[order[next++]];
      try {
        const t = await s.getAccessToken();
        if (typeof t === 'string' && t.split('.').length === 3) out.ok++;
        else out.bad++;
      } catch (e) {
        out.errors[e.code] = (out.errors[e.code] || 0) + 1;
        if (out.errors[e.code] === 1) process.stderr.write(`${e.code}: ${e.message}\n`);
      }
    }
  }
  await Promise.all(Array.from({ length: cfg.lanes }, lane));
  return out;
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  if (line === 'go') {
    process.stdout.write(`${JSON.stringify(await round())}\n`);
  } else if (line === 'exit') {
    for (const s of sessions) s.close();
    store.close();
    client.close();
    redis.disconnect();
    rl.close();
    process.stdin.destroy();
  }
});
process.stdout.write('ready\n');
