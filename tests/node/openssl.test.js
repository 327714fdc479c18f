'use strict';
// OpenSSL isolation (docs/node.md): cotter.node exports only the Node-API entry points and never binds an
// OpenSSL or libcurl symbol to Node's own copy; and it works in one process with node:crypto and node:https
// under load (a local https server with a throwaway certificate) while verifications and TLS grants run.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');
const { promisify } = require('node:util');
const { Client, Verifier } = require('cotter-native');
const { startEmulator, ROOT } = require('./helpers/emulator');

const addonPath = findAddon();
function findAddon() {
  // The same file node/lib/index.js loads (COTTER_NODE_ADDON, e.g. the ASan build of tests/leaks/node_asan.sh).
  if (process.env.COTTER_NODE_ADDON) return path.resolve(process.env.COTTER_NODE_ADDON);
  for (const c of ['Release', 'RelWithDebInfo', 'Debug']) {
    const f = path.join(ROOT, 'build/node', c, 'cotter.node');
    if (fs.existsSync(f)) return f;
  }
  throw new Error('cotter.node not built');
}
const TLS_SYMBOL = /^(SSL|SSL_CTX|EVP|CRYPTO|OPENSSL|BIO|X509|PEM|ERR|RAND|TLS|ENGINE|OSSL|ASN1|BN|EC|ECDSA|curl)_/;

let emu;
let dir;
before(async () => {
  emu = await startEmulator(['--tls']);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cotter-native-openssl-'));
});
after(async () => {
  await emu.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the addon exports only the Node-API entry points and imports no TLS symbol', () => {
  const defined = execFileSync('nm', ['-D', '--defined-only', addonPath], { encoding: 'utf8' })
    .split('\n').filter(Boolean).map((l) => l.trim().split(/\s+/).pop()).sort();
  assert.deepEqual(defined.filter((s) => s !== 'node_api_module_get_api_version_v1'), ['napi_register_module_v1']);
  const undefinedSyms = execFileSync('nm', ['-D', '--undefined-only', addonPath], { encoding: 'utf8' })
    .split('\n').filter(Boolean).map((l) => l.trim().split(/\s+/).pop().replace(/@.*$/, ''));
  assert.deepEqual(undefinedSyms.filter((s) => TLS_SYMBOL.test(s)), []);
  const needed = execFileSync('readelf', ['-d', addonPath], { encoding: 'utf8' });
  assert.doesNotMatch(needed, /\[(libssl|libcrypto|libcurl)\.so/);
});

test('LD_DEBUG=bindings: nothing in cotter.node binds to Node\'s OpenSSL, even with every symbol bound now', (t) => {
  const script = `
    const { Client, Verifier } = require(${JSON.stringify(path.join(ROOT, 'node/lib/index.js'))});
    const info = JSON.parse(process.env.EMU);
    (async () => {
      require('node:crypto').createHash('sha256').update('x').digest();
      const c = new Client({ apiKeyId: info.api_key_id, baseUrl: info.base_url, caFile: info.ca_file });
      const u = await c.createUser('ld@example.com');
      const v = new Verifier({ audience: info.api_key_id, baseUrl: info.base_url, caFile: info.ca_file });
      await v.refresh();
      console.log('ok ' + u.identifier);
      const maps = require('node:fs').readFileSync('/proc/self/maps', 'utf8').split(String.fromCharCode(10));
      const files = maps.map((l) => l.split(' ').pop()).filter((f) => ['libssl.so', 'libcrypto.so', 'libcurl.so', 'libssh2.so'].some((n) => f.includes(n)));
      console.log('mapped: ' + [...new Set(files)].join(' '));
      c.close(); v.close();
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const prefix = path.join(dir, 'ld');
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60000,
    env: { ...process.env, EMU: JSON.stringify(emu.info), LD_DEBUG: 'bindings', LD_BIND_NOW: '1', LD_DEBUG_OUTPUT: prefix } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /ok ld@example\.com/);
  // No system libssl, libcrypto, libcurl or libssh2 is even loaded: nothing in the process can mix with Node's.
  assert.match(r.stdout, /^mapped: $/m);
  const logs = fs.readdirSync(dir).filter((f) => f.startsWith('ld.')).map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).join('\n');
  const bindings = logs.split('\n').map((l) => /binding file (\S+) \[\d+\] to (\S+) \[\d+\]: normal symbol `([^']+)'/.exec(l)).filter(Boolean);
  const fromAddon = bindings.filter((m) => m[1].endsWith('cotter.node'));
  assert.ok(fromAddon.length > 10, 'the log shows the addon\'s bindings');
  const tlsFromAddon = fromAddon.filter((m) => TLS_SYMBOL.test(m[3]));
  assert.deepEqual(tlsFromAddon.map((m) => `${m[3]} -> ${m[2]}`), []);
  // Node-API comes from node, of course. Node also exports its bundled nghttp2, zlib and brotli (and libc++abi
  // bits), which the static libcurl's references bind to: ABI-stable C libraries used as one copy (docs/node.md).
  const toNode = fromAddon.filter((m) => m[2] === process.execPath || path.basename(m[2]) === 'node');
  assert.ok(toNode.some((m) => m[3] === 'napi_create_function'));
  const others = [...new Set(toNode.filter((m) => !/^(napi_|node_api_)/.test(m[3])).map((m) => m[3].replace(/^(nghttp2|Brotli[A-Za-z]*|_Z[A-Za-z0-9]{0,12}).*$/, '$1*')))];
  t.diagnostic(`bound to node besides Node-API: ${others.join(' ')}`);
  assert.ok(!bindings.some((m) => /lib(curl|ssl|crypto|ssh2)\.so/.test(m[1])), 'no system TLS library is loaded');
});

test('node:https and node:crypto under load in the same process as TLS grants and verifications', async () => {
  // A throwaway P-256 certificate for 127.0.0.1.
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key,
    '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const server = https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, (req, res) => {
    const h = crypto.createHash('sha256').update(req.url).digest('hex');
    res.end(h);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  const agent = new https.Agent({ keepAlive: true, maxSockets: 16, ca: fs.readFileSync(cert) });
  const get = (i) => new Promise((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, path: `/r${i}`, agent }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });

  const client = new Client({ apiKeyId: emu.info.api_key_id, apiSecretKey: emu.info.api_secret_key, baseUrl: emu.info.base_url, caFile: emu.info.ca_file });
  const verifier = new Verifier({ audience: emu.info.api_key_id, baseUrl: emu.info.base_url, caFile: emu.info.ca_file });
  const { identity_token: it } = await emu.dev('/identity_token', { identifier: 'mix@example.com' });
  const tok = await emu.login('mix@example.com');
  const { privateKey, publicKey } = await promisify(crypto.generateKeyPair)('ec', { namedCurve: 'P-256' });

  const https400 = Array.from({ length: 400 }, (_, i) => get(i).then((b) => assert.equal(b, crypto.createHash('sha256').update(`/r${i}`).digest('hex'))));
  const grants = Array.from({ length: 100 }, () => client.exchangeIdentityToken(it).then((t) => verifier.verify(t.accessToken))
    .then((c) => assert.equal(c.identifier, 'mix@example.com')));
  const verifies = Array.from({ length: 400 }, () => verifier.verify(tok.access_token).then((c) => assert.equal(c.identifier, 'mix@example.com')));
  const cryptoWork = Array.from({ length: 200 }, async (_, i) => {
    const data = Buffer.from(`message ${i}`);
    const sig = crypto.sign('sha256', data, privateKey);
    assert.ok(crypto.verify('sha256', data, publicKey, sig));
    assert.equal((await promisify(crypto.pbkdf2)('pw', 'salt', 1000, 32, 'sha256')).length, 32);
    assert.equal(crypto.randomBytes(16).length, 16);
  });
  const syncVerifies = Array.from({ length: 200 }, () => verifier.verifySync(tok.access_token).identifier);

  await Promise.all([...https400, ...grants, ...verifies, ...cryptoWork]);
  assert.ok(syncVerifies.every((x) => x === 'mix@example.com'));
  agent.destroy();
  await new Promise((r) => server.close(r));
  client.close();
  verifier.close();
});
