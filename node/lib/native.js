'use strict';
/**
 * @file node/lib/native.js
 * @brief The native addon (cotter.node), loaded once; index.js and compat.js share it.
 */
const fs = require('node:fs');
const path = require('node:path');

/**
 * The addon, from the first place that has one: $COTTER_NODE_ADDON; a build from source in this tree
 * (`npm run build:native`, build/node/<config>); the prebuilt binary the npm tarball carries
 * (node/prebuilds/<platform>-<arch>, with the libraries it needs beside it; scripts/package.sh). No install
 * script is involved: the tarball works as unpacked.
 */
function loadAddon() {
  const root = path.resolve(__dirname, '..', '..');
  const candidates = [];
  if (process.env.COTTER_NODE_ADDON) candidates.push(path.resolve(process.env.COTTER_NODE_ADDON));
  const buildDir = path.resolve(root, process.env.COTTER_NODE_BUILD_DIR || path.join('build', 'node'));
  for (const config of ['Release', 'RelWithDebInfo', 'Debug']) candidates.push(path.join(buildDir, config, 'cotter.node'));
  const platform = `${process.platform}-${process.arch}`;
  candidates.push(path.join(root, 'node', 'prebuilds', platform, 'cotter.node'));
  const fromSource = 'build it from source: `npm explore cotter-native -- npm run build:native` ' +
    '(needs CMake, a C++17 compiler, the libcurl/OpenSSL 3/simdjson development packages, and cmake-js and ' +
    'node-addon-api installed beside it; docs/node.md)';
  for (const file of candidates) {
    if (!fs.existsSync(file)) continue;
    try {
      return require(file);
    } catch (e) {
      // Typically a prebuilt binary on a system it does not fit (musl, a glibc or libstdc++ older than it needs).
      throw new Error(`cotter-native: cannot load the native addon ${file} (${e.message}); ${fromSource}`);
    }
  }
  throw new Error(`cotter-native: no native addon for ${platform} (looked for ${candidates.join(', ')}); ${fromSource}`);
}

module.exports = loadAddon();
