// A real browser opens report.html from disk: it renders (title, every chart laid out with lines
// of real length), logs no errors and requests nothing but the file itself. Debian's chromium,
// driven by playwright-core; a screenshot is kept in the test's folder (and in
// $FACEPIPE_SCREENSHOT_DIR when set, e.g. for CI artifacts).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { facepipe, tempDir } from '../helpers.js';
import { writeRun } from './fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

test('report.html renders in headless chromium: title, every chart with lines, no errors, no requests', { timeout: 120_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.skip(`${CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)`);
    return;
  }
  const dir = await tempDir(t);
  const runs = path.join(dir, 'runs');
  await writeRun(runs, { pipeline: 'model-a', id: '2026-11-28T04-00-00-000Z-aaaaaa', sets: { lfw: { accuracy: 0.975, std: 0.006 }, cfp_fp: { accuracy: 0.88, std: 0.014, separation: 0.45 }, agedb_30: { accuracy: 0.872, std: 0.012, separation: 0.4 } }, train: { speed: 0.7 } });
  await writeRun(runs, { pipeline: 'model-c', id: '2026-11-28T05-00-00-000Z-cccccc', sets: { lfw: { accuracy: 0.9968, std: 0.002 }, cfp_fp: { accuracy: 0.9399, std: 0.011, separation: 0.75 }, agedb_30: { accuracy: 0.9648, std: 0.009, separation: 0.9 } }, train: { speed: 1.5, norm: 'renorm', batchSize: 384 } });
  const r = await facepipe(['report', 'model-a', 'model-c', '--out', 'report'], { cwd: dir });
  assert.equal(r.exitCode, 0, r.all);
  const html = path.join(dir, 'report', 'report.html');
  const expectedCharts = 3 + 6; // a ROC per dataset, six training curves

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors: string[] = [];
  const requests: string[] = [];
  const failed: string[] = [];
  page.on('console', (m) => (m.type() === 'error' || m.type() === 'warning') && errors.push(`console ${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('request', (q) => requests.push(q.url()));
  page.on('requestfailed', (q) => failed.push(`${q.url()}: ${q.failure()?.errorText ?? '?'}`));
  await page.goto(pathToFileURL(html).href, { waitUntil: 'load' });

  assert.equal(await page.title(), 'model-a vs model-c');
  assert.equal(await page.locator('h1').textContent(), 'model-a vs model-c');
  assert.match((await page.locator('.summary').textContent()) ?? '', /lfw0\.99680\+-0\.00200model-c/);
  const svgs = page.locator('figure > svg');
  assert.equal(await svgs.count(), expectedCharts);
  for (let i = 0; i < expectedCharts; i++) {
    const box = await svgs.nth(i).boundingBox();
    assert.ok(box && box.width > 300 && box.height > 150, `chart ${i} is laid out (${JSON.stringify(box)})`);
  }
  // Lines the browser actually drew: path length measured by the renderer, per chart.
  const drawn = await page.$$eval('figure > svg', (els) => els.map((svg) => [...svg.querySelectorAll('.mark-line path')].map((p) => (p as unknown as { getTotalLength(): number }).getTotalLength())));
  for (const [i, lengths] of drawn.entries()) assert.ok(lengths.length >= 2 && lengths.every((l) => l > 20), `chart ${i}: a visible line per run (${lengths.map((l) => l.toFixed(0)).join(', ')})`);
  const tableText = await page.locator('table').first().innerText();
  assert.match(tableText, /agedb_30\s+0\.87200\+-0\.01200\s*-0\.0032\s+0\.96480\+-0\.00900\s*-0\.0004\s+0\.8752\s+0\.9652/);

  const shot = path.join(dir, 'report.png');
  await page.screenshot({ path: shot, fullPage: true });
  assert.ok(existsSync(shot));
  if (process.env.FACEPIPE_SCREENSHOT_DIR) {
    await mkdir(process.env.FACEPIPE_SCREENSHOT_DIR, { recursive: true });
    await copyFile(shot, path.join(process.env.FACEPIPE_SCREENSHOT_DIR, 'report.png'));
  }
  t.diagnostic(`screenshot: ${shot}`);

  assert.deepEqual(errors, []);
  assert.deepEqual(failed, []);
  assert.deepEqual(requests, [pathToFileURL(html).href], 'the page loads nothing but itself');
});
