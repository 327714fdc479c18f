'use strict';
/**
 * @file store.js
 * @brief All emulator state: projects, users, refresh tokens, social tokens, authorization
 *        codes, login sessions, the dev mailbox. In memory; with a data dir the durable part
 *        (projects, users, refresh tokens, social tokens, keys) is saved atomically.
 */
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { HttpError, randomToken, cliSafeToken, sha256B64url, asciiEqual, isoTime } = require('./util');

/** Injectable clock: tests move time with POST /dev/clock instead of sleeping. */
class Clock {
  constructor(offsetMs = 0) { this.offsetMs = offsetMs; }
  nowMs() { return Date.now() + this.offsetMs; }
  now() { return Math.floor(this.nowMs() / 1000); }
}

const NULL_UUID = '00000000-0000-0000-0000-000000000000';
// The id is canonical (no leading zeros): "000<id>:<secret>" must not name the same token as "<id>:<secret>".
const REFRESH_RE = /^([1-9]\d{0,14}):([A-Za-z0-9_-]{16,128})$/;
const STATE_FILE = 'state.json';

/** A random project secret (never with a leading '-', see cliSafeToken). */
const newSecret = () => cliSafeToken(24);

function normIdentifier(id, type) {
  const s = String(id).trim();
  return type === 'PHONE' ? s.replace(/[\s().-]/g, '') : s.toLowerCase();
}

class Store {
  /**
   * @param {object} o {clock, config, keys, dataDir}
   */
  constructor(o) {
    this.clock = o.clock;
    this.config = o.config;
    this.keys = o.keys;
    this.dataDir = o.dataDir || null;
    this.stats = o.stats || null; // counts refresh-token reuse (GET /dev/stats)
    this.projects = new Map();
    this._saveTimer = null;
    this.resetVolatile();
  }

  /** Everything but projects and keys (POST /dev/reset). */
  resetVolatile() {
    this.users = new Map(); // ID -> user
    this.userIndex = new Map(); // api_key_id \n identifier -> ID
    this.refresh = new Map(); // int id -> row
    this.retired = []; // ids of used/revoked rows, oldest first (from retiredHead on)
    this.retiredHead = 0;
    this.nextRefreshId = this.nextRefreshId || 1;
    this.social = new Map(); // user ID -> [rows]
    this.codes = new Map(); // authorization code -> row
    this.nextChallengeId = this.nextChallengeId || 1;
    this.sessions = new Map(); // login session id -> row
    this.magic = new Map(); // magic link token -> session id
    this.mailbox = [];
    this.ttlOverrides = new Map(); // user ID or '*' -> {count, ttl}
    this.sendLog = new Map(); // identifier -> [unix seconds of sends], for the OTP rate limit
    this.nextEventId = (() => { let n = 1; return () => n++; })();
    this.events = new Map(); // event ID -> row of the trusted-device API (routes/event.js)
  }

  // ---- projects ---------------------------------------------------------------------------

  addProject(p) {
    const project = {
      api_key_id: p.api_key_id || crypto.randomUUID(),
      api_secret_key: p.api_secret_key || newSecret(),
      name: p.name || 'Cotter emulator project',
      allowed_urls: Array.isArray(p.allowed_urls) ? p.allowed_urls.map(String) : [...this.config.allowedUrls],
      created_at: isoTime(this.clock.nowMs()),
    };
    this.projects.set(project.api_key_id, project);
    this.changed();
    return project;
  }

  // ---- users ------------------------------------------------------------------------------

  findUser(apiKeyId, identifier, type) {
    const id = this.userIndex.get(apiKeyId + '\n' + normIdentifier(identifier, type));
    return id ? this.users.get(id) : null;
  }

  /** By Cotter user ID or (deprecated) client_user_id, within one project. */
  getUser(apiKeyId, id) {
    const u = this.users.get(id);
    if (u && u.issuer === apiKeyId) return u;
    for (const v of this.users.values()) if (v.issuer === apiKeyId && v.client_user_id === id) return v;
    return null;
  }

  /** Find or create; returns [user, created]. */
  ensureUser(apiKeyId, identifier, type, clientUserId) {
    const existing = this.findUser(apiKeyId, identifier, type);
    if (existing) return [existing, false];
    const ID = crypto.randomUUID();
    const t = isoTime(this.clock.nowMs());
    const user = {
      ID,
      created_at: t,
      update_at: t,
      updated_at: t,
      deleted_at: null,
      issuer: apiKeyId,
      client_user_id: clientUserId ? String(clientUserId) : ID,
      enrolled: [],
      default_method: null,
      identifier: normIdentifier(identifier, type),
      identifier_type: type,
      identifiers: null,
      identifier_id: crypto.randomUUID(),
      _created_ms: this.clock.nowMs(),
    };
    this.users.set(ID, user);
    this.userIndex.set(apiKeyId + '\n' + user.identifier, ID);
    this.changed();
    return [user, true];
  }

  static publicUser(u) {
    if (!u) {
      return { ID: NULL_UUID, created_at: '0001-01-01T00:00:00Z', update_at: '0001-01-01T00:00:00Z',
        updated_at: '0001-01-01T00:00:00Z', deleted_at: null, issuer: '', client_user_id: '',
        enrolled: null, default_method: null, identifier: '', identifiers: null };
    }
    const { identifier_type, identifier_id, _created_ms, _devices, ...pub } = u; // eslint-disable-line no-unused-vars
    return pub;
  }

  listUsers(apiKeyId) {
    return [...this.users.values()].filter((u) => u.issuer === apiKeyId)
      .sort((a, b) => b._created_ms - a._created_ms || (a.ID < b.ID ? -1 : 1));
  }

  // ---- refresh tokens ---------------------------------------------------------------------

  /**
   * New refresh token `<id>:<secret>`; only the secret's SHA-256 (base64url) is kept. Every token belongs to a
   * family: the tokens of one login, each rotated from the one before (RFC 9700 §4.14.2). `rotated` is the row this
   * one replaces (it is retired here, so rotation is one step); without it the token starts a new family.
   */
  createRefreshToken(apiKeyId, userId, s, rotated = null) {
    const id = this.nextRefreshId++;
    const secret = randomToken(24);
    let family;
    if (rotated) {
      family = rotated.family;
      this.retire(rotated);
      rotated.rotated = true;
      rotated.successor = id;
      rotated.rotated_ms = this.clock.nowMs();
    } else family = { id, live: id, revoked: false };
    family.live = id;
    if (this.stats) this.stats.userEvent(userId, rotated ? 'refresh_grants' : 'logins');
    this.refresh.set(id, {
      id, hash: sha256B64url(secret), api_key_id: apiKeyId, user_id: userId,
      auth_method: s.auth_method, auth_time: s.auth_time, custom_claims: s.custom_claims || null,
      expires_at: this.clock.now() + this.config.refreshTtl, used: false,
      family, rotated: false, successor: 0, rotated_ms: 0, grace_used: false,
    });
    this.changed();
    return `${id}:${secret}`;
  }

  /** The row `token` names in project `apiKeyId`, live or not; an unknown one is 400 "not valid". */
  findRefreshToken(token, apiKeyId) {
    const m = typeof token === 'string' ? REFRESH_RE.exec(token) : null;
    const row = m ? this.refresh.get(Number(m[1])) : null;
    if (!row || !asciiEqual(row.hash, sha256B64url(m[2])) || row.api_key_id !== apiKeyId) {
      throw new HttpError(400, 'Refresh token is not valid');
    }
    return row;
  }

  /** Throws 400 "... not valid" unless `row` is live. */
  checkLive(row) {
    if (row.used) {
      if (row.family.revoked) throw new HttpError(400, 'Refresh token is not valid: its login was revoked (a rotated token of it was used again)');
      throw new HttpError(400, row.rotated ? 'Refresh token is not valid: it was already used (rotated)' : 'Refresh token is not valid: it was revoked (logged out)');
    }
    if (row.expires_at <= this.clock.now()) throw new HttpError(400, 'Refresh token is not valid: it expired');
    if (!this.users.has(row.user_id)) throw new HttpError(400, 'Refresh token is not valid: unknown user');
    return row;
  }

  /** The live row for `token` in project `apiKeyId`, or throw 400 "... not valid". */
  checkRefreshToken(token, apiKeyId) {
    return this.checkLive(this.findRefreshToken(token, apiKeyId));
  }

  /**
   * The row a refresh grant rotates. A live token rotates itself. A rotated token presented again is reuse
   * (RFC 9700 §4.14.2): within config.refreshReuseGrace seconds (dev clock) of its rotation the immediately
   * previous token may be presented once more, and then the family's current token is rotated instead (the
   * caller gets a fresh token set, the family keeps one live token); any other reuse revokes every token of the
   * family. Returns {row, grace}.
   */
  refreshSource(token, apiKeyId) {
    const row = this.findRefreshToken(token, apiKeyId);
    if (!row.used) return { row: this.checkLive(row), grace: false };
    const family = row.family;
    if (!row.rotated || family.revoked) this.checkLive(row); // logged out, or already revoked: throws
    const live = family.live ? this.refresh.get(family.live) : undefined;
    const grace = this.config.refreshReuseGrace;
    if (grace > 0 && live && !live.used && row.successor === live.id && !row.grace_used &&
        this.clock.nowMs() - row.rotated_ms <= grace * 1000) {
      row.grace_used = true;
      if (this.stats) {
        this.stats.refresh_grace_reuses++;
        this.stats.userEvent(row.user_id, 'grace_reuses');
      }
      return { row: this.checkLive(live), grace: true };
    }
    this.revokeFamily(family);
    if (this.stats) {
      this.stats.refresh_families_revoked++;
      this.stats.userEvent(row.user_id, 'families_revoked');
    }
    throw new HttpError(400, 'Refresh token is not valid: it was already used (rotated), so every token of its login is now revoked');
  }

  /** Revoke (reuse detection) or end (logout) a family: its live token, if any, dies. */
  revokeFamily(family, { logout = false } = {}) {
    const live = family.live ? this.refresh.get(family.live) : undefined;
    if (live && !live.used) this.consumeRefreshToken(live);
    family.live = 0;
    if (!logout) family.revoked = true;
  }

  /** Logout with any token of a login: its live token dies. Returns whether one was live. Not reuse detection. */
  endLogin(row) {
    const family = row.family;
    const live = family.live ? this.refresh.get(family.live) : undefined;
    const wasLive = !!live && !live.used && live.expires_at > this.clock.now();
    this.revokeFamily(family, { logout: true });
    return wasLive;
  }

  /** Revoke one token. Rotation retires its row in createRefreshToken. */
  consumeRefreshToken(row) {
    this.retire(row);
    if (row.family.live === row.id) row.family.live = 0;
    this.changed();
  }

  /** Marks `row` used and remembers it; forgets the oldest beyond config.maxRetiredRefreshTokens (memory stays bounded). */
  retire(row) {
    if (row.used) return;
    row.used = true;
    this.retired.push(row.id);
    if (this.retired.length - this.retiredHead > this.config.maxRetiredRefreshTokens) {
      this.refresh.delete(this.retired[this.retiredHead++]);
      // Drop the consumed prefix now and then instead of shifting the array on every call.
      if (this.retiredHead > 4096 && this.retiredHead * 2 > this.retired.length) {
        this.retired = this.retired.slice(this.retiredHead);
        this.retiredHead = 0;
      }
    }
  }

  expireUserRefreshTokens(userId) {
    let n = 0;
    const now = this.clock.now();
    for (const r of this.refresh.values()) {
      if (r.user_id === userId && !r.used && r.expires_at > now) { r.expires_at = now; n++; }
    }
    this.changed();
    return n;
  }

  /** One-shot access-token lifetime overrides (POST /dev/expire_next_tokens). */
  takeTtlOverride(userId) {
    if (this.ttlOverrides.size === 0) return undefined;
    for (const key of [userId, '*']) {
      const o = this.ttlOverrides.get(key);
      if (o) {
        if (--o.count <= 0) this.ttlOverrides.delete(key);
        return o.ttl;
      }
    }
    return undefined;
  }

  // ---- authorization codes (spec §2.8, §7.8) -------------------------------------------

  createCode(session, user) {
    const code = randomToken(32);
    const row = {
      code, challenge_id: this.nextChallengeId++, api_key_id: session.api_key_id, user_id: user.ID,
      code_challenge: session.code_challenge, redirect_url: session.redirect_url,
      auth_method: session.auth_method, created_at: this.clock.now(), used: false,
      device_name: session.user_agent || '',
    };
    this.codes.set(code, row);
    return row;
  }

  // ---- social provider tokens (spec §2.12) ------------------------------------------------

  addSocialToken(apiKeyId, user, t) {
    const ts = isoTime(this.clock.nowMs());
    const provider = String(t.identity_provider || t.provider || 'GITHUB').toUpperCase();
    const list = (this.social.get(user.ID) || []).filter((r) => r.identity_provider !== provider);
    const row = {
      ID: crypto.randomUUID(), created_at: ts, updated_at: ts, deleted_at: '0001-01-01T00:00:00Z',
      company_id: apiKeyId, user_id: user.ID,
      provider_user_id: String(t.provider_user_id ?? Math.floor(Math.random() * 1e8)),
      provider_username: String(t.provider_username ?? user.identifier.split('@')[0]),
      identity_provider: provider,
      tokens: t.tokens && typeof t.tokens === 'object' ? t.tokens : { access_token: randomToken(20), scope: '', token_type: 'bearer' },
    };
    list.push(row);
    this.social.set(user.ID, list);
    this.changed();
    return row;
  }

  // ---- persistence ------------------------------------------------------------------------

  /** Schedule a save (coalesced: many mutations in one tick cost one write). */
  changed() {
    if (!this.dataDir || this._saveTimer) return;
    this._saveTimer = setTimeout(() => { this._saveTimer = null; this.saveNow(); }, 20);
    this._saveTimer.unref();
  }

  /** Atomic write: temp file + fsync + rename + fsync of the directory. */
  saveNow() {
    if (!this.dataDir) return;
    if (this._saveTimer) { clearTimeout(this._saveTimer); this._saveTimer = null; }
    const now = this.clock.now();
    const state = {
      version: 1,
      keys: this.keys.toJSON(),
      projects: [...this.projects.values()],
      users: [...this.users.values()],
      // Only live refresh tokens: a used or expired one is rejected as unknown after a restart
      // anyway, and dropping them keeps the file (and each save) small.
      refresh: [...this.refresh.values()].filter((r) => !r.used && r.expires_at > now)
        .map((r) => ({ ...r, family: r.family.id, hash: Buffer.from(r.hash, 'base64url').toString('hex') })), // the file keeps hex
      next_refresh_id: this.nextRefreshId,
      next_challenge_id: this.nextChallengeId,
      social: [...this.social.entries()],
    };
    const file = path.join(this.dataDir, STATE_FILE);
    const tmp = `${file}.${process.pid}.tmp`;
    const fd = fs.openSync(tmp, 'w', 0o600);
    try {
      fs.writeSync(fd, JSON.stringify(state));
      fs.fsyncSync(fd);
    } finally { fs.closeSync(fd); }
    fs.renameSync(tmp, file);
    try { const d = fs.openSync(this.dataDir, 'r'); fs.fsyncSync(d); fs.closeSync(d); } catch { /* not all filesystems allow it */ }
  }

  /** Load the saved state if present; returns true when something was loaded. */
  load() {
    if (!this.dataDir) return false;
    fs.mkdirSync(this.dataDir, { recursive: true });
    const file = path.join(this.dataDir, STATE_FILE);
    if (!fs.existsSync(file)) return false;
    const s = JSON.parse(fs.readFileSync(file, 'utf8'));
    this.keys.load(s.keys);
    for (const p of s.projects || []) this.projects.set(p.api_key_id, p);
    for (const u of s.users || []) {
      this.users.set(u.ID, u);
      this.userIndex.set(u.issuer + '\n' + u.identifier, u.ID);
    }
    // Only live tokens are saved, one per family: each gets its family back (files without one: its own).
    for (const r of s.refresh || []) {
      const family = { id: r.family || r.id, live: r.id, revoked: false };
      this.refresh.set(r.id, { rotated: false, successor: 0, rotated_ms: 0, grace_used: false, ...r, family,
        hash: Buffer.from(String(r.hash), 'hex').toString('base64url') });
    }
    this.nextRefreshId = s.next_refresh_id || this.refresh.size + 1;
    this.nextChallengeId = s.next_challenge_id || 1;
    this.social = new Map(s.social || []);
    return true;
  }
}

module.exports = { Store, Clock, NULL_UUID, normIdentifier };
