// What the scripts in tests/e2e share: where the repository, the build and the server binary
// are, the checks of what a script needs (and the `npm ci` fallback), bounded waits, processes
// that are always stopped (the heimdallr binary with --set overrides on port 0 among them), free
// ports, temporary directories, WebSocket upgrade outcomes, and, for the browser scenarios,
// chromium, the demo page and the run-and-report harness.
//
// Only Node's own modules are imported here at load time: npm packages (playwright-core) are
// imported when first needed, so that a script can run requirePrerequisites() before they exist.
//
// Environment: HEIMDALLR_BUILD_DIR (default <repo>/build), CHROMIUM (default /usr/bin/chromium).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// ---------------------------------------------------------------------------------------------
// Where things are.

/** tests/e2e, where package.json and node_modules are. */
export const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository's root; every process is started there. */
export const repo = path.resolve(here, '..', '..');
/** The build directory: $HEIMDALLR_BUILD_DIR, or <repo>/build. */
export const buildDir = path.resolve(process.env.HEIMDALLR_BUILD_DIR || path.join(repo, 'build'));
export const serverBinary = path.join(buildDir, 'bin', 'heimdallr');
export const pluginDir = path.join(buildDir, 'plugins');
/** The shipped configuration every server starts from (--config). */
export const serverConfig = path.join(repo, 'conf', 'heimdallr.yaml');
export const webRoot = path.join(repo, 'web');
/** Screenshots and, on failure, logs of the browser scenarios. */
export const outDir = path.join(repo, 'tests', 'out', 'e2e');
/** $CHROMIUM, or Debian's /usr/bin/chromium. */
export const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

/** Per node:test test; every wait inside one is bounded too. */
export const TEST_TIMEOUT = { timeout: 30_000 };

/** What the web demo needs of a server: its pages, and rooms with history and presence. */
export const DEMO_JOIN_MESSAGES = 20;
export const DEMO_SETTINGS = [
  `web.root=${webRoot}`,
  'history.size=100',
  `history.join_messages=${DEMO_JOIN_MESSAGES}`,
  'presence.enabled=true',
  'presence.join_leave=true',
];

// ---------------------------------------------------------------------------------------------
// Prerequisites.

/** Prints `<tag>: FAILED: <message>` and exits with 1 (the exit handlers below still run). */
export function fail(tag, message) {
  console.error(`${tag}: FAILED: ${message}`);
  process.exit(1);
}

/** Whether `command` is found on PATH. */
export function onPath(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Exits through fail(tag, …) with what to install when something is missing, checked in this
 * order: the server binary (unless `server` is false), each of `plugins` (file names in the
 * build's plugin directory), chromium (when `browser`), each of `commands` on PATH (the Debian
 * package is assumed to have the command's name). Then, if any of `packages` is missing from
 * tests/e2e/node_modules, runs `npm ci` there (and fails if that fails). Returns nothing.
 */
export function requirePrerequisites(
  tag,
  { server = true, plugins = [], browser = false, commands = [], packages = [] } = {},
) {
  if (server && !existsSync(serverBinary))
    fail(tag, `no server binary at ${serverBinary}: build first (scripts/setup)`);
  for (const plugin of plugins) {
    if (!existsSync(path.join(pluginDir, plugin)))
      fail(tag, `no ${plugin} in ${pluginDir}: build first (scripts/setup)`);
  }
  if (browser && !existsSync(chromiumPath))
    fail(tag, `no browser at ${chromiumPath}: apt-get install -y chromium`);
  for (const command of commands) {
    if (!onPath(command)) fail(tag, `no ${command} on PATH: apt-get install -y ${command}`);
  }
  const missing = packages.filter((name) => !existsSync(path.join(here, 'node_modules', name)));
  if (missing.length) {
    console.log(`${tag}: node_modules lacks ${missing.join(', ')}, running npm ci in tests/e2e`);
    const npm = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: here, stdio: 'inherit' });
    if (npm.status !== 0)
      fail(tag, 'npm ci failed in tests/e2e (is npm installed and the registry reachable?)');
  }
}

// ---------------------------------------------------------------------------------------------
// Bounded waits: each says what it waited for.

/** Resolves after `ms`. */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `promise`, or a rejection "timed out after <ms> ms waiting for <what>" if it has not settled
 * within `ms`. The timer is cleared either way.
 */
export function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Calls `probe` (it may be async) every `everyMs` until it returns something truthy, and returns
 * that; after `ms` it returns undefined instead. `probe` is called at least once, and once more
 * at the deadline.
 */
export async function poll(probe, ms, everyMs = 20) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() >= deadline) return undefined;
    await sleep(everyMs);
  }
}

/** poll(), but a rejection "timed out after <ms> ms waiting for <what>" instead of undefined. */
export async function until(probe, what, ms, everyMs = 20) {
  const value = await poll(probe, ms, everyMs);
  if (!value) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
  return value;
}

/** The current time in whole seconds since the epoch, as JWT claims count it. */
export const now = () => Math.floor(Date.now() / 1000);

// ---------------------------------------------------------------------------------------------
// Cleanup on the way out, and processes that never outlive the script.

/** Every Child started, in order; each one's `log` is kept for failure reports. */
export const processes = [];
const cleanups = [];
let exitHandlersInstalled = false;

/**
 * Installed once, on the first Child or tempDir(): on exit every running Child gets SIGKILL,
 * then the cleanups run; SIGINT and SIGTERM exit with 1 so that this happens then too.
 */
function installExitHandlers() {
  if (exitHandlersInstalled) return;
  exitHandlersInstalled = true;
  process.on('exit', () => {
    for (const p of processes) if (p.child && !p.exited) p.child.kill('SIGKILL');
    for (const cleanup of cleanups) cleanup();
  });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(1));
}

/** A new directory under the system's temporary one, removed on exit. Returns its path. */
export function tempDir(prefix) {
  installExitHandlers();
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A loopback port nobody listens on right now (it may be taken before it is used: retry). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/**
 * A child process whose stdout and stderr are collected in `log`. `ready` says when it is up:
 * a RegExp on the log, or a function of the log that returns something truthy; its result is
 * kept as `match`. Without `ready` it is up once spawned. `exited` is null while it runs, then
 * {code, signal} (with `error` when it could not be spawned). `cwd` defaults to the repository;
 * `env`, if given, is its whole environment.
 */
export class Child {
  constructor(name, command, args, { ready, cwd = repo, env } = {}) {
    this.name = name;
    this.command = command;
    this.args = args;
    this.ready = ready;
    this.cwd = cwd;
    this.env = env;
    this.log = '';
    this.exited = null;
  }

  /**
   * Spawns it and resolves with `this` once it is ready; rejects with its log if it exits first
   * or is not ready within `timeoutMs`. The process is in `processes` from here on.
   */
  start(timeoutMs = 15_000) {
    installExitHandlers();
    this.child = spawn(this.command, this.args, {
      cwd: this.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(this.env ? { env: this.env } : {}),
    });
    processes.push(this);
    this.exitPromise = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exited = { code, signal };
        resolve(this.exited);
      });
      this.child.on('error', (error) => {
        this.log += `spawn error: ${error.message}\n`;
        this.exited = { code: null, signal: null, error: error.message };
        resolve(this.exited);
      });
    });
    const isReady = typeof this.ready === 'function'
      ? this.ready
      : (log) => (this.ready ? this.ready.exec(log) : []);
    return new Promise((resolve, reject) => {
      let done = false;
      const timer = setTimeout(() => {
        done = true;
        reject(new Error(`${this.name} was not ready in ${timeoutMs} ms:\n${this.log}`));
      }, timeoutMs);
      const onData = (chunk) => {
        this.log += chunk.toString();
        const match = isReady(this.log);
        if (match && !done) {
          done = true;
          clearTimeout(timer);
          this.match = match;
          resolve(this);
        }
      };
      this.child.stdout.on('data', onData);
      this.child.stderr.on('data', onData);
      if (!this.ready) onData('');
      this.exitPromise.then(() => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        reject(new Error(`${this.name} exited before it was ready:\n${this.log}`));
      });
    });
  }

  /** Sends `signal` if it still runs; resolves with `exited` once it has exited. */
  kill(signal) {
    if (this.child && !this.exited) this.child.kill(signal);
    return this.exitPromise;
  }

  /** SIGTERM, then SIGKILL if it has not exited after `timeoutMs`; resolves with `exited`. */
  async stop(timeoutMs = 10_000) {
    if (!this.child || this.exited) return this.exited;
    this.child.kill('SIGTERM');
    let timer;
    const timeout = new Promise((resolve) => { timer = setTimeout(resolve, timeoutMs, 'timeout'); });
    const first = await Promise.race([this.exitPromise, timeout]);
    clearTimeout(timer); // a pending timer would keep the event loop (and node:test) waiting
    if (first === 'timeout') {
      this.child.kill('SIGKILL');
      await this.exitPromise;
    }
    return this.exited;
  }
}

/** Stops every Child still running, the last started first, each as Child.stop(timeoutMs). */
export async function stopAll(timeoutMs = 10_000) {
  for (const p of processes.slice().reverse()) await p.stop(timeoutMs).catch(() => {});
}

/**
 * Starts build/bin/heimdallr with conf/heimdallr.yaml and these --set values: server.host
 * 127.0.0.1, server.port 0, bus.plugin inmem, bus.plugin_dir the build's, then `overrides` (a
 * later --set wins). `env` is added to the inherited environment. Resolves, once the log says
 * "heimdallr listening on …:<port>" (and, with an api.listen override, the API's
 * "on …:<port> (api.listen)" too), with the Child, its `port` and `apiPort` set (`apiPort` is
 * `port` without api.listen); rejects with the log if it exits first or takes over `timeoutMs`.
 */
export async function startHeimdallr(overrides = [], { name = 'server', env = {}, timeoutMs = 15_000 } = {}) {
  const settings = ['server.host=127.0.0.1', 'server.port=0', 'bus.plugin=inmem',
    `bus.plugin_dir=${pluginDir}`, ...overrides];
  const wantsApi = overrides.some((o) => o.startsWith('api.listen='));
  const server = new Child(
    name,
    serverBinary,
    ['--config', serverConfig, ...settings.flatMap((o) => ['--set', o])],
    {
      env: { ...process.env, ...env },
      ready: (log) => {
        const main = /heimdallr listening on \S*:(\d+)/.exec(log);
        const api = /on \S*:(\d+) \(api\.listen\)/.exec(log);
        if (!main || (wantsApi && !api)) return null;
        return { port: Number(main[1]), apiPort: Number((api ?? main)[1]) };
      },
    },
  );
  await server.start(timeoutMs);
  server.port = server.match.port;
  server.apiPort = server.match.apiPort;
  return server;
}

/** Child.stop() with its 10 s grace; nothing for a server that is undefined or has exited. */
export async function stopServer(server) {
  await server?.stop();
}

// ---------------------------------------------------------------------------------------------
// WebSocket upgrades (npm ws clients).

/**
 * The outcome of the upgrade of `ws` (an npm ws WebSocket): resolves on open; rejects on an
 * HTTP refusal with an Error "refused <status>: <body>" carrying `status`, `body` and `headers`,
 * or with the socket's error.
 */
export function upgraded(ws) {
  return new Promise((resolve, reject) => {
    ws.on('open', resolve);
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => {
        const error = new Error(`refused ${res.statusCode}: ${body}`);
        Object.assign(error, { status: res.statusCode, body, headers: res.headers });
        reject(error);
      });
    });
    ws.on('error', reject);
  });
}

/**
 * The refusal of `client`'s upgrade ({status, body, headers}); `client` has `ws` and `opened`
 * (upgraded(ws)). Waits 5 s at most. Throws "<what> was accepted" (after closing the socket) if
 * the upgrade succeeds, and passes on any error that is not an HTTP refusal.
 */
export async function refusalOf(client, what) {
  try {
    await within(5_000, `the answer to ${what}`, client.opened);
  } catch (error) {
    if (error.status) return error;
    throw error;
  }
  client.ws.close();
  throw new Error(`${what} was accepted`);
}

// ---------------------------------------------------------------------------------------------
// Browser scenarios: chromium, the demo page, and the harness that runs and reports.

/** Throws `message` unless `condition` holds. */
export function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** Throws "<message>: expected <e>, got <a>" unless both have the same JSON. */
export function equal(actual, expected, message) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${message}: expected ${e}, got ${a}`);
}

const browsers = [];

/** Headless Debian chromium through playwright-core; runScenario() closes it. */
export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true, // playwright passes --headless and a fresh temporary --user-data-dir
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: 30_000,
  });
  browsers.push(browser);
  return browser;
}

/**
 * An init script (runs in the page before any of its scripts): `window.__sockets` lists the URL
 * and subprotocols of every WebSocket the page opens, `window.__sendsNotOpen` counts sends on a
 * socket that is not OPEN, `window.__statusHistory` every text #status showed.
 */
export function instrument() {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.WebSocket = class extends Native {
    constructor(url, protocols) {
      super(url, protocols);
      window.__sockets.push({ url: String(url), protocols });
    }
  };
  const send = Native.prototype.send;
  window.__sendsNotOpen = 0;
  Native.prototype.send = function (...args) {
    if (this.readyState !== Native.OPEN) window.__sendsNotOpen += 1;
    return send.apply(this, args);
  };
  window.__statusHistory = [];
  document.addEventListener('DOMContentLoaded', () => {
    const status = document.getElementById('status');
    new MutationObserver(() => {
      const last = window.__statusHistory[window.__statusHistory.length - 1];
      if (last !== status.textContent) window.__statusHistory.push(status.textContent);
    }).observe(status, { childList: true, characterData: true, subtree: true });
  });
}

/** name -> { page, problems, dialogs, requests, expected }, for every page watchPage() saw. */
export const pages = new Map();

/**
 * Records what goes wrong on `page` under `name` in `pages` and returns the record: console
 * errors, uncaught errors, HTTP responses >= 400 and failed requests in `problems`; dialogs
 * (dismissed) in `dialogs`; the paths requested in `requests`. While `quiet()` is true (a server
 * is down on purpose) failed requests are not problems, and chromium's "WebSocket connection to
 * 'ws://127.0.0.1:<port>/' failed" errors go to `expected` instead.
 */
export function watchPage(name, page, quiet = () => false) {
  const record = { page, problems: [], dialogs: [], requests: [], expected: [] };
  pages.set(name, record);
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = message.text();
    // Chromium itself logs each refused WebSocket connection; a page cannot silence that.
    if (quiet() && /^WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/' failed/.test(text)) {
      record.expected.push(text);
      return;
    }
    record.problems.push(`console error: ${text}`);
  });
  page.on('pageerror', (error) => record.problems.push(`uncaught: ${error.message}`));
  page.on('request', (request) => record.requests.push(new URL(request.url()).pathname));
  page.on('response', (response) => {
    if (response.status() >= 400)
      record.problems.push(`HTTP ${response.status()} ${response.url()}`);
  });
  page.on('requestfailed', (request) => {
    if (!quiet())
      record.problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`);
  });
  page.on('dialog', async (dialog) => {
    record.dialogs.push(dialog.message());
    await dialog.dismiss();
  });
  return record;
}

/** What the demo page shows (for failure messages), or {unavailable} if it cannot be read. */
export async function pageState(page) {
  return page
    .evaluate(() => ({
      status: document.getElementById('status')?.textContent,
      node: document.getElementById('node')?.textContent,
      notice: document.getElementById('notice')?.hidden
        ? null
        : document.getElementById('notice')?.textContent.trim(),
      members: [...document.querySelectorAll('#members li')].map((li) => li.textContent),
      lines: [...document.querySelectorAll('#messages li')].map(
        (li) => `${li.dataset.offset ?? '-'} ${li.querySelector('.who')?.textContent}: ` +
          li.querySelector('.text')?.textContent,
      ),
      recoveries: window.heimdallrChat?.recoveries,
    }))
    .catch((error) => ({ unavailable: error.message }));
}

/**
 * Waits until `predicate(arg)` holds in the page (polled every 50 ms), for `timeout` ms or, when
 * that is undefined, the context's default timeout; on timeout it throws `description` with the
 * page's state.
 */
export async function waitIn(page, description, predicate, arg, timeout) {
  try {
    await page.waitForFunction(predicate, arg, { polling: 50, ...(timeout === undefined ? {} : { timeout }) });
  } catch (error) {
    throw new Error(
      `${description} (${error.message.split('\n')[0]})\n` +
        `  page: ${JSON.stringify(await pageState(page))}`,
    );
  }
}

/** Waits until the page's body says data-status=`status` ("<who> should be <status>"). */
export function waitStatus(page, status, who, timeout) {
  return waitIn(
    page,
    `${who} should be ${status}`,
    (s) => document.body.dataset.status === s,
    status,
    timeout,
  );
}

/** The lines of the page's log: {kind (class), offset (or null), time, who, text}. */
export const linesOf = (page) =>
  page.$$eval('#messages li', (items) =>
    items.map((li) => ({
      kind: li.className,
      offset: li.dataset.offset === undefined ? null : Number(li.dataset.offset),
      time: li.querySelector('time')?.textContent,
      who: li.querySelector('.who')?.textContent,
      text: li.querySelector('.text')?.textContent,
    })),
  );

/** Types `text` in the page's message box and presses Enter. */
export async function say(page, text) {
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
}

/**
 * A new context (`viewport`, default timeout `stepTimeoutMs`, instrument() injected) with the
 * demo at `${baseUrl}/`, watched as `name` (watchPage, with `quiet`); joins `room` as `nick` and
 * resolves with the page once it is connected.
 */
export async function openChat(browser, { name, nick, room, viewport, baseUrl, stepTimeoutMs, quiet }) {
  const context = await browser.newContext({ viewport });
  context.setDefaultTimeout(stepTimeoutMs);
  await context.addInitScript(instrument);
  const page = await context.newPage();
  watchPage(name, page, quiet);
  await page.goto(`${baseUrl}/`);
  await page.fill('#nick', nick);
  await page.fill('#room', room);
  await page.click('#join');
  await waitStatus(page, 'connected', name);
  return page;
}

/**
 * Runs a browser scenario and exits the process: 0 if `run()` resolves (its result, a list of
 * lines, is printed with `<tag>: ` before "PASSED in N s"), 1 if it throws (the error with
 * `step()`, the step it was at; the state and a screenshot of every page in `pages`; the log of
 * every Child, written to tests/out/e2e/<filePrefix><name>.log and its tail printed), or 1 if it
 * is still running after `deadlineMs`. tests/out/e2e exists before `run()` starts. On the way
 * out the browsers are closed and every Child is stopped (stopAll(stopTimeoutMs)).
 */
export async function runScenario({ tag, deadlineMs, step, run, filePrefix = '', stopTimeoutMs = 10_000 }) {
  const started = Date.now();
  const watchdog = setTimeout(() => {
    console.error(`${tag}: FAILED: still running after ${deadlineMs} ms, at step "${step()}"`);
    process.exit(1); // the exit handler kills every process
  }, deadlineMs);
  let exitCode = 0;
  try {
    mkdirSync(outDir, { recursive: true });
    for (const line of await run()) console.log(`${tag}: ${line}`);
    console.log(`${tag}: PASSED in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (error) {
    exitCode = 1;
    console.error(`${tag}: FAILED at step "${step()}":\n${error.stack || error}`);
    for (const [name, record] of pages) {
      console.error(`  ${name}: ${JSON.stringify(await pageState(record.page))}`);
      if (record.problems.length)
        console.error(`  ${name} problems: ${JSON.stringify(record.problems)}`);
      await record.page
        .screenshot({ path: path.join(outDir, `failure-${filePrefix}${name}.png`) })
        .catch(() => {});
    }
    for (const p of processes) {
      writeFileSync(path.join(outDir, `${filePrefix}${p.name.replace(/\s+/g, '-')}.log`), p.log);
      console.error(`--- ${p.name} log (last 2000 chars) ---\n${p.log.slice(-2000)}`);
    }
  } finally {
    for (const browser of browsers) await browser.close().catch(() => {});
    await stopAll(stopTimeoutMs);
    clearTimeout(watchdog);
  }
  process.exit(exitCode);
}
