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
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  Child, DEMO_SETTINGS, check, equal, freePort, launchChromium, linesOf, openChat, outDir, pages,
  poll, repo, requirePrerequisites, runScenario, say, sleep, startHeimdallr, tempDir, waitIn,
  waitStatus,
} from './support.mjs';

const DEADLINE_MS = 120_000; // the whole run; CTest's own timeout is 300 s
const STEP_TIMEOUT_MS = 15_000;
const ROOM = 'failover';
const BEFORE = 3; // messages the page sees live before the kill
const MISSED = 20; // messages published while the page's node is dead or just replaced

requirePrerequisites('e2e.failover', {
  plugins: ['libheimdallr-redis-bus.so'],
  browser: true,
  commands: ['redis-server', 'haproxy'],
  packages: ['playwright-core', 'ws'],
});
const { WebSocket } = await import('ws');
const { HeimdallrClient } = await import('../../web/heimdallr.js');

const tmp = tempDir('heimdallr-failover-e2e-');

// ---------------------------------------------------------------------------------------------
// Processes (support.mjs's Child): each one's output is kept for the failure report; all are
// killed on the way out.

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
  const node = await startHeimdallr([
    `server.node_id=${name}`,
    'bus.plugin=redis',
    'bus.redis.host=127.0.0.1',
    `bus.redis.port=${redisPort}`,
    ...DEMO_SETTINGS,
  ], { name });
  node.id = name;
  // Ready once its bus is: /health answers 200.
  let status = 0;
  const healthy = await poll(async () => {
    status = await fetch(`http://127.0.0.1:${node.port}/health`)
      .then((r) => r.status)
      .catch(() => 0);
    return status === 200;
  }, STEP_TIMEOUT_MS, 50);
  if (!healthy) throw new Error(`${name}: /health ${status}\n${node.log}`);
  return node;
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
// Helpers (support.mjs has the shared ones: openChat, waitIn, waitStatus, linesOf, say).

let step = 'start';
let failingOver = false; // while the page's node is dead, its failed reconnects are expected

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

async function run() {
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
  const browser = await launchChromium();
  const page = await openChat(browser, {
    name: 'alice',
    nick: 'alice',
    room: ROOM,
    viewport: { width: 1000, height: 700 },
    baseUrl,
    stepTimeoutMs: STEP_TIMEOUT_MS,
    quiet: () => failingOver,
  });

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
  await say(page, 'alice is here');
  check(
    await poll(() => seen.some((m) => m.data?.text === 'alice is here'), STEP_TIMEOUT_MS),
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
  await waitStatus(page, 'connected', 'alice', 30_000);
  const reconnectedIn = Date.now() - killedAt;
  const urls = await page.evaluate(() => window.__sockets.map((s) => s.url));
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
  await say(page, 'alice is back');
  check(
    await poll(() => seen.some((m) => m.data?.text === 'alice is back'), STEP_TIMEOUT_MS),
    "the bot should get the page's message after the failover",
  );
  await page.screenshot({ path: path.join(outDir, 'failover.png') });
  bot.close();

  step = 'no console errors, no failed requests, no dialogs';
  equal(pages.get('alice').problems, [], 'problems on the page');
  equal(pages.get('alice').dialogs, [], 'dialogs on the page');

  return [
    `${victim.id} killed; the page was back on ${survivor.id} ${reconnectedIn} ms later; ` +
      `${MISSED} messages published over ${publishedIn} ms, ${replayed} of them replayed by ` +
      'the re-join, the rest live',
  ];
}

// ---------------------------------------------------------------------------------------------

await runScenario({
  tag: 'e2e.failover',
  deadlineMs: DEADLINE_MS,
  step: () => step,
  run,
  filePrefix: 'failover-',
  stopTimeoutMs: 5_000,
});
