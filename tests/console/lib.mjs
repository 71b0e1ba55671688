// The harness of the console's browser tests: a real `gridwork-server --demo` on a loopback
// port with its own data directory, devices driven through the `gridwork` CLI (one store per
// simulated phone), Debian's Chromium driven by playwright-core, axe-core for accessibility and
// full-page screenshots.
//
// Environment (set by `cargo xtask console-test`; defaults for `node --test tests/console/` run
// from the repository after `cargo build -p gridwork-server -p gridwork-cli`):
//   GRIDWORK_SERVER_BIN   target/debug/gridwork-server
//   GRIDWORK_CLI_BIN      target/debug/gridwork
//   GRIDWORK_SCREENSHOTS  target/console-screenshots
//   GRIDWORK_CHROMIUM     /usr/bin/chromium

import { spawn, execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const require = createRequire(import.meta.url);
const run = promisify(execFile);

export const SERVER_BIN = process.env.GRIDWORK_SERVER_BIN || join(repo, 'target/debug/gridwork-server');
export const CLI_BIN = process.env.GRIDWORK_CLI_BIN || join(repo, 'target/debug/gridwork');
export const SCREENSHOTS = process.env.GRIDWORK_SCREENSHOTS || join(repo, 'target/console-screenshots');
export const CHROMIUM = process.env.GRIDWORK_CHROMIUM || '/usr/bin/chromium';

/** The demo organisation's users (`gridwork-server --demo`). */
export const USERS = {
  worker: { username: 'worker', password: 'demo-worker', name: '张伟', grid: 'furong-01' },
  worker2: { username: 'worker2', password: 'demo-worker2', name: '李娜', grid: 'baotu-01' },
  leader: { username: 'leader', password: 'demo-leader', name: '王芳', unit: 'furong' },
  supervisor: { username: 'supervisor', password: 'demo-supervisor', name: '刘洋', unit: 'quancheng' },
  admin: { username: 'admin', password: 'demo-admin', name: 'Administrator' },
};

const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Start `gridwork-server --demo` on a free loopback port (port 0: the server picks one and
 * prints it) with a fresh data directory; resolves once `GET /healthz` answers. `stop()` ends
 * the process and removes the directory (and the devices' stores, kept under it).
 */
export async function startServer({ args = [] } = {}) {
  assert.ok(existsSync(SERVER_BIN), `no server binary at ${SERVER_BIN} (cargo build -p gridwork-server)`);
  const root = await mkdtemp(join(tmpdir(), 'gridwork-console-'));
  const dataDir = join(root, 'data');
  const child = spawn(
    SERVER_BIN,
    [
      '--demo',
      '--listen', '127.0.0.1:0',
      '--data-dir', dataDir,
      // Every test signs in several times from 127.0.0.1; the limiter is tested elsewhere.
      '--sign-in-addr-burst', '1000',
      '--sign-in-addr-per-min', '1000',
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' } },
  );
  running.add(child);
  let output = '';
  let exited = null;
  const url = await new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server printed no address within 30 s:\n${output}`)), 30_000);
    const onData = (chunk) => {
      output += chunk;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]);
      }
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      running.delete(child);
      clearTimeout(timer);
      reject(new Error(`the server exited (${code ?? signal}) before listening:\n${output}`));
    });
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) break;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`GET ${url}/healthz never answered 200:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    dataDir,
    root,
    /** The server's output so far (for failure messages). */
    output: () => output,
    /** A fresh directory for one simulated device's store. */
    async deviceHome(name) {
      const dir = join(root, 'devices', name);
      await mkdir(dir, { recursive: true });
      return dir;
    },
    async stop() {
      if (!exited) {
        const done = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await done;
        clearTimeout(timer);
      }
      running.delete(child);
      await rm(root, { recursive: true, force: true });
    },
  };
}

/**
 * Run the `gridwork` CLI as the device whose store lives in `home`. Returns stdout (parsed when
 * `json`); throws with stdout and stderr when it fails.
 */
export async function cli(args, { home, json = false } = {}) {
  assert.ok(home, 'cli: which device? ({home})');
  assert.ok(existsSync(CLI_BIN), `no CLI binary at ${CLI_BIN} (cargo build -p gridwork-cli)`);
  const full = ['--db', join(home, 'device.db'), ...(json ? ['--json'] : []), ...args];
  try {
    const env = { ...process.env, HOME: home };
    for (const k of Object.keys(env)) if (k.startsWith('GRIDWORK_') && !k.endsWith('_BIN')) delete env[k];
    const { stdout } = await run(CLI_BIN, full, {
      env,
      maxBuffer: 16 << 20,
    });
    return json ? JSON.parse(stdout) : stdout;
  } catch (e) {
    throw new Error(`gridwork ${full.join(' ')} failed (${e.code}):\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/**
 * A simulated phone of `user` (a key of USERS), signed in to `server`. `run(args, {json})` runs
 * the CLI as that device; `userId` is the account's id.
 */
export async function device(server, user, name = user) {
  const u = USERS[user];
  const home = await server.deviceHome(name);
  const login = await cli(['login', '--server', server.url, '--user', u.username, '--password', u.password, '--device-name', `${name} (console test)`], { home, json: true });
  return {
    home,
    userId: login.user_id,
    login,
    run: (args, opts = {}) => cli(args, { home, ...opts }),
    sync: () => cli(['sync'], { home, json: true }),
  };
}

/** A small JPEG (ImageMagick), for a report's photo. */
export async function makeJpeg(path, { width = 640, height = 480, color = 'skyblue' } = {}) {
  const convert = process.env.GRIDWORK_IMAGEMAGICK || 'convert';
  await run(convert, ['-size', `${width}x${height}`, `xc:${color}`, path]);
  return path;
}

/** Debian's Chromium, headless, through playwright-core. */
export async function launchBrowser() {
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (apt-get install -y chromium, or cargo xtask setup as root)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu'],
  });
}

/**
 * A fresh browser context (its own cookies, Chinese preferred) whose pages may reach only 127.0.0.1: any other
 * request is aborted and recorded in `context.blocked` (the console must not load anything from
 * the internet: it serves its own scripts, styles and fonts).
 */
export async function newContext(browser, options = {}) {
  // The console's users read Chinese: their browsers ask for zh-CN first.
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'zh-CN', ...options });
  context.blocked = [];
  await context.route(
    (url) => url.hostname !== '127.0.0.1',
    (route) => {
      context.blocked.push(route.request().url());
      return route.abort('blockedbyclient');
    },
  );
  return context;
}

/**
 * A page of `context` that records what should never happen: JavaScript dialogs (dismissed),
 * uncaught errors, console errors, and sub-resources (scripts, styles, images, htmx requests)
 * answered with an error (`page.problems`). Pages themselves may be errors (a test asks for
 * 404s); the console's message about those is not counted.
 */
export async function newPage(context) {
  const page = await context.newPage();
  page.problems = { dialogs: [], errors: [], console: [], failed: [] };
  page.inflight = new Set();
  page.on('request', (r) => page.inflight.add(r));
  page.on('requestfinished', (r) => page.inflight.delete(r));
  page.on('requestfailed', (r) => page.inflight.delete(r));
  page.on('dialog', (d) => {
    page.problems.dialogs.push(`${d.type()}: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  page.on('pageerror', (e) => page.problems.errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
      page.problems.console.push(`${m.text()} (${m.location()?.url ?? ''})`);
    }
  });
  page.on('response', (r) => {
    const type = r.request().resourceType();
    if (r.status() >= 400 && type !== 'document' && !r.url().endsWith('/favicon.ico')) {
      page.problems.failed.push(`${r.status()} ${type} ${r.url()}`);
    }
  });
  page.on('requestfailed', (r) => {
    if (!r.url().endsWith('/favicon.ico')) page.problems.failed.push(`${r.failure()?.errorText} ${r.url()}`);
  });
  return page;
}

/** No dialog opened, no script failed, no sub-resource failed, nothing outside 127.0.0.1. */
export function assertNoProblems(page) {
  const { dialogs, errors, console: consoleErrors, failed } = page.problems;
  assert.deepEqual(dialogs, [], `dialogs opened on ${page.url()}`);
  assert.deepEqual(errors, [], `uncaught script errors on ${page.url()}`);
  assert.deepEqual(consoleErrors, [], `console errors on ${page.url()}`);
  assert.deepEqual(failed, [], `failed sub-resources on ${page.url()}`);
  assert.deepEqual(page.context().blocked, [], 'requests outside 127.0.0.1');
}

/** Go to `url` and expect `status` (200 by default). Returns the response. */
export async function visit(page, url, status = 200) {
  const res = await page.goto(url);
  assert.ok(res, `no response for ${url}`);
  assert.equal(res.status(), status, `GET ${url}: ${res.status()} (${page.url()})`);
  return res;
}

/** Resolves once no request of the page has been in flight for `quietMs`. */
export async function settle(page, quietMs = 250, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let quietSince = Date.now();
  for (;;) {
    if (page.inflight.size > 0) quietSince = Date.now();
    else if (Date.now() - quietSince >= quietMs) return;
    if (Date.now() > deadline) throw new Error(`requests still in flight on ${page.url()}: ${[...page.inflight].map((r) => r.url())}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Click `target` (a selector or a locator) and wait until what it started is done: a full
 * navigation, or an htmx request and its swap (with or without a pushed URL).
 */
export async function clickAndWait(page, target) {
  const locator = (typeof target === 'string' ? page.locator(target) : target).first();
  await locator.waitFor();
  const started = Promise.race([
    page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame(), timeout: 30_000 }),
    page.waitForEvent('request', { timeout: 30_000 }),
  ]);
  await locator.click();
  await started;
  await settle(page);
  await page.waitForLoadState('load');
}

/**
 * Submit the form `form` (a selector or a locator) with its submit button and wait until the
 * page it leads to has loaded (a full navigation, or a same-document one when htmx boosts it).
 */
export async function submit(page, form, button = 'button[type=submit]') {
  const locator = typeof form === 'string' ? page.locator(form) : form;
  await clickAndWait(page, locator.locator(button));
}

/** Sign in through the console's sign-in form; resolves once the next page has loaded. */
export async function signIn(page, base, username, password) {
  const u = USERS[username];
  await visit(page, `${base}/console/sign-in`);
  await page.locator('form#sign-in input[name=username]').fill(u ? u.username : username);
  await page.locator('form#sign-in input[name=password]').fill(password ?? u.password);
  await submit(page, 'form#sign-in');
}

/** Sign in and expect to land on the dashboard. */
export async function signInOk(page, base, username, password) {
  await signIn(page, base, username, password);
  assert.equal(new URL(page.url()).pathname, '/console/dashboard', `${username} signed in but is on ${page.url()}`);
}

/** The `gw_session` cookie of the page's context, if any. */
export async function sessionCookie(context) {
  return (await context.cookies()).find((c) => c.name === 'gw_session');
}

/** The record ids listed in `table#<id>` (its rows' data-id). */
export async function listedIds(page, table) {
  return page.locator(`table#${table} tbody tr[data-id]`).evaluateAll((rows) => rows.map((r) => r.dataset.id));
}

let axeSource;
/**
 * Run axe-core on the page; fail on any violation of impact serious or critical, naming each
 * rule and the elements it found. Minor and moderate ones are printed, not failed.
 */
export async function axeCheck(page, label = page.url()) {
  axeSource ??= await readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
  // Evaluated through the DevTools protocol: the console's Content-Security-Policy (rightly)
  // refuses an injected inline <script>, and stays in force for everything else.
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    await page.evaluate(axeSource);
  }
  const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const describe = (v) =>
    `  ${v.id} (${v.impact}): ${v.help}\n${v.nodes.map((n) => `    ${n.target.join(' ')}  ${n.failureSummary?.split('\n').slice(1).join('; ') ?? ''}`).join('\n')}`;
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const minor = results.violations.filter((v) => !bad.includes(v));
  if (minor.length) console.log(`axe (minor/moderate) on ${label}:\n${minor.map(describe).join('\n')}`);
  assert.equal(bad.length, 0, `axe: serious or critical violations on ${label}:\n${bad.map(describe).join('\n')}`);
}

/** A full-page screenshot to $GRIDWORK_SCREENSHOTS/<name>.png. */
export async function screenshot(page, name) {
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/**
 * No message key shows instead of its translation: no text, option, label, title, placeholder
 * or alt reads like `task-pick-person` (lowercase words joined by hyphens, no digits, so grid
 * ids such as furong-01 pass).
 */
export async function assertTranslated(page, label = page.url()) {
  const keys = await page.evaluate(() => {
    const key = /^[a-z]+(?:-[a-z]+)+$/;
    const found = new Set();
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const t = n.textContent.trim();
      if (key.test(t) && !['SCRIPT', 'STYLE'].includes(n.parentElement?.tagName)) found.add(t);
    }
    for (const el of document.querySelectorAll('[aria-label], [title], [placeholder], [alt]')) {
      for (const a of ['aria-label', 'title', 'placeholder', 'alt']) {
        const v = el.getAttribute(a)?.trim();
        if (v && key.test(v)) found.add(`${a}="${v}"`);
      }
    }
    const title = document.title.trim();
    if (key.test(title)) found.add(`<title>${title}`);
    return [...found];
  });
  assert.deepEqual(keys, [], `untranslated message keys on ${label}`);
}

/** A screenshot, axe, and no untranslated key: what the tests do on every page they reach. */
export async function checkPage(page, name) {
  await screenshot(page, name);
  await axeCheck(page, `${name} (${page.url()})`);
  await assertTranslated(page, `${name} (${page.url()})`);
}

/** The page's `<meta name="csrf-token">` value (asserted present). */
export async function csrfToken(page) {
  const token = await page.locator('meta[name="csrf-token"]').getAttribute('content');
  assert.ok(token, `no csrf-token meta on ${page.url()}`);
  return token;
}

/** YYYY-MM-DD, `days` from today (UTC). */
export function isoDate(days = 0) {
  return new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
}
