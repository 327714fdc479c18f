'use strict';
// The glue stays in step with cotter.h: every `// COTTER_API ...;` comment in node/src/addon.cpp is the exact
// declaration from the header, and every header function is either named in such a comment, reached through
// capi/include/cotter.hpp by a wrapped call, or listed below as deliberately not bound.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { ROOT } = require('./helpers/emulator');

const header = fs.readFileSync(path.join(ROOT, 'capi/include/cotter.h'), 'utf8');
const addon = fs.readFileSync(path.join(ROOT, 'node/src/addon.cpp'), 'utf8');
const norm = (s) => s.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\s+/g, ' ').replace(/\s*([(),*])\s*/g, '$1').trim();

/** name -> normalised declaration (return type, name, parameters), from every COTTER_API line of the header. */
function headerDeclarations() {
  const out = new Map();
  const re = /(?:COTTER_NODISCARD\s+)?COTTER_API\s+([^;{]*?\b(cotter_[a-z0-9_]+)\s*\([^;]*?\))\s*COTTER_NOEXCEPT\s*;/g;
  for (const m of header.matchAll(re)) out.set(m[2], norm(m[1]));
  return out;
}

// Functions the addon does not call, and why.
const NOT_BOUND = {
  cotter_status_describe: 'messages come from the error object',
  cotter_global_init: 'objects initialise lazily; the addon never tears the library down',
  cotter_global_shutdown: 'idem',
  cotter_error_code: 'the status the call returned is the code (cotter.hpp)',
  cotter_call_is_done: 'a call is settled by its done callback; nothing polls',
};

/** The blocking forms of the network functions: the addon starts every network call with its `_start` form. */
function blockingForms(decls) {
  return new Set([...decls.keys()].filter((n) => decls.has(`${n}_start`)));
}

test('every // COTTER_API comment matches its declaration in cotter.h', () => {
  const decls = headerDeclarations();
  assert.ok(decls.size > 100, `parsed ${decls.size} declarations`);
  const comments = [...addon.matchAll(/\/\/ COTTER_API ([^;]+);/g)].map((m) => m[1]);
  assert.ok(comments.length >= 40);
  for (const c of comments) {
    const name = /\b(cotter_[a-z0-9_]+)\s*\(/.exec(c)[1];
    assert.ok(decls.has(name), `${name} is not in cotter.h`);
    assert.equal(norm(c), decls.get(name), `comment of ${name} differs from cotter.h`);
  }
});

test('every client, session, verifier and login call of cotter.h is bound', () => {
  const decls = headerDeclarations();
  const commented = new Set([...addon.matchAll(/\/\/ COTTER_API [^;]*?\b(cotter_[a-z0-9_]+)\s*\(/g)].map((m) => m[1]));
  const hpp = fs.readFileSync(path.join(ROOT, 'capi/include/cotter.hpp'), 'utf8');
  const missing = [];
  for (const name of decls.keys()) {
    if (commented.has(name) || NOT_BOUND[name] || blockingForms(decls).has(name)) continue;
    // Getters and frees are reached through cotter.hpp's classes, whose methods the addon calls.
    if (/_(free|dispose)$|_options_init$|^cotter_error_|^cotter_(claims|token|user|social_token|identity|pkce)_[a-z_]+$|_list_(count|get)$|^cotter_buf_/.test(name) && hpp.includes(name)) continue;
    missing.push(name);
  }
  assert.deepEqual(missing, []);
});

test('every network call goes through its _start form (none blocks a thread, none uses the libuv pool)', () => {
  const decls = headerDeclarations();
  const blocking = blockingForms(decls);
  assert.ok(blocking.size >= 20, `found ${blocking.size} network functions with a _start form`);
  const commented = new Set([...addon.matchAll(/\/\/ COTTER_API [^;]*?\b(cotter_[a-z0-9_]+)\s*\(/g)].map((m) => m[1]));
  for (const name of blocking) {
    assert.ok(commented.has(`${name}_start`), `${name}_start is not bound`);
    assert.ok(!commented.has(name), `the addon names the blocking ${name}`);
  }
  // Nothing runs on the libuv pool: no AsyncWorker (verify() has threads of its own), no napi_create_async_work.
  assert.doesNotMatch(addon, /AsyncWorker|napi_create_async_work|uv_queue_work/);
});
