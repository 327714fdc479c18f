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
  // Signal handlers go in before anything is created: a supervisor may send SIGTERM the moment it reads the JSON
  // line (or before), and Node's default action would exit without close(), leaving e.g. the --tls temp dir.
  let emu = null;
  let stopSignal = null;
  const stop = (sig) => {
    if (stopSignal) return;
    stopSignal = sig;
    if (emu) shutdown();
  };
  const shutdown = () => {
    if (opts.verbose) process.stderr.write(`cotter-emulator: ${stopSignal}, shutting down\n`);
    emu.close().then(() => process.exit(0), (e) => { process.stderr.write(`cotter-emulator: ${e.message}\n`); process.exit(1); });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try { emu = await startEmulator(opts); } catch (e) {
    process.stderr.write(`cotter-emulator: cannot start: ${e.message}\n`);
    process.exit(1);
  }
  if (stopSignal) { shutdown(); return; } // asked to stop while starting: no JSON line
  process.stdout.write(JSON.stringify(emu.info) + '\n');
}

main();
