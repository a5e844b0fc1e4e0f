#!/usr/bin/env node
// End-to-end test of the web demo (web/): the real server, Debian's chromium driven by
// playwright-core, the page speaking protocol v2 through web/heimdallr.js, a raw `ws` client of
// the ancestor's protocol in the same room, and a v2 client in Node (web/heimdallr.js on npm ws).
//
//   node tests/e2e/chat.e2e.mjs          (runs `npm ci` here first if node_modules is missing)
//
// The server runs with conf/heimdallr.yaml plus the room keys the demo needs (DEMO_SETTINGS in
// support.mjs, which also has the helpers shared with the other scripts here).
// Environment: HEIMDALLR_BUILD_DIR (default <repo>/build), CHROMIUM (default /usr/bin/chromium).
// Exit code 0 on success; 1 with the failed step, the pages' state and the server log otherwise.
// Screenshots land in tests/out/e2e/. The server and the browser are always stopped.
import { readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  DEMO_JOIN_MESSAGES, DEMO_SETTINGS, check, equal, launchChromium, linesOf, openChat, outDir,
  pages, poll, repo, requirePrerequisites, runScenario, say, startHeimdallr, waitIn, waitStatus,
} from './support.mjs';

const DEADLINE_MS = 150_000; // the whole run; CTest's own timeout is 300 s
const STEP_TIMEOUT_MS = 10_000;
const ROOM = 'lobby';
const OTHER_ROOM = 'elsewhere';
const JOIN_MESSAGES = DEMO_JOIN_MESSAGES;

requirePrerequisites('e2e.chat', { browser: true, packages: ['playwright-core', 'ws'] });
const { WebSocket } = await import('ws');
const { HeimdallrClient } = await import('../../web/heimdallr.js');

/** The server on `port` (0: any) with the web demo's pages and room keys (DEMO_SETTINGS). */
const startServer = (name, port = 0) =>
  startHeimdallr([`server.port=${port}`, ...DEMO_SETTINGS], { name });

// ---------------------------------------------------------------------------------------------
// Page helpers (support.mjs has the shared ones: openChat, waitIn, waitStatus, linesOf, say).

let step = 'start';
let outage = false; // while the server is deliberately down, failed reconnects are expected
const quiet = () => outage;

function waitMembers(page, expected, who) {
  return waitIn(
    page,
    `${who} should list members ${JSON.stringify(expected)}`,
    (names) =>
      JSON.stringify([...document.querySelectorAll('#members li')].map((li) => li.textContent)) ===
        JSON.stringify(names) &&
      document.getElementById('member-count').textContent === String(names.length),
    expected,
  );
}

function waitLine(page, who, text, reader) {
  return waitIn(
    page,
    `${reader} should show "${who}: ${text}"`,
    ([w, t]) =>
      [...document.querySelectorAll('#messages li')].some(
        (li) =>
          li.querySelector('.who')?.textContent === w &&
          li.querySelector('.text')?.textContent === t,
      ),
    [who, text],
  );
}

const noticeOf = (page) =>
  page.evaluate(() => {
    const notice = document.getElementById('notice');
    return notice.hidden ? null : notice.textContent.trim();
  });

/** A client written against the ancestor's protocol only (ws://host/{room}): no v2, no page. */
class RawClient {
  constructor(url) {
    this.frames = [];
    this.socket = new WebSocket(url);
    this.socket.on('message', (data, isBinary) =>
      this.frames.push({ data: data.toString(), isBinary }),
    );
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('open', resolve);
      this.socket.once('error', reject);
    });
  }
  json() {
    return this.frames.flatMap(({ data, isBinary }) => {
      try {
        return [{ ...JSON.parse(data), __text: data, __binary: isBinary }];
      } catch {
        return [];
      }
    });
  }
  async waitFor(description, predicate, timeout = STEP_TIMEOUT_MS) {
    const found = await poll(() => this.json().find(predicate), timeout);
    if (found) return found;
    throw new Error(
      `raw client: ${description}; received ${JSON.stringify(this.frames.map((f) => f.data))}`,
    );
  }
  send(value) {
    this.socket.send(typeof value === 'string' ? value : JSON.stringify(value));
  }
  close() {
    this.socket.close(1000);
  }
}

// ---------------------------------------------------------------------------------------------
// The scenario.

async function run() {
  for (const stale of readdirSync(outDir)) {
    if (stale.startsWith('failure-') || stale.endsWith('.log')) rmSync(path.join(outDir, stale));
  }

  step = 'start the server';
  let server = await startServer('server');
  const port = server.port;
  const baseUrl = `http://127.0.0.1:${port}`;
  const open = (name, room, viewport) =>
    openChat(browser, { name, nick: name, room, viewport, baseUrl, stepTimeoutMs: STEP_TIMEOUT_MS, quiet });

  step = 'the page and its assets are served with their types';
  for (const [asset, type] of [
    ['/', 'text/html'],
    ['/app.js', 'text/javascript'],
    ['/heimdallr.js', 'text/javascript'],
    ['/style.css', 'text/css'],
    ['/favicon.svg', 'image/svg+xml'],
  ]) {
    const response = await fetch(baseUrl + asset);
    check(response.status === 200, `GET ${asset}: ${response.status}`);
    check(
      (response.headers.get('content-type') || '').startsWith(type),
      `GET ${asset}: content-type ${response.headers.get('content-type')}`,
    );
  }
  check(
    (await fetch(`${baseUrl}/..%2fconf%2fheimdallr.yaml`)).status === 404,
    'an escape attempt was not a 404',
  );

  step = 'a v2 client in Node fills the room with more history than a join shows';
  const erin = new HeimdallrClient(`ws://127.0.0.1:${port}/`, { name: 'erin', WebSocket });
  await erin.connect();
  await erin.join(ROOM);
  const seeded = JOIN_MESSAGES + 2;
  for (let i = 1; i <= seeded; i += 1) {
    const { offset } = await erin.publish(ROOM, { text: `earlier ${i}` });
    equal(offset, i, `offset of seeded message ${i}`);
  }
  erin.close();

  step = 'launch chromium';
  const browser = await launchChromium();

  step = 'alice (desktop) opens the room: its newest history, then her join';
  const alice = await open('alice', ROOM, { width: 1000, height: 640 });
  await waitMembers(alice, ['alice'], 'alice');
  const expectedHistory = [];
  for (let i = seeded - JOIN_MESSAGES + 1; i <= seeded; i += 1)
    expectedHistory.push({ offset: i, who: 'erin', text: `earlier ${i}` });
  equal(
    (await linesOf(alice)).map(({ offset, who, text }) => ({ offset, who, text })),
    [...expectedHistory, { offset: null, who: 'alice', text: 'joined' }],
    "alice's log on opening the room (history.join_messages of it)",
  );
  const sockets = await alice.evaluate(() => window.__sockets);
  equal(
    sockets,
    [{ url: `ws://127.0.0.1:${port}/`, protocols: 'heimdallr.v2' }],
    'the page opens one v2 WebSocket',
  );

  step = 'bob (phone) joins: presence lists both, alice sees him join; carol is elsewhere';
  const bob = await open('bob', ROOM, { width: 390, height: 760 });
  await waitMembers(bob, ['alice', 'bob'], 'bob (from the join reply)');
  await waitMembers(alice, ['alice', 'bob'], 'alice (from the join push)');
  await waitLine(alice, 'bob', 'joined', 'alice');
  await waitLine(bob, 'erin', `earlier ${seeded}`, 'bob (history)');
  const carol = await open('carol', OTHER_ROOM, { width: 800, height: 600 });
  await waitMembers(carol, ['carol'], 'carol');

  step = 'the page shows the node of its connect reply, and asks nothing else for it';
  const node = (await (await fetch(`${baseUrl}/stats`)).json()).node;
  await waitIn(
    alice,
    'alice should show the node',
    (n) => document.getElementById('node').textContent === `node ${n}`,
    node,
  );
  equal(
    await alice.evaluate(() => window.heimdallrChat.client.info.node),
    node,
    'client.info.node',
  );
  for (const [name, record] of pages)
    check(!record.requests.includes('/stats'), `${name}'s page requested /stats`);

  step = 'a raw ws client (old protocol) joins the same room: an anonymous member';
  const dave = new RawClient(`ws://127.0.0.1:${port}/${ROOM}`);
  await dave.opened;
  await waitMembers(alice, ['alice', 'bob', '1 anonymous'], 'alice after dave connected');
  await waitMembers(bob, ['alice', 'bob', '1 anonymous'], 'bob after dave connected');
  dave.send({ msgType: 'system', userId: 'dave', text: 'join', date: Date.now() });
  await waitLine(alice, 'dave', 'joined', 'alice (dave says he joined)');

  step = "pages exchange messages; the raw client gets the JSON text of the page's data";
  await say(alice, 'hello from alice');
  await waitLine(bob, 'alice', 'hello from alice', 'bob');
  await waitLine(alice, 'alice', 'hello from alice', 'alice (her own echo)');
  const bobLine = (await linesOf(bob)).find((l) => l.text === 'hello from alice');
  check(/^\d{2}:\d{2}:\d{2}$/.test(bobLine.time), `time shown as ${JSON.stringify(bobLine.time)}`);
  // Numbered after the seeded messages and dave's "join" (raw frames are kept too).
  check(bobLine.offset === seeded + 2, `offset of alice's message: ${bobLine.offset}`);
  const fromAlice = await dave.waitFor(
    "alice's message",
    (m) => m.msgType === 'user' && m.text === 'hello from alice',
  );
  const { __text: aliceText, __binary: aliceBinary, ...aliceData } = fromAlice;
  check(!aliceBinary, 'a v2 publication reaches a raw client as a text frame');
  equal(Object.keys(aliceData), ['date', 'msgType', 'text', 'userId'], 'keys, sorted');
  check(
    aliceData.userId === 'alice' && Math.abs(aliceData.date - Date.now()) < 60_000,
    `page message ${aliceText}`,
  );
  equal(aliceText, JSON.stringify(aliceData), 'the frame is the compact JSON of the data');
  await say(bob, 'hi alice, bob here');
  await waitLine(alice, 'bob', 'hi alice, bob here', 'alice');
  equal(await alice.inputValue('#text'), '', "alice's box is empty once sent");

  step = "the raw client's JSON and non-JSON frames appear on the pages";
  const sentDate = Date.now() - 90_000; // its own date, not the time of arrival, is shown
  dave.send({ msgType: 'user', userId: 'dave', text: 'hi from an old client', date: sentDate });
  dave.send('plain frame, not JSON');
  dave.send('{"foo":1}');
  dave.socket.send(Buffer.from('a binary frame'), { binary: true });
  await waitLine(alice, 'dave', 'hi from an old client', 'alice');
  await waitLine(bob, 'dave', 'hi from an old client', 'bob');
  const daveLine = (await linesOf(alice)).find((l) => l.text === 'hi from an old client');
  const expectedTime = await alice.evaluate((d) => {
    const t = new Date(d);
    return [t.getHours(), t.getMinutes(), t.getSeconds()]
      .map((n) => String(n).padStart(2, '0'))
      .join(':');
  }, sentDate);
  equal(daveLine.time, expectedTime, "the time shown is the message's own date");
  for (const raw of ['plain frame, not JSON', '{"foo":1}', 'a binary frame']) {
    await waitLine(alice, 'raw', raw, 'alice (raw frame)');
  }
  // A date no Date can hold: shown with the arrival time instead, and nothing throws.
  dave.send({ msgType: 'user', userId: 'dave', text: 'from the far future', date: 1e300 });
  await waitLine(alice, 'dave', 'from the far future', 'alice (bad date)');

  step = 'messages are described by what the server says, never an error';
  const described = await alice.evaluate(async () => {
    const { parseFrame, describeMessage } = await import('/app.js');
    const frames = [
      '{"msgType":"user","userId":"u","text":"t","date":5}',
      '{"msgType":"system","userId":7,"text":"join"}',
      'null',
      '[]',
      '42',
      '"text"',
      '{"msgType":"other","userId":"u","text":"t"}',
      '{"msgType":"user","userId":{},"text":"t"}',
      '{"msgType":"user","userId":"","text":"t"}',
      '{"msgType":"user","userId":"u"}',
      '{"msgType":"user",',
      '',
    ];
    const from = { client: 'c', user: 'zed' };
    return {
      kinds: frames.map((frame) => parseFrame(frame).kind),
      user: parseFrame(frames[0]),
      join: parseFrame(frames[1]),
      messages: [
        { data: { msgType: 'user', userId: 'mallory', text: 'hi', date: 5 }, from },
        { data: 'just a string', from },
        { data: { text: 'a text field' }, from },
        { data: [1, 2], from },
        { data: null, from },
        { raw: true, data: '{"msgType":"user","userId":"u","text":"t"}', from: { user: '' } },
        { raw: true, data: 'plain', from },
        { raw: true, b64: 'aMOpbGxv', from },
        {},
      ].map(describeMessage),
    };
  });
  equal(
    described.kinds,
    ['user', 'system', 'raw', 'raw', 'raw', 'raw', 'raw', 'raw', 'raw', 'raw', 'raw', 'raw'],
    'parseFrame kinds',
  );
  equal(described.user, { kind: 'user', userId: 'u', text: 't', date: 5 }, 'a parsed message');
  equal(described.join, { kind: 'system', userId: '7', text: 'join', date: null }, 'a join');
  equal(
    described.messages,
    [
      { kind: 'user', name: 'zed', text: 'hi', date: 5 }, // the server's user, not the claim
      { kind: 'user', name: 'zed', text: 'just a string', date: null },
      { kind: 'user', name: 'zed', text: 'a text field', date: null },
      { kind: 'raw', name: 'raw', text: '[1,2]', date: null },
      { kind: 'raw', name: 'raw', text: 'null', date: null },
      { kind: 'user', name: 'u', text: 't', date: null }, // no user known: the claim
      { kind: 'raw', name: 'raw', text: 'plain', date: null },
      { kind: 'raw', name: 'raw', text: 'héllo', date: null },
      { kind: 'raw', name: 'raw', text: '', date: null },
    ],
    'describeMessage',
  );

  step = 'markup in messages renders as text';
  const xss = '<img src=x onerror=alert(1)>';
  await say(bob, xss);
  await waitLine(alice, 'bob', xss, 'alice (the payload literally)');
  dave.send({
    msgType: 'user',
    userId: '<b>mallory</b>',
    text: '<script>alert(2)</script>',
    date: Date.now(),
  });
  await waitLine(alice, '<b>mallory</b>', '<script>alert(2)</script>', 'alice (markup in userId)');
  for (const [name, page] of [
    ['alice', alice],
    ['bob', bob],
  ]) {
    const injected = await page.evaluate(
      () => document.querySelectorAll('img, #messages b, #messages script, #members b').length,
    );
    equal(injected, 0, `elements created from message text on ${name}`);
  }

  // The README's docs/screenshot-chat.png is a copy of this one.
  await alice.screenshot({ path: path.join(outDir, 'chat-desktop.png') });

  step = 'a page in another room sees none of it';
  equal(
    (await linesOf(carol)).map((l) => `${l.who}:${l.text}`),
    ['carol:joined'],
    "carol's log",
  );

  step = 'leave and join update the member list; a re-opened room shows its history';
  await bob.click('#leave');
  await waitStatus(bob, 'idle', 'bob');
  await waitMembers(alice, ['alice', '1 anonymous'], 'alice after bob left');
  await waitLine(alice, 'bob', 'left', 'alice');
  await bob.click('#join'); // the form kept his nickname and room
  await waitStatus(bob, 'connected', 'bob');
  await waitMembers(bob, ['alice', 'bob', '1 anonymous'], 'bob after rejoining');
  await waitMembers(alice, ['alice', 'bob', '1 anonymous'], 'alice after bob rejoined');
  const bobHistory = await linesOf(bob);
  equal(
    bobHistory.filter((l) => l.offset !== null).length,
    JOIN_MESSAGES,
    'messages shown on re-opening the room',
  );
  equal(
    [bobHistory.at(-2).who, bobHistory.at(-2).text],
    ['<b>mallory</b>', '<script>alert(2)</script>'],
    'the newest of them is the last message sent',
  );
  equal(bobHistory.at(-1), { ...bobHistory.at(-1), who: 'bob', text: 'joined' }, 'then his join');
  dave.close();
  await waitMembers(alice, ['alice', 'bob'], 'alice after dave left');
  await waitMembers(bob, ['alice', 'bob'], 'bob after dave left');

  step = 'phone-sized viewport: no horizontal scrolling, the input and Send button visible';
  const layout = await bob.evaluate(() => {
    const box = (id) => document.getElementById(id).getBoundingClientRect();
    return {
      overflow: document.documentElement.scrollWidth - window.innerWidth,
      text: box('text').right <= window.innerWidth && box('text').bottom <= window.innerHeight,
      send: box('send').right <= window.innerWidth && box('send').bottom <= window.innerHeight,
    };
  });
  equal(layout, { overflow: 0, text: true, send: true }, "bob's phone layout");
  for (const [name, page] of [
    ['alice', alice],
    ['bob', bob],
    ['carol', carol],
  ])
    equal(await noticeOf(page), null, `no "missing" notice on ${name}'s page yet`);

  step = 'the server restarts on the same port: pages show "reconnecting", come back, rejoin';
  outage = true;
  const exit = await server.stop();
  check(
    exit && exit.code === 0,
    `the server's exit on SIGTERM: ${JSON.stringify(exit)}\n${server.log}`,
  );
  await waitStatus(alice, 'reconnecting', 'alice');
  await waitStatus(bob, 'reconnecting', 'bob');
  // The status cycles "reconnecting in N s" -> "connecting…" -> ... while the server is down, so
  // wait for the countdown form rather than sampling once (a sample can land on "connecting…").
  await waitIn(
    alice,
    'alice should show "reconnecting in N s" while down',
    () => /^reconnecting in \d+ s$/.test(document.querySelector('#status')?.textContent ?? ''),
    null,
  );
  check(await alice.isDisabled('#send'), 'Send should be disabled while disconnected');
  await alice.fill('#text', 'typed while offline');
  await alice.press('#text', 'Enter'); // must not send: there is no session
  equal(await alice.inputValue('#text'), 'typed while offline', 'the unsent text stays in the box');

  step = 'while the port accepts but never answers (a half-dead node), nothing is sent either';
  const held = new Set();
  const blackHole = net.createServer((socket) => {
    held.add(socket);
    socket.on('error', () => {});
  });
  await new Promise((resolve, reject) => {
    blackHole.once('error', reject);
    blackHole.listen(port, '127.0.0.1', resolve);
  });
  await waitStatus(alice, 'connecting', 'alice (held in the handshake)', 20_000);
  await alice.press('#text', 'Enter'); // the socket is CONNECTING: still not sent
  equal(await alice.inputValue('#text'), 'typed while offline', 'the text still waits in the box');
  equal(await alice.evaluate(() => window.__sendsNotOpen), 0, 'sends on a CONNECTING socket');
  const closed = new Promise((resolve) => blackHole.close(resolve));
  for (const socket of held) socket.destroy();
  await closed;
  await waitStatus(alice, 'reconnecting', 'alice after the handshake was cut');

  step = 'the server is back on the same port: the pages reconnect, rejoin, and say what is lost';
  server = await startServer('restarted server', port);
  await waitStatus(alice, 'connected', 'alice', 30_000);
  await waitStatus(bob, 'connected', 'bob', 30_000);
  await waitStatus(carol, 'connected', 'carol', 30_000);
  outage = false;
  await waitMembers(alice, ['alice', 'bob'], 'alice after the restart');
  await waitMembers(bob, ['alice', 'bob'], 'bob after the restart');
  const newNode = (await (await fetch(`${baseUrl}/stats`)).json()).node;
  check(newNode !== node, `the restarted server has a new node id (${newNode})`);
  await waitIn(
    alice,
    'alice should show the restarted node',
    (n) => document.getElementById('node').textContent === `node ${n}`,
    newNode,
  );
  // The in-memory history died with the process: a new epoch, so nothing could be replayed.
  for (const [name, page] of [
    ['alice', alice],
    ['bob', bob],
    ['carol', carol],
  ]) {
    const notice = await noticeOf(page);
    check(
      /some messages may be missing/i.test(notice ?? ''),
      `${name}'s page should show the "missing" notice, shows ${JSON.stringify(notice)}`,
    );
    const lines = await linesOf(page);
    check(
      lines.some((l) => l.kind.includes('gap') && /some messages may be missing/i.test(l.text)),
      `${name}'s log should mark where messages may be missing`,
    );
    const recovery = await page.evaluate(() => window.heimdallrChat.recoveries.at(-1));
    equal(
      { reason: recovery?.reason, recovered: recovery?.recovered },
      { reason: 'rejoin', recovered: false },
      `${name}'s last recovery`,
    );
  }
  await alice.click('#send');
  await waitLine(bob, 'alice', 'typed while offline', 'bob after the restart');
  await say(bob, 'back again');
  await waitLine(alice, 'bob', 'back again', 'alice after the restart');
  const afterRestart = (await linesOf(alice)).filter((l) => l.text === 'back again');
  equal(
    afterRestart.map((l) => l.offset),
    [2],
    'the new epoch numbers from 1 again (alice 1, bob 2), shown once',
  );
  const scrolled = await alice.evaluate(() => {
    const list = document.getElementById('messages');
    return list.scrollHeight - list.scrollTop - list.clientHeight;
  });
  check(scrolled < 40, `alice's log should stay scrolled to the newest line (${scrolled} px off)`);
  await alice.click('#dismiss');
  equal(await noticeOf(alice), null, 'the notice can be dismissed');
  const history = await alice.evaluate(() => window.__statusHistory);
  const down = history.findIndex((s) => s.startsWith('reconnecting in'));
  check(
    down > 0 && history.slice(down).includes('connected'),
    `alice's status history: ${JSON.stringify(history)}`,
  );

  step = 'screenshots';
  await alice.screenshot({ path: path.join(outDir, 'chat-after-restart.png') });
  await bob.screenshot({ path: path.join(outDir, 'chat-phone.png') });
  await carol.screenshot({ path: path.join(outDir, 'chat-other-room.png') });

  step = 'no console errors, no failed requests, no dialogs, no send on a closed socket';
  for (const [name, record] of pages) {
    equal(record.problems, [], `problems on ${name}'s page`);
    equal(record.dialogs, [], `dialogs on ${name}'s page`);
    equal(
      await record.page.evaluate(() => window.__sendsNotOpen),
      0,
      `sends on a socket that was not open (${name})`,
    );
  }
  const carolAfter = (await linesOf(carol)).filter((l) => !l.kind.includes('gap'));
  equal(
    [...new Set(carolAfter.map((l) => `${l.who}:${l.text}`))],
    ['carol:joined'],
    'carol (who reconnected too) still saw nothing from the other room',
  );

  const outageLogs = [...pages.values()].flatMap((record) => record.expected);
  return [
    `status history during the restart: ${JSON.stringify(history)}`,
    `refused reconnects logged by chromium while the server was down: ${outageLogs.length}`,
    `screenshots in ${path.relative(repo, outDir)}/`,
  ];
}

// ---------------------------------------------------------------------------------------------

await runScenario({ tag: 'e2e.chat', deadlineMs: DEADLINE_MS, step: () => step, run });
