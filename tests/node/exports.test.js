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
  const c = require('cotter-node');
  for (const name of CONTRACT) assert.ok(name in c, name);
  for (const name of ['Client', 'Verifier', 'TokenSession', 'CotterError', 'Token']) assert.equal(typeof c[name], 'function', name);
  assert.match(c.version, /^\d+\.\d+\.\d+$/);
  assert.equal(c.version, require(path.join(ROOT, 'package.json')).version);
  assert.ok(new c.CotterError('x', { code: 'COTTER_EINVAL' }) instanceof Error);
  assert.equal(c.codes.COTTER_EJWT_EXPIRED, -31);
  assert.equal(c.codes.COTTER_ELEGACY_CLAIM, -51);
});

test('codes has every status of cotter.h (COTTER_ECANCELED included), and index.d.ts names each one', () => {
  const { codes } = require('cotter-node');
  const header = fs.readFileSync(path.join(ROOT, 'capi/include/cotter.h'), 'utf8');
  const statuses = [...header.matchAll(/\b(COTTER_E[A-Z0-9_]+)\s*=\s*(-\d+)/g)].map((m) => [m[1], Number(m[2])]);
  assert.ok(statuses.length >= 30, `parsed ${statuses.length} statuses`);
  assert.deepEqual(Object.entries(codes).filter(([n]) => n !== 'COTTER_OK').sort(), statuses.sort());
  assert.equal(codes.COTTER_ECANCELED, -15);
  const dts = fs.readFileSync(path.join(ROOT, 'node/lib/index.d.ts'), 'utf8');
  const union = /export type CotterErrorCode =([^;]+);/.exec(dts)[1];
  for (const [name] of statuses) assert.ok(union.includes(`'${name}'`), `${name} is missing from CotterErrorCode`);
});

test('ESM exports the same names as CommonJS, and the same objects', async () => {
  const cjs = require('cotter-node');
  const esm = await import('cotter-node');
  const names = Object.keys(esm).filter((n) => n !== 'default' && esm[n] !== undefined).sort();
  assert.deepEqual(names, Object.keys(cjs).sort());
  for (const n of names) assert.equal(esm[n], cjs[n], n);
  assert.equal(esm.default, cjs);
});

test('index.d.ts declares every runtime export', () => {
  const cjs = require('cotter-node');
  const dts = fs.readFileSync(path.join(ROOT, 'node/lib/index.d.ts'), 'utf8');
  const extra = ['middleware', 'compat'].filter((f) => fs.existsSync(path.join(ROOT, 'node/lib', `${f}.d.ts`)))
    .map((f) => fs.readFileSync(path.join(ROOT, 'node/lib', `${f}.d.ts`), 'utf8')).join('\n');
  for (const name of Object.keys(cjs)) {
    const re = new RegExp(`export (declare )?(class|function|const|let) ${name}\\b`);
    assert.ok(re.test(dts) || re.test(extra), `${name} is not declared`);
  }
});

test('middleware and compat helpers are re-exported once their files exist', () => {
  const cjs = require('cotter-node');
  const files = { middleware: ['requireAuth'], compat: ['CotterValidateJWT', 'CotterAccessToken', 'CotterIDToken'] };
  for (const [file, names] of Object.entries(files)) {
    const present = fs.existsSync(path.join(ROOT, 'node/lib', `${file}.js`));
    for (const n of names) assert.equal(typeof cjs[n] === 'function', present, `${n} (${file}.js ${present ? 'present' : 'absent'})`);
  }
});

test('the addon is the one built from this tree by cmake-js', () => {
  const pkg = require(path.join(ROOT, 'package.json'));
  assert.equal(pkg.name, 'cotter-node');
  assert.equal(pkg.exports['.'].require, './node/lib/index.js');
  assert.equal(pkg.exports['.'].import, './node/lib/index.mjs');
  assert.equal(pkg.exports['.'].types, './node/lib/index.d.ts');
  assert.ok(pkg.dependencies['cmake-js'] && pkg.dependencies['node-addon-api']);
  const lock = fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8');
  for (const m of lock.matchAll(/"resolved": "([^"]+)"/g)) assert.match(m[1], /^https:\/\/registry\.npmjs\.org\//);
});
