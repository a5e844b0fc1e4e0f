#!/usr/bin/env node
// Protocol v2 conformance (docs/PROTOCOL.md, issue 13), tested with a client that shares no code
// with heimdallr: npm `ws` speaks the protocol from the JSON written here, npm `jsonwebtoken` mints
// the tokens. The real server binary runs on loopback with the in-memory bus (one group uses the
// redis plugin pointed at a closed port, for "bus down"), one server per group, always stopped.
//
//   node tests/e2e/v2.e2e.mjs          (runs `npm ci` here first if a package is missing)
//
// Environment: HEIMDALLR_BUILD_DIR (default <repo>/build). Node's test runner prints the summary.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  TEST_TIMEOUT, freePort, now, refusalOf, requirePrerequisites, sleep, startHeimdallr, stopServer,
  tempDir, upgraded, within,
} from './support.mjs';

requirePrerequisites('v2.e2e', { packages: ['jsonwebtoken', 'ws'] });
const { default: jwt } = await import('jsonwebtoken');
const { WebSocket } = await import('ws');

const PROTOCOL = 'heimdallr.v2';
const SECRET = 'v2-e2e-secret-that-is-at-least-32-bytes-long';
const dir = tempDir('heimdallr-v2-e2e-');
const secretFile = path.join(dir, 'jwt.secret');
writeFileSync(secretFile, `${SECRET}\n`);

// ---------------------------------------------------------------------------------------------
// Helpers (support.mjs has the shared ones): every wait is bounded and says what it waited for.

/** One server per group of tests: `overrides` are --set values (a later --set wins). */
const startServer = (overrides) => startHeimdallr(['server.drain_s=1', ...overrides]);

const opened = new Set(); // every socket of the running test, closed at its end

/**
 * A WebSocket that records what it receives. `opened` resolves (or rejects with the HTTP
 * refusal, {status, body}); `closed` resolves with {code, reason}. For v2 sockets every frame is
 * parsed: replies (with an id) land in `replies` (and `replyCount`, to catch a second answer),
 * pushes in `pushes`, anything else in `bad`.
 */
function open(port, route, { protocols, headers = {}, v2 = false } = {}) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${route}`, protocols, { headers });
  opened.add(ws);
  const c = {
    ws, received: [], replies: new Map(), replyCount: new Map(), pushes: [], bad: [],
    waiters: [], nextId: 1,
  };
  c.opened = upgraded(ws);
  c.opened.catch(() => {});
  c.isClosed = false;
  c.closed = new Promise((resolve) => ws.on('close', (code, reason) => {
    c.isClosed = true;
    c.closeInfo = `${code} ${reason.toString()}`;
    resolve({ code, reason: reason.toString() });
    for (const w of c.waiters.splice(0)) w();
  }));
  ws.on('message', (data, isBinary) => {
    const message = { data: isBinary ? Buffer.from(data) : data.toString(), isBinary };
    c.received.push(message);
    if (v2) {
      let frame;
      try { frame = isBinary ? undefined : JSON.parse(message.data); } catch { /* bad below */ }
      if (frame && typeof frame === 'object' && !Array.isArray(frame) && 'id' in frame) {
        c.replies.set(frame.id, frame);
        c.replyCount.set(frame.id, (c.replyCount.get(frame.id) || 0) + 1);
      } else if (frame && typeof frame === 'object' && typeof frame.push === 'string') {
        c.pushes.push(frame);
      } else {
        c.bad.push(message);
      }
    }
    for (const w of c.waiters.splice(0)) w();
  });
  /** Waits until check() returns something other than undefined, and returns it. */
  c.until = (what, check, ms = 5_000) => {
    let settled = false;
    const wait = new Promise((resolve, reject) => {
      const attempt = () => {
        if (settled) return;
        const value = check();
        if (value !== undefined) resolve(value);
        else if (c.isClosed) reject(new Error(`closed (${c.closeInfo}) while waiting for ${what}`));
        else c.waiters.push(attempt);
      };
      attempt();
    });
    return within(ms, what, wait).finally(() => { settled = true; });
  };
  /** The next received frame (raw sockets), removed from `received`. */
  c.nextMessage = (what = 'a message', ms = 5_000) =>
    c.until(what, () => (c.received.length ? c.received.shift() : undefined), ms);
  /** The first push that matches, removed from `pushes`. */
  c.takePush = (what, match, ms = 5_000) => c.until(what, () => {
    const i = c.pushes.findIndex(match);
    return i < 0 ? undefined : c.pushes.splice(i, 1)[0];
  }, ms);
  /** Sends `{"id":N,"<name>":body}` and waits for the reply with that id. */
  c.command = (name, body, ms = 5_000) => {
    const id = c.nextId++;
    c.ws.send(JSON.stringify({ id, [name]: body }));
    return c.until(`the reply to #${id} ${name} ${JSON.stringify(body).slice(0, 80)}`,
      () => c.replies.get(id), ms);
  };
  /** A command that must succeed: its `ok`. */
  c.ok = async (name, body, ms) => {
    const reply = await c.command(name, body, ms);
    assert.ok(reply.ok && typeof reply.ok === 'object' && !reply.error,
      `${name} ${JSON.stringify(body).slice(0, 200)} -> ${JSON.stringify(reply).slice(0, 300)}`);
    return reply.ok;
  };
  /** A command that must fail with `code`: its error. */
  c.fails = async (name, body, code, ms) => {
    const reply = await c.command(name, body, ms);
    const answer = `${name} ${JSON.stringify(body).slice(0, 200)} -> ${JSON.stringify(reply).slice(0, 300)}`;
    assert.equal(reply.ok, undefined, answer);
    assert.equal(reply.error?.code, code, answer);
    assert.equal(typeof reply.error.message, 'string', answer);
    return reply.error;
  };
  /** Message pushes of `room`. */
  c.messagesOf = (room) => c.pushes.filter((p) => p.push === 'message' && p.room === room);
  return c;
}

/** A v2 socket on "/", opened (not yet connected). */
async function v2socket(port) {
  const c = open(port, '/', { protocols: [PROTOCOL], v2: true });
  await within(5_000, 'the v2 upgrade', c.opened);
  return c;
}

/** A v2 socket that sent connect (name with auth off, token with auth on) and got its ok. */
async function v2session(port, { name, token } = {}) {
  const c = await v2socket(port);
  const body = {};
  if (name !== undefined) body.name = name;
  if (token !== undefined) body.token = token;
  c.hello = await c.ok('connect', body);
  return c;
}

/** A raw-protocol socket on /{room}, opened. */
async function rawSocket(port, route) {
  const c = open(port, route);
  await within(5_000, `the raw upgrade on ${route}`, c.opened);
  return c;
}

/** The refusal of an upgrade: {status, body, headers}. */
const refusal = (port, route, protocols) =>
  refusalOf(open(port, route, { protocols }), `${route} with ${JSON.stringify(protocols)}`);

function closeAll() {
  for (const ws of opened) ws.terminate();
  opened.clear();
}

/** Asserts exactly one reply to each of `ids`. */
function assertOneReplyEach(c, ids) {
  for (const id of ids) assert.equal(c.replyCount.get(id), 1, `replies to #${id}`);
}

const hs = (claims, options = {}) => jwt.sign(claims, SECRET, { algorithm: 'HS256', ...options });
const offsetsOf = (list) => list.map((m) => m.offset);
const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Publishes `count` messages {n} from `c` in `room`, one after another; returns the acks. */
async function publishSome(c, room, count, tag = 'm') {
  const acks = [];
  for (let n = 0; n < count; n++) acks.push(await c.ok('publish', { room, data: { tag, n } }));
  return acks;
}

// ---------------------------------------------------------------------------------------------

const MAIN_RULES = 'room_rules=[' + [
  '{match: "hist-*", history: {size: 10, join_messages: 3}}',
  '{match: "tiny-*", history: {size: 3, join_messages: 3}}',
  '{match: "big-*", history: {size: 1000, join_messages: 0}}',
  '{match: "pres-*", presence: {enabled: true, join_leave: true}}',
].join(', ') + ']';

describe('auth off: upgrade, commands, rooms, history and recovery', () => {
  let server;
  before(async () => {
    server = await startServer([MAIN_RULES, 'limits.max_rooms_per_connection=100']);
  });
  after(async () => { closeAll(); await stopServer(server); });

  test('upgrade: heimdallr.v2 is echoed on /; / without it is 400; the raw protocol on /room is unchanged', TEST_TIMEOUT, async () => {
    const c = await v2socket(server.port);
    assert.equal(c.ws.protocol, PROTOCOL);
    for (const protocols of [undefined, ['chat'], ['heimdallr.v1']]) {
      const refused = await refusal(server.port, '/', protocols);
      assert.equal(refused.status, 400, `/ with ${JSON.stringify(protocols)} -> ${refused.status} ${refused.body}`);
    }
    const a = await rawSocket(server.port, '/plain-raw');
    const b = await rawSocket(server.port, '/plain-raw');
    assert.equal(a.ws.protocol, '');
    a.ws.send('hello { not json');
    for (const [who, x] of [['b', b], ['the sender', a]]) {
      const m = await x.nextMessage(`the raw text at ${who}`);
      assert.deepEqual(m, { data: 'hello { not json', isBinary: false });
    }
    b.ws.send(Buffer.from([0, 1, 255]));
    for (const x of [a, b]) {
      const m = await x.nextMessage('the raw binary');
      assert.equal(m.isBinary, true);
      assert.deepEqual([...m.data], [0, 1, 255]);
    }
    closeAll();
  });

  test('connect with auth off: ok {client, user = name, node}, no expires_in; a second connect is 400', TEST_TIMEOUT, async () => {
    const c = await v2session(server.port, { name: 'alice' });
    assert.equal(typeof c.hello.client, 'string');
    assert.ok(c.hello.client.length > 0, JSON.stringify(c.hello));
    assert.equal(c.hello.user, 'alice');
    assert.equal(typeof c.hello.node, 'string');
    assert.ok(c.hello.node.length > 0, JSON.stringify(c.hello));
    assert.equal(c.hello.expires_in, undefined, JSON.stringify(c.hello));
    const other = await v2session(server.port, { name: 'bob' });
    assert.notEqual(other.hello.client, c.hello.client);
    await c.fails('connect', { name: 'alice' }, 400);
    assert.deepEqual(c.bad, []);
    closeAll();
  });

  test('every command before connect is 401 ("connect first")', TEST_TIMEOUT, async () => {
    const c = await v2socket(server.port);
    for (const [name, body] of [
      ['join', { room: 'x' }], ['leave', { room: 'x' }], ['publish', { room: 'x', data: 1 }],
      ['presence', { room: 'pres-x' }], ['history', { room: 'hist-x' }], ['refresh', { token: 'x' }],
    ]) {
      await c.fails(name, body, 401);
    }
    await c.ok('connect', { name: 'late' }); // still usable afterwards
    await c.ok('join', { room: 'x' });
    closeAll();
  });

  test('error replies: 400, 404 and 409 with the exact code, the socket stays open', TEST_TIMEOUT, async () => {
    const c = await v2session(server.port, { name: 'carol' });
    // 400: a missing or badly shaped field
    for (const [name, body] of [
      ['join', {}], ['join', { room: 'bad room!' }], ['join', { room: 'x'.repeat(65) }],
      ['join', { room: 7 }], ['join', { room: 'hist-e', since: { offset: -1, epoch: 'e' } }],
      ['join', { room: 'hist-e', since: { offset: 1 } }], ['publish', { room: 'e' }],
      ['history', { room: 'hist-e', limit: 'ten' }], ['presence', {}], ['leave', { room: '' }],
    ]) {
      await c.fails(name, body, 400);
    }
    // 400: the room keeps no history / no presence
    await c.fails('history', { room: 'plain-e' }, 400);
    await c.fails('presence', { room: 'plain-e' }, 400);
    await c.fails('presence', { room: 'hist-e' }, 400);
    // 404: not a command, and the name is not echoed
    const unknown = await c.fails('frobnicate', { room: 'e' }, 404);
    assert.ok(!unknown.message.includes('frobnicate'), unknown.message);
    // 409: publish or leave in a room not joined; join of a room already joined
    await c.fails('publish', { room: 'plain-e', data: 'x' }, 409);
    await c.fails('leave', { room: 'plain-e' }, 409);
    await c.ok('join', { room: 'plain-e' });
    await c.fails('join', { room: 'plain-e' }, 409);
    assert.deepEqual(await c.ok('leave', { room: 'plain-e' }), {});
    await c.fails('leave', { room: 'plain-e' }, 409);
    await c.fails('publish', { room: 'plain-e', data: 'x' }, 409);
    assert.equal(c.isClosed, false);
    assert.deepEqual(c.bad, []);
    closeAll();
  });

  test('a frame without a readable id closes with 1007; a binary frame with 1003', TEST_TIMEOUT, async () => {
    for (const frame of [
      'not json', '{"id":1,', '[1,2]', '"text"', '42', 'null',
      '{"join":{"room":"x"}}', '{"id":-1,"join":{"room":"x"}}', '{"id":1.5,"join":{"room":"x"}}',
      '{"id":"1","join":{"room":"x"}}', '{"id":null,"join":{"room":"x"}}',
    ]) {
      for (const connected of [false, true]) {
        const c = connected ? await v2session(server.port, { name: 'x' }) : await v2socket(server.port);
        c.ws.send(frame);
        const { code, reason } = await within(5_000, `the close after ${frame}`, c.closed);
        assert.equal(code, 1007, `${frame} (connected: ${connected}) -> ${code} ${reason}`);
      }
    }
    for (const connected of [false, true]) {
      const c = connected ? await v2session(server.port, { name: 'x' }) : await v2socket(server.port);
      c.ws.send(Buffer.from('{"id":1,"connect":{"name":"x"}}'));
      const { code, reason } = await within(5_000, 'the close after a binary frame', c.closed);
      assert.equal(code, 1003, `binary (connected: ${connected}) -> ${code} ${reason}`);
    }
    closeAll();
  });

  test('three rooms on one socket: publish acks {} and pushes routed per room', TEST_TIMEOUT, async () => {
    const multi = await v2session(server.port, { name: 'multi' });
    const onlyB = await v2session(server.port, { name: 'onlyb' });
    for (const room of ['tri-a', 'tri-b', 'tri-c']) {
      assert.deepEqual(await multi.ok('join', { room }), { room }, `join ${room} in a plain room`);
    }
    await onlyB.ok('join', { room: 'tri-b' });
    for (const room of ['tri-a', 'tri-b', 'tri-c']) {
      assert.deepEqual(await multi.ok('publish', { room, data: { to: room } }), {});
    }
    assert.deepEqual(await onlyB.ok('publish', { room: 'tri-b', data: 'from b' }), {});
    await multi.until('4 pushes at multi', () => (multi.pushes.length >= 4 ? true : undefined));
    await onlyB.until('2 pushes at onlyb', () => (onlyB.pushes.length >= 2 ? true : undefined));
    await sleep(300);
    for (const room of ['tri-a', 'tri-c']) {
      const got = multi.messagesOf(room);
      assert.equal(got.length, 1, `${room} at multi: ${JSON.stringify(got)}`);
      assert.deepEqual(got[0].data, { to: room });
      assert.equal(got[0].offset, undefined, 'a room without history has no offsets');
      assert.deepEqual(got[0].from, { client: multi.hello.client, user: 'multi' });
    }
    assert.deepEqual(multi.messagesOf('tri-b').map((p) => p.data), [{ to: 'tri-b' }, 'from b']);
    assert.deepEqual(multi.messagesOf('tri-b')[1].from, { client: onlyB.hello.client, user: 'onlyb' });
    assert.equal(multi.pushes.length, 4, JSON.stringify(multi.pushes));
    assert.deepEqual(onlyB.pushes.map((p) => [p.push, p.room, p.data]),
      [['message', 'tri-b', { to: 'tri-b' }], ['message', 'tri-b', 'from b']]);
    // after leave, that room's messages stop
    await multi.ok('leave', { room: 'tri-b' });
    await onlyB.ok('publish', { room: 'tri-b', data: 'after leave' });
    await onlyB.until('the push after leave', () => (onlyB.pushes.length >= 3 ? true : undefined));
    await sleep(300);
    assert.equal(multi.pushes.length, 4, JSON.stringify(multi.pushes));
    closeAll();
  });

  test('raw and v2 members in one room, both ways', TEST_TIMEOUT, async () => {
    const v = await v2session(server.port, { name: 'vera' });
    await v.ok('join', { room: 'mix-1' });
    const raw = await rawSocket(server.port, '/mix-1');
    raw.ws.send('plain "text" from raw');
    const text = await v.takePush('the raw text at v2', (p) => p.push === 'message');
    assert.equal(text.room, 'mix-1');
    assert.equal(text.raw, true, JSON.stringify(text));
    assert.equal(text.data, 'plain "text" from raw');
    assert.equal(typeof text.from?.client, 'string', JSON.stringify(text));
    assert.notEqual(text.from.client, v.hello.client);
    assert.deepEqual(await raw.nextMessage('the raw echo'), { data: 'plain "text" from raw', isBinary: false });
    raw.ws.send(Buffer.from([0, 128, 255, 10]));
    const binary = await v.takePush('the raw binary at v2', (p) => p.push === 'message');
    assert.equal(binary.raw, true, JSON.stringify(binary));
    assert.equal(binary.b64, Buffer.from([0, 128, 255, 10]).toString('base64'), JSON.stringify(binary));
    await raw.nextMessage('the raw binary echo');
    // v2 -> raw: the JSON text of data, compact, keys sorted
    await v.ok('publish', { room: 'mix-1', data: { b: 2, a: { d: [1, 'x', null], c: true } } });
    assert.deepEqual(await raw.nextMessage('the v2 object at raw'),
      { data: '{"a":{"c":true,"d":[1,"x",null]},"b":2}', isBinary: false });
    await v.ok('publish', { room: 'mix-1', data: 'just a string' });
    assert.deepEqual(await raw.nextMessage('the v2 string at raw'), { data: '"just a string"', isBinary: false });
    v.ws.send('{"id":99,"publish":{ "room" : "mix-1" , "data" : { "z" : 1 , "y" : [ ] } }}');
    await v.until('the reply to #99', () => v.replies.get(99));
    assert.deepEqual(await raw.nextMessage('the spaced v2 object at raw'), { data: '{"y":[],"z":1}', isBinary: false });
    closeAll();
  });

  test('history room: publish acks offsets 1, 2, 3 and pushes come in offset order', TEST_TIMEOUT, async () => {
    const a = await v2session(server.port, { name: 'a' });
    const b = await v2session(server.port, { name: 'b' });
    const joined = await a.ok('join', { room: 'hist-order' });
    assert.equal(joined.room, 'hist-order');
    assert.equal(joined.offset, 0, JSON.stringify(joined));
    assert.equal(typeof joined.epoch, 'string', JSON.stringify(joined));
    assert.equal(joined.recovered, false, JSON.stringify(joined));
    assert.deepEqual(joined.messages, []);
    assert.equal(joined.members, undefined, 'no presence in this room');
    await b.ok('join', { room: 'hist-order' });
    const acks = await publishSome(a, 'hist-order', 3);
    assert.deepEqual(acks, [{ offset: 1 }, { offset: 2 }, { offset: 3 }]);
    for (const [who, c] of [['the publisher', a], ['the other member', b]]) {
      await c.until(`3 pushes at ${who}`, () => (c.messagesOf('hist-order').length >= 3 ? true : undefined));
      const got = c.messagesOf('hist-order');
      assert.deepEqual(offsetsOf(got), [1, 2, 3], who);
      assert.deepEqual(got.map((p) => p.data.n), [0, 1, 2], who);
      assert.deepEqual(got[0].from, { client: a.hello.client, user: 'a' });
    }
    const hist = await b.ok('history', { room: 'hist-order' });
    assert.equal(hist.offset, 3);
    assert.equal(hist.epoch, joined.epoch);
    assert.deepEqual(offsetsOf(hist.messages), [1, 2, 3]);
    assert.deepEqual(hist.messages.map((m) => m.data), [{ tag: 'm', n: 0 }, { tag: 'm', n: 1 }, { tag: 'm', n: 2 }]);
    const after1 = await b.ok('history', { room: 'hist-order', since: { offset: 1, epoch: joined.epoch } });
    assert.deepEqual(offsetsOf(after1.messages), [2, 3]);
    const wrongEpoch = await b.ok('history', { room: 'hist-order', since: { offset: 1, epoch: 'nope' } });
    assert.deepEqual(wrongEpoch.messages, []);
    closeAll();
  });

  test('join without since returns the newest history.join_messages (3) messages', TEST_TIMEOUT, async () => {
    const a = await v2session(server.port, { name: 'a' });
    await a.ok('join', { room: 'hist-newest' });
    await publishSome(a, 'hist-newest', 5);
    const late = await v2session(server.port, { name: 'late' });
    const joined = await late.ok('join', { room: 'hist-newest' });
    assert.equal(joined.offset, 5, JSON.stringify(joined));
    assert.equal(joined.recovered, false, JSON.stringify(joined));
    assert.deepEqual(offsetsOf(joined.messages), [3, 4, 5], JSON.stringify(joined));
    assert.deepEqual(joined.messages.map((m) => m.data.n), [2, 3, 4]);
    assert.equal(joined.messages[0].room, 'hist-newest');
    assert.deepEqual(joined.messages[0].from, { client: a.hello.client, user: 'a' });
    await a.ok('publish', { room: 'hist-newest', data: 'live' });
    const live = await late.takePush('the live push', (p) => p.push === 'message');
    assert.equal(live.offset, 6);
    await sleep(300);
    assert.deepEqual(late.pushes, [], 'no other push');
    closeAll();
  });

  test('recovery: a client misses 5 messages, re-joins with since, gets exactly them once, then live ones', TEST_TIMEOUT, async () => {
    const room = 'hist-recover';
    const sender = await v2session(server.port, { name: 'sender' });
    await sender.ok('join', { room });
    const reader = await v2session(server.port, { name: 'reader' });
    const first = await reader.ok('join', { room });
    await publishSome(sender, room, 3, 'before');
    await reader.until('3 pushes', () => (reader.messagesOf(room).length >= 3 ? true : undefined));
    const seen = reader.messagesOf(room);
    const last = seen[seen.length - 1].offset;
    assert.equal(last, 3);
    reader.ws.close();
    await within(5_000, 'the reader to close', reader.closed);
    await publishSome(sender, room, 5, 'missed');
    const back = await v2session(server.port, { name: 'reader' });
    const joined = await back.ok('join', { room, since: { offset: last, epoch: first.epoch } });
    assert.equal(joined.recovered, true, JSON.stringify(joined));
    assert.equal(joined.epoch, first.epoch);
    assert.equal(joined.offset, 8);
    assert.deepEqual(offsetsOf(joined.messages), [4, 5, 6, 7, 8]);
    assert.deepEqual(joined.messages.map((m) => m.data), range(0, 4).map((n) => ({ tag: 'missed', n })));
    await publishSome(sender, room, 3, 'live');
    await back.until('3 live pushes', () => (back.messagesOf(room).length >= 3 ? true : undefined));
    await sleep(300);
    const live = back.messagesOf(room);
    assert.deepEqual(offsetsOf(live), [9, 10, 11], JSON.stringify(live));
    assert.deepEqual(live.map((p) => p.data), range(0, 2).map((n) => ({ tag: 'live', n })));
    assert.equal(back.pushes.length, 3, JSON.stringify(back.pushes));
    closeAll();
  });

  test('recovery while messages keep coming: reply + pushes are one gapless sequence, no duplicates', TEST_TIMEOUT, async () => {
    const room = 'big-race';
    const sender = await v2session(server.port, { name: 'sender' });
    const first = await sender.ok('join', { room });
    await publishSome(sender, room, 10);
    // 100 publishes in flight while another (already connected) client joins with since = 5
    const reader = await v2session(server.port, { name: 'reader' });
    const ids = [];
    for (let n = 10; n < 110; n++) {
      const id = sender.nextId++;
      ids.push(id);
      sender.ws.send(JSON.stringify({ id, publish: { room, data: { n } } }));
      if (n === 30) reader.ws.send(JSON.stringify({ id: 1000, join: { room, since: { offset: 5, epoch: first.epoch } } }));
    }
    const reply = await reader.until('the join reply', () => reader.replies.get(1000));
    const joined = reply.ok;
    assert.equal(joined?.recovered, true, JSON.stringify(reply).slice(0, 300));
    await sender.until('every publish ack', () => (ids.every((id) => sender.replies.has(id)) ? true : undefined), 10_000);
    const seen = () => [...offsetsOf(joined.messages), ...offsetsOf(reader.messagesOf(room))];
    await reader.until('offset 110 in the join reply or a push', () => (seen().includes(110) ? true : undefined), 10_000)
      .catch((error) => { throw new Error(`${error.message}; join reply top ${joined.offset}, offsets ${seen().join(',')}`); });
    await sleep(300);
    const all = seen();
    assert.deepEqual(all, range(6, 110), `join reply offsets ${joined.offset}: ${all.join(',')}`);
    closeAll();
  });

  test('no recovery with a wrong epoch, a gap beyond history.size, or an offset past the newest', TEST_TIMEOUT, async () => {
    const a = await v2session(server.port, { name: 'a' });
    const start = await a.ok('join', { room: 'tiny-gap' });
    await publishSome(a, 'tiny-gap', 1);
    await publishSome(a, 'tiny-gap', 5); // offsets 2..6; history.size 3 keeps 4..6
    const b = await v2session(server.port, { name: 'b' });
    const gap = await b.ok('join', { room: 'tiny-gap', since: { offset: 1, epoch: start.epoch } });
    assert.equal(gap.recovered, false, JSON.stringify(gap));
    assert.deepEqual(gap.messages, [], JSON.stringify(gap));
    assert.equal(gap.offset, 6);
    assert.equal(gap.epoch, start.epoch);
    const c = await v2session(server.port, { name: 'c' });
    const epoch = await c.ok('join', { room: 'tiny-gap', since: { offset: 5, epoch: 'another-epoch' } });
    assert.equal(epoch.recovered, false, JSON.stringify(epoch));
    assert.deepEqual(epoch.messages, [], JSON.stringify(epoch));
    const d = await v2session(server.port, { name: 'd' });
    const ahead = await d.ok('join', { room: 'tiny-gap', since: { offset: 60, epoch: start.epoch } });
    assert.equal(ahead.recovered, false, JSON.stringify(ahead));
    assert.deepEqual(ahead.messages, [], JSON.stringify(ahead));
    // still within history.size: recovered
    const e = await v2session(server.port, { name: 'e' });
    const ok = await e.ok('join', { room: 'tiny-gap', since: { offset: 4, epoch: start.epoch } });
    assert.equal(ok.recovered, true, JSON.stringify(ok));
    assert.deepEqual(offsetsOf(ok.messages), [5, 6]);
    closeAll();
  });

  test('every publish gets exactly one reply: 200 quick publishes, counted by id', TEST_TIMEOUT, async () => {
    const c = await v2session(server.port, { name: 'flood' });
    await c.ok('join', { room: 'flood' });
    await c.ok('join', { room: 'hist-flood' });
    const ids = [];
    for (let n = 0; n < 200; n++) {
      const id = c.nextId++;
      ids.push(id);
      c.ws.send(JSON.stringify({ id, publish: { room: n % 2 ? 'flood' : 'hist-flood', data: n } }));
    }
    await c.until('200 replies', () => (ids.every((id) => c.replies.has(id)) ? true : undefined), 15_000);
    await c.until('200 pushes', () => (c.pushes.length >= 200 ? true : undefined), 15_000);
    await sleep(500);
    assertOneReplyEach(c, ids);
    assert.equal(c.replies.size, ids.length + 3, 'no reply to an id never sent');
    for (const id of ids) assert.ok(c.replies.get(id).ok, JSON.stringify(c.replies.get(id)));
    const histAcks = ids.filter((_, n) => n % 2 === 0).map((id) => c.replies.get(id).ok.offset);
    assert.deepEqual(histAcks, range(1, 100));
    assert.deepEqual(c.messagesOf('flood').map((p) => p.data), range(0, 99).map((n) => 2 * n + 1));
    assert.deepEqual(offsetsOf(c.messagesOf('hist-flood')), range(1, 100));
    assert.equal(c.pushes.length, 200);
    closeAll();
  });
});

describe('auth on: connect, grants, presence, refresh, expiry', () => {
  let server;
  before(async () => {
    server = await startServer(['auth.enabled=true', `auth.hmac_secret_file=${secretFile}`,
      'auth.leeway_s=0', MAIN_RULES]);
  });
  after(async () => { closeAll(); await stopServer(server); });

  test('connect: no token 401, wrong signature 401, expired 401; valid: user = sub, expires_in', TEST_TIMEOUT, async () => {
    const c = await v2socket(server.port);
    await c.fails('connect', { name: 'alice' }, 401);
    await c.fails('connect', { token: 'garbage' }, 401);
    await c.fails('connect', { token: jwt.sign({ sub: 'alice', rooms: ['*'] }, 'another-secret-of-at-least-32-bytes!!') }, 401);
    await c.fails('connect', { token: hs({ sub: 'alice', rooms: ['*'], exp: now() - 60 }) }, 401);
    await c.fails('join', { room: 'x' }, 401); // still not connected
    const hello = await c.ok('connect', { token: hs({ sub: 'alice', rooms: ['*'], exp: now() + 3600 }), name: 'mallory' });
    assert.equal(hello.user, 'alice');
    assert.equal(typeof hello.client, 'string');
    assert.equal(typeof hello.node, 'string');
    assert.equal(typeof hello.expires_in, 'number', JSON.stringify(hello));
    assert.ok(hello.expires_in > 3500 && hello.expires_in <= 3600, JSON.stringify(hello));
    closeAll();
  });

  test('403: rooms claim for join, presence and history; pub claim for publish', TEST_TIMEOUT, async () => {
    const token = hs({ sub: 'dave', rooms: ['ok-*', 'pres-ok*', 'hist-ok*'], pub: ['ok-w*'], exp: now() + 600 });
    const c = await v2session(server.port, { token });
    await c.fails('join', { room: 'nope' }, 403);
    await c.fails('join', { room: 'hist-no' }, 403);
    await c.fails('presence', { room: 'pres-no' }, 403);
    await c.fails('history', { room: 'hist-no' }, 403);
    await c.ok('join', { room: 'ok-read' });
    await c.fails('publish', { room: 'ok-read', data: 'x' }, 403);
    await c.ok('join', { room: 'ok-write' });
    assert.deepEqual(await c.ok('publish', { room: 'ok-write', data: 'x' }), {});
    await c.ok('presence', { room: 'pres-ok' });
    await c.ok('history', { room: 'hist-ok' });
    await c.takePush('own publication', (p) => p.push === 'message' && p.room === 'ok-write');
    assert.deepEqual(c.messagesOf('ok-read'), []);
    closeAll();
  });

  test('presence: members of both protocols with user and info; join and leave pushes', TEST_TIMEOUT, async () => {
    const room = 'pres-both';
    const tok = (sub, info) => hs({ sub, rooms: ['pres-*'], info, exp: now() + 600 });
    const alice = await v2session(server.port, { token: tok('alice', { name: 'Alice' }) });
    const joined = await alice.ok('join', { room });
    assert.ok(Array.isArray(joined.members), JSON.stringify(joined));
    assert.equal(joined.offset, undefined, 'no history in this room');
    const bob = await rawSocket(server.port, `/${room}?token=${tok('bob', { color: 'blue' })}`);
    const bobJoin = await alice.takePush('the join push for raw bob',
      (p) => p.push === 'join' && p.member?.user === 'bob');
    assert.equal(bobJoin.room, room);
    assert.deepEqual(bobJoin.member.info, { color: 'blue' });
    assert.equal(typeof bobJoin.member.client, 'string');
    assert.equal(bobJoin.member.node, alice.hello.node);
    const listed = await alice.ok('presence', { room });
    const byUser = Object.fromEntries(listed.members.map((m) => [m.user, m]));
    assert.deepEqual(Object.keys(byUser).sort(), ['alice', 'bob'], JSON.stringify(listed));
    assert.deepEqual(byUser.alice, { client: alice.hello.client, user: 'alice', info: { name: 'Alice' }, node: alice.hello.node });
    assert.deepEqual(byUser.bob, bobJoin.member);
    const carol = await v2session(server.port, { token: tok('carol', { n: 3 }) });
    const carolJoined = await carol.ok('join', { room });
    const carolSees = carolJoined.members.map((m) => m.user);
    assert.ok(carolSees.includes('alice') && carolSees.includes('bob'), JSON.stringify(carolJoined));
    const carolJoin = await alice.takePush('the join push for carol', (p) => p.push === 'join' && p.member?.user === 'carol');
    assert.deepEqual(carolJoin.member, { client: carol.hello.client, user: 'carol', info: { n: 3 }, node: carol.hello.node });
    await carol.ok('leave', { room });
    const carolLeave = await alice.takePush('the leave push for carol', (p) => p.push === 'leave' && p.member?.user === 'carol');
    assert.equal(carolLeave.room, room);
    assert.equal(carolLeave.member.client, carol.hello.client);
    bob.ws.close();
    const bobLeave = await alice.takePush('the leave push for bob', (p) => p.push === 'leave' && p.member?.user === 'bob');
    assert.equal(bobLeave.member.client, bobJoin.member.client);
    const left = await alice.ok('presence', { room });
    assert.deepEqual(left.members.map((m) => m.user), ['alice'], JSON.stringify(left));
    closeAll();
  });

  test('refresh: same sub ok with expires_in (and keeps the session past the old exp); another sub 403; bad token 401', TEST_TIMEOUT, async () => {
    const c = await v2session(server.port, { token: hs({ sub: 'erin', rooms: ['*'], exp: now() + 2 }) });
    await c.ok('join', { room: 'refresh-r' });
    const refreshed = await c.ok('refresh', { token: hs({ sub: 'erin', rooms: ['*'], exp: now() + 3600 }) });
    assert.equal(typeof refreshed.expires_in, 'number', JSON.stringify(refreshed));
    assert.ok(refreshed.expires_in > 3500, JSON.stringify(refreshed));
    await c.fails('refresh', { token: hs({ sub: 'frank', rooms: ['*'], exp: now() + 3600 }) }, 403);
    await c.fails('refresh', { token: 'garbage' }, 401);
    await c.fails('refresh', { token: hs({ sub: 'erin', rooms: ['*'], exp: now() - 10 }) }, 401);
    await sleep(3_500);
    assert.equal(c.isClosed, false, 'closed although refreshed');
    await c.ok('publish', { room: 'refresh-r', data: 'still here' });
    closeAll();
  });

  test('a session whose token expires is closed with 4001', TEST_TIMEOUT, async () => {
    const c = await v2session(server.port, { token: hs({ sub: 'brief', rooms: ['*'], exp: now() + 2 }) });
    await c.ok('join', { room: 'brief' });
    const { code, reason } = await within(6_000, 'the 4001 close', c.closed);
    assert.equal(code, 4001, `closed with ${code} ${reason}`);
  });
});

describe('limits: connect timeout, message size, rooms per connection, rate', () => {
  let server;
  before(async () => {
    server = await startServer(['limits.handshake_timeout_ms=300', 'limits.max_message_bytes=1024',
      'limits.max_rooms_per_connection=3', 'limits.messages_per_second=5', 'limits.burst=10']);
  });
  after(async () => { closeAll(); await stopServer(server); });

  test('no connect within limits.handshake_timeout_ms closes with 4002; a connected client stays', TEST_TIMEOUT, async () => {
    const silent = await v2socket(server.port);
    const connected = await v2session(server.port, { name: 'quick' });
    const { code, reason } = await within(3_000, 'the 4002 close', silent.closed);
    assert.equal(code, 4002, `closed with ${code} ${reason}`);
    await sleep(500);
    assert.equal(connected.isClosed, false);
    await connected.ok('join', { room: 'stay' });
    closeAll();
  });

  test('413 for data beyond limits.max_message_bytes, as a reply', TEST_TIMEOUT, async () => {
    const c = await v2session(server.port, { name: 'big' });
    await c.ok('join', { room: 'big' });
    await c.ok('publish', { room: 'big', data: 'x'.repeat(900) });
    await c.fails('publish', { room: 'big', data: 'x'.repeat(1100) }, 413);
    assert.equal(c.isClosed, false);
    closeAll();
  });

  test('limits.max_rooms_per_connection (3): the 4th join is 400; after a leave it is allowed', TEST_TIMEOUT, async () => {
    const c = await v2session(server.port, { name: 'rooms' });
    for (const room of ['r1', 'r2', 'r3']) await c.ok('join', { room });
    await c.fails('join', { room: 'r4' }, 400);
    await c.ok('leave', { room: 'r1' });
    await c.ok('join', { room: 'r4' });
    closeAll();
  });

  test('past limits.messages_per_second: 429 replies, one per command, not a close', TEST_TIMEOUT, async () => {
    await sleep(300);
    const c = await v2session(server.port, { name: 'fast' });
    await c.ok('join', { room: 'fast' });
    const ids = [];
    for (let n = 0; n < 30; n++) {
      const id = c.nextId++;
      ids.push(id);
      c.ws.send(JSON.stringify({ id, publish: { room: 'fast', data: n } }));
    }
    await c.until('30 replies', () => (ids.every((id) => c.replies.has(id)) ? true : undefined), 15_000);
    const codes = ids.map((id) => c.replies.get(id).error?.code ?? 'ok');
    assert.ok(codes.includes(429), codes.join(','));
    assert.ok(codes.every((code) => code === 'ok' || code === 429), codes.join(','));
    assertOneReplyEach(c, ids);
    assert.equal(c.isClosed, false);
    await sleep(2_500);
    await c.ok('publish', { room: 'fast', data: 'after a pause' });
    assert.equal(c.isClosed, false);
    closeAll();
  });
});

describe('bus down', () => {
  test('publish with the bus down is 503 (redis plugin, nothing listening)', TEST_TIMEOUT, async () => {
    const port = await freePort(); // nothing listens there
    const server = await startServer(['bus.plugin=redis', `bus.redis.port=${port}`,
      'bus.redis.connect_timeout_ms=100']);
    try {
      const c = await v2session(server.port, { name: 'down' });
      await c.ok('join', { room: 'down' });
      await c.fails('publish', { room: 'down', data: 'lost' }, 503);
      assert.equal(c.isClosed, false);
    } finally {
      closeAll();
      await stopServer(server);
    }
  });
});
