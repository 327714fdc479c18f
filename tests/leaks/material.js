#!/usr/bin/env node
'use strict';
/**
 * @file tests/leaks/material.js
 * @brief Prepares what the leak loops need from a running emulator and prints it as one JSON line:
 * the JWKS document, a valid access token, an Identity Token (JSON) and its public key, the project's
 * credentials and URLs, and a user id that has a social-login token.
 *
 * Usage: node tests/leaks/material.js '<the emulator JSON line>' [DIR]
 * With DIR, each field is also written to DIR/<field> (for the C loop, which has no JSON parser).
 */
const fs = require('node:fs');
const path = require('node:path');
const info = JSON.parse(process.argv[2]);
const dir = process.argv[3];

async function call(method, url, body) {
  const res = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', 'x-cotter-dev-token': info.dev_token }, // only dev URLs are called
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text}`);
  return JSON.parse(text);
}

(async () => {
  const identifier = 'leak-loop@example.com';
  const user = await call('POST', `${info.dev_url}/users`, { identifier });
  const minted = await call('POST', `${info.dev_url}/access_token`, { identifier, ttl: 7200 });
  const identity = await call('POST', `${info.dev_url}/identity_token`, { identifier });
  await call('POST', `${info.dev_url}/social_tokens`, {
    identifier, identity_provider: 'GITHUB', tokens: { access_token: 'gho_leak', scope: 'read', token_type: 'bearer' },
  });
  const jwks = await (await fetch(info.jwks_url)).text();
  const material = {
    ...info,
    jwks,
    access_token: minted.access_token,
    identity_token: JSON.stringify(identity.identity_token),
    identifier,
    user_id: user.ID,
  };
  if (dir) {
    fs.mkdirSync(dir, { recursive: true });
    for (const [k, v] of Object.entries(material)) fs.writeFileSync(path.join(dir, k), v === null ? '' : String(v));
  }
  process.stdout.write(JSON.stringify(material) + '\n');
})().catch((e) => { console.error(e.message); process.exit(1); });
