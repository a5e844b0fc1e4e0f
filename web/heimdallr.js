// heimdallr protocol v2 client: one ES module, no dependencies, no build step. Runs in browsers
// and in Node >= 18 (pass a WebSocket implementation such as npm `ws` where there is no global).
// The contract it speaks is docs/PROTOCOL.md.
/**
 * @module heimdallr
 *
 * ## Usage
 *
 * ```js
 * import { HeimdallrClient } from './heimdallr.js';
 *
 * const client = new HeimdallrClient('wss://chat.example/', {
 *   token,                          // first connect; later ones ask getToken when it is given
 *   name: 'alice',                  // the user name when the server runs without auth
 *   getToken: async () => jwt,      // called on every reconnect and before the token expires
 *   WebSocket,                      // default globalThis.WebSocket (Node 18/20: npm `ws`)
 *   backoff: { minMs: 250, maxMs: 10000, stableMs: 5000 },
 * });
 * client.on('disconnected', ({ code, reason, willReconnect }) => { ... });
 * const info = await client.connect();  // {client, user, node, expires_in}; also client.info
 * const joined = await client.join('42', {
 *   onMessage(msg) {},   // {room, offset, data, from: {client, user}} (+ raw: true, or b64)
 *   onJoin(member) {},   // {client, user, info, node}
 *   onLeave(member) {},
 *   onRecover({ room, reason, recovered, missed, epoch, offset, members }) {},
 *   onError(err) {},     // the room was lost: a re-join was refused (e.g. 403 with a new token)
 *   since: { offset, epoch },  // optional: resume from a position saved earlier (client.position)
 * });
 * const { offset } = await client.publish('42', { text: 'hi' });
 * ```
 *
 * ## Constructor options
 *
 * - `token`, `name`: sent in `connect`. `name` is the user when the server runs without auth.
 * - `getToken: async () => string`: asked for a fresh token before every reconnect (and before the
 *   first connect when `token` is absent), and ahead of expiry to `refresh` in-band: at
 *   `expires_in` minus a quarter of it, at most 30 s early. Without it, reconnects reuse the last
 *   token and close code 4001 (token expired) stops the client.
 * - `WebSocket`: the constructor to use; `new WebSocket(url, 'heimdallr.v2')`.
 * - `backoff: {minMs = 250, maxMs = 10000, stableMs = 5000}`: reconnect delays, see below.
 * - `random`: a `() => [0, 1)` function for the jitter (tests inject one); default Math.random.
 * - `connectTimeoutMs = 10000`: from opening the socket to the `connect` reply; then it is retried.
 * - `fillGaps = true`: read `history` when a live message skips an offset, see below.
 *
 * ## Methods
 *
 * Every command returns a promise of its `ok` reply, or rejects with a {@link HeimdallrError}
 * whose `.code` and `.message` come from the `error` reply. Code 0 is local: "not connected" when
 * called while there is no session, "disconnected" when the connection dropped before the reply
 * (nothing is retried: a publish may or may not have happened), "closed" after close().
 *
 * - `connect()`: starts the client. Resolves with the `connect` ok of the first session; socket
 *   failures on the way are retried with backoff, so it waits until the server is reachable.
 *   Rejects when the client stops: close(), a refused `connect` (400, 401 without getToken, 403) or
 *   a close code that retrying cannot fix (see Reconnecting); its `.code` is then the refusal's
 *   error code or the close code.
 * - `join(room, {onMessage, onJoin, onLeave, onRecover, onError, since})`: resolves with the join
 *   ok `{room, offset, epoch, recovered, messages, members}`. The messages in it are also passed to
 *   onMessage (before the promise resolves), so the app handles messages in one place.
 * - `leave(room)`: stops delivery at once; resolves `{}` (also when not connected or not joined).
 * - `publish(room, data)`: `{offset}`. Errors: 409 not joined, 403, 429, 413, 503. When the room's
 *   join (or re-join after a reconnect) is still pending, the publish waits for it.
 * - `presence(room)`: `{members}`. `history(room, {since, limit})`: `{messages, offset, epoch}`
 *   (not fed to onMessage). `refresh(token?)`: `{expires_in}`; without a token it asks getToken.
 * - `close()`: stops for good: closes the socket, cancels a pending reconnect, rejects what is
 *   pending with code 0. A closed client stays closed; make a new one.
 * - `reconnect()`: when waiting for a reconnect, try now (e.g. on the browser's `online` event).
 * - `on(type, fn)` returns a function that unsubscribes; `off(type, fn)`.
 * - Properties: `state` ('idle' | 'connecting' | 'connected' | 'waiting' | 'closed'), `info` (the
 *   last connect ok), `rooms` (the ids joined), `position(room)` ({offset, epoch} of the last
 *   message delivered, what a re-join sends as `since`; null for an unknown room).
 *
 * ## Events (`client.on(type, fn)`)
 *
 * - `connected` (connect ok): each time a session is established; re-joins are already sent.
 * - `disconnected` ({code, reason, willReconnect, error}): a connected session ended, or the
 *   client stopped (then willReconnect is false and `error` says why, unless close() was called).
 * - `reconnecting` ({attempt, delayMs, code, reason}): a reconnect is scheduled in delayMs.
 * - `error` (Error): something the app may want to log; the client carries on. Re-joins refused,
 *   refresh or getToken failures, unreadable frames, a server that does not echo `heimdallr.v2`.
 * - `message` (msg): every message delivered, of every room, after its room's onMessage.
 * - `push` (frame): every push frame as it arrived, before any ordering (for debugging and for
 *   push types this client does not know yet).
 *
 * Exceptions thrown by the app's callbacks do not break the client: they are rethrown from a
 * microtask, so they surface as uncaught errors (the console; in Node, the process).
 *
 * ## Delivery and recovery
 *
 * Per room the client keeps the epoch and the offset of the last message delivered (or the join
 * reply's offset when that is newer). onMessage sees each offset once, in increasing order:
 * - Pushes that arrive while a join reply is pending are held, then merged after the reply's
 *   messages in offset order; offsets at or below the last delivered are dropped as duplicates.
 * - A live message that skips offsets means some were lost on the way (docs/PROTOCOL.md): with
 *   fillGaps the client holds it, reads `history` since the last offset, delivers what it gets,
 *   then the held messages; onRecover({reason: 'gap'}) says whether the gap was filled.
 * - An `epoch` push (the stream was reset, old offsets are gone) moves the room to the new epoch
 *   and calls onRecover({reason: 'epoch', recovered: false}).
 * - After a reconnect every room is joined again with `since` = its position, and onRecover
 *   ({reason: 'rejoin'}) gets the reply's `recovered`: true means nothing was lost, false means
 *   a gap (the app may say "some messages may be missing"). A join given `since` by the app
 *   reports the same way. onRecover comes before the messages it replays; `missed` is their
 *   number, `members` the room's fresh member list when it keeps presence.
 *
 * ## Reconnecting
 *
 * A dropped socket is retried after a delay drawn with "full jitter": uniform in
 * [0, min(maxMs, minMs * 2^attempt)), attempt counting failures in a row; a session that stayed up
 * for stableMs starts over at attempt 0. A draining server closes with 1001 and "reconnect in
 * N ms": that N is the next delay (the server already spread its clients). The client stops
 * instead of retrying on 4003 (forbidden), 4001 (token expired) without getToken, 1002, 1003,
 * 1007, 1008 and 4400-4499 (protocol errors: retrying would repeat them). 4008 (slow consumer),
 * 4029 (rate limited), 1006 and the rest are retried.
 */

/** The subprotocol a v2 client offers and a v2 server echoes. */
export const PROTOCOL = 'heimdallr.v2';
/** A room id (docs/PROTOCOL.md). */
export const ROOM_ID = /^[A-Za-z0-9_-]{1,64}$/;
export const DEFAULT_BACKOFF = Object.freeze({ minMs: 250, maxMs: 10000, stableMs: 5000 });

// setTimeout fires at once for delays beyond 2^31-1 ms; a far-off refresh is clamped to that.
const MAX_TIMER_MS = 2 ** 31 - 1;
// Upper bound on a drain hint, so a broken reason cannot park the client for days.
const MAX_DRAIN_MS = 5 * 60_000;
// Client-side close codes: 1000 for close(), 4000 when the client gives up on a socket itself.
const CLOSE_NORMAL = 1000;
const CLOSE_GIVE_UP = 4000;

/** An error reply (`code` from the server) or a local failure (code 0). */
export class HeimdallrError extends Error {
  constructor(code, message, details = {}) {
    super(message);
    this.name = 'HeimdallrError';
    this.code = code;
    Object.assign(this, details);
  }
}

/**
 * Delay before reconnect number `attempt` (0, 1, 2, ...): full jitter, uniform in
 * [0, min(maxMs, minMs * 2^attempt)), so clients dropped together by one node do not come back
 * together.
 */
export function backoffDelay(attempt, { minMs, maxMs } = DEFAULT_BACKOFF, random = Math.random) {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  return Math.floor(random() * ceiling);
}

/** The wait a draining server asks for in its 1001 close reason; null without one. */
export function drainHintMs(code, reason) {
  if (code !== 1001) return null;
  const match = /reconnect in (\d+) ms/.exec(reason ?? '');
  return match ? Math.min(Number(match[1]), MAX_DRAIN_MS) : null;
}

/** Whether a close code means that reconnecting would only fail the same way. */
export function isFatalClose(code, canRenewToken) {
  if (code === 4001) return !canRenewToken;
  if (code === 4003) return true;
  if (code === 1002 || code === 1003 || code === 1007 || code === 1008) return true;
  return code >= 4400 && code <= 4499;
}

const isOffset = (value) => Number.isSafeInteger(value) && value >= 0;

function byOffset(messages) {
  return (Array.isArray(messages) ? messages : [])
    .filter((m) => m !== null && typeof m === 'object')
    .map((m, index) => ({ m, index }))
    .sort((a, b) => (a.m.offset ?? 0) - (b.m.offset ?? 0) || a.index - b.index)
    .map(({ m }) => m);
}

/**
 * Puts the message pushes among held frames in offset order, leaving the other pushes where they
 * were; an epoch push is a barrier, since offsets on either side of it are not comparable.
 */
function orderHeld(frames) {
  const out = frames.slice();
  let start = 0;
  for (let end = 0; end <= out.length; end++) {
    if (end < out.length && out[end].push !== 'epoch') continue;
    const slots = [];
    for (let i = start; i < end; i++)
      if (out[i].push === 'message' && isOffset(out[i].offset)) slots.push(i);
    const sorted = slots.map((i) => out[i]).sort((a, b) => a.offset - b.offset);
    slots.forEach((slot, k) => (out[slot] = sorted[k]));
    start = end + 1;
  }
  return out;
}

/** Calls the app; its exceptions must not unwind the client's own bookkeeping. */
function callApp(fn, arg) {
  if (typeof fn !== 'function') return;
  try {
    fn(arg);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}

function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export class HeimdallrClient {
  #url;
  #name;
  #token;
  #getToken;
  #WebSocket;
  #backoff;
  #random;
  #connectTimeoutMs;
  #fillGaps;

  #state = 'idle';
  #ws = null;
  #info = null;
  #nextId = 1;
  #pending = new Map(); // id -> {name, resolve, reject}
  #rooms = new Map(); // room id -> room state, see #newRoom
  #listeners = new Map(); // event type -> Set of functions
  #starting = null; // the deferred connect() hands out until a session is up
  #everConnected = false;
  #attempt = 0;
  #connectedAt = 0;
  #retryTimer = null;
  #connectTimer = null;
  #refreshTimer = null;
  #expiresAt = 0;

  constructor(url, options = {}) {
    this.#url = url;
    this.#name = options.name;
    this.#token = options.token;
    this.#getToken = typeof options.getToken === 'function' ? options.getToken : null;
    this.#WebSocket = options.WebSocket ?? globalThis.WebSocket;
    if (typeof this.#WebSocket !== 'function')
      throw new TypeError('no WebSocket implementation: pass options.WebSocket (e.g. npm ws)');
    this.#backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.#random = options.random ?? Math.random;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10000;
    this.#fillGaps = options.fillGaps ?? true;
  }

  get state() {
    return this.#state;
  }

  get info() {
    return this.#info;
  }

  get rooms() {
    return [...this.#rooms.keys()];
  }

  position(roomId) {
    const room = this.#rooms.get(roomId);
    return room ? { offset: room.offset, epoch: room.epoch } : null;
  }

  on(type, fn) {
    if (!this.#listeners.has(type)) this.#listeners.set(type, new Set());
    this.#listeners.get(type).add(fn);
    return () => this.off(type, fn);
  }

  off(type, fn) {
    this.#listeners.get(type)?.delete(fn);
  }

  #emit(type, arg) {
    for (const fn of [...(this.#listeners.get(type) ?? [])]) callApp(fn, arg);
  }

  // -------------------------------------------------------------------------------------------
  // Session lifecycle: idle -> connecting -> connected -> (waiting -> connecting ...) -> closed.

  connect() {
    if (this.#state === 'closed') return Promise.reject(new HeimdallrError(0, 'closed'));
    if (this.#state === 'connected') return Promise.resolve(this.#info);
    this.#starting ??= deferred();
    if (this.#state === 'idle') this.#open();
    return this.#starting.promise;
  }

  close() {
    if (this.#state === 'closed') return;
    const wasIdle = this.#state === 'idle';
    this.#state = 'closed';
    clearTimeout(this.#retryTimer);
    if (this.#ws) this.#lost(CLOSE_NORMAL, 'client closed');
    else if (!wasIdle)
      this.#emit('disconnected', {
        code: CLOSE_NORMAL,
        reason: 'client closed',
        willReconnect: false,
      });
    this.#starting?.reject(new HeimdallrError(0, 'closed'));
    this.#starting = null;
    this.#rooms.clear();
  }

  reconnect() {
    if (this.#state !== 'waiting') return;
    clearTimeout(this.#retryTimer);
    this.#open();
  }

  async #open() {
    this.#state = 'connecting';
    let token = this.#token;
    if (this.#getToken && (this.#everConnected || token == null)) {
      try {
        token = await this.#getToken();
      } catch (error) {
        if (this.#state !== 'connecting') return;
        this.#emit('error', error);
        this.#retryOrStop(CLOSE_GIVE_UP, 'getToken failed', { error });
        return;
      }
      if (this.#state !== 'connecting') return; // close() while the token was fetched
      this.#token = token;
    }

    let ws;
    try {
      ws = new this.#WebSocket(this.#url, PROTOCOL);
    } catch (error) {
      // A malformed URL: no retry will make it valid.
      this.#retryOrStop(CLOSE_GIVE_UP, error.message, { error, fatal: true });
      return;
    }
    this.#ws = ws;
    // The connect reply must come in time: a socket can hang half-open for minutes.
    this.#connectTimer = setTimeout(() => {
      if (this.#ws === ws) this.#lost(CLOSE_GIVE_UP, 'connect timeout');
    }, this.#connectTimeoutMs);

    ws.onopen = () => {
      if (this.#ws !== ws) return;
      if (ws.protocol !== PROTOCOL) {
        // Not a v2 server (an old one, or a proxy that drops the header). Retried, because a
        // rolling upgrade can route one attempt to an old node.
        this.#emit('error', new HeimdallrError(0, `server did not accept ${PROTOCOL}`));
        this.#lost(CLOSE_GIVE_UP, 'subprotocol not accepted');
        return;
      }
      this.#command('connect', { token: token ?? undefined, name: this.#name }).then(
        (ok) => this.#onConnected(ws, ok),
        (error) => this.#onConnectRefused(ws, error),
      );
    };
    ws.onmessage = (event) => {
      if (this.#ws === ws) this.#onFrame(event.data);
    };
    ws.onclose = (event) => {
      if (this.#ws === ws) this.#lost(event.code, event.reason ?? '');
    };
    // Browsers give 'error' no detail and always follow it with 'close', which decides. npm ws
    // needs a listener here or it throws.
    ws.onerror = () => {};
  }

  #onConnected(ws, ok) {
    if (this.#ws !== ws) return;
    clearTimeout(this.#connectTimer);
    this.#info = ok;
    this.#state = 'connected';
    this.#connectedAt = Date.now();
    this.#everConnected = true;
    this.#scheduleRefresh(ok?.expires_in);
    // Re-joins go on the wire before anything the app sends from its 'connected' handler.
    for (const room of this.#rooms.values()) this.#sendJoin(room, true).catch(() => {});
    this.#emit('connected', ok);
    this.#starting?.resolve(ok);
    this.#starting = null;
  }

  #onConnectRefused(ws, error) {
    if (this.#ws !== ws) return; // the socket died first; its close already decided
    // Load and a token that expired between getToken and connect pass; a bad request, a token
    // nobody can renew, or a forbidden user do not.
    const transient =
      error.code === 429 || error.code === 503 || (error.code === 401 && this.#getToken !== null);
    this.#lost(CLOSE_NORMAL, `connect refused: ${error.message}`, { error, fatal: !transient });
  }

  /**
   * The end of the current socket, whoever noticed it: its close event, a timeout, a refusal or
   * close(). Settles everything that depended on it, then reconnects or stops.
   */
  #lost(code, reason, { error, fatal } = {}) {
    const ws = this.#ws;
    this.#ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      try {
        ws.close(CLOSE_NORMAL, 'bye');
      } catch {
        // already closed or closing
      }
    }
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#refreshTimer);
    const wasConnected = this.#state === 'connected';
    if (wasConnected && Date.now() - this.#connectedAt >= this.#backoff.stableMs) this.#attempt = 0;

    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const { reject } of pending) reject(new HeimdallrError(0, 'disconnected'));
    for (const [id, room] of this.#rooms) {
      // A room whose first join never completed is forgotten (its join() just rejected); the
      // others are re-joined by the next session, which also re-reads what was held.
      if (!room.joined) this.#rooms.delete(id);
      room.held = null;
      room.joining = null;
      room.filling = null;
    }
    this.#retryOrStop(code, reason, { error, fatal, wasConnected });
  }

  #retryOrStop(code, reason, { error, fatal, wasConnected = false } = {}) {
    if (this.#state === 'closed') {
      // close() was called: nothing failed.
      this.#emit('disconnected', { code, reason, willReconnect: false });
      return;
    }
    if (fatal ?? isFatalClose(code, this.#getToken !== null)) {
      this.#state = 'closed';
      const why = error ?? new HeimdallrError(code, reason || `connection closed (${code})`);
      this.#emit('disconnected', { code, reason, willReconnect: false, error: why });
      this.#starting?.reject(why);
      this.#starting = null;
      this.#rooms.clear();
      return;
    }
    const delayMs =
      drainHintMs(code, reason) ?? backoffDelay(this.#attempt, this.#backoff, this.#random);
    this.#attempt += 1;
    this.#state = 'waiting';
    if (wasConnected) this.#emit('disconnected', { code, reason, willReconnect: true, error });
    this.#emit('reconnecting', { attempt: this.#attempt, delayMs, code, reason });
    // A listener may have called close() or reconnect() meanwhile.
    if (this.#state === 'waiting') this.#retryTimer = setTimeout(() => this.#open(), delayMs);
  }

  // -------------------------------------------------------------------------------------------
  // Commands and replies.

  /** Sends a command on the current socket; the promise settles with its reply or the socket. */
  #command(name, body) {
    const ws = this.#ws;
    if (!ws || ws.readyState !== 1) return Promise.reject(new HeimdallrError(0, 'not connected'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { name, resolve, reject });
      try {
        ws.send(JSON.stringify({ id, [name]: body }));
      } catch {
        this.#pending.delete(id);
        reject(new HeimdallrError(0, 'disconnected'));
      }
    });
  }

  /** A command of the app's: only within a session. */
  #request(name, body) {
    if (this.#state !== 'connected') return Promise.reject(new HeimdallrError(0, 'not connected'));
    return this.#command(name, body);
  }

  #onFrame(data) {
    let frame;
    try {
      if (typeof data !== 'string') throw new Error('binary frame');
      frame = JSON.parse(data);
      if (frame === null || typeof frame !== 'object' || Array.isArray(frame))
        throw new Error('not an object');
    } catch (cause) {
      this.#emit('error', new HeimdallrError(0, `unreadable frame: ${cause.message}`));
      return;
    }
    if (typeof frame.push === 'string') {
      this.#onPush(frame);
      return;
    }
    const pending = this.#pending.get(frame.id);
    if (!pending) {
      // A reply nobody waits for, or an error about a frame that had no readable id.
      if (frame.error) this.#emit('error', this.#replyError(frame.error, undefined));
      return;
    }
    this.#pending.delete(frame.id);
    if (frame.error) pending.reject(this.#replyError(frame.error, pending.name));
    else pending.resolve(frame.ok ?? {});
  }

  #replyError(error, command) {
    const code = Number.isInteger(error?.code) ? error.code : 0;
    return new HeimdallrError(code, String(error?.message ?? 'error'), { command });
  }

  #scheduleRefresh(expiresIn) {
    clearTimeout(this.#refreshTimer);
    if (!this.#getToken || !(expiresIn > 0)) return;
    const lifetimeMs = expiresIn * 1000;
    this.#expiresAt = Date.now() + lifetimeMs;
    const delay = lifetimeMs - Math.min(30_000, lifetimeMs / 4);
    this.#refreshTimer = setTimeout(() => this.#autoRefresh(), Math.min(delay, MAX_TIMER_MS));
  }

  async #autoRefresh() {
    const ws = this.#ws;
    try {
      await this.refresh();
    } catch (error) {
      if (this.#ws !== ws || error.code === 0) return; // the session ended; reconnect renews
      this.#emit('error', error);
      // Try again while the token lasts; after that the server closes with 4001 and the
      // reconnect asks getToken anyway.
      const leftMs = this.#expiresAt - Date.now();
      if (leftMs > 2000)
        this.#refreshTimer = setTimeout(() => this.#autoRefresh(), Math.min(leftMs / 2, 30_000));
    }
  }

  // -------------------------------------------------------------------------------------------
  // The app's commands.

  async join(roomId, options = {}) {
    if (typeof roomId !== 'string' || !ROOM_ID.test(roomId))
      throw new TypeError(`not a room id: ${roomId}`);
    if (this.#rooms.has(roomId)) throw new HeimdallrError(0, `already joined ${roomId}`);
    if (this.#state !== 'connected') throw new HeimdallrError(0, 'not connected');
    const room = this.#newRoom(roomId, options);
    const { since } = options;
    if (since != null) {
      if (!isOffset(since.offset) || typeof since.epoch !== 'string')
        throw new TypeError('join: since must be {offset: unsigned integer, epoch: string}');
      room.offset = since.offset;
      room.epoch = since.epoch;
    }
    this.#rooms.set(roomId, room);
    return this.#sendJoin(room, since != null);
  }

  #newRoom(id, handlers) {
    return {
      id,
      handlers,
      offset: 0, // of the last message delivered, or the join reply's when newer
      epoch: null,
      joined: false, // a join succeeded once: re-join after reconnects
      joining: null, // promise of the pending join, for commands that must follow it
      held: null, // pushes held while a join or a gap's history read is pending
      filling: null, // token of the pending gap read
      attempt: 0, // re-joins refused in a row for load (429/503)
    };
  }

  /** Joins (again), with `since` when the room has a position; reports recovery if asked. */
  #sendJoin(room, report) {
    const since = room.epoch !== null ? { offset: room.offset, epoch: room.epoch } : undefined;
    room.held = [];
    const reply = this.#command('join', { room: room.id, since }).then(
      (ok) => {
        if (this.#rooms.get(room.id) === room) this.#applyJoin(room, ok, report);
        return ok;
      },
      (error) => {
        if (this.#rooms.get(room.id) === room && error.code !== 0) this.#joinRefused(room, error);
        throw error;
      },
    );
    // Never rejects: commands that wait for the join learn its outcome from their own replies.
    const joining = reply.then(
      () => {},
      () => {},
    );
    room.joining = joining;
    joining.then(() => {
      if (room.joining === joining) room.joining = null;
    });
    return reply;
  }

  #joinRefused(room, error) {
    room.held = null;
    if (!room.joined) {
      this.#rooms.delete(room.id); // the app's own join(): it gets the rejection
      return;
    }
    const ws = this.#ws;
    if (error.code === 429 || error.code === 503) {
      // Load: this room tries again on its own backoff, the session stays.
      const delay = backoffDelay(room.attempt++, this.#backoff, this.#random);
      setTimeout(() => {
        if (this.#ws === ws && this.#rooms.get(room.id) === room && this.#state === 'connected')
          this.#sendJoin(room, true).catch(() => {});
      }, delay);
      return;
    }
    // Refused for good (e.g. a renewed token no longer grants the room).
    this.#rooms.delete(room.id);
    const lost = new HeimdallrError(error.code, `re-join ${room.id}: ${error.message}`, {
      room: room.id,
      command: 'join',
    });
    this.#emit('error', lost);
    callApp(room.handlers.onError, lost);
  }

  #applyJoin(room, ok, report) {
    const messages = byOffset(ok.messages);
    // Offsets of another epoch say nothing about this one.
    if (room.epoch === null || ok.epoch !== room.epoch) room.offset = 0;
    room.epoch = typeof ok.epoch === 'string' ? ok.epoch : null;
    room.joined = true;
    room.attempt = 0;
    if (report) {
      const missed = messages.filter((m) => !isOffset(m.offset) || m.offset > room.offset).length;
      callApp(room.handlers.onRecover, {
        room: room.id,
        reason: 'rejoin',
        recovered: ok.recovered === true,
        missed,
        epoch: room.epoch,
        offset: ok.offset,
        members: ok.members,
      });
    }
    for (const m of messages) this.#deliver(room, m);
    if (isOffset(ok.offset) && ok.offset > room.offset) room.offset = ok.offset;
    this.#release(room);
  }

  /** Hands one message to the app unless its offset was delivered already; returns whether. */
  #deliver(room, message) {
    if (isOffset(message.offset)) {
      if (message.offset <= room.offset) return false;
      room.offset = message.offset;
    }
    const { push, ...rest } = message;
    const msg = { ...rest, room: room.id };
    callApp(room.handlers.onMessage, msg);
    this.#emit('message', msg);
    return true;
  }

  #onPush(frame) {
    this.#emit('push', frame);
    const room = this.#rooms.get(frame.room);
    if (!room) return; // left, or a room this client never asked for
    if (room.held) room.held.push(frame);
    else this.#roomPush(room, frame);
  }

  #roomPush(room, frame) {
    const { handlers } = room;
    switch (frame.push) {
      case 'message':
        if (
          this.#fillGaps &&
          room.epoch !== null &&
          isOffset(frame.offset) &&
          frame.offset > room.offset + 1
        )
          this.#fillGap(room, frame);
        else this.#deliver(room, frame);
        break;
      case 'join':
        callApp(handlers.onJoin, frame.member);
        break;
      case 'leave':
        callApp(handlers.onLeave, frame.member);
        break;
      case 'epoch':
        // A join reply already in the new epoch makes its (held) epoch push old news.
        if (frame.epoch === room.epoch) break;
        room.epoch = typeof frame.epoch === 'string' ? frame.epoch : null;
        room.offset = isOffset(frame.offset) ? frame.offset : 0;
        callApp(handlers.onRecover, {
          room: room.id,
          reason: 'epoch',
          recovered: false,
          missed: 0,
          epoch: room.epoch,
          offset: room.offset,
        });
        break;
      default:
        break; // a push type from a newer server: ignored (still seen by 'push' listeners)
    }
  }

  /** Pushes that were held go through the normal path now, in offset order. */
  #release(room) {
    const held = orderHeld(room.held ?? []);
    room.held = null;
    for (const frame of held) {
      if (this.#rooms.get(room.id) !== room) return; // the app left from a callback
      if (room.held) room.held.push(frame); // a gap started another hold
      else this.#roomPush(room, frame);
    }
  }

  /** A live message skipped offsets: read them from history before going on. */
  #fillGap(room, frame) {
    const token = {};
    room.filling = token;
    room.held = [frame];
    const { epoch } = room;
    const expected = frame.offset - 1; // the offset the history has to reach
    const finish = (messages, error) => {
      if (room.filling !== token || this.#rooms.get(room.id) !== room) return;
      room.filling = null;
      let reached = room.offset;
      for (const m of messages) if (m.offset === reached + 1) reached = m.offset;
      const missed = messages.filter((m) => m.offset > room.offset).length;
      callApp(room.handlers.onRecover, {
        room: room.id,
        reason: 'gap',
        recovered: reached >= expected,
        missed,
        epoch,
        offset: room.offset,
      });
      if (error) this.#emit('error', error);
      for (const m of messages) this.#deliver(room, m);
      // What history could not give is lost and was reported: do not ask again for it.
      if (room.offset < expected) room.offset = expected;
      this.#release(room);
    };
    this.#command('history', { room: room.id, since: { offset: room.offset, epoch } }).then(
      (ok) =>
        finish(ok.epoch === epoch ? byOffset(ok.messages).filter((m) => isOffset(m.offset)) : []),
      (error) => {
        // Code 0: the session ended; the re-join recovers instead.
        if (error.code !== 0) finish([], error);
      },
    );
  }

  async leave(roomId) {
    const room = this.#rooms.get(roomId);
    this.#rooms.delete(roomId);
    if (this.#state !== 'connected') return {};
    // A leave overtaking its own join would be answered 409 and leave the join standing.
    if (room?.joining) await room.joining;
    try {
      return await this.#request('leave', { room: roomId });
    } catch (error) {
      if (error.code === 409 || error.code === 0) return {}; // not joined either way
      throw error;
    }
  }

  async publish(roomId, data) {
    if (data === undefined) throw new TypeError('publish: data is required (null is a value)');
    const joining = this.#rooms.get(roomId)?.joining;
    if (joining) await joining;
    return this.#request('publish', { room: roomId, data });
  }

  presence(roomId) {
    return this.#request('presence', { room: roomId });
  }

  history(roomId, { since, limit } = {}) {
    return this.#request('history', { room: roomId, since, limit });
  }

  async refresh(token) {
    if (token === undefined) {
      if (!this.#getToken) throw new TypeError('refresh: no token given and no getToken option');
      token = await this.#getToken();
    }
    const ok = await this.#request('refresh', { token });
    this.#token = token;
    this.#scheduleRefresh(ok.expires_in);
    return ok;
  }
}
