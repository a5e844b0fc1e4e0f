#!/usr/bin/env node
// Unit test of web/heimdallr.js, the protocol v2 client, against a fake server: a real WebSocket
// server from npm `ws` on 127.0.0.1 (port 0), scripted frame by frame by each case below. It
// tests the client's logic (ids, ordering, recovery, backoff), not the heimdallr server.
//
//   node tests/e2e/client.unit.mjs        (runs `npm ci` here first if npm ws is missing)
//
// Prints one line per case and a summary; exit code 0 when every case passed, 1 otherwise.
import assert from 'node:assert/strict';
import { requirePrerequisites, sleep, until as untilHolds, within as withinMs } from './support.mjs';

requirePrerequisites('client.unit', { server: false, packages: ['ws'] });
const { WebSocket, WebSocketServer } = await import('ws');
const {
  HeimdallrClient,
  HeimdallrError,
  PROTOCOL,
  backoffDelay,
  drainHintMs,
  isFatalClose,
} = await import('../../web/heimdallr.js');

const STEP_MS = 3000; // any single wait; a hang fails the case instead of the run

// A callback of the client that throws is rethrown from a microtask, and a promise nobody handles
// is a bug in the client: both must fail the run, not pass silently.
const stray = [];
process.on('unhandledRejection', (error) => stray.push(error));
process.on('uncaughtException', (error) => stray.push(error));

// support.mjs's bounded waits, with this file's bound and a 5 ms poll.
const within = (promise, what, ms = STEP_MS) => withinMs(ms, what, promise);
const until = (predicate, what, ms = STEP_MS) => untilHolds(predicate, what, ms, 5);

// ---------------------------------------------------------------------------------------------
// The fake server.

class Queue {
  #items = [];
  #waiters = [];
  push(item) {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(item);
    else this.#items.push(item);
  }
  next(what) {
    if (this.#items.length) return Promise.resolve(this.#items.shift());
    return within(new Promise((resolve) => this.#waiters.push(resolve)), what);
  }
  get size() {
    return this.#items.length;
  }
}

/** One client connection as the server sees it. */
class Conn {
  constructor(ws, request) {
    this.ws = ws;
    this.offered = request.headers['sec-websocket-protocol'] ?? '';
    this.frames = new Queue();
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    ws.on('message', (data, isBinary) => {
      assert.equal(isBinary, false, 'the client sends text frames only');
      this.frames.push(JSON.parse(data.toString()));
    });
  }

  /** The next frame, which must be command `name`. */
  async expect(name) {
    const frame = await this.frames.next(`a ${name} command`);
    assert.ok(Number.isSafeInteger(frame.id) && frame.id >= 0, `id of ${JSON.stringify(frame)}`);
    assert.ok(name in frame, `expected ${name}, got ${JSON.stringify(frame)}`);
    return frame;
  }

  send(frame) {
    this.ws.send(JSON.stringify(frame));
  }

  reply(command, ok) {
    this.send({ id: command.id, ok });
  }

  fail(command, code, message) {
    this.send({ id: command.id, error: { code, message } });
  }

  /** Answers the connect command. */
  async accept(ok = {}) {
    const command = await this.expect('connect');
    this.reply(command, { client: 'c1', user: 'alice', node: 'n1', expires_in: 0, ...ok });
    return command;
  }

  pushMessage(room, offset, extra = {}) {
    this.send({
      push: 'message',
      room,
      offset,
      data: { n: offset },
      from: { client: 'c2', user: 'bob' },
      ...extra,
    });
  }
}

class FakeServer {
  constructor() {
    this.connections = new Queue();
    this.count = 0;
    this.wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      // The v2 server echoes the subprotocol; this one does too, so the client accepts it.
      handleProtocols: (protocols) => (protocols.has(PROTOCOL) ? PROTOCOL : false),
    });
    this.wss.on('connection', (ws, request) => {
      this.count += 1;
      this.connections.push(new Conn(ws, request));
    });
    this.listening = new Promise((resolve) => this.wss.on('listening', resolve));
  }

  get url() {
    return `ws://127.0.0.1:${this.wss.address().port}/`;
  }

  next() {
    return this.connections.next('a connection');
  }

  close() {
    for (const ws of this.wss.clients) ws.terminate();
    return new Promise((resolve) => this.wss.close(resolve));
  }
}

/** A client against `server` with short backoffs, recording its events in `events`. */
function makeClient(server, options = {}) {
  const client = new HeimdallrClient(server.url, {
    token: 't0',
    name: 'alice',
    WebSocket,
    backoff: { minMs: 10, maxMs: 80, stableMs: 60_000 },
    ...options,
  });
  const events = [];
  for (const type of ['connected', 'disconnected', 'reconnecting', 'error'])
    client.on(type, (detail) => events.push({ type, detail }));
  return { client, events };
}

/** A connected client and the server's side of its connection. */
async function connected(server, options) {
  const { client, events } = makeClient(server, options);
  const info = client.connect();
  const conn = await server.next();
  await conn.accept();
  await within(info, 'connect()');
  return { client, events, conn };
}

/** Joins `room` on `conn`, answering with `ok`; returns the join reply. */
async function joined(client, conn, room, handlers, ok) {
  const reply = client.join(room, handlers);
  const command = await conn.expect('join');
  conn.reply(command, { room, recovered: false, messages: [], members: [], ...ok });
  return within(reply, 'join()');
}

const msg = (offset) => ({ offset, data: { n: offset }, from: { client: 'c2', user: 'bob' } });

// ---------------------------------------------------------------------------------------------
// The cases. Each gets a fresh server; clients are closed by the runner.

const cases = [];
const test = (name, fn) => cases.push({ name, fn });

test('offers heimdallr.v2 and connects with token and name', async ({ server, track }) => {
  const { client, events } = track(makeClient(server));
  assert.equal(client.state, 'idle');
  await assert.rejects(client.publish('42', 1), { code: 0, message: 'not connected' });
  const info = client.connect();
  assert.equal(client.state, 'connecting');
  const conn = await server.next();
  assert.ok(conn.offered.split(/,\s*/).includes(PROTOCOL), `offered: ${conn.offered}`);
  assert.equal(conn.ws.protocol, PROTOCOL);
  const command = await conn.expect('connect');
  assert.deepEqual(command.connect, { token: 't0', name: 'alice' });
  conn.reply(command, { client: 'c9', user: 'alice', node: 'n1', expires_in: 0 });
  const ok = await within(info, 'connect()');
  assert.deepEqual(ok, { client: 'c9', user: 'alice', node: 'n1', expires_in: 0 });
  assert.deepEqual(client.info, ok);
  assert.equal(client.state, 'connected');
  assert.deepEqual(
    events.map((e) => e.type),
    ['connected'],
  );
  assert.equal(await client.connect(), ok, 'connect() when connected gives the session');
});

test('matches replies by id in any order', async ({ server, track }) => {
  const { client, conn } = track(await connected(server));
  const calls = [
    client.presence('42'),
    client.history('42', { since: { offset: 3, epoch: 'e1' }, limit: 5 }),
    client.publish('42', { text: 'hi' }),
    client.refresh('t1'),
  ];
  const commands = [];
  for (const name of ['presence', 'history', 'publish', 'refresh'])
    commands.push(await conn.expect(name));
  assert.equal(new Set(commands.map((c) => c.id)).size, 4, 'ids are distinct');
  assert.deepEqual(commands[1].history, {
    room: '42',
    since: { offset: 3, epoch: 'e1' },
    limit: 5,
  });
  assert.deepEqual(commands[2].publish, { room: '42', data: { text: 'hi' } });
  assert.deepEqual(commands[3].refresh, { token: 't1' });
  conn.send({ id: 999_999, ok: { stray: true } }); // nobody waits for it: ignored
  conn.reply(commands[3], { expires_in: 0 });
  conn.reply(commands[2], { offset: 21 });
  conn.reply(commands[1], { messages: [], offset: 3, epoch: 'e1' });
  conn.reply(commands[0], { members: [{ client: 'c1', user: 'alice', info: null, node: 'n1' }] });
  const [presence, history, publish, refresh] = await within(Promise.all(calls), 'replies');
  assert.equal(presence.members[0].client, 'c1');
  assert.equal(history.epoch, 'e1');
  assert.deepEqual(publish, { offset: 21 });
  assert.deepEqual(refresh, { expires_in: 0 });
});

test('an error reply rejects with its code and message', async ({ server, track }) => {
  const { client, conn } = track(await connected(server));
  const cases = [
    [409, 'not joined'],
    [403, 'not allowed'],
    [429, 'rate limited'],
    [413, 'too large'],
    [503, 'bus unavailable'],
  ];
  for (const [code, message] of cases) {
    const publish = client.publish('42', 'x');
    conn.fail(await conn.expect('publish'), code, message);
    const error = await publish.then(
      () => assert.fail('publish resolved'),
      (e) => e,
    );
    assert.ok(error instanceof HeimdallrError && error instanceof Error);
    assert.equal(error.code, code);
    assert.equal(error.message, message);
    assert.equal(error.command, 'publish');
  }
  await assert.rejects(client.publish('42', undefined), TypeError);
  await assert.rejects(client.join('no spaces'), TypeError);
  assert.equal(client.state, 'connected', 'errors do not end the session');
});

test('merges pushes held during a join with its reply, in order, once', async ({
  server,
  track,
}) => {
  const { client, conn } = track(await connected(server));
  const log = [];
  const seen = [];
  client.on('message', (m) => seen.push(m));
  const reply = client.join('42', {
    onMessage: (m) => log.push(m.offset),
    onJoin: (member) => log.push(`join:${member.user}`),
    onRecover: () => log.push('recover'),
  });
  const command = await conn.expect('join');
  assert.deepEqual(command.join, { room: '42' }, 'a first join has no since');
  // Live pushes overtake the reply: held, then merged after its messages.
  conn.pushMessage('42', 21);
  conn.pushMessage('42', 23);
  conn.send({ push: 'join', room: '42', member: { client: 'c3', user: 'carol' } });
  conn.pushMessage('42', 22);
  conn.pushMessage('42', 20); // also in the reply
  conn.pushMessage('other', 5); // a room this client is not in
  conn.reply(command, {
    room: '42',
    offset: 20,
    epoch: 'e1',
    recovered: false,
    messages: [msg(19), msg(18), msg(20)],
    members: [{ client: 'c1', user: 'alice' }],
  });
  conn.pushMessage('42', 22); // duplicate after the merge
  conn.pushMessage('42', 24);
  const ok = await within(reply, 'join()');
  assert.equal(ok.epoch, 'e1');
  assert.deepEqual(ok.members, [{ client: 'c1', user: 'alice' }]);
  await until(() => log.includes(24), 'offset 24');
  await sleep(20); // nothing more may follow
  assert.deepEqual(log, [18, 19, 20, 21, 'join:carol', 22, 23, 24]);
  assert.deepEqual(seen[0], { ...msg(18), room: '42' });
  assert.ok(seen.every((m) => !('push' in m) && m.room === '42'));
  assert.deepEqual(client.position('42'), { offset: 24, epoch: 'e1' });
  assert.deepEqual(client.rooms, ['42']);
});

test('reconnects, re-joins with since and reports recovery', async ({ server, track }) => {
  let tokens = 0;
  const { client, conn, events } = track(
    await connected(server, { getToken: async () => `fresh${++tokens}` }),
  );
  const log = [];
  const recoveries = [];
  const handlers = {
    onMessage: (m) => log.push(m.offset),
    onRecover: (r) => {
      recoveries.push(r);
      log.push(`recover:${r.recovered}`);
    },
  };
  await joined(client, conn, '42', handlers, { offset: 5, epoch: 'e1' });
  conn.pushMessage('42', 6);
  await until(() => log.includes(6), 'offset 6');

  // A command in flight when the socket dies rejects with code 0.
  const publish = client.publish('42', 'lost?');
  await conn.expect('publish');
  conn.ws.terminate();
  await assert.rejects(publish, { code: 0, message: 'disconnected' });
  await until(() => events.some((e) => e.type === 'reconnecting'), 'reconnecting');
  const dropped = events.find((e) => e.type === 'disconnected');
  assert.equal(dropped.detail.willReconnect, true);
  assert.equal(dropped.detail.code, 1006);

  // Second session: a fresh token, then the room again from offset 6 of e1.
  let early = null;
  const off = client.on('connected', () => {
    early = client.publish('42', 'after reconnect'); // must wait for the re-join
  });
  const conn2 = await server.next();
  assert.deepEqual((await conn2.accept()).connect, { token: 'fresh1', name: 'alice' });
  const rejoin = await conn2.expect('join');
  assert.deepEqual(rejoin.join, { room: '42', since: { offset: 6, epoch: 'e1' } });
  await sleep(30);
  assert.equal(conn2.frames.size, 0, 'the publish waits for the re-join reply');
  conn2.pushMessage('42', 8); // held until the reply
  conn2.reply(rejoin, {
    room: '42',
    offset: 7,
    epoch: 'e1',
    recovered: true,
    messages: [msg(6), msg(7)],
  });
  conn2.reply(await conn2.expect('publish'), { offset: 9 });
  assert.deepEqual(await within(early, 'publish after reconnect'), { offset: 9 });
  off();
  await until(() => log.includes(8), 'offset 8');
  assert.deepEqual(log, [6, 'recover:true', 7, 8]);
  assert.equal(recoveries[0].reason, 'rejoin');
  assert.equal(recoveries[0].missed, 1);
  assert.equal(recoveries[0].epoch, 'e1');

  // Third session: the stream was reset meanwhile; the reply says so and the room moves on.
  conn2.ws.terminate();
  const conn3 = await server.next();
  assert.equal((await conn3.accept()).connect.token, 'fresh2');
  const rejoin3 = await conn3.expect('join');
  // Its own publish (offset 9) is not a delivery: the position moves when the push comes.
  assert.deepEqual(rejoin3.join.since, { offset: 8, epoch: 'e1' });
  conn3.reply(rejoin3, { room: '42', offset: 3, epoch: 'e2', recovered: false, messages: [] });
  conn3.pushMessage('42', 4);
  await until(() => log.includes(4), 'offset 4 of e2');
  assert.deepEqual(log.slice(4), ['recover:false', 4]);
  assert.equal(recoveries[1].recovered, false);
  assert.deepEqual(client.position('42'), { offset: 4, epoch: 'e2' });
  assert.equal(events.filter((e) => e.type === 'connected').length, 3);
  assert.equal(events.filter((e) => e.type === 'error').length, 0);
});

test('epoch pushes and gaps in live offsets', async ({ server, track }) => {
  const { client, conn } = track(await connected(server));
  const log = [];
  const recoveries = [];
  await joined(
    client,
    conn,
    'r',
    {
      onMessage: (m) => log.push(m.offset),
      onRecover: (r) => {
        recoveries.push(r);
        log.push(`${r.reason}:${r.recovered}`);
      },
    },
    { offset: 2, epoch: 'e1' },
  );
  conn.send({ push: 'epoch', room: 'r', epoch: 'e2', offset: 0 });
  conn.pushMessage('r', 1);
  conn.pushMessage('r', 3); // 2 is missing: the client reads history
  const history = await conn.expect('history');
  assert.deepEqual(history.history, { room: 'r', since: { offset: 1, epoch: 'e2' } });
  conn.pushMessage('r', 4); // held while history is read
  conn.reply(history, { messages: [msg(3), msg(2)], offset: 3, epoch: 'e2' });
  await until(() => log.includes(4), 'offset 4');
  assert.deepEqual(log, ['epoch:false', 1, 'gap:true', 2, 3, 4]);
  assert.equal(recoveries[1].missed, 2);

  // A gap history cannot fill is reported once, then live messages flow again.
  conn.pushMessage('r', 7);
  const again = await conn.expect('history');
  assert.deepEqual(again.history.since, { offset: 4, epoch: 'e2' });
  conn.reply(again, { messages: [], offset: 7, epoch: 'e2' });
  conn.pushMessage('r', 8);
  await until(() => log.includes(8), 'offset 8');
  assert.deepEqual(log.slice(6), ['gap:false', 7, 8]);
  await sleep(20);
  assert.equal(conn.frames.size, 0, 'no second history read for the same gap');
});

test('backoff grows and is jittered', async ({ server, track }) => {
  // A port nobody listens on: every attempt fails at once.
  const url = server.url;
  await server.close();
  const randoms = [0.5, 0.99, 0.25, 0.75, 0, 0.5, 0.9];
  let i = 0;
  const { client, events } = track(
    makeClient({ url }, { random: () => randoms[i++ % randoms.length] }),
  );
  let settled = false;
  client.connect().then(
    () => (settled = true),
    () => (settled = true),
  );
  const started = Date.now();
  const retries = () => events.filter((e) => e.type === 'reconnecting').map((e) => e.detail);
  await until(() => retries().length >= 7, '7 retries');
  const elapsed = Date.now() - started;
  const ceilings = [10, 20, 40, 80, 80, 80, 80]; // minMs 10 doubling, capped at maxMs 80
  const expected = ceilings.map((c, k) => Math.floor(randoms[k] * c));
  assert.deepEqual(
    retries()
      .slice(0, 7)
      .map((r) => r.delayMs),
    expected,
  );
  assert.deepEqual(
    retries()
      .slice(0, 7)
      .map((r) => r.attempt),
    [1, 2, 3, 4, 5, 6, 7],
  );
  const waited = expected.slice(0, 6).reduce((a, b) => a + b, 0);
  assert.ok(elapsed >= waited * 0.9, `waited ${elapsed} ms for ${waited} ms of delays`);
  assert.equal(settled, false, 'connect() keeps waiting while the server is unreachable');
  assert.equal(events.filter((e) => e.type === 'disconnected').length, 0, 'never connected');

  // The default random: spread over [0, ceiling).
  const samples = Array.from({ length: 500 }, () =>
    backoffDelay(3, { minMs: 250, maxMs: 10000 }),
  );
  assert.ok(samples.every((d) => Number.isInteger(d) && d >= 0 && d < 2000));
  assert.ok(new Set(samples).size > 100, 'jittered');
  assert.equal(backoffDelay(40, { minMs: 250, maxMs: 10000 }, () => 0.999), 9990);
});

test('a draining server sets the first delay', async ({ server, track }) => {
  const { client, conn, events } = track(await connected(server, { random: () => 0.99 }));
  await joined(client, conn, 'd', {}, { offset: 0, epoch: 'e1' });
  conn.ws.close(1001, 'server draining; reconnect in 150 ms');
  const closedAt = Date.now();
  await until(() => events.some((e) => e.type === 'reconnecting'), 'reconnecting');
  const retry = events.find((e) => e.type === 'reconnecting').detail;
  assert.equal(retry.delayMs, 150);
  assert.equal(retry.code, 1001);
  const conn2 = await server.next();
  const waited = Date.now() - closedAt;
  assert.ok(waited >= 140, `reconnected after ${waited} ms`);
  await conn2.accept();
  const rejoin = await conn2.expect('join');
  assert.deepEqual(rejoin.join.since, { offset: 0, epoch: 'e1' });
  assert.equal(drainHintMs(1001, 'server draining; reconnect in 1234 ms'), 1234);
  assert.equal(drainHintMs(1006, 'reconnect in 5 ms'), null);
  assert.equal(drainHintMs(1001, 'going away'), null);
});

test('close() stops reconnecting and rejects what is pending', async ({ server, track }) => {
  const { client, conn, events } = track(await connected(server));
  const publish = client.publish('42', 'x');
  await conn.expect('publish');
  client.close();
  await assert.rejects(publish, { code: 0 });
  assert.equal((await within(conn.closed, 'server side close')).code, 1000);
  assert.equal(client.state, 'closed');
  await assert.rejects(client.connect(), { code: 0, message: 'closed' });

  // Closing while a reconnect is scheduled cancels it.
  const second = track(await connected(server, { backoff: { minMs: 50, maxMs: 50 } }));
  second.conn.ws.terminate();
  await until(() => second.events.some((e) => e.type === 'reconnecting'), 'reconnecting');
  assert.equal(second.client.state, 'waiting');
  second.client.close();
  const before = server.count;
  await sleep(200);
  assert.equal(server.count, before, 'no connection after close()');
  const last = second.events.filter((e) => e.type === 'disconnected').at(-1).detail;
  assert.equal(last.willReconnect, false);
  assert.equal(events.filter((e) => e.type === 'disconnected').at(-1).detail.willReconnect, false);
});

test('fatal closes and refusals stop the client', async ({ server, track }) => {
  const { conn, events } = track(await connected(server));
  conn.ws.close(4003, 'forbidden');
  await until(() => events.some((e) => e.type === 'disconnected'), 'disconnected');
  const { detail } = events.find((e) => e.type === 'disconnected');
  assert.equal(detail.willReconnect, false);
  assert.equal(detail.error.code, 4003);

  const refused = track(makeClient(server, { token: 'bad' }));
  const info = refused.client.connect();
  const conn2 = await server.next();
  conn2.fail(await conn2.expect('connect'), 401, 'invalid token');
  await assert.rejects(within(info, 'connect() rejecting'), {
    code: 401,
    message: 'invalid token',
  });
  assert.equal(refused.client.state, 'closed');
  const before = server.count;
  await sleep(150);
  assert.equal(server.count, before, 'no retry after a refusal');
  assert.ok(isFatalClose(1008, true) && isFatalClose(4400, true) && isFatalClose(4001, false));
  assert.ok(!isFatalClose(4001, true) && !isFatalClose(4008, true) && !isFatalClose(4029, true));
});

test('token expiry: in-band refresh, and 4001 reconnects with a new token', async ({
  server,
  track,
}) => {
  let tokens = 0;
  const { client, events } = track(
    makeClient(server, { token: undefined, getToken: async () => `jwt${++tokens}` }),
  );
  const info = client.connect();
  const conn = await server.next();
  const connect = await conn.expect('connect');
  assert.equal(connect.connect.token, 'jwt1', 'no token option: getToken is asked first');
  conn.reply(connect, { client: 'c1', user: 'alice', node: 'n1', expires_in: 1 });
  await within(info, 'connect()');
  const sentAt = Date.now();
  const refresh = await conn.expect('refresh');
  const after = Date.now() - sentAt;
  assert.deepEqual(refresh.refresh, { token: 'jwt2' });
  assert.ok(after >= 600 && after < 1000, `refreshed ${after} ms into a 1 s token`);
  conn.reply(refresh, { expires_in: 3600 });

  conn.ws.close(4001, 'token expired');
  const conn2 = await server.next();
  assert.equal((await conn2.accept()).connect.token, 'jwt3');
  await until(() => events.filter((e) => e.type === 'connected').length === 2, 'reconnected');
});

test('a re-join refused for good drops the room and tells the app', async ({ server, track }) => {
  const { client, conn, events } = track(await connected(server));
  const errors = [];
  await joined(client, conn, 'x', { onError: (e) => errors.push(e) }, { offset: 1, epoch: 'e' });
  conn.ws.terminate();
  const conn2 = await server.next();
  await conn2.accept();
  conn2.fail(await conn2.expect('join'), 403, 'not allowed');
  await until(() => errors.length === 1, 'onError');
  assert.equal(errors[0].code, 403);
  assert.equal(errors[0].room, 'x');
  assert.deepEqual(client.rooms, []);
  assert.ok(events.some((e) => e.type === 'error' && e.detail.code === 403));
});

// ---------------------------------------------------------------------------------------------

let failed = 0;
for (const { name, fn } of cases) {
  const server = new FakeServer();
  await server.listening;
  const clients = [];
  const track = (made) => (clients.push(made.client), made);
  const started = Date.now();
  let error = null;
  try {
    await within(fn({ server, track }), 'the case', 15_000);
  } catch (caught) {
    error = caught;
  }
  for (const client of clients) client.close();
  await server.close();
  await sleep(10);
  // Errors that surface only once the case's clients are closed belong to this case too.
  const late = stray.splice(0);
  error ??= late.shift() ?? null;
  if (error) {
    failed += 1;
    const more = late.length ? `\n     (and ${late.length} more stray errors)` : '';
    const trace = String(error?.stack ?? error).split('\n').join('\n     ');
    console.log(`FAIL ${name}\n     ${trace}${more}`);
  } else {
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  }
}
console.log(`client.unit: ${cases.length - failed}/${cases.length} cases passed`);
process.exit(failed ? 1 : 0);
