'use strict';
// The package surface: CommonJS and ESM entry points export the same names (the contract of issue #6),
// index.d.ts declares every runtime export, and the teammate's middleware/compat join when their files exist.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { ROOT } = require('./helpers/emulator');

const CONTRACT = ['Client', 'Verifier', 'TokenSession', 'CotterError', 'pkce', 'loginUrl', 'parseLoginRedirect', 'version'];

test('CommonJS exports the contract, typed', () => {
  const c = require('cotter-native');
  for (const name of CONTRACT) assert.ok(name in c, name);
  for (const name of ['Client', 'Verifier', 'TokenSession', 'CotterError', 'Token']) assert.equal(typeof c[name], 'function', name);
  assert.match(c.version, /^\d+\.\d+\.\d+$/);
  assert.equal(c.version, require(path.join(ROOT, 'package.json')).version);
  assert.ok(new c.CotterError('x', { code: 'COTTER_EINVAL' }) instanceof Error);
  assert.equal(c.codes.COTTER_EJWT_EXPIRED, -31);
  assert.equal(c.codes.COTTER_ELEGACY_CLAIM, -51);
});

test('codes has every status of cotter.h (COTTER_ECANCELED included), and index.d.ts names each one', () => {
  const { codes } = require('cotter-native');
  const header = fs.readFileSync(path.join(ROOT, 'capi/include/cotter.h'), 'utf8');
  const statuses = [...header.matchAll(/\b(COTTER_E[A-Z0-9_]+)\s*=\s*(-\d+)/g)].map((m) => [m[1], Number(m[2])]);
  assert.ok(statuses.length >= 30, `parsed ${statuses.length} statuses`);
  assert.deepEqual(Object.entries(codes).filter(([n]) => n !== 'COTTER_OK').sort(), statuses.sort());
  assert.equal(codes.COTTER_ECANCELED, -15);
  const dts = fs.readFileSync(path.join(ROOT, 'node/lib/index.d.ts'), 'utf8');
  const union = /export type CotterErrorCode =([^;]+);/.exec(dts)[1];
  for (const [name] of statuses) assert.ok(union.includes(`'${name}'`), `${name} is missing from CotterErrorCode`);
});

test('codes (generated from capi/abi.json) are what the addon itself names each status', () => {
  const { codes } = require('cotter-native');
  // The addon node/lib/index.js loads (as tests/node/openssl.test.js finds it).
  const candidates = [process.env.COTTER_NODE_ADDON,
    ...['Release', 'RelWithDebInfo', 'Debug'].map((c) => path.join(ROOT, 'build/node', c, 'cotter.node'))];
  const file = candidates.find((f) => f && fs.existsSync(f));
  assert.ok(file, 'cotter.node not built');
  const native = require(path.resolve(file));
  for (const [name, n] of Object.entries(codes)) assert.equal(native.statusName(n), name, `status ${n}`);
  // ... and the addon knows no status the table lacks (the range cotter.h allows: 0..-999).
  for (let n = 0; n >= -999; n--) {
    const name = native.statusName(n);
    if (name !== 'COTTER_EUNKNOWN') assert.equal(codes[name], n, `${name} is missing from codes`);
  }
});

test('ESM exports the same names as CommonJS, and the same objects', async () => {
  const cjs = require('cotter-native');
  const esm = await import('cotter-native');
  const names = Object.keys(esm).filter((n) => n !== 'default' && esm[n] !== undefined).sort();
  assert.deepEqual(names, Object.keys(cjs).sort());
  for (const n of names) assert.equal(esm[n], cjs[n], n);
  assert.equal(esm.default, cjs);
});

test('index.d.ts declares every runtime export', () => {
  const cjs = require('cotter-native');
  const dts = fs.readFileSync(path.join(ROOT, 'node/lib/index.d.ts'), 'utf8');
  const extra = ['middleware', 'compat'].filter((f) => fs.existsSync(path.join(ROOT, 'node/lib', `${f}.d.ts`)))
    .map((f) => fs.readFileSync(path.join(ROOT, 'node/lib', `${f}.d.ts`), 'utf8')).join('\n');
  for (const name of Object.keys(cjs)) {
    const re = new RegExp(`export (declare )?(class|function|const|let) ${name}\\b`);
    assert.ok(re.test(dts) || re.test(extra), `${name} is not declared`);
  }
});

test('middleware and compat helpers are re-exported once their files exist', () => {
  const cjs = require('cotter-native');
  const files = { middleware: ['requireAuth'], compat: ['CotterValidateJWT', 'CotterAccessToken', 'CotterIDToken'] };
  for (const [file, names] of Object.entries(files)) {
    const present = fs.existsSync(path.join(ROOT, 'node/lib', `${file}.js`));
    for (const n of names) assert.equal(typeof cjs[n] === 'function', present, `${n} (${file}.js ${present ? 'present' : 'absent'})`);
  }
});

test('the package: npm name cotter-native, no install script, no runtime dependencies (cmake-js is a dev tool)', () => {
  const pkg = require(path.join(ROOT, 'package.json'));
  assert.equal(pkg.name, 'cotter-native');
  assert.equal(pkg.exports['.'].require, './node/lib/index.js');
  assert.equal(pkg.exports['.'].import, './node/lib/index.mjs');
  assert.equal(pkg.exports['.'].types, './node/lib/index.d.ts');
  // The tarball carries a prebuilt addon (scripts/package.sh); building from source is `npm run build:native`.
  for (const s of ['preinstall', 'install', 'postinstall']) assert.equal(pkg.scripts[s], undefined, s);
  assert.equal(pkg.scripts['build:native'], 'node node/scripts/build.js');
  assert.deepEqual(pkg.dependencies ?? {}, {});
  assert.ok(pkg.devDependencies['cmake-js'] && pkg.devDependencies['node-addon-api']);
  assert.ok(pkg.files.includes('node/prebuilds/'));
  const lock = fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8');
  for (const m of lock.matchAll(/"resolved": "([^"]+)"/g)) assert.match(m[1], /^https:\/\/registry\.npmjs\.org\//);
});

test('without a usable addon, loading says how to build one from source (not "run npm install")', (t) => {
  const { spawnSync } = require('node:child_process');
  const os = require('node:os');
  // A copy of the package's JavaScript with no build tree and no prebuilt addon, as on an unsupported platform.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cotter-native-loader-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.cpSync(path.join(ROOT, 'node/lib'), path.join(dir, 'node/lib'), { recursive: true });
  const env = { ...process.env };
  delete env.COTTER_NODE_ADDON;
  delete env.COTTER_NODE_BUILD_DIR;
  const load = () => spawnSync(process.execPath, ['-e', `require(${JSON.stringify(path.join(dir, 'node/lib/index.js'))})`],
    { env, encoding: 'utf8' });
  let r = load();
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, new RegExp(`no native addon for ${process.platform}-${process.arch}`));
  assert.match(r.stderr, /npm explore cotter-native -- npm run build:native/);
  // A prebuilt binary that does not load here (a truncated file stands in for a foreign one).
  const prebuilt = path.join(dir, 'node/prebuilds', `${process.platform}-${process.arch}`, 'cotter.node');
  fs.mkdirSync(path.dirname(prebuilt), { recursive: true });
  fs.writeFileSync(prebuilt, 'not an ELF file');
  r = load();
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /cannot load the native addon .*cotter\.node/);
  assert.match(r.stderr, /npm explore cotter-native -- npm run build:native/);
});
