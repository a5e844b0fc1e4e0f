#!/usr/bin/env node
// End-to-end failover of the web demo: two real heimdallr nodes on a real Redis (the redis bus,
// rooms with history and presence) behind HAProxy (conf/haproxy.cfg, rendered for the two nodes),
// the page in Debian's chromium connected through HAProxy. The node holding the page is killed
// with SIGKILL while a v2 client in Node (web/heimdallr.js on npm ws), connected straight to the
// other node, publishes into the room. The page must come back through HAProxy on the surviving
// node and show every message it missed exactly once, in order, with no gap and no "missing"
// notice.
//
//   node tests/e2e/failover.e2e.mjs      (runs `npm ci` here first if node_modules is missing)
//
// Needs redis-server and haproxy on PATH (apt-get install -y redis-server haproxy).
// Environment: HEIMDALLR_BUILD_DIR (default <repo>/build), CHROMIUM (default /usr/bin/chromium).
// Exit code 0 on success; 1 with the failed step, the page's state and the logs otherwise.
// Every process it starts is stopped, and its temporary directory removed.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const buildDir = path.resolve(process.env.HEIMDALLR_BUILD_DIR || path.join(repo, 'build'));
const serverBinary = path.join(buildDir, 'bin', 'heimdallr');
const pluginDir = path.join(buildDir, 'plugins');
const webRoot = path.join(repo, 'web');
const outDir = path.join(repo, 'tests', 'out', 'e2e');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const DEADLINE_MS = 120_000; // the whole run; CTest's own timeout is 300 s
const STEP_TIMEOUT_MS = 15_000;
const ROOM = 'failover';
const BEFORE = 3; // messages the page sees live before the kill
const MISSED = 20; // messages published while the page's node is dead or just replaced
const ROOM_KEYS = [
  'history.size=100',
  'history.join_messages=20',
  'presence.enabled=true',
  'presence.join_leave=true',
];

function fail(message) {
  console.error(`e2e.failover: FAILED: ${message}`);
  process.exit(1);
}

function onPath(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

if (!existsSync(serverBinary))
  fail(`no server binary at ${serverBinary}: build first (scripts/setup)`);
if (!existsSync(path.join(pluginDir, 'libheimdallr-redis-bus.so')))
  fail(`no redis bus plugin in ${pluginDir}: build first (scripts/setup)`);
if (!existsSync(chromiumPath)) fail(`no browser at ${chromiumPath}: apt-get install -y chromium`);
if (!onPath('redis-server')) fail('no redis-server on PATH: apt-get install -y redis-server');
if (!onPath('haproxy')) fail('no haproxy on PATH: apt-get install -y haproxy');
if (!existsSync(path.join(here, 'node_modules', 'playwright-core'))) {
  console.log('e2e.failover: node_modules missing, running npm ci in tests/e2e');
  const npm = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: here, stdio: 'inherit' });
  if (npm.status !== 0)
    fail('npm ci failed in tests/e2e (is npm installed and the registry reachable?)');
}
const { chromium } = await import('playwright-core');
const { WebSocket } = await import('ws');
const { HeimdallrClient } = await import('../../web/heimdallr.js');

const tmp = mkdtempSync(path.join(os.tmpdir(), 'heimdallr-failover-e2e-'));

// ---------------------------------------------------------------------------------------------
// Processes: each one's output is kept for the failure report; all are killed on the way out.

const processes = [];

class Child {
  constructor(name, command, args, { ready, cwd = repo } = {}) {
    this.name = name;
    this.command = command;
    this.args = args;
    this.ready = ready; // a regexp on the output that says it is up
    this.cwd = cwd;
    this.log = '';
    this.exited = null;
  }

  start(timeoutMs = 15_000) {
    this.child = spawn(this.command, this.args, {
      cwd: this.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
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
    return new Promise((resolve, reject) => {
      let done = false;
      const timer = setTimeout(() => {
        done = true;
        reject(new Error(`${this.name} was not ready in ${timeoutMs} ms:\n${this.log}`));
      }, timeoutMs);
      const onData = (chunk) => {
        this.log += chunk.toString();
        const match = this.ready ? this.ready.exec(this.log) : [];
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

  kill(signal) {
    if (this.child && !this.exited) this.child.kill(signal);
    return this.exitPromise;
  }

  /** SIGTERM, then SIGKILL if it has not exited after `timeoutMs`. */
  async stop(timeoutMs = 5_000) {
    if (!this.child || this.exited) return this.exited;
    this.child.kill('SIGTERM');
    const timeout = new Promise((resolve) => setTimeout(resolve, timeoutMs, 'timeout'));
    if ((await Promise.race([this.exitPromise, timeout])) === 'timeout') {
      this.child.kill('SIGKILL');
      await this.exitPromise;
    }
    return this.exited;
  }
}

process.on('exit', () => {
  for (const p of processes) if (p.child && !p.exited) p.child.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

/** A loopback port nobody listens on right now (it may be taken before it is used: retry). */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function startRedis() {
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const port = await freePort();
    const redis = new Child(
      'redis',
      'redis-server',
      [
        '--port', String(port),
        '--bind', '127.0.0.1',
        '--save', '',
        '--appendonly', 'no',
        '--dir', tmp,
      ],
      { ready: /Ready to accept connections/ },
    );
    try {
      await redis.start();
      redis.port = port;
      return redis;
    } catch (error) {
      if (!/Address already in use|bind/i.test(redis.log)) throw error;
    }
  }
  throw new Error('redis-server found no free port');
}

async function startNode(name, redisPort) {
  const overrides = [
    'server.host=127.0.0.1',
    'server.port=0',
    `server.node_id=${name}`,
    'bus.plugin=redis',
    `bus.plugin_dir=${pluginDir}`,
    'bus.redis.host=127.0.0.1',
    `bus.redis.port=${redisPort}`,
    `web.root=${webRoot}`,
    ...ROOM_KEYS,
  ];
  const config = path.join(repo, 'conf', 'heimdallr.yaml');
  const node = new Child(
    name,
    serverBinary,
    ['--config', config, ...overrides.flatMap((o) => ['--set', o])],
    { ready: /heimdallr listening on \S*:(\d+)/ },
  );
  await node.start();
  node.port = Number(node.match[1]);
  node.id = name;
  // Ready once its bus is: /health answers 200.
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  for (;;) {
    const status = await fetch(`http://127.0.0.1:${node.port}/health`)
      .then((r) => r.status)
      .catch(() => 0);
    if (status === 200) return node;
    if (Date.now() > deadline) throw new Error(`${name}: /health ${status}\n${node.log}`);
    await sleep(50);
  }
}

/**
 * conf/haproxy.cfg for two loopback nodes, by the rules of tests/support/HaproxyProcess.cpp and
 * scripts/cluster: the frontend's `bind` and the backend's `server` lines are replaced, the rest
 * (health checks on GET /health, roundrobin, WebSocket timeouts) is the shipped file. An admin
 * socket is added to read the servers' states.
 */
function haproxyConfig(listen, ports, socketPath) {
  const template = readFileSync(path.join(repo, 'conf', 'haproxy.cfg'), 'utf8');
  const out = [];
  let serversDone = false;
  for (const line of template.split('\n')) {
    const bind = /^([ \t]*)bind[ \t]/.exec(line);
    const server = /^([ \t]*)server[ \t]/.exec(line);
    if (bind) {
      out.push(`${bind[1]}bind ${listen}`);
    } else if (server) {
      if (serversDone) continue;
      const options = line.trim().split(/\s+/).slice(3).join(' ');
      ports.forEach((port, k) =>
        out.push(`${server[1]}server node${k + 1} 127.0.0.1:${port} ${options}`.trimEnd()),
      );
      serversDone = true;
    } else {
      out.push(line);
      if (/^global[ \t]*$/.test(line))
        out.push(`    stats socket ${socketPath} mode 600 level user`);
    }
  }
  const text = out.join('\n');
  for (const key of ['option httpchk GET /health', 'balance roundrobin', 'timeout tunnel'])
    check(text.includes(key), `conf/haproxy.cfg no longer has "${key}"`);
  return text;
}

function haproxyCommand(socketPath, command) {
  return new Promise((resolve) => {
    let reply = '';
    const socket = net.connect(socketPath, () => socket.end(`${command}\n`));
    socket.on('data', (chunk) => (reply += chunk.toString()));
    socket.on('close', () => resolve(reply));
    socket.on('error', () => resolve(''));
    socket.setTimeout(2000, () => socket.destroy());
  });
}

/** {node1: "UP", node2: "DOWN", ...} from `show stat`. */
async function serverStates(socketPath) {
  const lines = (await haproxyCommand(socketPath, 'show stat')).split('\n');
  if (!lines[0]?.startsWith('# ')) return {};
  const header = lines[0].slice(2).split(',');
  const name = header.indexOf('svname');
  const status = header.indexOf('status');
  const states = {};
  for (const line of lines.slice(1)) {
    const row = line.split(',');
    if (row.length <= status || row[name] === 'FRONTEND' || row[name] === 'BACKEND') continue;
    states[row[name]] = row[status];
  }
  return states;
}

async function startHaproxy(nodePorts) {
  const socketPath = path.join(tmp, 'haproxy.sock');
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const port = await freePort();
    const configPath = path.join(tmp, 'haproxy.cfg');
    writeFileSync(configPath, haproxyConfig(`127.0.0.1:${port}`, nodePorts, socketPath));
    const checked = spawnSync('haproxy', ['-c', '-f', configPath], { encoding: 'utf8' });
    check(checked.status === 0, `haproxy -c: ${checked.stdout}${checked.stderr}`);
    const haproxy = new Child('haproxy', 'haproxy', ['-db', '-f', configPath]);
    await haproxy.start();
    haproxy.port = port;
    haproxy.socketPath = socketPath;
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    while (Date.now() < deadline && !haproxy.exited) {
      const states = await serverStates(socketPath);
      if (Object.keys(states).length === nodePorts.length &&
          Object.values(states).every((s) => s === 'UP'))
        return haproxy;
      await sleep(100);
    }
    if (!haproxy.exited) {
      await haproxy.stop();
      throw new Error(`haproxy: the nodes did not come UP:\n${haproxy.log}`);
    }
    if (!/cannot bind|Address already in use/i.test(haproxy.log))
      throw new Error(`haproxy exited:\n${haproxy.log}`);
  }
  throw new Error('haproxy found no free port');
}

// ---------------------------------------------------------------------------------------------
// Helpers.

let step = 'start';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
function check(condition, message) {
  if (!condition) throw new Error(message);
}
function equal(actual, expected, message) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${message}: expected ${e}, got ${a}`);
}

let failingOver = false; // while the page's node is dead, its failed reconnects are expected
const problems = [];
const expectedLogs = [];

function watch(page) {
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = message.text();
    // Chromium logs a WebSocket that fails to open (a retry HAProxy could not place yet).
    if (failingOver && /^WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/' failed/.test(text)) {
      expectedLogs.push(text);
      return;
    }
    problems.push(`console error: ${text}`);
  });
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()} ${response.url()}`);
  });
  page.on('requestfailed', (request) => {
    if (!failingOver)
      problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`);
  });
  page.on('dialog', async (dialog) => {
    problems.push(`dialog: ${dialog.message()}`);
    await dialog.dismiss();
  });
}

async function pageState(page) {
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

async function waitIn(page, description, predicate, arg, timeout = STEP_TIMEOUT_MS) {
  try {
    await page.waitForFunction(predicate, arg, { timeout, polling: 50 });
  } catch (error) {
    throw new Error(
      `${description} (${error.message.split('\n')[0]})\n` +
        `  page: ${JSON.stringify(await pageState(page))}`,
    );
  }
}

const linesOf = (page) =>
  page.$$eval('#messages li', (items) =>
    items.map((li) => ({
      kind: li.className,
      offset: li.dataset.offset === undefined ? null : Number(li.dataset.offset),
      who: li.querySelector('.who')?.textContent,
      text: li.querySelector('.text')?.textContent,
    })),
  );

function waitStatus(page, status, timeout = STEP_TIMEOUT_MS) {
  return waitIn(
    page,
    `the page should be ${status}`,
    (s) => document.body.dataset.status === s,
    status,
    timeout,
  );
}

function waitTexts(page, texts, description, timeout = STEP_TIMEOUT_MS) {
  return waitIn(
    page,
    description,
    (wanted) => {
      const shown = new Set(
        [...document.querySelectorAll('#messages li .text')].map((el) => el.textContent),
      );
      return wanted.every((t) => shown.has(t));
    },
    texts,
    timeout,
  );
}

// ---------------------------------------------------------------------------------------------
// The scenario.

let browser = null;
let page = null;

async function run() {
  mkdirSync(outDir, { recursive: true });

  step = 'start redis, two nodes on it, and haproxy in front of them';
  const redis = await startRedis();
  const nodes = [
    await startNode('fo-node1', redis.port),
    await startNode('fo-node2', redis.port),
  ];
  const haproxy = await startHaproxy(nodes.map((n) => n.port));
  const baseUrl = `http://127.0.0.1:${haproxy.port}`;
  console.log(
    `e2e.failover: redis :${redis.port}, ${nodes.map((n) => `${n.id} :${n.port}`).join(', ')}, ` +
      `haproxy :${haproxy.port}`,
  );

  step = 'the page joins the room through haproxy';
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: 30_000,
  });
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  // Records the URL of every WebSocket the page opens.
  await context.addInitScript(() => {
    const Native = window.WebSocket;
    window.__socketUrls = [];
    window.WebSocket = class extends Native {
      constructor(url, protocols) {
        super(url, protocols);
        window.__socketUrls.push(String(url));
      }
    };
  });
  page = await context.newPage();
  watch(page);
  await page.goto(`${baseUrl}/`);
  await page.fill('#nick', 'alice');
  await page.fill('#room', ROOM);
  await page.click('#join');
  await waitStatus(page, 'connected');

  step = "find the page's node from what it shows (its connect reply)";
  await waitIn(page, 'the page should show its node', () =>
    /^node \S+$/.test(document.getElementById('node').textContent),
  );
  const shown = (await page.textContent('#node')).replace(/^node /, '');
  const victim = nodes.find((n) => n.id === shown);
  check(victim, `the page shows node "${shown}", not one of ${nodes.map((n) => n.id)}`);
  const survivor = nodes.find((n) => n !== victim);
  equal(
    await page.evaluate(() => window.heimdallrChat.client.info.node),
    victim.id,
    'client.info.node',
  );

  step = 'a v2 client on the other node joins the room; the page sees its messages live';
  const seen = [];
  const bot = new HeimdallrClient(`ws://127.0.0.1:${survivor.port}/`, {
    name: 'bot',
    WebSocket,
  });
  bot.on('error', (error) => console.log(`e2e.failover: bot: ${error.message}`));
  check((await bot.connect()).node === survivor.id, 'the bot is on the surviving node');
  await bot.join(ROOM, { onMessage: (m) => seen.push(m) });
  await waitIn(
    page,
    'the page should list the bot (presence across nodes)',
    () =>
      [...document.querySelectorAll('#members li')].map((li) => li.textContent).join() ===
      'alice,bot',
  );
  const offsets = [];
  for (let i = 1; i <= BEFORE; i += 1)
    offsets.push((await bot.publish(ROOM, { text: `before ${i}` })).offset);
  await waitTexts(
    page,
    Array.from({ length: BEFORE }, (_, i) => `before ${i + 1}`),
    'the page should show the messages sent before the kill',
  );
  await page.fill('#text', 'alice is here');
  await page.press('#text', 'Enter');
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (!seen.some((m) => m.data?.text === 'alice is here') && Date.now() < deadline)
    await sleep(20);
  check(
    seen.some((m) => m.data?.text === 'alice is here'),
    `the bot should get the page's message across nodes, got ${JSON.stringify(seen)}`,
  );

  step = `SIGKILL ${victim.id} (the page's node) and meanwhile publish ${MISSED} messages`;
  failingOver = true;
  const killedAt = Date.now();
  const killed = victim.kill('SIGKILL');
  const missed = [];
  const publishing = (async () => {
    for (let i = 1; i <= MISSED; i += 1) {
      const { offset } = await bot.publish(ROOM, { text: `missed ${i}` });
      offsets.push(offset);
      missed.push(`missed ${i}`);
      // The first half at once, while the page cannot be back yet; the rest paced, so that some
      // land while its re-join is under way and some after.
      if (i > MISSED / 2) await sleep(15);
    }
    return Date.now() - killedAt;
  })();
  publishing.catch(() => {}); // awaited below; a failure must not end the process before that

  step = 'the page reconnects through haproxy to the surviving node';
  await waitIn(
    page,
    `the page should show ${survivor.id}`,
    (id) => document.getElementById('node').textContent === `node ${id}`,
    survivor.id,
    30_000,
  );
  await waitStatus(page, 'connected', 30_000);
  const reconnectedIn = Date.now() - killedAt;
  const urls = await page.evaluate(() => window.__socketUrls);
  check(
    urls.length >= 2 && urls.every((u) => u === `ws://127.0.0.1:${haproxy.port}/`),
    `the page should only ever connect through haproxy: ${JSON.stringify(urls)}`,
  );
  const publishedIn = await publishing;
  equal((await killed).signal, 'SIGKILL', `${victim.id}'s end`);
  await waitTexts(page, missed, `the page should show all ${MISSED} missed messages`);
  failingOver = false;

  step = 'every missed message shown exactly once, in order, with no gap and no notice';
  const lines = await linesOf(page);
  const messageLines = lines.filter((l) => l.offset !== null);
  const first = messageLines[0]?.offset;
  equal(
    messageLines.map((l) => l.offset),
    Array.from({ length: messageLines.length }, (_, i) => first + i),
    'offsets shown: consecutive, each once',
  );
  const expectedTexts = [
    ...Array.from({ length: BEFORE }, (_, i) => `before ${i + 1}`),
    'alice is here',
    ...missed,
  ];
  equal(
    messageLines.map((l) => l.text),
    expectedTexts,
    'messages shown, in order',
  );
  check(
    offsets.every((o, i) => i === 0 || o > offsets[i - 1]),
    `acknowledged offsets should increase: ${JSON.stringify(offsets)}`,
  );
  equal(
    messageLines.filter((l) => l.text.startsWith('missed ')).map((l) => l.offset),
    offsets.slice(BEFORE),
    'the offsets the bot was acknowledged are the ones shown',
  );
  check(!lines.some((l) => l.kind.includes('gap')), 'a "missing" line in the log');
  equal(
    await page.evaluate(() => document.getElementById('notice').hidden),
    true,
    'the "missing" notice is hidden',
  );
  const recoveries = await page.evaluate(() => window.heimdallrChat.recoveries);
  check(
    recoveries.length >= 1 &&
      recoveries.every((r) => r.recovered === true) &&
      recoveries.some((r) => r.reason === 'rejoin'),
    `the page's recoveries: ${JSON.stringify(recoveries)}`,
  );
  const replayed = recoveries.reduce((n, r) => n + r.missed, 0);
  check(replayed >= 1, `the re-join should have replayed missed messages: ${replayed}`);

  step = 'the page still talks to the room on the surviving node';
  await page.fill('#text', 'alice is back');
  await page.press('#text', 'Enter');
  const until = Date.now() + STEP_TIMEOUT_MS;
  while (!seen.some((m) => m.data?.text === 'alice is back') && Date.now() < until)
    await sleep(20);
  check(
    seen.some((m) => m.data?.text === 'alice is back'),
    "the bot should get the page's message after the failover",
  );
  await page.screenshot({ path: path.join(outDir, 'failover.png') });
  bot.close();

  step = 'no console errors, no failed requests, no dialogs';
  equal(problems, [], 'problems on the page');

  return { publishedIn, reconnectedIn, replayed, victim: victim.id, survivor: survivor.id };
}

// ---------------------------------------------------------------------------------------------

const started = Date.now();
const watchdog = setTimeout(() => {
  console.error(`e2e.failover: FAILED: still running after ${DEADLINE_MS} ms, at step "${step}"`);
  process.exit(1); // the exit handler kills every process
}, DEADLINE_MS);

let exitCode = 0;
try {
  const result = await run();
  console.log(
    `e2e.failover: ${result.victim} killed; the page was back on ${result.survivor} ` +
      `${result.reconnectedIn} ms later; ${MISSED} messages published over ` +
      `${result.publishedIn} ms, ${result.replayed} of them replayed by the re-join, the rest live`,
  );
  console.log(`e2e.failover: PASSED in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (error) {
  exitCode = 1;
  console.error(`e2e.failover: FAILED at step "${step}":\n${error.stack || error}`);
  if (page) {
    console.error(`  page: ${JSON.stringify(await pageState(page))}`);
    await page.screenshot({ path: path.join(outDir, 'failure-failover.png') }).catch(() => {});
  }
  if (problems.length) console.error(`  page problems: ${JSON.stringify(problems)}`);
  for (const p of processes) {
    writeFileSync(path.join(outDir, `failover-${p.name}.log`), p.log);
    console.error(`--- ${p.name} log (last 2000 chars) ---\n${p.log.slice(-2000)}`);
  }
} finally {
  if (browser) await browser.close().catch(() => {});
  for (const p of processes.slice().reverse()) await p.stop().catch(() => {});
  clearTimeout(watchdog);
}
process.exit(exitCode);
