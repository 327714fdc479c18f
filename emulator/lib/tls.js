'use strict';
/**
 * @file tls.js
 * @brief A local CA and a server certificate for localhost/127.0.0.1/::1, made with the
 *        `openssl` command-line tool (Node has no API to create X.509 certificates).
 *
 * A separate CA (CA:TRUE) and leaf (CA:FALSE, serverAuth) rather than one self-signed leaf,
 * because strict verifiers (rustls/webpki) reject a CA certificate used as an end entity.
 */
const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function openssl(args, cwd) {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * Make (or reuse, when `dir` already has them) ca.pem, server.key, server.pem.
 * @returns {{dir, caFile, key, cert, temporary}}
 */
function ensureCerts(dataDir) {
  const temporary = !dataDir;
  const dir = dataDir ? path.join(dataDir, 'tls') : fs.mkdtempSync(path.join(os.tmpdir(), 'cotter-emulator-tls-'));
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caFile = path.join(dir, 'ca.pem');
  const keyFile = path.join(dir, 'server.key');
  const certFile = path.join(dir, 'server.pem');
  if (!(fs.existsSync(caFile) && fs.existsSync(keyFile) && fs.existsSync(certFile))) {
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '3650',
      '-subj', '/CN=Cotter Emulator Local CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
    openssl(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost'], dir);
    fs.writeFileSync(path.join(dir, 'server.ext'), [
      'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      'subjectKeyIdentifier=hash',
      'authorityKeyIdentifier=keyid',
    ].join('\n') + '\n');
    openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
      '-set_serial', '0x' + crypto.randomBytes(12).toString('hex'), '-days', '825', '-sha256',
      '-extfile', 'server.ext', '-out', 'server.pem'], dir);
    for (const f of ['server.csr', 'server.ext']) fs.rmSync(path.join(dir, f), { force: true });
  }
  return { dir, caFile, key: fs.readFileSync(keyFile), cert: fs.readFileSync(certFile), temporary };
}

module.exports = { ensureCerts };
