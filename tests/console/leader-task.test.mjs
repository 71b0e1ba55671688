// The community leader assigns a task in the web console, picking the worker by name; the
// worker's device receives it at its next sync.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
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

test('leader 王芳 assigns a task to 张伟 by name; the worker syncs and has it', { timeout: 180_000 }, async () => {
  const worker = await h.device(server, 'worker');
  // A report of the worker's for the task to follow up (linked through ?report=).
  const { id: reportId } = await worker.run(
    ['report', 'new', '--grid', 'furong-01', '--category', 'sanitation', '--title', '芙蓉街垃圾堆放', '--submit'],
    { json: true },
  );
  await worker.sync();

  const context = await h.newContext(browser);
  const page = await h.newPage(context);
  await h.signInOk(page, server.url, 'leader');

  await h.visit(page, `${server.url}/console/tasks`);
  await h.checkPage(page, 'task-01-tasks');
  const before = await h.listedIds(page, 'tasks');

  await h.visit(page, `${server.url}/console/tasks/new?report=${reportId}`);
  await h.checkPage(page, 'task-02-new-task');
  const form = page.locator('form#new-task');
  assert.equal(await form.locator('input[name=linked_report]').getAttribute('value'), reportId, 'linked_report is prefilled from ?report=');
  assert.equal(await form.locator('input[name=due]').getAttribute('type'), 'date');

  const title = `检查消防通道 console-task ${Date.now()}`;
  await form.locator('input[name=title]').fill(title);
  await form.locator('textarea[name=description]').fill('联系物业，三天内清理。');
  await form.locator('select[name=grid]').selectOption('furong-01');
  // The assignee is picked by name; the option's value is the user's id.
  const options = await form.locator('select[name=assignee] option').evaluateAll((os) =>
    os.map((o) => ({ value: o.value, text: o.textContent.trim() })));
  const people = options.filter((o) => o.value);
  assert.equal(new Set(people.map((o) => o.value)).size, people.length, `each person is offered once: ${JSON.stringify(options)}`);
  // The option reads as the person's name (a role may follow it: "张伟 · worker").
  const zhang = people.filter((o) => o.text === '张伟' || o.text.startsWith('张伟 '));
  assert.equal(zhang.length, 1, `one assignee option names 张伟: ${JSON.stringify(options)}`);
  assert.equal(zhang[0].value, worker.userId, 'the option value is the user id');
  await form.locator('select[name=assignee]').selectOption({ label: zhang[0].text });
  const due = h.isoDate(3);
  await form.locator('input[name=due]').fill(due);
  const priorities = await form.locator('select[name=priority] option').evaluateAll((os) => os.map((o) => o.value));
  assert.ok(priorities.includes('high'), `priority offers high: ${JSON.stringify(priorities)}`);
  await form.locator('select[name=priority]').selectOption('high');
  await h.submit(page, 'form#new-task');

  const m = /^\/console\/tasks\/([^/?#]+)$/.exec(new URL(page.url()).pathname);
  assert.ok(m, `creating a task leads to /console/tasks/<id>, not ${page.url()}`);
  const taskId = m[1];
  await h.checkPage(page, 'task-03-task-detail');
  assert.ok((await page.locator('body').textContent()).includes(title), 'the task page shows its title');

  await h.visit(page, `${server.url}/console/tasks`);
  const afterIds = await h.listedIds(page, 'tasks');
  assert.ok(afterIds.includes(taskId) && !before.includes(taskId), 'the new task is listed');
  h.assertNoProblems(page);
  await context.close();

  // The worker's device.
  await worker.sync();
  const list = await worker.run(['task', 'list', '--mine'], { json: true });
  const item = list.items.find((t) => t.id === taskId);
  assert.ok(item, `the worker's device lists the task: ${JSON.stringify(list.items.map((t) => t.title))}`);
  assert.equal(item.title, title);
  const shown = await worker.run(['task', 'show', taskId], { json: true });
  assert.deepEqual(shown.record.assignees, [worker.userId]);
  assert.equal(shown.record.grid, 'furong-01');
  assert.equal(shown.record.priority, 'high');
  assert.equal(shown.record.linked_report, reportId);
  assert.equal(shown.record.status, 'assigned');
  assert.equal(shown.record.due, due, 'the due date arrived');
});
