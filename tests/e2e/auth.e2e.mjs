#!/usr/bin/env node
// JWT connect tokens and the server API, tested with clients that share no code with heimdallr:
// npm `jsonwebtoken` mints the tokens (HS256/384/512, RS256, ES256), Node's crypto builds the
// forged ones, npm `ws` connects, and Node's fetch calls the API. The real server binary runs on
// loopback with the in-memory bus, one per group of tests, and is always stopped.
//
//   node tests/e2e/auth.e2e.mjs        (runs `npm ci` here first if a package is missing)
//
// Environment: HEIMDALLR_BUILD_DIR (default <repo>/build). Node's test runner prints the summary.
import crypto from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  TEST_TIMEOUT, now, refusalOf, requirePrerequisites, startHeimdallr, stopServer, tempDir, upgraded,
  within,
} from './support.mjs';

requirePrerequisites('auth.e2e', { packages: ['jsonwebtoken', 'ws'] });
const { default: jwt } = await import('jsonwebtoken');
const { WebSocket } = await import('ws');

const SECRET = 'e2e-secret-that-is-at-least-32-bytes-long';
const API_KEY = 'e2e-api-key-0123456789abcdef';
const dir = tempDir('heimdallr-auth-e2e-');
const files = {
  secret: path.join(dir, 'jwt.secret'),
  apiKey: path.join(dir, 'api.key'),
  rsa: path.join(dir, 'rsa.pem'),
  ec: path.join(dir, 'ec.pem'),
};
writeFileSync(files.secret, `${SECRET}\n`);
writeFileSync(files.apiKey, `${API_KEY}\n`);
const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsaPublicPem = rsa.publicKey.export({ type: 'spki', format: 'pem' });
writeFileSync(files.rsa, rsaPublicPem);
writeFileSync(files.ec, ec.publicKey.export({ type: 'spki', format: 'pem' }));

// ---------------------------------------------------------------------------------------------
// Helpers (support.mjs has the shared ones): every wait is bounded and says what it waited for.

/** One server per group of tests: `overrides` are --set values; `env` is added to its environment. */
const startServer = (overrides, env) => startHeimdallr(['server.drain_s=1', ...overrides], { env });

/** A client that records what it receives; `opened` resolves, or rejects with the HTTP refusal. */
function connect(port, pathAndQuery, headers = {}) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${pathAndQuery}`, { headers });
  const client = { ws, messages: [], waiters: [] };
  client.opened = upgraded(ws);
  client.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({
    code, reason: reason.toString(),
  })));
  ws.on('message', (data, isBinary) => {
    client.messages.push({ data: isBinary ? Buffer.from(data) : data.toString(), isBinary });
    for (const w of client.waiters.splice(0)) w();
  });
  // A wait that timed out must not take a later message: its waiter checks `settled`.
  client.nextMessage = (what = 'a message', ms = 5_000) => {
    let settled = false;
    const next = new Promise((resolve) => {
      const take = () => {
        if (settled) return;
        if (client.messages.length) resolve(client.messages.shift());
        else client.waiters.push(take);
      };
      take();
    });
    return within(ms, what, next).finally(() => { settled = true; });
  };
  return client;
}

/** The refusal of an upgrade: {status, body, headers}. */
const refusal = (port, pathAndQuery, headers) =>
  refusalOf(connect(port, pathAndQuery, headers), pathAndQuery.slice(0, 60));

const hs = (claims, options = {}) => jwt.sign(claims, SECRET, { algorithm: 'HS256', ...options });
const get = (port, route) =>
  fetch(`http://127.0.0.1:${port}${route}`, { signal: AbortSignal.timeout(5_000) });
const b64url = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value))
  .toString('base64url');

async function api(port, method, route, body, key = API_KEY) {
  const response = await fetch(`http://127.0.0.1:${port}${route}`, {
    method,
    headers: key ? { 'X-API-Key': key, 'Content-Type': 'application/json' } : {},
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(5_000),
  });
  const text = await response.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON: left null */ }
  return { status: response.status, json, text };
}

// ---------------------------------------------------------------------------------------------

describe('HMAC tokens from jsonwebtoken', () => {
  let server;
  before(async () => {
    server = await startServer(['auth.enabled=true', `auth.hmac_secret_file=${files.secret}`,
      'auth.leeway_s=0', `api.key_file=${files.apiKey}`, 'limits.max_api_body_bytes=4096']);
  });
  after(() => stopServer(server));

  test('HS256 joins by ?token= and by Authorization: Bearer, and members chat', TEST_TIMEOUT, async () => {
    const a = connect(server.port, `/team-red?token=${hs({ sub: 'alice', rooms: ['team-*', '42'] })}`);
    const b = connect(server.port, '/team-red', { Authorization: `Bearer ${hs({ sub: 'bob', rooms: ['team-red'] })}` });
    await within(5_000, 'both upgrades', Promise.all([a.opened, b.opened]));
    a.ws.send('hello from alice');
    assert.equal((await b.nextMessage("alice's message at bob")).data, 'hello from alice');
    assert.equal((await a.nextMessage("alice's own echo")).data, 'hello from alice');
    b.ws.send('hello from bob');
    assert.equal((await a.nextMessage("bob's message at alice")).data, 'hello from bob');
    assert.equal((await b.nextMessage("bob's own echo")).data, 'hello from bob');
    a.ws.close(); b.ws.close();
  });

  test('HS384 and HS512 join', TEST_TIMEOUT, async () => {
    for (const algorithm of ['HS384', 'HS512']) {
      const c = connect(server.port, `/42?token=${hs({ sub: 'x', rooms: ['42'] }, { algorithm })}`);
      await within(5_000, `an ${algorithm} upgrade`, c.opened);
      c.ws.close();
    }
  });

  test('refusals: 401 for missing, garbage, tampered, expired, not yet valid and alg none; 403 for other rooms', TEST_TIMEOUT, async () => {
    const good = hs({ sub: 'alice', rooms: ['team-*'] });
    const granted = connect(server.port, `/team-red?token=${good}`); // 'team-*' grants team-red
    await within(5_000, 'the team-red upgrade', granted.opened);
    granted.ws.close();
    const [h, , s] = good.split('.');
    const cases = [
      ['/team-red', 401],
      ['/team-red?token=garbage', 401],
      [`/team-red?token=${h}.${b64url({ sub: 'mallory', rooms: ['*'] })}.${s}`, 401],
      [`/team-red?token=${hs({ sub: 'a', rooms: ['team-*'], exp: now() - 60 })}`, 401],
      [`/team-red?token=${hs({ sub: 'a', rooms: ['team-*'], nbf: now() + 60 })}`, 401],
      [`/team-red?token=${jwt.sign({ sub: 'a', rooms: ['*'] }, null, { algorithm: 'none' })}`, 401],
      [`/team-red?token=${b64url({ alg: 'none' })}.${b64url({ sub: 'a', rooms: ['*'] })}.`, 401],
      [`/red?token=${good}`, 403],
      [`/teamx?token=${good}`, 403],
    ];
    for (const [route, status] of cases) {
      const refused = await refusal(server.port, route);
      const answer = `${route.slice(0, 60)} -> ${refused.status} ${refused.body}`;
      assert.equal(refused.status, status, answer);
      if (status === 401) assert.match(refused.headers['www-authenticate'] ?? '', /^Bearer\b/, answer);
      const token = new URLSearchParams(route.split('?')[1] || '').get('token');
      if (token) assert.ok(!refused.body.includes(token), `the refusal echoed the token: ${answer}`);
      assert.equal(typeof JSON.parse(refused.body).error, 'string', answer);
    }
  });

  test('a read-only member (pub: []) receives, and is closed with 4003 when it sends', TEST_TIMEOUT, async () => {
    const writer = connect(server.port, `/live?token=${hs({ sub: 'host', rooms: ['live'] })}`);
    const reader = connect(server.port, `/live?token=${hs({ sub: 'fan', rooms: ['live'], pub: [] })}`);
    await within(5_000, 'both upgrades', Promise.all([writer.opened, reader.opened]));
    writer.ws.send('welcome');
    assert.equal((await reader.nextMessage()).data, 'welcome');
    assert.equal((await writer.nextMessage()).data, 'welcome');
    reader.ws.send('let me talk');
    assert.equal((await within(5_000, 'the 4003 close', reader.closed)).code, 4003);
    await assert.rejects(writer.nextMessage('nothing', 300), /timed out/);
    writer.ws.close();
  });

  test('a session whose token expires is closed with 4001', TEST_TIMEOUT, async () => {
    const c = connect(server.port, `/r?token=${hs({ sub: 'brief', rooms: ['r'], exp: now() + 2 })}`);
    await within(5_000, 'the upgrade', c.opened);
    c.ws.send('still valid');
    assert.equal((await c.nextMessage('the echo before expiry')).data, 'still valid');
    const { code, reason } = await within(6_000, 'the 4001 close', c.closed);
    assert.equal(code, 4001, `closed with ${code} ${reason}`);
  });

  test('the server API publishes text and binary, broadcasts, counts, and disconnects a user', TEST_TIMEOUT, async () => {
    const token = (sub) => hs({ sub, rooms: ['*'] });
    const a1 = connect(server.port, `/a?token=${token('alice')}`);
    const a2 = connect(server.port, `/b?token=${token('alice')}`);
    const bob = connect(server.port, `/a?token=${token('bob')}`);
    await within(5_000, 'three upgrades', Promise.all([a1.opened, a2.opened, bob.opened]));

    let reply = await api(server.port, 'POST', '/api/publish', { room: 'a', data: 'from the back end' });
    assert.equal(reply.status, 200, reply.text);
    assert.deepEqual(reply.json, { ok: true, rooms: 1 });
    assert.equal((await a1.nextMessage('the publish at alice')).data, 'from the back end');
    assert.equal((await bob.nextMessage('the publish at bob')).data, 'from the back end');

    reply = await api(server.port, 'POST', '/api/publish', { room: 'a', b64: Buffer.from([0, 255, 128]).toString('base64') });
    assert.equal(reply.status, 200, reply.text);
    const binary = await a1.nextMessage('the binary publish');
    assert.equal(binary.isBinary, true);
    assert.deepEqual([...binary.data], [0, 255, 128]);
    await bob.nextMessage('the binary publish at bob');

    reply = await api(server.port, 'POST', '/api/broadcast', { rooms: ['a', 'b'], data: 'everyone' });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.json?.ok, true, reply.text);
    for (const c of [a1, a2, bob]) assert.equal((await c.nextMessage('the broadcast')).data, 'everyone');

    reply = await api(server.port, 'GET', '/api/rooms/a');
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.json.ok, true, reply.text);
    assert.equal(reply.json.room, 'a', reply.text);
    assert.equal(reply.json.members, 2, reply.text);
    assert.equal(typeof reply.json.nodes, 'object', reply.text);

    // [endpoint, body, a word the error must contain (null: only a 400 with an error string)]
    for (const [route, body, field] of [
      ['/api/publish', '{', null],
      ['/api/publish', { data: 'x' }, 'room'],
      ['/api/publish', { room: 'a', data: 7 }, 'data'],
      ['/api/publish', { room: 7, data: 'x' }, 'room'],
      ['/api/publish', { room: 'a', b64: 7 }, 'b64'],
      ['/api/publish', { room: 'a', data: 'x', extra: 1 }, null],
      ['/api/broadcast', { rooms: 'a', data: 'x' }, 'rooms'],
      ['/api/broadcast', { data: 'x' }, 'rooms'],
      ['/api/disconnect', {}, 'user'],
      ['/api/disconnect', { user: 5 }, 'user'],
    ]) {
      reply = await api(server.port, 'POST', route, body);
      const answer = `POST ${route} ${typeof body === 'string' ? body : JSON.stringify(body)} -> ${reply.status} ${reply.text}`;
      assert.equal(reply.status, 400, answer);
      assert.equal(typeof reply.json?.error, 'string', answer);
      if (field) assert.ok(reply.json.error.includes(field), answer);
    }
    assert.equal((await api(server.port, 'POST', '/api/publish', { room: 'a', data: 'x' }, 'wrong-key-000000')).status, 401);
    assert.equal((await api(server.port, 'POST', '/api/publish', { room: 'a', data: 'x' }, null)).status, 401);
    assert.equal((await api(server.port, 'POST', '/api/nope', {})).status, 404);
    reply = await api(server.port, 'POST', '/api/publish', { room: 'a', data: 'x'.repeat(5_000) });
    assert.equal(reply.status, 413, `a 5 kB body with limits.max_api_body_bytes=4096 -> ${reply.status} ${reply.text.slice(0, 200)}`);
    await assert.rejects(bob.nextMessage('nothing', 300), /timed out/);

    reply = await api(server.port, 'POST', '/api/disconnect', { user: 'alice' });
    assert.equal(reply.status, 200, reply.text);
    assert.equal((await within(5_000, "alice's first close", a1.closed)).code, 4010);
    assert.equal((await within(5_000, "alice's second close", a2.closed)).code, 4010);
    reply = await api(server.port, 'POST', '/api/publish', { room: 'a', data: 'bob is still here' });
    assert.equal(reply.status, 200, reply.text);
    assert.equal((await bob.nextMessage('the publish at bob after the disconnect')).data, 'bob is still here');
    bob.ws.close();
  });
});

describe('RSA and EC public keys', () => {
  test('RS256 joins; HS256 signed with the RSA public key (algorithm confusion) and a foreign RS256 key are 401; no API key: /api/* is 404', TEST_TIMEOUT, async () => {
    const server = await startServer(['auth.enabled=true', `auth.rsa_public_key_file=${files.rsa}`]);
    try {
      const token = jwt.sign({ sub: 'alice', rooms: ['42'] }, rsa.privateKey, { algorithm: 'RS256' });
      const c = connect(server.port, `/42?token=${token}`);
      await within(5_000, 'the RS256 upgrade', c.opened);
      c.ws.close();
      // jsonwebtoken refuses to sign HS256 with a PEM, so the forgery is built by hand.
      const input = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url({ sub: 'mallory', rooms: ['*'] })}`;
      const forged = `${input}.${crypto.createHmac('sha256', rsaPublicPem).update(input).digest('base64url')}`;
      assert.equal((await refusal(server.port, `/42?token=${forged}`)).status, 401);
      const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
      const foreign = jwt.sign({ sub: 'alice', rooms: ['42'] }, other.privateKey, { algorithm: 'RS256' });
      assert.equal((await refusal(server.port, `/42?token=${foreign}`)).status, 401);
      const off = await api(server.port, 'POST', '/api/publish', { room: '42', data: 'x' });
      assert.equal(off.status, 404, `the API without a key: ${off.status} ${off.text}`);
    } finally {
      await stopServer(server);
    }
  });

  test('ES256 joins', TEST_TIMEOUT, async () => {
    const server = await startServer(['auth.enabled=true', `auth.ec_public_key_file=${files.ec}`]);
    try {
      const token = jwt.sign({ sub: 'alice', rooms: ['42'] }, ec.privateKey, { algorithm: 'ES256' });
      const c = connect(server.port, `/42`, { Authorization: `Bearer ${token}` });
      await within(5_000, 'the ES256 upgrade', c.opened);
      c.ws.close();
    } finally {
      await stopServer(server);
    }
  });
});

describe('api.listen', () => {
  test('the API, /metrics and /stats move to their own port; /health stays on both', TEST_TIMEOUT, async () => {
    // The key and the secret come from the environment here instead of files.
    const server = await startServer(['api.listen=127.0.0.1:0', 'auth.enabled=true'],
      { HEIMDALLR_API_KEY: API_KEY, HEIMDALLR_AUTH_HMAC_SECRET: SECRET });
    try {
      assert.notEqual(server.apiPort, server.port);
      const member = connect(server.port, `/42?token=${hs({ sub: 'alice', rooms: ['42'] })}`);
      await within(5_000, 'the upgrade', member.opened);
      assert.equal((await api(server.port, 'POST', '/api/publish', { room: '42', data: 'x' })).status, 404);
      for (const route of ['/metrics', '/stats']) {
        assert.equal((await get(server.port, route)).status, 404, `main port ${route}`);
        assert.equal((await get(server.apiPort, route)).status, 200, `api port ${route}`);
      }
      for (const port of [server.port, server.apiPort]) {
        assert.equal((await get(port, '/health')).status, 200, `/health on ${port}`);
      }
      assert.equal((await api(server.apiPort, 'POST', '/api/publish', { room: '42', data: 'private' })).status, 200);
      assert.equal((await member.nextMessage('the publish through the api port')).data, 'private');
      member.ws.close();
    } finally {
      await stopServer(server);
    }
  });
});
