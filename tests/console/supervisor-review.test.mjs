// A worker's report, filed and synced from the device, reviewed by the supervisor in the web
// console; the worker's device sees the outcome after its next sync.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as h from './lib.mjs';

let server;
let browser;

before(async () => {
  server = await h.startServer();
  browser = await h.launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('supervisor returns a synced report with a comment; the worker sees it on the device', { timeout: 180_000 }, async () => {
  // The worker's phone: a submitted report with a photo, synced.
  const worker = await h.device(server, 'worker');
  const title = `楼道堆放杂物 console-review ${Date.now()}`;
  const { id } = await worker.run(
    ['report', 'new', '--grid', 'furong-01', '--category', 'fire_hazard', '--severity', '3',
      '--title', title, '--description', '三楼楼道堆放纸箱，堵塞消防通道',
      '--lat', '36.6653', '--lon', '117.0205', '--submit'],
    { json: true },
  );
  const jpeg = await h.makeJpeg(join(worker.home, 'photo.jpg'));
  const photo = await worker.run(['report', 'photo', 'add', id, jpeg, '--caption', '三楼东侧'], { json: true });
  const synced = await worker.sync();
  assert.equal(synced.rejected, 0, `the worker's sync refused changes: ${JSON.stringify(synced)}`);
  assert.equal(synced.photos_pending, 0, 'the photo was not uploaded');

  // The supervisor, in the console.
  const context = await h.newContext(browser);
  const page = await h.newPage(context);
  await h.signInOk(page, server.url, 'supervisor');
  await h.checkPage(page, 'review-01-dashboard');

  // Find it in the list by part of its title.
  await h.visit(page, `${server.url}/console/reports`);
  await h.checkPage(page, 'review-02-reports');
  const q = page.locator('form#filters [name=q]');
  await q.fill('console-review');
  await h.submit(page, 'form#filters');
  assert.match(page.url(), /[?&]q=console-review/, `the filter form is not a GET with q: ${page.url()}`);
  await h.checkPage(page, 'review-03-reports-filtered');
  assert.deepEqual(await h.listedIds(page, 'reports'), [id], 'the filtered list should hold exactly the new report');
  const link = page.locator(`table#reports tbody tr[data-id="${id}"] a[href="/console/reports/${id}"]`);
  assert.equal(await link.count(), 1, 'the row links to the report');

  // Open it.
  await h.clickAndWait(page, link);
  assert.equal(new URL(page.url()).pathname, `/console/reports/${id}`);
  await h.checkPage(page, 'review-04-report-detail');
  assert.equal((await page.locator('h1').first().textContent()).trim(), title);
  assert.equal(await page.locator('#status').getAttribute('data-status'), 'submitted');

  // The thumbnail shows, and links to the full image.
  const thumb = page.locator('a.photo img').first();
  await thumb.waitFor();
  assert.ok(await thumb.evaluate((img) => img.complete && img.naturalWidth > 0), 'the thumbnail did not load');
  const href = await page.locator('a.photo').first().getAttribute('href');
  assert.equal(href, `/console/photos/${photo.hash}?record=${id}`);
  const full = await page.request.get(`${server.url}${href}`);
  assert.equal(full.status(), 200, `GET ${href}`);
  assert.equal(full.headers()['content-type'], 'image/jpeg');
  const body = await full.body();
  assert.equal(body.length, photo.bytes, 'the full image is the stored photo');
  assert.deepEqual([...body.subarray(0, 3)], [0xff, 0xd8, 0xff], 'a JPEG');

  // Return it with a comment.
  const comment = `请补充近景照片 ${Date.now()}`;
  await page.locator('form#step-returned textarea[name=comment]').fill(comment);
  await h.submit(page, 'form#step-returned');
  assert.equal(new URL(page.url()).pathname, `/console/reports/${id}`, 'after an action the page is the detail again');
  await h.checkPage(page, 'review-05-report-returned');
  assert.equal(await page.locator('#status').getAttribute('data-status'), 'returned');
  const comments = await page.locator('#comments li').allTextContents();
  assert.ok(comments.some((c) => c.includes(comment)), `the comment is listed: ${JSON.stringify(comments)}`);
  const history = await page.locator('#history li').allTextContents();
  assert.ok(
    history.some((l) => l.includes('刘洋') && /web console|网页控制台/.test(l)),
    `the history names 刘洋 and the web console: ${JSON.stringify(history)}`,
  );
  h.assertNoProblems(page);
  await context.close();

  // The worker's device, after a sync.
  await worker.sync();
  const shown = await worker.run(['report', 'show', id], { json: true });
  assert.equal(shown.record.status, 'returned');
  assert.ok(shown.record.comments.some((c) => c.text === comment), `the comment reached the device: ${JSON.stringify(shown.record.comments)}`);
  const returned = shown.record.transitions.at(-1);
  assert.equal(returned.to, 'returned');
  assert.equal(returned.comment, comment);
  const text = await worker.run(['report', 'show', id]);
  assert.match(text, /submitted → returned\s+by 刘洋/, `the device names the supervisor:\n${text}`);
});
