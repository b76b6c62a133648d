// Drive the page `lvmkit serve` serves at / in headless Chromium (Debian's package), as a
// person would: type sentences, press Continue, read the continuation and the neighbours; then
// submit nothing and expect the server's error on the page. Saves a screenshot.
//
//   node page-test.mjs URL SCREENSHOT.png [STEPS]
//
// Prints a JSON summary on stdout; exits non-zero on any failure.
import { chromium } from 'playwright-core';

const [url, screenshot, stepsArg] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error('usage: node page-test.mjs URL SCREENSHOT.png [STEPS]');
  process.exit(2);
}
const steps = Number(stepsArg || 4);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

// No sandbox (CI runs as root); nothing in the background that would reach for the network.
// Playwright gives the browser a fresh temporary profile.
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
let failed = null;
const summary = {};
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
  const consoleErrors = [];
  page.on('pageerror', e => consoleErrors.push(String(e)));
  await page.goto(url, { waitUntil: 'load' });
  // The model list comes from /v1/models.
  await page.waitForFunction(() => document.querySelectorAll('#model option').length > 0, null, { timeout: 30000 });
  summary.models = await page.$$eval('#model option', os => os.map(o => o.value));

  await page.fill('#texts', [
    'The city council voted to build a new library downtown.',
    'Construction will begin next spring.',
    'The mayor said the project would be paid for by a bond issue.',
  ].join('\n'));
  await page.fill('#steps', String(steps));
  await page.click('#go');
  await page.waitForFunction(n => document.querySelectorAll('#generated li').length === n, steps, { timeout: 60000 });
  await page.waitForFunction(() => document.querySelectorAll('#neighbors tr').length > 0, null, { timeout: 60000 });
  summary.continuation = await page.$$eval('#generated li', ls => ls.map(l => l.textContent));
  summary.neighbors = await page.$$eval('#neighbors tr', rs => rs.map(r => r.textContent));
  summary.diagnostics = await page.textContent('#diag');
  const error = (await page.textContent('#error')).trim();
  if (error) throw new Error(`the page shows an error: ${error}`);
  if (summary.neighbors.length !== 5) throw new Error(`expected 5 neighbours, got ${summary.neighbors.length}`);
  if (!/distinct/.test(summary.diagnostics)) throw new Error(`no diagnostics: ${summary.diagnostics}`);
  await page.screenshot({ path: screenshot, fullPage: true });

  // Nothing typed: the server's 4xx message reaches the person.
  await page.fill('#texts', '');
  await page.click('#go');
  await page.waitForFunction(() => document.querySelector('#error').textContent.trim().length > 0, null, { timeout: 30000 });
  summary.empty_input_error = (await page.textContent('#error')).trim();
  if (!/empty/.test(summary.empty_input_error)) throw new Error(`unexpected error text: ${summary.empty_input_error}`);
  if (consoleErrors.length) throw new Error(`script errors on the page: ${consoleErrors.join('; ')}`);
} catch (e) {
  failed = e;
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary, null, 2));
if (failed) {
  console.error(`page test failed: ${failed.message}`);
  process.exit(1);
}
