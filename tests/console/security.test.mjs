// The console's defences, from a browser: hostile text renders as text, forms need the CSRF
// token, scope is enforced (another community's report is not found), workers cannot sign in,
// a signed-out session is dead, and the session cookie is locked down.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib.mjs';

let server;
let browser;
let worker;
let xssId;
let baotuId;

before(async () => {
  server = await h.startServer();
  browser = await h.launchBrowser();
  worker = await h.device(server, 'worker');
  ({ id: xssId } = await worker.run(
    ['report', 'new', '--grid', 'furong-01', '--title', '<script>alert(1)</script>',
      '--description', '<img src=x onerror=alert(2)> "quoted" & \'single\'', '--submit'],
    { json: true },
  ));
  await worker.sync();
  const worker2 = await h.device(server, 'worker2');
  ({ id: baotuId } = await worker2.run(
    ['report', 'new', '--grid', 'baotu-01', '--category', 'sanitation', '--title', '趵突泉北门垃圾桶满溢', '--submit'],
    { json: true },
  ));
  await worker2.sync();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('sign-in page: the form, a refusal on a wrong password', { timeout: 60_000 }, async () => {
  const context = await h.newContext(browser);
  const page = await h.newPage(context);
  await h.visit(page, `${server.url}/console/sign-in`);
  await h.checkPage(page, 'security-01-sign-in');
  for (const sel of ['form#sign-in input[name=username]', 'form#sign-in input[name=password]', 'form#sign-in input[type=hidden][name=_csrf]', 'form#sign-in button[type=submit]']) {
    assert.equal(await page.locator(sel).count(), 1, `the sign-in page has ${sel}`);
  }
  assert.equal(await page.locator('form#sign-in input[name=password]').getAttribute('type'), 'password');
  await h.signIn(page, server.url, 'supervisor', 'not-the-password');
  assert.equal(new URL(page.url()).pathname, '/console/sign-in', 'a wrong password stays on the sign-in page');
  assert.ok(await page.locator('[role=alert]').count() > 0, 'a wrong password shows [role=alert]');
  assert.equal(await h.sessionCookie(context), undefined, 'no session for a wrong password');
  await h.checkPage(page, 'security-02-sign-in-refused');
  h.assertNoProblems(page);
  await context.close();
});

test('a worker cannot sign in to the console', { timeout: 60_000 }, async () => {
  const context = await h.newContext(browser);
  const page = await h.newPage(context);
  await h.signIn(page, server.url, 'worker');
  assert.equal(new URL(page.url()).pathname, '/console/sign-in', 'the worker stays on the sign-in page');
  assert.ok(await page.locator('[role=alert]').count() > 0, 'the refusal is shown as [role=alert]');
  assert.equal(await h.sessionCookie(context), undefined, 'the worker gets no gw_session cookie');
  await h.checkPage(page, 'security-03-worker-refused');
  const res = await page.goto(`${server.url}/console/dashboard`);
  assert.equal(new URL(page.url()).pathname, '/console/sign-in', `the dashboard sends the worker to sign in (got ${res.status()} ${page.url()})`);
  await context.close();
});

test('the session cookie is HttpOnly, SameSite=Strict, Path=/console', { timeout: 60_000 }, async () => {
  const context = await h.newContext(browser);
  const page = await h.newPage(context);
  await h.signInOk(page, server.url, 'supervisor');
  const cookie = await h.sessionCookie(context);
  assert.ok(cookie, 'signing in sets gw_session');
  assert.equal(cookie.httpOnly, true, 'HttpOnly');
  assert.equal(cookie.sameSite, 'Strict', 'SameSite=Strict');
  assert.equal(cookie.path, '/console', 'Path=/console');
  assert.equal(await page.evaluate(() => document.cookie.includes('gw_session')), false, 'scripts cannot read it');
  await context.close();
});

test('a report titled <script> renders as text', { timeout: 60_000 }, async () => {
  const context = await h.newContext(browser);
  const page = await h.newPage(context);
  await h.signInOk(page, server.url, 'supervisor');
  await h.visit(page, `${server.url}/console/reports`);
  assert.ok((await h.listedIds(page, 'reports')).includes(xssId), 'the hostile report is listed');
  await h.visit(page, `${server.url}/console/reports/${xssId}`);
  await page.waitForTimeout(300);
  await h.checkPage(page, 'security-04-hostile-title');
  assert.equal(await page.locator('h1').first().textContent(), '<script>alert(1)</script>');
  assert.ok((await page.locator('body').textContent()).includes('<img src=x onerror=alert(2)>'), 'the description shows as text');
  assert.equal(await page.locator('img[src=x]').count(), 0, 'no element came from the description');
  assert.deepEqual(page.problems.dialogs, [], 'no dialog may open');
  h.assertNoProblems(page);
  await context.close();
});

test('a form post without the CSRF token is refused 403', { timeout: 60_000 }, async () => {
  const context = await h.newContext(browser);
  const page = await h.newPage(context);
  await h.signInOk(page, server.url, 'supervisor');
  await h.visit(page, `${server.url}/console/reports/${xssId}`);
  const token = await h.csrfToken(page);
  const post = (path, fields) =>
    page.evaluate(async ({ path, fields }) => {
      const res = await fetch(path, {
        method: 'POST',
        body: new URLSearchParams(fields),
        redirect: 'manual',
        credentials: 'same-origin',
      });
      return res.status;
    }, { path, fields });
  const path = `/console/reports/${xssId}/comment`;
  const action = await page.locator('form#comment').getAttribute('action');
  const target = action || path;
  assert.equal(await post(target, { text: 'no token' }), 403, `POST ${target} without _csrf`);
  assert.equal(await post(target, { text: 'wrong token', _csrf: `${token}x` }), 403, `POST ${target} with a wrong _csrf`);
  // Nothing was written: the report has no such comment.
  await h.visit(page, `${server.url}/console/reports/${xssId}`);
  const comments = await page.locator('#comments li').allTextContents();
  assert.ok(!comments.some((c) => c.includes('token')), `a refused post wrote a comment: ${JSON.stringify(comments)}`);
  // And with the token it works (so the 403s above were about the token).
  await page.locator('form#comment textarea[name=text]').fill('有令牌的评论');
  await h.submit(page, 'form#comment');
  assert.ok((await page.locator('#comments li').allTextContents()).some((c) => c.includes('有令牌的评论')), 'the comment with the token is listed');
  // Signing out needs the token too (else any page could sign the user out).
  assert.equal(await post('/console/sign-out', {}), 403, 'POST /console/sign-out without _csrf');
  await h.visit(page, `${server.url}/console/dashboard`);
  assert.equal(new URL(page.url()).pathname, '/console/dashboard', 'still signed in');
  await context.close();
});

test("the leader of furong gets 404 for a baotu-01 report", { timeout: 60_000 }, async () => {
  const context = await h.newContext(browser);
  const page = await h.newPage(context);
  await h.signInOk(page, server.url, 'leader');
  await h.visit(page, `${server.url}/console/reports`);
  assert.ok(!(await h.listedIds(page, 'reports')).includes(baotuId), "baotu-01's report is not listed for the leader");
  const res = await page.goto(`${server.url}/console/reports/${baotuId}`);
  assert.equal(res.status(), 404, `GET /console/reports/<baotu id> as the leader: ${res.status()}`);
  assert.ok(!(await page.locator('body').textContent()).includes('趵突泉北门'), 'the 404 page shows nothing of the report');
  // An id that exists nowhere answers the same.
  const none = await page.goto(`${server.url}/console/reports/01a241f1-0000-7000-8000-000000000000`);
  assert.equal(none.status(), 404);
  // The supervisor (the whole street) does see it.
  const sup = await h.newPage(await h.newContext(browser));
  await h.signInOk(sup, server.url, 'supervisor');
  await h.visit(sup, `${server.url}/console/reports/${baotuId}`);
  await sup.context().close();
  // The admin pages are the admin's alone.
  const admin = await page.goto(`${server.url}/console/admin`);
  assert.ok([403, 404].includes(admin.status()), `GET /console/admin as the leader: ${admin.status()}`);
  assert.equal(await page.locator('nav a[href="/console/admin"]').count(), 0);
  await context.close();
});

test('after sign-out the old session cookie is dead', { timeout: 60_000 }, async () => {
  const context = await h.newContext(browser);
  const page = await h.newPage(context);
  await h.signInOk(page, server.url, 'supervisor');
  const old = await h.sessionCookie(context);
  assert.ok(old);
  assert.equal(await page.locator('form#sign-out input[type=hidden][name=_csrf]').count(), 1, 'the sign-out form carries _csrf');
  await h.submit(page, 'form#sign-out');
  assert.equal(new URL(page.url()).pathname, '/console/sign-in', `sign-out leads to the sign-in page, not ${page.url()}`);
  const after = await h.sessionCookie(context);
  assert.ok(!after || after.value !== old.value, 'the browser no longer holds the old session');
  await context.close();

  // Replay the old cookie from a fresh browser.
  const replay = await h.newContext(browser);
  await replay.addCookies([{ name: 'gw_session', value: old.value, domain: '127.0.0.1', path: '/console', httpOnly: true, sameSite: 'Strict' }]);
  const p2 = await h.newPage(replay);
  const res = await p2.goto(`${server.url}/console/dashboard`);
  const path = new URL(p2.url()).pathname;
  assert.ok(path === '/console/sign-in' || [401, 403].includes(res.status()), `the old cookie still opens the dashboard (${res.status()} ${p2.url()})`);
  assert.equal(await p2.locator('meta[name="csrf-token"]').count(), 0, 'no signed-in page for the old cookie');
  await replay.close();
});
