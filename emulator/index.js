'use strict';
/**
 * @file index.js
 * @brief Programmatic API: `const { startEmulator } = require('./emulator')`;
 *        `const emu = await startEmulator({ port: 0 })` → `{ info, close() }`.
 */
module.exports = require('./lib/server');
