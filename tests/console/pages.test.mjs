// Every page of the console, as the role that may see it: the shared chrome (CSRF meta, nav,
// language links, sign-out), the page's own contract, axe (no serious or critical violation)
// and a full-page screenshot in target/console-screenshots/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib.mjs';

const ID_NUMBER = '11010519491231002X';
const PHONE = '13800138000';

let server;
let browser;
let worker;
let householdId;

before(async () => {
  server = await h.startServer();
  browser = await h.launchBrowser();
  worker = await h.device(server, 'worker');
  ({ id: householdId } = await worker.run(
    ['household', 'add', '--grid', 'furong-01', '--address', '芙蓉街8号1单元101',
      '--member', `陈明,id=${ID_NUMBER},phone=${PHONE},born=1949,tags=elderly_living_alone`, '--notes', '独居'],
    { json: true },
  ));
  await worker.run(['visit', 'new', '--grid', 'furong-01', '--household', householdId, '--type', 'elderly_care', '--notes', '身体良好', '--need', 'repair:燃气软管']);
  await worker.sync();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const NAV = ['/console/dashboard', '/console/reports', '/console/tasks', '/console/households', '/console/visits'];

/** The chrome every signed-in page has. */
async function assertChrome(page, { admin = false, lang = 'zh-CN' } = {}) {
  const where = page.url();
  await h.csrfToken(page);
  for (const href of NAV) {
    assert.equal(await page.locator(`nav a[href="${href}"]`).count(), 1, `${where}: nav link ${href}`);
  }
  assert.equal(await page.locator('nav a[href="/console/admin"]').count(), admin ? 1 : 0, `${where}: nav link /console/admin ${admin ? 'for' : 'not for'} this user`);
  const path = async (sel) => new URL(await page.locator(sel).getAttribute('href'), page.url()).pathname;
  assert.equal(await path('a#lang-en'), '/console/lang/en', `${where}: a#lang-en`);
  assert.equal(await path('a#lang-zh'), '/console/lang/zh-CN', `${where}: a#lang-zh`);
  assert.equal(await page.locator('html').getAttribute('lang'), lang, `${where}: <html lang>`);
  const signOut = page.locator('form#sign-out');
  assert.equal(await signOut.count(), 1, `${where}: form#sign-out`);
  assert.equal((await signOut.getAttribute('method'))?.toLowerCase(), 'post', `${where}: sign-out is a POST`);
  assert.equal(await signOut.getAttribute('action'), '/console/sign-out', `${where}: sign-out action`);
  assert.equal(await signOut.locator('input[type=hidden][name=_csrf]').count(), 1, `${where}: sign-out carries _csrf`);
}

/** Visit, check the chrome, axe, screenshot. */
async function page200(page, path, name, chrome = {}) {
  await h.visit(page, `${server.url}${path}`);
  await assertChrome(page, chrome);
  await h.checkPage(page, name);
}

test('sign-in page', { timeout: 60_000 }, async () => {
  const context = await h.newContext(browser);
  const page = await h.newPage(context);
  await h.visit(page, `${server.url}/console/sign-in`);
  assert.equal(await page.locator('html').getAttribute('lang'), 'zh-CN');
  await h.checkPage(page, 'pages-00-sign-in');
  // Signed out, a console page leads to the sign-in page.
  await page.goto(`${server.url}/console/reports`);
  assert.equal(new URL(page.url()).pathname, '/console/sign-in', `signed out, /console/reports leads to ${page.url()}`);
  h.assertNoProblems(page);
  await context.close();
});

test("the supervisor's pages", { timeout: 240_000 }, async () => {
  const context = await h.newContext(browser);
  const page = await h.newPage(context);
  await h.signInOk(page, server.url, 'supervisor');
  await assertChrome(page);
  await h.checkPage(page, 'pages-01-dashboard');

  // Reports: the list, its filters, a detail with its actions.
  await page200(page, '/console/reports', 'pages-02-reports');
  const filters = page.locator('form#filters');
  assert.equal((await filters.getAttribute('method') ?? 'get').toLowerCase(), 'get', 'the filter form is a GET');
  for (const name of ['status', 'grid', 'category', 'severity', 'author', 'from', 'to', 'q']) {
    assert.equal(await filters.locator(`[name=${name}]`).count(), 1, `form#filters has ${name}`);
  }
  const ids = await h.listedIds(page, 'reports');
  assert.ok(ids.length >= 2, `the demo's reports are listed: ${ids}`);
  for (const id of ids) {
    assert.equal(await page.locator(`table#reports tbody tr[data-id="${id}"] a[href="/console/reports/${id}"]`).count() >= 1, true, `row ${id} links to its report`);
  }
  // Filtering by status keeps only that status.
  await page.goto(`${server.url}/console/reports?status=submitted`);
  const submitted = await h.listedIds(page, 'reports');
  assert.ok(submitted.length >= 1 && submitted.length <= ids.length, `status=submitted: ${submitted}`);
  await h.visit(page, `${server.url}/console/reports/${submitted[0]}`);
  await assertChrome(page);
  assert.equal(await page.locator('#status').getAttribute('data-status'), 'submitted');
  for (const form of ['form#step-approved', 'form#step-returned', 'form#comment']) {
    assert.equal(await page.locator(form).count(), 1, `a submitted report offers ${form}`);
  }
  assert.equal(await page.locator('form#step-returned textarea[name=comment][required]').count(), 1, 'returning requires a comment');
  assert.equal(await page.locator('form#comment textarea[name=text]').count(), 1);
  for (const form of await page.locator('main form[method=post], main form[method=POST]').all()) {
    assert.equal(await form.locator('input[type=hidden][name=_csrf]').count(), 1, `every POST form carries _csrf (${await form.getAttribute('id')})`);
  }
  await h.checkPage(page, 'pages-03-report-detail');

  // Tasks.
  await page200(page, '/console/tasks', 'pages-04-tasks');
  assert.ok((await h.listedIds(page, 'tasks')).length >= 1, "the demo's task is listed");
  await page200(page, '/console/tasks/new', 'pages-05-new-task');
  const newTask = page.locator('form#new-task');
  for (const sel of ['input[name=title]', 'textarea[name=description]', 'select[name=grid]', 'select[name=assignee]', 'input[name=due][type=date]', 'select[name=priority]']) {
    assert.equal(await newTask.locator(sel).count(), 1, `form#new-task has ${sel}`);
  }

  // Households: masked until a reason is given.
  await page200(page, '/console/households', 'pages-06-households');
  assert.ok((await h.listedIds(page, 'households')).includes(householdId), 'the new household is listed');
  await page200(page, `/console/households/${householdId}`, 'pages-07-household-masked');
  let text = await page.locator('body').textContent();
  assert.ok(text.includes('陈明'), 'the member is shown');
  assert.ok(!text.includes(ID_NUMBER), 'the ID number is masked');
  assert.ok(!text.includes(PHONE), 'the phone number is masked');
  assert.equal(await page.locator('form#reveal textarea[name=reason][required]').count(), 1, 'form#reveal asks for a reason');
  const reason = `入户核实身份 ${Date.now()}`;
  await page.locator('form#reveal textarea[name=reason]').fill(reason);
  await h.submit(page, 'form#reveal');
  text = await page.locator('body').textContent();
  assert.ok(text.includes(ID_NUMBER), 'revealed: the ID number');
  assert.ok(text.includes(PHONE), 'revealed: the phone number');
  await assertChrome(page);
  await h.checkPage(page, 'pages-08-household-revealed');

  // Visits.
  await page200(page, '/console/visits', 'pages-09-visits');

  // In English.
  await h.clickAndWait(page, 'a#lang-en');
  assert.equal(new URL(page.url()).pathname, '/console/visits', 'switching the language returns to the page');
  await assertChrome(page, { lang: 'en' });
  await h.checkPage(page, 'pages-10-visits-en');
  await page200(page, '/console/dashboard', 'pages-11-dashboard-en', { lang: 'en' });
  await page200(page, '/console/reports', 'pages-12-reports-en', { lang: 'en' });
  await page200(page, `/console/reports/${submitted[0]}`, 'pages-13-report-detail-en', { lang: 'en' });
  await h.clickAndWait(page, 'a#lang-zh');
  await assertChrome(page, { lang: 'zh-CN' });

  // The admin pages are not the supervisor's.
  const admin = await page.goto(`${server.url}/console/admin`);
  assert.ok([403, 404].includes(admin.status()), `GET /console/admin as the supervisor: ${admin.status()}`);
  h.assertNoProblems(page);
  await context.close();
});

test("the leader's pages", { timeout: 120_000 }, async () => {
  const context = await h.newContext(browser);
  const page = await h.newPage(context);
  await h.signInOk(page, server.url, 'leader');
  await assertChrome(page);
  await h.checkPage(page, 'pages-20-leader-dashboard');
  await page200(page, '/console/reports', 'pages-21-leader-reports');
  await page200(page, '/console/tasks', 'pages-22-leader-tasks');
  await page200(page, '/console/households', 'pages-23-leader-households');
  await page200(page, '/console/visits', 'pages-24-leader-visits');
  h.assertNoProblems(page);
  await context.close();
});

test("the admin's pages", { timeout: 120_000 }, async () => {
  // A device to revoke.
  const doomed = await h.device(server, 'worker2', 'to-revoke');
  const context = await h.newContext(browser);
  const page = await h.newPage(context);
  await h.signInOk(page, server.url, 'admin');
  await assertChrome(page, { admin: true });
  await h.checkPage(page, 'pages-30-admin-dashboard');
  await page200(page, '/console/admin', 'pages-31-admin', { admin: true });
  for (const table of ['users', 'units', 'devices']) {
    assert.ok(await page.locator(`table#${table} tbody tr`).count() >= 1, `table#${table} has rows`);
  }
  const users = await page.locator('table#users').textContent();
  for (const name of ['张伟', '李娜', '王芳', '刘洋']) assert.ok(users.includes(name), `table#users lists ${name}`);
  // Every device still signed in can be revoked (the test devices are; revoked ones show no form).
  const rows = page.locator('table#devices tbody tr', { hasText: '(console test)' });
  const n = await rows.count();
  assert.ok(n >= 2, `the test devices are listed (${n})`);
  for (let i = 0; i < n; i++) {
    assert.equal(await rows.nth(i).locator('form.revoke').count(), 1, `device row ${await rows.nth(i).textContent()} has form.revoke`);
  }
  await page200(page, '/console/admin/access-log', 'pages-32-access-log', { admin: true });
  assert.equal(await page.locator('table#access-log').count(), 1);
  const log = await page.locator('table#access-log').textContent();
  assert.ok(log.includes('刘洋'), `the access log records the supervisor's reveal: ${log.slice(0, 500)}`);

  // Revoking a device: its next sync is refused.
  await page200(page, '/console/admin', 'pages-33-admin-before-revoke', { admin: true });
  const row = page.locator('table#devices tbody tr', { hasText: 'to-revoke' });
  assert.equal(await row.count(), 1, 'the device to revoke is listed by its name');
  await h.submit(page, row.locator('form.revoke').first());
  await assertChrome(page, { admin: true });
  await assert.rejects(doomed.sync(), 'a revoked device can no longer sync');
  await worker.sync();
  h.assertNoProblems(page);
  await context.close();
});
