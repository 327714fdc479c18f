#!/usr/bin/env python3
"""The fleet test (issue 17; docs/shared-sessions.md "The fleet test"). Stdlib only.

Workers of every language present (tests/fleet/worker.{c,py,js}, go/, rust/; the contract is
docs/shared-sessions.md "The worker contract") share N sessions through a real Redis against the emulator, whose
access tokens live 2 s, while a random worker is SIGKILLed every few seconds (the refresh route is slowed by a
latency fault, so that kills land on lease holders mid-refresh) and replaced. Then every worker still running is
stopped with SIGTERM, and the driver checks, per session, the emulator's counters against the store:

  - every worker's summary has 0 errors (and the workers that were not killed exited 0);
  - refresh grants == versions written + grace uses + 1 (the driver's own probe): no grant is wasted except one
    that a killed (or stopped) replica rotated and never saved, which the next refresh recovers within the
    emulator's reuse grace window (counted and reported);
  - versions written <= elapsed seconds / (ttl - margin) + 2: at most one refresh per expiry;
  - 1 login per session (the seed: no re-login), 0 family revocations;
  - the stored refresh token still works (the probe): no session is lost.

Phases: "standalone" (one redis-server; every worker) and "cluster" (3 masters; the cluster-capable workers: all
but C). Environment (all optional): COTTER_FLEET_SECONDS (60), COTTER_FLEET_CLUSTER_SECONDS (20),
COTTER_FLEET_SESSIONS (200), COTTER_FLEET_PROCS (processes per language, 3), COTTER_FLEET_CONCURRENCY (16),
COTTER_FLEET_PAUSE_MS (20), COTTER_FLEET_KILL_EVERY (seconds between kills, 6), COTTER_FLEET_PHASES ("standalone,cluster"), COTTER_FLEET_LANGS (run only these),
COTTER_FLEET_REQUIRE (these must be present, e.g. "c,python,node,go"), COTTER_FLEET_SEED (kill schedule),
COTTER_FLEET_BUILD (build/release), COTTER_FLEET_PYTHON (the Python with cotter installed: build/venv's if any).
Exit status 0 when every check passed. `fleet.py --self-test`: a short run in which the driver breaks two sessions
must be reported as exactly those failures (the checks can fail).
"""
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, 'tests', 'fleet')
REFRESH_ROUTE = 'POST /api/v0/token/:api_key_id'
ACCESS_TTL = 2      # --access-ttl: access tokens live 2 s
MARGIN = 1          # the sessions refresh 1 s before expiry: one refresh per second per session at most
LEASE_MS = 5000     # generous: a refresh gets 3/4 of it, however loaded the machine
LATENCY_MS = 100    # every refresh is held this long, so that many are in flight (leases held) when a kill lands
GRACE_S = 600       # the emulator's refresh_reuse_grace: covers a killed holder's rotated-but-unsaved token
PREFIX = 'fleet'
ALL_LANGS = ['c', 'python', 'node', 'go', 'rust']
CLUSTER_LANGS = ['python', 'node', 'go', 'rust']  # hiredis 0.14 (the C store) has no Cluster support


def env_int(name, default):
    v = os.environ.get(name, '')
    return int(v) if v else default


def env_float(name, default):
    v = os.environ.get(name, '')
    return float(v) if v else default


def env_list(name, default):
    v = os.environ.get(name)
    return [x.strip() for x in v.split(',') if x.strip()] if v is not None else default


def log(*args):
    print('fleet:', *args, flush=True)


EXPECTING_FAILURES = [False]  # the self-test's failures are expected: logged as such


class Failed(Exception):
    pass


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- Redis: a minimal RESP client (following MOVED on a cluster) --------------------------------------------------

class RedisError(Exception):
    pass


class Redis:
    def __init__(self, host, port, timeout=60):
        self.addr = (host, port)
        self.sock = socket.create_connection(self.addr, timeout=timeout)
        self.buf = self.sock.makefile('rb')

    def close(self):
        self.buf.close()
        self.sock.close()

    def __call__(self, *args):
        out = [b'*%d\r\n' % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b'$%d\r\n%s\r\n' % (len(a), a))
        self.sock.sendall(b''.join(out))
        return self._reply()

    def _reply(self):
        line = self.buf.readline()
        if not line:
            raise RedisError('connection closed')
        kind, rest = line[:1], line[1:-2]
        if kind == b'+':
            return rest.decode()
        if kind == b'-':
            raise RedisError(rest.decode())
        if kind == b':':
            return int(rest)
        if kind == b'$':
            n = int(rest)
            if n < 0:
                return None
            data = self.buf.read(n + 2)[:-2]
            return data
        if kind == b'*':
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RedisError('bad reply %r' % line)


class Store:
    """The store's keys, on one Redis or on every master of a cluster (commands on a key follow MOVED)."""

    def __init__(self, nodes):
        self.nodes = {addr: Redis(*addr) for addr in nodes}

    def close(self):
        for r in self.nodes.values():
            r.close()

    def on_key(self, *args):
        r = next(iter(self.nodes.values()))
        for _ in range(5):
            try:
                return r(*args)
            except RedisError as e:
                m = re.match(r'MOVED \d+ ([\d.]+):(\d+)', str(e))
                if not m:
                    raise
                addr = (m.group(1), int(m.group(2)))
                if addr not in self.nodes:
                    self.nodes[addr] = Redis(*addr)
                r = self.nodes[addr]
        raise RedisError('too many MOVED redirections')

    def script_calls(self):
        """EVALSHA + EVAL calls on every node since the last reset_stats()."""
        n = 0
        for r in self.nodes.values():
            info = r('INFO', 'commandstats').decode()
            n += sum(int(c) for c in re.findall(r'^cmdstat_(?:evalsha|eval):calls=(\d+)', info, re.M))
        return n

    def reset_stats(self):
        for r in self.nodes.values():
            r('CONFIG', 'RESETSTAT')

    def keys(self, pattern):
        found = []
        for r in self.nodes.values():
            cursor = b'0'
            while True:
                cursor, batch = r('SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000)
                found += batch
                if cursor == b'0':
                    break
        return found


class RedisServers:
    """redis-server processes in one temp dir: one standalone, or three cluster masters."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []
        self.ports = []

    def start(self, name, extra, attempts=3):
        """Starts one redis-server; a port taken between free_port() and its bind gets another try."""
        for attempt in range(attempts):
            try:
                return self._start_once(name, extra)
            except Failed:
                if attempt == attempts - 1:
                    raise

    def _start_once(self, name, extra):
        port = free_port()
        d = os.path.join(self.tmp, '%s-%d' % (name, port))
        os.makedirs(d)
        p = subprocess.Popen(['redis-server', '--port', str(port), '--bind', '127.0.0.1', '--dir', d, '--save', '',
                              '--appendonly', 'no', '--logfile', os.path.join(d, 'redis.log'),
                              '--daemonize', 'no'] + (extra() if callable(extra) else extra),
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        self.ports.append(port)
        for _ in range(600):  # up to 30 s on a loaded machine
            if p.poll() is not None:
                self.procs.remove(p)
                self.ports.remove(port)
                raise Failed('redis-server exited with %s (see %s/redis.log)' % (p.returncode, d))
            try:
                r = Redis('127.0.0.1', port, timeout=5)
                pong = r('PING')
                r.close()
                if pong == 'PONG':
                    return port
            except (OSError, RedisError):
                pass
            time.sleep(0.05)
        raise Failed('redis-server on port %d did not answer PING' % port)

    def standalone(self):
        return self.start('standalone', [])

    def cluster(self, masters=3):
        for i in range(masters):
            d = os.path.join(self.tmp, 'cluster-%d' % i)
            self.start('cluster', lambda: ['--cluster-enabled', 'yes', '--cluster-port', str(free_port()),
                                           '--cluster-config-file', d + '-nodes-%d.conf' % free_port(),
                                           '--cluster-node-timeout', '30000'])
        nodes = ['127.0.0.1:%d' % p for p in self.ports[-masters:]]
        out = subprocess.run(['redis-cli', '--cluster', 'create'] + nodes + ['--cluster-replicas', '0',
                                                                              '--cluster-yes'],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise Failed('redis-cli --cluster create: %s %s' % (out.stdout[-2000:], out.stderr[-2000:]))
        for _ in range(1200):  # up to 60 s: every master sees every slot covered
            states = []
            for p in self.ports[-masters:]:
                r = Redis('127.0.0.1', p)
                states.append(b'cluster_state:ok' in r('CLUSTER', 'INFO'))
                r.close()
            if all(states):
                return self.ports[-masters:]
            time.sleep(0.05)
        raise Failed('the cluster never reached cluster_state:ok')

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        self.procs = []


# ---- The emulator -------------------------------------------------------------------------------------------------

class Emulator:
    def __init__(self):
        self.proc = subprocess.Popen(['node', os.path.join(ROOT, 'emulator', 'bin', 'cotter-emulator.js'),
                                      '--port', '0', '--access-ttl', str(ACCESS_TTL)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        line = self.proc.stdout.readline()
        if not line:
            raise Failed('the emulator did not start')
        self.info = json.loads(line)
        self.port = int(self.info['base_url'].split(':')[2].split('/')[0])

    def request(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection('127.0.0.1', self.port, timeout=120)
        try:
            h = {'Content-Type': 'application/json', **(headers or {})}
            c.request(method, path, json.dumps(body) if body is not None else None, h)
            r = c.getresponse()
            data = r.read()
            return r.status, (json.loads(data) if data else None)
        finally:
            c.close()

    def dev(self, method, path, body=None):
        status, out = self.request(method, '/dev' + path, body, {'X-Cotter-Dev-Token': self.info['dev_token']})
        if status != 200:
            raise Failed('%s /dev%s: %s %s' % (method, path, status, out))
        return out

    def refresh(self, refresh_token):
        key = self.info['api_key_id']
        return self.request('POST', '/api/v0/token/' + key, {'grant_type': 'refresh_token',
                                                             'refresh_token': refresh_token},
                            {'API_KEY_ID': key})

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---- Workers ------------------------------------------------------------------------------------------------------

def build_workers(tmp, langs):
    """{lang: argv} for every language whose worker is present (and wanted); builds the compiled ones."""
    build = os.environ.get('COTTER_FLEET_BUILD', os.path.join(ROOT, 'build', 'release'))
    found = {}
    if 'c' in langs:
        lib = os.path.join(build, 'capi')
        exe = os.path.join(tmp, 'fleet-c')
        cc = os.environ.get('CC', 'cc')
        subprocess.run([cc, '-std=c99', '-O2', '-Wall', '-Werror', '-pthread',
                        '-I', os.path.join(ROOT, 'capi', 'include'), os.path.join(HERE, 'worker.c'),
                        '-o', exe, '-L', lib, '-lcotter', '-Wl,-rpath,' + lib], check=True)
        found['c'] = [exe]
    if 'python' in langs and os.path.exists(os.path.join(HERE, 'worker.py')):
        venv = os.path.join(ROOT, 'build', 'venv', 'bin', 'python')
        python = os.environ.get('COTTER_FLEET_PYTHON') or (venv if os.path.exists(venv) else sys.executable)
        found['python'] = [python, os.path.join(HERE, 'worker.py')]
    if 'node' in langs and os.path.exists(os.path.join(HERE, 'worker.js')):
        found['node'] = ['node', os.path.join(HERE, 'worker.js')]
    if 'go' in langs and os.path.exists(os.path.join(HERE, 'go', 'main.go')):
        exe = os.path.join(tmp, 'fleet-go')
        subprocess.run(['go', 'build', '-o', exe, '.'], cwd=os.path.join(HERE, 'go'), check=True)
        found['go'] = [exe]
    if 'rust' in langs and os.path.exists(os.path.join(HERE, 'rust', 'Cargo.toml')):
        manifest = os.path.join(HERE, 'rust', 'Cargo.toml')
        target = os.path.join(ROOT, 'build', 'fleet-rust')
        subprocess.run(['cargo', 'build', '--release', '-j', '2', '--manifest-path', manifest, '--target-dir', target],
                       check=True)
        name = re.search(r'^name\s*=\s*"([^"]+)"', open(manifest).read(), re.M).group(1)
        found['rust'] = [os.path.join(target, 'release', name)]
    return found


class Worker:
    count = 0
    every = []  # every worker started, for the cleanup when a phase ends early (an exception)

    def __init__(self, lang, argv, env, tmp):
        Worker.count += 1
        self.lang = lang
        self.name = '%s-%d' % (lang, Worker.count)
        self.err_path = os.path.join(tmp, self.name + '.stderr')
        self.err = open(self.err_path, 'wb')
        self.proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.err)
        self.ready = threading.Event()
        self.lines = []
        self.killed = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        Worker.every.append(self)

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode('utf-8', 'replace').strip()
            if line == 'ready':
                self.ready.set()
            elif line:
                self.lines.append(line)
        self.ready.set()  # ended (a setup failure if it never said ready)

    def summary(self):
        for line in reversed(self.lines):
            try:
                s = json.loads(line)
                if isinstance(s, dict) and 'calls' in s:
                    return s
            except ValueError:
                pass
        return None

    def stderr_tail(self):
        self.err.flush()
        with open(self.err_path, 'rb') as f:
            return f.read()[-2000:].decode('utf-8', 'replace')


# ---- One phase ----------------------------------------------------------------------------------------------------

def run_phase(name, emu, store, redis_url, seed_into, langs, workers_argv, seconds, tmp, rng, failures,
              sabotage=None):
    """Seeds the sessions, runs the workers with kills, stops them, checks. Appends failures; returns a report.
    sabotage(stage, users) (the self-test) breaks sessions once they are seeded ('seeded') and once the workers
    are ready ('ready')."""
    n = env_int('COTTER_FLEET_SESSIONS', 200)
    procs = env_int('COTTER_FLEET_PROCS', 3)
    # Kills are ~6 s apart, never near the lease TTL (5 s) after the previous one: a victim killed between Cotter's
    # rotation and its save leaves a session that the next refresh recovers (grace) right after the dead lease
    # expires, <= 5 s after that kill. Killing that recovering refresh too, in the same few ms, would present the
    # token twice more and revoke the family: a real hazard of back-to-back crashes that this test must not
    # provoke by its own schedule.
    kill_every = env_float('COTTER_FLEET_KILL_EVERY', 6.0)

    def fail(msg):
        failures.append('%s: %s' % (name, msg))
        log('expected failure (self-test):' if EXPECTING_FAILURES[0] else 'FAIL', name + ':', msg)

    emu.dev('DELETE', '/faults')
    emu.dev('POST', '/settings', {'refresh_reuse_grace': GRACE_S})
    emu.dev('POST', '/stats/reset')
    base_env = dict(os.environ,
                    COTTER_FLEET_BASE_URL=emu.info['base_url'], COTTER_FLEET_API_KEY_ID=emu.info['api_key_id'],
                    COTTER_FLEET_API_SECRET_KEY=emu.info['api_secret_key'], COTTER_FLEET_PREFIX=PREFIX,
                    COTTER_FLEET_SESSIONS=str(n), COTTER_FLEET_LEASE_MS=str(LEASE_MS),
                    COTTER_FLEET_MARGIN=str(MARGIN),
                    COTTER_FLEET_CONCURRENCY=str(env_int('COTTER_FLEET_CONCURRENCY', 16)),
                    COTTER_FLEET_PAUSE_MS=str(env_int('COTTER_FLEET_PAUSE_MS', 20)),
                    NO_PROXY='127.0.0.1,localhost,::1', no_proxy='127.0.0.1,localhost,::1')

    # Seed: one login per session (the emulator's /dev/login), stored as version 1 by the C seeding tool.
    users = {}
    lines = []
    seeded_at = time.time()  # before the logins: no token of this phase is older
    for i in range(n):
        out = emu.dev('POST', '/login', {'identifier': 'fleet-%d@%s.example.com' % (i, name)})
        users['fleet-%d' % i] = out['user']['ID']
        lines.append('fleet-%d %s\n' % (i, json.dumps(out['oauth_token'], separators=(',', ':'))))
    seed_into(base_env, ''.join(lines))
    if sabotage:
        sabotage('seeded', users)

    # Run: every refresh held LATENCY_MS (many in flight), workers started, one SIGKILLed every few seconds.
    emu.dev('POST', '/faults', {'route': REFRESH_ROUTE, 'latency_ms': LATENCY_MS, 'count': 10 ** 9})
    store.reset_stats()
    stop_at = time.time() + seconds
    running = []

    def spawn(lang):
        env = dict(base_env, COTTER_FLEET_REDIS=redis_url,
                   COTTER_FLEET_SECONDS=str(max(1.0, stop_at - time.time()) + 60))  # SIGTERM ends it before
        w = Worker(lang, workers_argv[lang], env, tmp)
        running.append(w)
        return w

    every = []
    for lang in langs:
        every += [spawn(lang) for _ in range(procs)]
    for w in every:
        if not w.ready.wait(300) or w.proc.poll() is not None:
            raise Failed('%s did not start (exit %s): %s' % (w.name, w.proc.poll(), w.stderr_tail()))
    if sabotage:
        sabotage('ready', users)
    kills = []
    next_kill = time.time() + rng.uniform(0.5, 1.0) * kill_every
    extra_kills = 0  # past the phase's end, while no kill has yet landed on a refresh in flight (at most 8)
    while time.time() < stop_at or (kills and not any(k['mid_refresh'] for k in kills) and extra_kills < 8):
        time.sleep(0.05)
        if time.time() < next_kill:
            continue
        alive = [w for w in running if w.ready.is_set() and w.proc.poll() is None and not w.killed]
        if len(alive) < 2:
            next_kill = time.time() + 0.5
            continue
        victim = rng.choice(alive)
        leases = 0
        for _ in range(40):  # a kill that may land on a lease holder: wait (briefly) for leases in the store
            leases = len(store.keys('%s:{*}:lease' % PREFIX))
            if leases:
                break
            time.sleep(0.05)
        aborts_before = emu.dev('GET', '/stats')['client_aborts']
        victim.proc.send_signal(signal.SIGKILL)
        next_kill = time.time() + rng.uniform(0.97, 1.03) * kill_every
        victim.killed = True
        victim.proc.wait()
        # Mid-refresh: the emulator counts a client abort of a held refresh (it notices the closed socket at once).
        mid = False
        for _ in range(20):
            mid = emu.dev('GET', '/stats')['client_aborts'] > aborts_before
            if mid:
                break
            time.sleep(0.05)
        kills.append({'worker': victim.name, 'leases_before': leases, 'aborts_before': aborts_before,
                      'mid_refresh': mid})
        if time.time() >= stop_at:
            extra_kills += 1
        spawn(victim.lang)

    # Stop: wait for late replacements to be ready (a SIGTERM during setup would be a setup failure), then SIGTERM.
    for w in running:
        if not w.killed:
            w.ready.wait(300)
    for w in running:
        if not w.killed and w.proc.poll() is None:
            w.proc.send_signal(signal.SIGTERM)
    for w in running:
        try:
            w.proc.wait(300)
        except subprocess.TimeoutExpired:
            w.proc.kill()
            w.proc.wait()
            fail('%s did not exit within 300 s of SIGTERM' % w.name)
        w.reader.join(30)
    stopped_at = time.time()  # every worker has exited: no refresh of this phase is newer
    emu.dev('DELETE', '/faults')
    scripts = store.script_calls()  # before the probe: the workers' Redis round trips (2 per uncontended refresh)

    # A kill the emulator was slow to notice still shows as a client abort before the next kill.
    stats = emu.dev('GET', '/stats')
    for k, nxt in zip(kills, kills[1:] + [{'aborts_before': stats['client_aborts']}]):
        k['mid_refresh'] = k['mid_refresh'] or nxt['aborts_before'] > k['aborts_before']

    # Worker summaries.
    per_lang = {}
    for w in running:
        t = per_lang.setdefault(w.lang, {'started': 0, 'killed': 0, 'stopped': 0, 'calls': 0, 'ok': 0})
        t['started'] += 1
        if w.killed:  # its counts died with it
            t['killed'] += 1
            continue
        s = w.summary()
        if w.proc.returncode != 0 or s is None:
            fail('%s exited %s without a summary: %s' % (w.name, w.proc.returncode, w.stderr_tail()))
            continue
        if s.get('errors') or s.get('ok') != s.get('calls'):
            fail('%s: %s\n%s' % (w.name, json.dumps(s), w.stderr_tail()))
        t['stopped'] += 1  # calls and ok: those of the stopped workers
        t['calls'] += s.get('calls', 0)
        t['ok'] += s.get('ok', 0)
    for lang in langs:
        if per_lang.get(lang, {}).get('ok', 0) == 0:
            fail('no successful call by a %s worker' % lang)

    # Per session: the store against the emulator's counters, then the probe (the stored refresh token works).
    elapsed = stopped_at - seeded_at
    bound = int(elapsed / (ACCESS_TTL - MARGIN)) + 2
    versions_total = grace_total = 0
    max_versions = 0
    probes = {}
    for sid, uid in users.items():
        v, stored = store.on_key('HMGET', '%s:{%s}:tokens' % (PREFIX, sid), 'v', 'json')
        if v is None or stored is None:
            fail('%s: the store holds no token set (v=%r)' % (sid, v))
            continue
        written = int(v) - 1  # version 1 is the seed
        versions_total += written
        max_versions = max(max_versions, written)
        if written > bound:
            fail('%s: %d versions written in %.1f s: more than one refresh per expiry (bound %d)'
                 % (sid, written, elapsed, bound))
        status, body = emu.refresh(json.loads(stored)['refresh_token'])
        probes[sid] = status
        if status != 200:
            fail('%s: the stored refresh token does not work: %s %s' % (sid, status, body))
    stats = emu.dev('GET', '/stats')
    by_user = stats['refresh_by_user']
    grants_total = 0
    for sid, uid in users.items():
        u = by_user.get(uid, {'logins': 0, 'refresh_grants': 0, 'grace_reuses': 0, 'families_revoked': 0})
        v = store.on_key('HGET', '%s:{%s}:tokens' % (PREFIX, sid), 'v')
        written = int(v) - 1 if v is not None else 0
        grants_total += u['refresh_grants']
        grace_total += u['grace_reuses']
        if u['logins'] != 1:
            fail('%s: %d logins (want 1, the seed: no re-login)' % (sid, u['logins']))
        if u['families_revoked']:
            fail('%s: %d refresh families revoked' % (sid, u['families_revoked']))
        probe = 1 if probes.get(sid) == 200 else 0
        if u['refresh_grants'] != written + u['grace_reuses'] + probe:
            fail('%s: %d refresh grants at the emulator, %d versions written, %d grace uses, %d probe: a wasted grant'
                 % (sid, u['refresh_grants'], written, u['grace_reuses'], probe))
    if stats['refresh_families_revoked']:
        fail('%d refresh families revoked' % stats['refresh_families_revoked'])
    if kills and not any(k['mid_refresh'] and k['leases_before'] for k in kills):
        fail('no kill landed on a worker with a refresh in flight (%d kills)' % len(kills))

    report = {'phase': name, 'redis': redis_url, 'sessions': n, 'seconds': round(elapsed, 1),
              'workers': per_lang, 'kills': len(kills), 'kills_after_the_end': extra_kills,
              'kills_mid_refresh': sum(k['mid_refresh'] for k in kills),
              'leases_before_kills': [k['leases_before'] for k in kills],
              'refresh_grants': grants_total, 'versions_written': versions_total, 'grace_uses': grace_total,
              'redis_scripts': scripts,
              'most_versions_per_session': max_versions, 'bound_per_session': bound,
              'families_revoked': stats['refresh_families_revoked']}
    log(json.dumps(report))
    return report


def seed_with_c(workers, env, lines, port):
    """Stores each line's login as its session's version 1, through the C seeding tool (the library's own writes)."""
    out = subprocess.run(workers['c'] + ['seed'], env=dict(env, COTTER_FLEET_REDIS='redis://127.0.0.1:%d' % port),
                         input=lines, capture_output=True, text=True, timeout=300)
    if out.returncode != 0 or out.stdout.strip() != 'seeded %d' % lines.count('\n'):
        raise Failed('seeding: %s %s' % (out.stdout, out.stderr))


def standalone_phase(emu, servers, workers, seconds, rng, failures, tmp, sabotage=None):
    if 'c' not in workers:
        raise Failed('the standalone phase needs the C worker (it seeds the sessions)')
    port = servers.standalone()
    store = Store([('127.0.0.1', port)])
    try:
        run_phase('standalone', emu, store, 'redis://127.0.0.1:%d' % port,
                  lambda env, lines: seed_with_c(workers, env, lines, port),
                  [lang for lang in ALL_LANGS if lang in workers], workers, seconds, tmp, rng, failures, sabotage)
    finally:
        store.close()


def self_test(emu, servers, workers, rng, tmp):
    """The checks can fail: a short standalone phase in which the driver breaks two sessions must report exactly
    those (a revoked family, a lost token set, workers' COTTER_EREAUTH) and nothing else."""
    os.environ.update(COTTER_FLEET_SESSIONS='20', COTTER_FLEET_PROCS='2', COTTER_FLEET_KILL_EVERY='1000')
    store_of = {}

    def sabotage(stage, users):
        store = store_of.setdefault('s', Store([('127.0.0.1', servers.ports[-1])]))
        if stage == 'seeded':  # fleet-0: two refreshes behind the store's back; the next one presents a stale token
            stored = json.loads(store.on_key('HGET', '%s:{fleet-0}:tokens' % PREFIX, 'json'))
            status, t1 = emu.refresh(stored['refresh_token'])
            status2, _ = emu.refresh(t1['refresh_token']) if status == 200 else (status, None)
            if status2 != 200:
                raise Failed('self-test: the sabotage refreshes failed')
        elif stage == 'ready':  # fleet-1: the token set is gone (a Redis that lost its data)
            store.on_key('DEL', '%s:{fleet-1}:tokens' % PREFIX)

    found = []
    EXPECTING_FAILURES[0] = True
    standalone_phase(emu, servers, {'c': workers['c']}, 8, rng, found, tmp, sabotage)
    EXPECTING_FAILURES[0] = False
    store_of['s'].close()
    want = ['standalone: fleet-0: 1 refresh families revoked', 'standalone: fleet-0: the stored refresh token does '
            'not work', 'standalone: fleet-1: the store holds no token set', 'COTTER_EREAUTH']
    missing = [w for w in want if not any(w in f for f in found)]
    unexpected = [f for f in found if not re.search(r'fleet-[01]:|COTTER_EREAUTH|1 refresh families revoked', f)]
    if missing or unexpected:
        raise Failed('self-test: missing %s; unexpected %s' % (missing, unexpected))
    log('self-test: the %d expected failures were reported, nothing else' % len(found))


def main():
    seed = env_int('COTTER_FLEET_SEED', random.randrange(1 << 30))
    rng = random.Random(seed)
    phases = env_list('COTTER_FLEET_PHASES', ['standalone', 'cluster'])
    if sys.argv[1:] == ['--self-test']:
        phases = ['self-test']
    wanted = env_list('COTTER_FLEET_LANGS', ALL_LANGS)
    required = env_list('COTTER_FLEET_REQUIRE', ['c'])
    tmp = tempfile.mkdtemp(prefix='cotter-fleet-')
    failures = []
    emu = servers = None
    log('seed %d, phases %s, temp dir %s' % (seed, ','.join(phases), tmp))
    try:
        workers = build_workers(tmp, wanted)
        missing = [lang for lang in required if lang not in workers]
        log('workers: %s (required: %s)' % (', '.join(sorted(workers)) or 'none', ', '.join(required) or 'none'))
        if missing:
            raise Failed('required workers missing: %s' % ', '.join(missing))
        emu = Emulator()
        servers = RedisServers(tmp)
        if 'self-test' in phases:
            self_test(emu, servers, workers, rng, tmp)
        if 'standalone' in phases:
            standalone_phase(emu, servers, workers, env_float('COTTER_FLEET_SECONDS', 60), rng, failures, tmp)
        if 'cluster' in phases:
            langs = [lang for lang in CLUSTER_LANGS if lang in workers]
            if 'c' not in workers:
                raise Failed('the cluster phase needs the C worker (it seeds the sessions)')
            scratch = servers.standalone()  # the C tool seeds here; the keys move to the cluster (DUMP/RESTORE)
            ports = servers.cluster()
            store = Store([('127.0.0.1', p) for p in ports])
            url = 'redis-cluster://' + ','.join('127.0.0.1:%d' % p for p in ports)

            def seed_cluster(env, lines):
                seed_with_c(workers, env, lines, scratch)
                src = Store([('127.0.0.1', scratch)])
                keys = src.keys('%s:*' % PREFIX)
                for k in keys:
                    store.on_key('RESTORE', k, 0, src.on_key('DUMP', k), 'REPLACE')
                src.close()
                spread = {addr: len(r('KEYS', '%s:*' % PREFIX)) for addr, r in store.nodes.items()}
                log('cluster: %d keys seeded over the masters: %s' % (len(keys), spread))
                if len([c for c in spread.values() if c]) < 2:
                    raise Failed('the sessions did not spread over the masters: %s' % spread)

            if not langs:
                log('cluster: no cluster-capable worker (python, node, go, rust) present: only the harness is checked')
            run_phase('cluster', emu, store, url, seed_cluster, langs, workers,
                      env_float('COTTER_FLEET_CLUSTER_SECONDS', 20) if langs else 0, tmp, rng, failures)
            store.close()
    except (Failed, subprocess.CalledProcessError, OSError, RedisError) as e:
        failures.append(str(e))
        log('FAIL', e)
    finally:
        for w in Worker.every:
            if w.proc.poll() is None:
                w.proc.kill()
                w.proc.wait()
        if servers:
            servers.stop()
        if emu:
            emu.stop()
    if failures:
        log('%d failure(s); worker logs kept in %s' % (len(failures), tmp))
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    log('ok')
    return 0


if __name__ == '__main__':
    sys.exit(main())
