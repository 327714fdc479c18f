/**
 * @file bench/client_peers.mjs
 * @brief Peer for bench/client_bench.cpp: the same Cotter calls with Node's built-in fetch (undici, keep-alive),
 * measuring this process's CPU time only (process.cpuUsage). Prints one JSON line.
 *
 * Usage: node client_peers.mjs '<json config>' (see client_peers.py).
 */
const cfg = JSON.parse(process.argv[2]);
const base = cfg.base_url;
const key = cfg.api_key_id;
const refreshUrl = `${base}/token/${key}`;
const headers = { API_KEY_ID: key, 'Content-Type': 'application/json' };

async function refresh(rt) {
  const r = await fetch(refreshUrl, {
    method: 'POST', headers, body: JSON.stringify({ grant_type: 'refresh_token', refresh_token: rt }),
  });
  if (!r.ok) throw new Error(`refresh: HTTP ${r.status}`);
  const body = await r.json();
  return body.refresh_token || rt;
}

const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };

let rt = cfg.refresh_token;
for (let i = 0; i < 20; i++) rt = await refresh(rt);
let t0 = cpu();
for (let i = 0; i < cfg.refreshes; i++) rt = await refresh(rt);
const refreshCpu = cpu() - t0;

const listUrl = `${base}/oauth/token/list/${cfg.user_id}`;
const secretHeaders = { API_KEY_ID: key, API_SECRET_KEY: cfg.api_secret_key };
let n = 0;
async function list() {
  const r = await fetch(listUrl, { headers: secretHeaders });
  if (!r.ok) throw new Error(`list: HTTP ${r.status}`);
  n = (await r.json()).length;
}
for (let i = 0; i < 3; i++) await list();
t0 = cpu();
for (let i = 0; i < cfg.lists; i++) await list();
const listCpu = cpu() - t0;
console.log(JSON.stringify({ peer: 'fetch', refresh_cpu_s: refreshCpu, refreshes: cfg.refreshes, list_cpu_s: listCpu, lists: cfg.lists, list_entries: n }));
