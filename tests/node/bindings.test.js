'use strict';
// The addon binds the C ABI as capi/abi.json describes it: every `// COTTER_API ...;` comment in node/src/addon.cpp
// is the declaration written from the description (cotter.h is never parsed back), and every function of the
// description is named in such a comment, reached through capi/include/cotter.hpp by a wrapped call, or listed
// below as deliberately not bound. A function added to abi.json and not bound here fails this test.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { ROOT } = require('./helpers/emulator');

const abi = JSON.parse(fs.readFileSync(path.join(ROOT, 'capi/abi.json'), 'utf8'));
const addon = fs.readFileSync(path.join(ROOT, 'node/src/addon.cpp'), 'utf8');
const hpp = fs.readFileSync(path.join(ROOT, 'capi/include/cotter.hpp'), 'utf8');
const norm = (s) => s.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\s+/g, ' ').replace(/\s*([(),*])\s*/g, '$1').trim();
const withoutComments = (s) => s.replace(/\/\/[^\n]*|\/\*[\s\S]*?\*\//g, ' ');

/** name -> normalised declaration (return type, name, parameters), written from the description. */
function declarations(description) {
  const out = new Map();
  for (const f of description.functions) {
    const params = f.params.map((p) => `${p.type} ${p.name}`).join(', ') || 'void';
    out.set(f.name, norm(`${f.returns} ${f.name}(${params})`));
  }
  return out;
}

// Functions the addon does not call, and why.
const NOT_BOUND = {
  cotter_status_describe: 'messages come from the error object',
  cotter_global_init: 'objects initialise lazily; the addon never tears the library down',
  cotter_global_shutdown: 'idem',
  cotter_error_code: 'the status the call returned is the code (cotter.hpp)',
  cotter_call_is_done: 'a call is settled by its done callback; nothing polls',
  cotter_client_api_key_id: 'a Node Client is always given its apiKeyId (no from_environment), so it knows it',
  cotter_shared_store_new_hiredis: "Node users pass their own ioredis client (RedisStore): TLS, auth, Sentinel and Cluster come from it",
  cotter_hiredis_options_init: 'idem (no hiredis options in Node)',
};
// Getters and frees are reached through cotter.hpp's classes, whose methods the addon calls.
const THROUGH_HPP = /_(free|dispose)$|_options_init$|^cotter_error_|^cotter_(claims|token|user|social_token|identity|pkce)_[a-z_]+$|_list_(count|get)$|^cotter_buf_/;

/** Everything the addon gets wrong against `description` (a copy may be passed to prove the check can fail). */
function problems(description, addonSrc, hppSrc) {
  const decls = declarations(description);
  const out = [];
  const commentRe = /\/\/ COTTER_API ([^;]+);/g;
  const commented = new Set();
  for (const m of addonSrc.matchAll(commentRe)) {
    const name = /\b(cotter_[a-z0-9_]+)\s*\(/.exec(m[1])[1];
    commented.add(name);
    if (!decls.has(name)) out.push(`addon.cpp documents ${name}, which capi/abi.json does not describe`);
    else if (norm(m[1]) !== decls.get(name)) out.push(`comment of ${name} differs from capi/abi.json`);
  }
  const code = withoutComments(addonSrc) + withoutComments(hppSrc);
  const starts = new Set(description.async_calls.map((a) => a.start));
  // Entries marked `bound_later` in abi.json (C only for now, with the reason; none today).
  const later = new Set(description.functions.filter((f) => f.bound_later).map((f) => f.name));
  for (const name of decls.keys()) {
    if (NOT_BOUND[name] || later.has(name)) continue;
    if (starts.has(`${name}_start`)) {
      // A network call goes through its _start form: none blocks a thread, none uses the libuv pool.
      if (!commented.has(`${name}_start`)) out.push(`${name}_start is not bound`);
      if (commented.has(name)) out.push(`the addon names the blocking ${name}`);
      continue;
    }
    if (commented.has(name) || (THROUGH_HPP.test(name) && hppSrc.includes(name))) {
      if (!new RegExp(`\\b${name}\\b`).test(code)) out.push(`${name} is named but never called`);
      continue;
    }
    out.push(`${name} (capi/abi.json) is not bound by node/src/addon.cpp`);
  }
  return out;
}

test('every function of capi/abi.json is bound as described', () => {
  assert.ok(abi.functions.length > 100, `described ${abi.functions.length} functions`);
  assert.ok([...addon.matchAll(/\/\/ COTTER_API /g)].length >= 40);
  assert.ok(abi.async_calls.length >= 20, `found ${abi.async_calls.length} network functions with a _start form`);
  assert.deepEqual(problems(abi, addon, hpp), []);
  // Nothing runs on the libuv pool: no AsyncWorker (verify() has threads of its own), no napi_create_async_work.
  assert.doesNotMatch(addon, /AsyncWorker|napi_create_async_work|uv_queue_work/);
});

test('the check fails on drift (on copies: nothing in the tree changes)', () => {
  const copy = () => JSON.parse(JSON.stringify(abi));
  const fn = (d, name) => d.functions.find((f) => f.name === name);

  const added = copy();
  added.functions.push({ ...fn(added, 'cotter_client_user_get'), name: 'cotter_client_not_yet_described' });
  assert.ok(problems(added, addon, hpp).some((p) => p.includes('cotter_client_not_yet_described (capi/abi.json) is not bound')));

  const retyped = copy();
  fn(retyped, 'cotter_jwt_verify').params[3].type = 'int';
  assert.ok(problems(retyped, addon, hpp).some((p) => p.includes('comment of cotter_jwt_verify differs')));

  const asyncAdded = copy();
  asyncAdded.async_calls.push({ blocking: 'cotter_pkce_new', start: 'cotter_pkce_new_start', result: 'cotter_call_wait' });
  assert.ok(problems(asyncAdded, addon, hpp).some((p) => p.includes('cotter_pkce_new_start is not bound')));

  const unwrapped = hpp.replace('return cotter_pkce_state(ptr_);', 'return nullptr;');
  assert.notEqual(unwrapped, hpp);
  assert.ok(problems(abi, addon, unwrapped).some((p) => p.includes('cotter_pkce_state')));
});
