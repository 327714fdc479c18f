'use strict';
/**
 * @file server.js
 * @brief startEmulator(opts): wires config, keys, store and routes into a server: plain HTTP/1.1, or with --tls
 *        HTTP/2 with an HTTP/1.1 fallback (ALPN h2, http/1.1); reads bodies (capped), dispatches, applies injected
 *        faults, counts requests, connections and HTTP/2 streams, and shuts down cleanly (idle keep-alive sockets
 *        and HTTP/2 sessions included). A request held by a fault is let go as soon as its client disconnects.
 */
const http = require('node:http');
const http2 = require('node:http2');
const fs = require('node:fs');
const config = require('./config');
const { KeyRing } = require('./keys');
const { Store, Clock } = require('./store');
const { Tokens } = require('./tokens');
const { Faults, Stats, SKIPS_HANDLER } = require('./faults');
const { HttpError, isPlainObject, isLoopback, cliSafeToken } = require('./util');
const { HostCheck, devTokenProblem, corsOrigin } = require('./access');
const respond = require('./respond');
const router = require('./routes');
const { ensureCerts } = require('./tls');

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const CORS_HEADERS = 'API_KEY_ID, API_SECRET_KEY, Content-Type, Authorization';

/** readBody() rejects with this when the client goes away before its body is complete. */
const ABORTED = new Error('the client went away');

/** Read the request body up to `cap` bytes; throws HttpError(413) beyond it. */
function readBody(req, cap) {
  const declared = Number(req.headers['content-length']);
  if (declared > cap) return Promise.reject(new HttpError(413, `request body is larger than ${cap} bytes`));
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    let ended = false;
    req.on('close', () => { if (!ended) reject(ABORTED); });
    req.on('data', (c) => {
      size += c.length;
      if (size > cap) {
        req.removeAllListeners('data');
        req.pause();
        reject(new HttpError(413, `request body is larger than ${cap} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => { ended = true; resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)); });
    req.on('error', reject);
  });
}

/** Per-request context handed to route handlers. */
class Ctx {
  constructor(app, req, res, search, params, body) {
    this.app = app;
    this.req = req;
    this.res = res;
    this._search = search;
    this._query = null;
    this.params = params;
    this.body = body;
    this.info = app.info;
    this.origin = app.origin;
  }

  /** The query string as URLSearchParams, parsed on first use (most API routes never read it). */
  get query() {
    if (this._query === null) this._query = new URLSearchParams(this._search);
    return this._query;
  }

  /** The body as a JSON object ({} when empty); 400 when malformed or not an object. */
  json() {
    if (this._json) return this._json;
    if (!this.body || this.body.length === 0) return (this._json = {});
    let v;
    try { v = JSON.parse(this.body.toString('utf8')); } catch { throw new HttpError(400, 'malformed JSON body'); }
    if (!isPlainObject(v)) throw new HttpError(400, 'JSON body must be an object');
    return (this._json = v);
  }

  /** The body as an HTML form (application/x-www-form-urlencoded). */
  form() {
    return new URLSearchParams(this.body ? this.body.toString('utf8') : '');
  }
}

/** Has the client of `res` gone away (its HTTP/1 socket or its HTTP/2 stream closed)? */
const gone = (res) => res.destroyed || (res.stream ? res.stream.destroyed : res.socket === null || res.socket.destroyed);

/**
 * Wait `ms` (a fault's latency_ms) unless the client goes first: resolves true when it went away. The timer is
 * unref'd and cleared on disconnect, so a held request keeps neither the server nor a test process alive.
 */
function holdUnlessGone(res, ms) {
  return new Promise((resolve) => {
    if (gone(res)) { resolve(true); return; }
    const onClose = () => { clearTimeout(timer); resolve(true); };
    const timer = setTimeout(() => { res.removeListener('close', onClose); resolve(false); }, ms);
    timer.unref();
    res.once('close', onClose);
  });
}

async function startEmulator(opts = {}) {
  const cfg = config.resolve(opts);
  const clock = new Clock();
  const keys = new KeyRing({ kid: cfg.kid, now: () => clock.now() });
  const stats = new Stats();
  const store = new Store({ clock, config: cfg, keys, dataDir: cfg.dataDir, stats });
  const loaded = store.load();

  // The default project: flags/env win; otherwise the saved first project; otherwise a new one.
  let project = cfg.apiKeyId ? store.projects.get(cfg.apiKeyId) : (loaded ? store.projects.values().next().value : null);
  if (!project) project = store.addProject({ api_key_id: cfg.apiKeyId, api_secret_key: cfg.apiSecretKey });
  else if (cfg.apiSecretKey && project.api_secret_key !== cfg.apiSecretKey) { project.api_secret_key = cfg.apiSecretKey; store.changed(); }
  if (opts.allowedUrls) for (const u of cfg.allowedUrls) if (!project.allowed_urls.includes(u)) project.allowed_urls.push(u);
  cfg.apiKeyId = project.api_key_id;
  if (!cfg.devToken) cfg.devToken = cliSafeToken(32);
  const hostCheck = new HostCheck(cfg.host, cfg.allowedHosts);
  if (cfg.dataDir) store.saveNow();

  const routes = router.build();
  const app = { config: cfg, clock, keys, store, tokens: null, faults: null, stats, info: null, origin: null };
  app.tokens = new Tokens({ keys, store, clock, config: cfg, stats: app.stats });
  app.faults = new Faults(routes.table.filter((r) => !r.dev).map((r) => r.name));

  let certs = null;
  if (cfg.tls) certs = ensureCerts(cfg.dataDir);
  // --tls: HTTP/2 (so clients can multiplex) with HTTP/1.1 for clients that do not offer h2 in ALPN.
  const server = cfg.tls
    ? http2.createSecureServer({ key: certs.key, cert: certs.cert, allowHTTP1: true })
    : http.createServer();
  // Long keep-alive so SDK connection pools do not race the server closing idle sockets (HTTP/1.1, also the
  // fallback under --tls; an HTTP/2 session has no idle timeout here).
  server.keepAliveTimeout = 60000;
  server.headersTimeout = 65000;

  // Every accepted TCP connection (before TLS), so a test can prove keep-alive reuse or HTTP/2 multiplexing.
  const sockets = new Set();
  server.on('connection', (socket) => {
    app.stats.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const sessions = new Set();
  server.on('session', (session) => {
    app.stats.h2_sessions++;
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
    session.on('error', () => {}); // a peer that resets the connection: the session closes, nothing to report
  });
  server.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });

  const log = cfg.verbose ? (...a) => process.stderr.write(a.join(' ') + '\n') : null;

  /** `cors`: the origin allowed to read the response (access.js), or null. */
  function send(req, res, r, cors) {
    // A string body stays a string: Node then joins the header block and the body into one
    // string for the socket (no Buffer copy of the body, one chunk instead of two).
    const body = r.body;
    const headers = r.headers;
    headers['Content-Length'] = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    if (headers.Connection !== undefined && req.httpVersionMajor === 2) delete headers.Connection; // not an HTTP/2 header
    if (req.headers.origin !== undefined) {
      headers.Vary = 'Origin';
      if (cors) {
        headers['Access-Control-Allow-Origin'] = cors;
        headers['Access-Control-Allow-Credentials'] = 'true';
      }
    }
    res.writeHead(r.status, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
    if (log) log(req.method, req.url, r.status);
  }

  /**
   * Cut the exchange short. HTTP/1.1: the connection is destroyed (RST where Node can, plain HTTP). HTTP/2: only this
   * request's stream is reset (RST_STREAM, INTERNAL_ERROR); the session and its other streams go on.
   */
  function cut(req, res) {
    if (res.stream) { if (!res.stream.destroyed) res.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR); return; }
    const socket = req.socket;
    if (typeof socket.resetAndDestroy === 'function' && !cfg.tls) socket.resetAndDestroy();
    else socket.destroy();
  }

  /** Send `r` garbled by `fault` (see faults.js for the kinds; README "Faults" for their HTTP/2 meaning). */
  function sendFaulty(req, res, fault, r, cors) {
    const spec = fault.spec;
    switch (fault.kind) {
      case 'reset':
        cut(req, res);
        return;
      case 'status': {
        const h = {};
        if (spec.retry_after !== undefined) h['Retry-After'] = String(spec.retry_after);
        if (spec.body !== undefined) {
          const text = typeof spec.body === 'string' ? spec.body : JSON.stringify(spec.body);
          return send(req, res, respond.rawJson(spec.status, text, h), cors);
        }
        return send(req, res, respond.error(spec.status, `injected fault: HTTP ${spec.status}`, h), cors);
      }
      case 'redirect':
        return send(req, res, { status: Number(spec.redirect_status) || 302, headers: { Location: spec.redirect }, body: '' }, cors);
      case 'non_json':
        return send(req, res, respond.html(Number(spec.non_json_status) || 200, '<!doctype html><html><body><h1>Service temporarily unavailable</h1><p>This is not JSON.</p></body></html>'), cors);
      case 'oversized': {
        const size = Number.isInteger(spec.size_bytes) ? spec.size_bytes : 10 * 1024 * 1024;
        const body = Buffer.alloc(Math.max(size, 16), 0x61); // '{"padding":"aaaa…"}'
        body.write('{"padding":"', 0);
        body.write('"}', body.length - 2);
        if (spec.chunked) {
          res.writeHead(200, { 'Content-Type': respond.JSON_TYPE });
          res.end(body);
          return;
        }
        return send(req, res, { status: 200, headers: { 'Content-Type': respond.JSON_TYPE }, body }, cors);
      }
      case 'malformed_json': {
        const b = r.body.toString();
        return send(req, res, { status: r.status, headers: r.headers, body: b.slice(0, Math.max(1, b.length - 1)) + ',' }, cors);
      }
      case 'truncate': {
        // Headers with the real Content-Length and half the body; then the connection (HTTP/2: the stream) is cut,
        // or with `hang: true` nothing more is sent until the client gives up or the server stops.
        const body = typeof r.body === 'string' ? Buffer.from(r.body) : r.body;
        const sent = body.subarray(0, Math.floor(body.length / 2));
        r.headers['Content-Length'] = Math.max(body.length, sent.length + 16);
        if (r.headers.Connection !== undefined && res.stream) delete r.headers.Connection;
        res.writeHead(r.status, r.headers);
        if (spec.hang) {
          res.write(sent);
          res.once('close', () => { app.stats.client_aborts++; });
          return;
        }
        res.write(sent, () => cut(req, res));
        return;
      }
      case 'slow_drip': {
        const body = typeof r.body === 'string' ? Buffer.from(r.body) : r.body;
        const chunk = Math.max(1, Number(spec.chunk_bytes) || 1);
        const interval = Math.max(0, Number(spec.interval_ms) || 100);
        r.headers['Content-Length'] = body.length;
        if (r.headers.Connection !== undefined && res.stream) delete r.headers.Connection;
        res.writeHead(r.status, r.headers);
        let off = 0;
        let timer = null;
        const onClose = () => {
          if (timer) { clearTimeout(timer); timer = null; }
          if (off < body.length) app.stats.client_aborts++;
        };
        res.once('close', onClose);
        const tick = () => {
          timer = null;
          if (gone(res)) return;
          res.write(body.subarray(off, off + chunk));
          off += chunk;
          if (off >= body.length) res.end();
          else { timer = setTimeout(tick, interval); timer.unref(); }
        };
        tick();
        return;
      }
      default: // 'latency' alone: the delay already happened
        return send(req, res, r, cors);
    }
  }

  async function handle(req, res) {
    // DNS-rebinding defence first: a page on evil.example that resolves to 127.0.0.1 sends `Host: evil.example`.
    const host = req.headers.host ?? req.headers[':authority'];
    if (!hostCheck.allows(host)) {
      return send(req, res, respond.error(403, `Host ${JSON.stringify(host ?? '')} is not allowed: the emulator answers only a Host of ` +
        `${hostCheck.describe()} (a DNS-rebinding defence); start it with --allowed-host NAME to serve another name`), null);
    }
    const url = req.url;
    const qi = url.indexOf('?');
    const path = qi < 0 ? url : url.slice(0, qi);
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const m = router.match(routes, method === 'OPTIONS' ? 'GET' : method, path);
    // The dev API never gets CORS headers, so no web page can read it (nor send it the token header).
    const dev = m && m.route ? m.route.dev : path === '/dev' || path.startsWith('/dev/');
    const cors = dev || req.headers.origin === undefined ? null : corsOrigin(app, req, m && m.params);
    if (req.httpVersionMajor === 2 && !dev) app.stats.h2_streams++;

    if (method === 'OPTIONS') {
      if (!m) return send(req, res, respond.error(404, 'Not found'), null);
      const allow = [...new Set([...(m.route ? [m.route.method] : m.allowed), 'OPTIONS'])].join(', ');
      const headers = { Allow: allow };
      if (cors) Object.assign(headers, { 'Access-Control-Allow-Methods': allow, 'Access-Control-Allow-Headers': CORS_HEADERS, 'Access-Control-Max-Age': '600' });
      return send(req, res, { status: 204, headers, body: '' }, cors);
    }
    if (!m) return send(req, res, respond.error(404, `Not found: ${req.method} ${path}`), cors);
    if (!m.route) return send(req, res, respond.error(405, `Method ${req.method} not allowed on ${path}`, { Allow: m.allowed.join(', ') }), cors);
    const route = m.route;
    if (dev) {
      const problem = devTokenProblem(req, cfg.devToken);
      if (problem) return send(req, res, respond.error(401, problem), null);
    } else app.stats.hit(route.name);

    const fault = app.faults.take(route.name, route.dev);
    if (fault) {
      app.stats.faults_injected++;
      // A client that gives up while held is let go: no handler runs for it (a refresh token is not rotated).
      if (fault.latency_ms && await holdUnlessGone(res, fault.latency_ms)) { app.stats.client_aborts++; return; }
      if (SKIPS_HANDLER.has(fault.kind) && !(fault.kind === 'reset' && fault.spec.after)) return sendFaulty(req, res, fault, null, cors);
    }

    let r;
    try {
      const body = BODY_METHODS.has(req.method) ? await readBody(req, cfg.maxBodyBytes) : null;
      if (!dev) app.stats.handled(route.name);
      r = await route.handler(new Ctx(app, req, res, qi < 0 ? '' : url.slice(qi + 1), m.params, body));
    } catch (e) {
      if (e === ABORTED) { app.stats.client_aborts++; return; }
      if (e instanceof HttpError) {
        r = respond.error(e.status, e.message, e.headers);
        if (e.status === 413) r.headers.Connection = 'close';
      } else {
        if (log) log('internal error:', e.stack);
        r = respond.error(500, `internal error: ${e.message}`);
      }
    }
    if (fault) return sendFaulty(req, res, fault, r, cors);
    return send(req, res, r, cors);
  }

  server.on('request', (req, res) => {
    handle(req, res).catch((e) => {
      if (log) log('request failed:', e.stack);
      if (!res.headersSent) { try { send(req, res, respond.error(500, 'internal error'), null); } catch { /* socket gone */ } } else res.destroy();
    });
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.host, () => { server.removeListener('error', reject); resolve(); });
  });
  const port = server.address().port;
  const shownHost = cfg.host === '0.0.0.0' || cfg.host === '::' ? '127.0.0.1' : (cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host);
  const origin = `${cfg.tls ? 'https' : 'http'}://${shownHost}:${port}`;
  app.origin = origin;
  app.info = {
    base_url: `${origin}/api/v0`,
    login_url: `${origin}/app`,
    jwks_url: `${origin}/api/v0/token/jwks`,
    api_key_id: project.api_key_id,
    api_secret_key: project.api_secret_key,
    identity_public_key: keys.identityPublicB64,
    worker_url: `${origin}/verify`,
    dev_url: `${origin}/dev`,
    dev_token: cfg.devToken,
    ca_file: certs ? certs.caFile : null,
  };
  if (!isLoopback(cfg.host)) {
    process.stderr.write(`cotter-emulator: warning: listening on ${cfg.host}, not a loopback address: the API and the login ` +
      'page are reachable from the network, and so is the dev API for anyone who has its token (dev_token). Requests ' +
      'must still name an allowed Host (localhost, 127.0.0.1, [::1], the --host address or an --allowed-host).\n');
  }

  let closing = null;
  function close() {
    if (closing) return closing;
    closing = new Promise((resolve) => {
      server.close(() => resolve());
      for (const s of sessions) s.destroy();
      for (const s of sockets) s.destroy();
      if (typeof server.closeAllConnections === 'function') server.closeAllConnections();
    }).then(() => {
      store.saveNow();
      if (certs && certs.temporary) fs.rmSync(certs.dir, { recursive: true, force: true });
    });
    return closing;
  }

  return { info: app.info, close, app, server };
}

module.exports = { startEmulator };
