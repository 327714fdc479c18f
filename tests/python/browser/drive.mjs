/**
 * @file drive.mjs
 * @brief The "user" of the real-browser login test: opens the login URL in headless system Chromium, types the
 * identifier, reads the OTP from the emulator's dev mailbox, types it, and waits for the CLI's success page.
 *
 * Usage: node drive.mjs LOGIN_URL   (env COTTER_DEV_URL, COTTER_DEV_TOKEN, COTTER_TEST_IDENTIFIER, COTTER_BROWSER_LOG)
 */
import { appendFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const url = process.argv[2];
const devUrl = process.env.COTTER_DEV_URL;
const devHeaders = { 'X-Cotter-Dev-Token': process.env.COTTER_DEV_TOKEN }; // the dev API's token
const identifier = process.env.COTTER_TEST_IDENTIFIER;
const log = (line) => appendFileSync(process.env.COTTER_BROWSER_LOG, line + '\n');

async function otpFromMailbox() {
  for (let i = 0; i < 100; i++) {
    const box = await (await fetch(`${devUrl}/mailbox?to=${encodeURIComponent(identifier)}`, { headers: devHeaders })).json();
    if (box.length) return box[box.length - 1].otp;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('no OTP in the dev mailbox');
}

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ARGS, headless: true });
try {
  const page = await browser.newPage();
  await page.goto(url);
  await page.fill('#identifier', identifier);
  await page.click('#submit');
  await page.waitForSelector('#otp');
  await page.fill('#otp', await otpFromMailbox());
  await Promise.all([page.waitForSelector('#cotter-success', { timeout: 20000 }), page.click('#submit')]);
  log(`ok ${page.url().split('?')[0]}`);
} catch (e) {
  log(`error ${e.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
