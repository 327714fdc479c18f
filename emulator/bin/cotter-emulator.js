#!/usr/bin/env node
'use strict';
/**
 * @file bin/cotter-emulator.js
 * @brief CLI: start the emulator, print exactly one JSON line (the connection info) on stdout,
 *        serve until SIGTERM/SIGINT, then close and exit 0.
 */
const { parseArgs, USAGE } = require('../lib/config');
const { startEmulator } = require('../lib/server');

async function main() {
  let opts;
  try { opts = parseArgs(process.argv.slice(2)); } catch (e) {
    process.stderr.write(`cotter-emulator: ${e.message}\n${USAGE}`);
    process.exit(2);
  }
  if (opts.help) { process.stderr.write(USAGE); return; }
  let emu;
  try { emu = await startEmulator(opts); } catch (e) {
    process.stderr.write(`cotter-emulator: cannot start: ${e.message}\n`);
    process.exit(1);
  }
  process.stdout.write(JSON.stringify(emu.info) + '\n');
  let stopping = false;
  const stop = (sig) => {
    if (stopping) return;
    stopping = true;
    if (opts.verbose) process.stderr.write(`cotter-emulator: ${sig}, shutting down\n`);
    emu.close().then(() => process.exit(0), (e) => { process.stderr.write(`cotter-emulator: ${e.message}\n`); process.exit(1); });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main();
