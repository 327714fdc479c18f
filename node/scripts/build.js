#!/usr/bin/env node
'use strict';
/**
 * @file node/scripts/build.js
 * @brief `npm run build:native`: builds cotter.node from source, driving the project's one CMake graph through
 *        cmake-js with -DCOTTER_BUILD_NODE=ON into build/node, against the headers of the Node that runs this
 *        script. Not an install script: the npm tarball carries a prebuilt addon (scripts/package.sh); this is
 *        the development build and the documented fallback for other platforms (docs/node.md).
 *
 * Headers: cmake-js downloads a Node distribution unless `nodedir` points at one that has
 * include/node/node.h. Debian's and nodesource's Node (and nvm's) ship those headers in
 * <prefix>/include/node, so nodedir = <prefix> (process.execPath/../..) and nothing is downloaded. The include
 * dir and node-addon-api's are also passed explicitly, so node/CMakeLists.txt never depends on cmake-js's guess.
 * Environment: COTTER_NODE_BUILD_TYPE (Release), COTTER_NODE_JOBS (2), COTTER_NODE_BUILD_DIR (build/node),
 * COTTER_NODE_CMAKE_ARGS (extra space-separated -DNAME=VALUE, e.g. -DCOTTER_SANITIZE=address,undefined).
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const prefix = path.resolve(path.dirname(process.execPath), '..');
const nodeInclude = process.env.COTTER_NODE_INCLUDE_DIR || path.join(prefix, 'include', 'node');
if (!fs.existsSync(path.join(nodeInclude, 'node_api.h'))) {
  console.error(`cotter-native: no Node-API headers at ${nodeInclude} (the Node at ${process.execPath} ships none).\n` +
    'Install the headers of this Node (Debian: apt-get install libnode-dev; nvm and nodesource include them), ' +
    'or set COTTER_NODE_INCLUDE_DIR.');
  process.exit(1);
}
// Build tools, not dependencies of the package: a clone has them as devDependencies; in an installed copy they
// are found next to it (`npm install --no-save cmake-js node-addon-api` in the project).
function resolveTool(id) {
  try {
    return require.resolve(id, { paths: [root] });
  } catch {
    console.error(`cotter-native: building from source needs cmake-js and node-addon-api: run \`npm install --no-save ` +
      'cmake-js@7 node-addon-api@8` in your project (or `npm ci` in a clone), then build again (docs/node.md).');
    process.exit(1);
  }
}
const addonApi = path.dirname(resolveTool('node-addon-api/package.json'));
const cmakeJs = resolveTool('cmake-js/bin/cmake-js');
const buildType = process.env.COTTER_NODE_BUILD_TYPE || 'Release';
const out = path.resolve(root, process.env.COTTER_NODE_BUILD_DIR || path.join('build', 'node'));

const args = [cmakeJs, 'compile', '-d', root, '-O', out, '--config', buildType,
  '--parallel', process.env.COTTER_NODE_JOBS || '2', '-T', 'cotter_node',
  '--CDCOTTER_BUILD_NODE=ON', '--CDCOTTER_BUILD_SHARED=OFF',
  `--CDCOTTER_NODE_INCLUDE_DIR=${nodeInclude}`, `--CDCOTTER_NODE_ADDON_API_DIR=${addonApi}`];
for (const def of (process.env.COTTER_NODE_CMAKE_ARGS || '').split(/\s+/).filter(Boolean)) {
  if (!/^-D[A-Za-z_][A-Za-z0-9_]*=/.test(def)) {
    console.error(`cotter-native: COTTER_NODE_CMAKE_ARGS takes -DNAME=VALUE entries, not ${def}`);
    process.exit(1);
  }
  args.push(`--CD${def.slice(2)}`);
}
if (spawnSync('ninja', ['--version'], { stdio: 'ignore' }).status === 0) args.push('-G', 'Ninja');
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit',
  env: { ...process.env, npm_config_nodedir: prefix } });
process.exit(r.status === null ? 1 : r.status);
