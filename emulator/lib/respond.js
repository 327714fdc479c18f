'use strict';
/**
 * @file respond.js
 * @brief Response values. Handlers return plain {status, headers, body} objects instead of
 *        writing to the socket, so the fault injector can delay, garble or drop any of them.
 */

const JSON_TYPE = 'application/json; charset=utf-8';

function json(status, obj, headers) {
  return { status, headers: { 'Content-Type': JSON_TYPE, ...headers }, body: JSON.stringify(obj) };
}

/** Pre-serialized JSON (e.g. the cached JWKS). */
function rawJson(status, text, headers) {
  return { status, headers: { 'Content-Type': JSON_TYPE, ...headers }, body: text };
}

/** Cotter's error shape (spec §1): {"msg": ..., "type": ""}. */
function error(status, msg, headers) {
  return json(status, { msg, type: '' }, headers);
}

function html(status, text, headers) {
  return {
    status,
    headers: {
      'Content-Type': 'text/html; charset=utf-8',
      'Cache-Control': 'no-store',
      // The login page has only inline CSS and no script of its own.
      'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
      'X-Frame-Options': 'DENY',
      ...headers,
    },
    body: text,
  };
}

function redirect(location, headers) {
  return { status: 302, headers: { Location: location, 'Cache-Control': 'no-store', ...headers }, body: '' };
}

module.exports = { json, rawJson, error, html, redirect, JSON_TYPE };
