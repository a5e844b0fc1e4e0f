// heimdallr chat demo: ES modules, no build step, no dependencies. It speaks protocol v2
// (docs/PROTOCOL.md) through web/heimdallr.js, which connects, reconnects with backoff, re-joins
// the room and replays what the page missed.
//
// The server keeps for the page what the old demo had to fake or could not have:
// - presence: the member list is the join reply's `members`, then join and leave pushes (and the
//   fresh list of every re-join); it needs presence.enabled (and presence.join_leave for pushes);
// - history: opening a room shows its newest messages (history.size, history.join_messages), and a
//   reconnect replays the messages missed meanwhile, or says that some may be missing;
// - the node: the one holding the page's WebSocket, from the connect reply.
//
// Message data: the page publishes {"msgType":"user","userId":<nick>,"text":<text>,"date":<ms>},
// the ancestor demo's frame, so a client of the raw protocol (ws://host/{room}) in the same room
// receives exactly what an old page sent. The raw clients' frames reach the page as `raw` messages:
// text in that format shows with its name and date, anything else as a raw line.

import { HeimdallrClient, ROOM_ID } from './heimdallr.js';

export { ROOM_ID };
export const MAX_NICK = 32;
/** A missed leave (a node died: nobody announced it) is corrected by reading presence again. */
export const PRESENCE_REFRESH_MS = 30_000;
export const MISSING_NOTICE = 'Some messages may be missing';
const MAX_LINES = 500;
const ANONYMOUS = 'anonymous';

function isScalar(value) {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}

// A Date holds ±8.64e15 ms; beyond that the time would be "Invalid Date".
function validDate(value) {
  return typeof value === 'number' && Math.abs(value) <= 8.64e15 ? value : null;
}

/** The ancestor's message object {msgType, userId, text, date}, or null when `value` is not one. */
function ancestorMessage(value) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
  if (value.msgType !== 'user' && value.msgType !== 'system') return null;
  if (!isScalar(value.userId) || !isScalar(value.text)) return null;
  const userId = String(value.userId);
  if (userId === '') return null;
  return { kind: value.msgType, userId, text: String(value.text), date: validDate(value.date) };
}

/**
 * One text frame of the ancestor's format. Its JSON gives {kind: "user"|"system", userId, text,
 * date} (date is null when absent or not a valid time); anything else gives {kind: "raw", text}.
 * Never throws.
 */
export function parseFrame(data) {
  const raw = { kind: 'raw', text: String(data) };
  if (typeof data !== 'string') return raw;
  let message;
  try {
    message = JSON.parse(data);
  } catch {
    return raw;
  }
  return ancestorMessage(message) ?? raw;
}

/** The data the page publishes: the ancestor's frame as a JSON value. */
export function messageData(userId, text, date = Date.now()) {
  return { msgType: 'user', userId, text, date };
}

function decodeBase64(b64) {
  try {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    return new TextDecoder().decode(bytes);
  } catch {
    return String(b64);
  }
}

/**
 * What to show for one v2 message {offset, data, from: {client, user}, raw?, b64?}: {kind:
 * "user"|"system"|"raw", name, text, date}. The name is the server's `from.user` (the connect
 * name, or the token's user with auth on); the userId a message claims only when the server knows
 * none (a raw client without auth). Never throws.
 */
export function describeMessage(msg) {
  const user = typeof msg?.from?.user === 'string' ? msg.from.user : '';
  if (typeof msg?.b64 === 'string')
    return { kind: 'raw', name: 'raw', text: decodeBase64(msg.b64), date: null };
  let parsed;
  if (msg?.raw === true) {
    parsed = parseFrame(typeof msg.data === 'string' ? msg.data : JSON.stringify(msg.data));
  } else {
    const data = msg?.data;
    parsed = ancestorMessage(data);
    if (!parsed && typeof data === 'string')
      parsed = { kind: 'user', userId: '', text: data, date: null };
    if (!parsed && data && typeof data === 'object' && typeof data.text === 'string')
      parsed = { kind: 'user', userId: '', text: data.text, date: validDate(data.date) };
    parsed ??= { kind: 'raw', text: data === undefined ? '' : JSON.stringify(data) };
  }
  if (parsed.kind === 'raw') return { kind: 'raw', name: 'raw', text: parsed.text, date: null };
  const name = user || parsed.userId || ANONYMOUS;
  return { kind: parsed.kind, name, text: parsed.text, date: parsed.date };
}

/**
 * The member list to show: distinct user names in order, the page's own included, then one entry
 * for the members without a name (raw clients without auth), "N anonymous".
 */
export function memberNames(members, self) {
  const names = new Set(self ? [self] : []);
  let anonymous = 0;
  for (const member of members) {
    if (member && typeof member.user === 'string' && member.user !== '') names.add(member.user);
    else anonymous += 1;
  }
  const sorted = [...names].sort((a, b) => a.localeCompare(b));
  return { names: sorted, anonymous };
}

function pad(n) {
  return String(n).padStart(2, '0');
}

/** HH:MM:SS in local time. */
export function formatTime(epochMs) {
  const d = new Date(epochMs);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// ---------------------------------------------------------------------------------------------
// The page. Everything below only runs in a browser.

class ChatPage {
  constructor(doc) {
    const $ = (id) => doc.getElementById(id);
    this.doc = doc;
    this.el = {
      status: $('status'),
      node: $('node'),
      joinForm: $('join-form'),
      nick: $('nick'),
      room: $('room'),
      chat: $('chat'),
      members: $('members'),
      memberCount: $('member-count'),
      roomName: $('room-name'),
      me: $('me'),
      leave: $('leave'),
      notice: $('notice'),
      noticeText: $('notice-text'),
      dismiss: $('dismiss'),
      messages: $('messages'),
      sendForm: $('send-form'),
      text: $('text'),
      send: $('send'),
    };
    this.nick = '';
    this.room = '';
    this.client = null; // one HeimdallrClient per stay in a room
    this.joined = false; // the room was joined in this client's life: it re-joins by itself
    this.joining = false;
    this.failed = null; // why the client stopped, when it did
    this.retryAt = 0;
    this.members = new Map(); // client id -> presence member
    // Join and leave pushes, kept while a member list is being read (join, presence refresh), so
    // that those newer than the list can be applied on top of it.
    this.presenceJournal = [];
    this.presenceReaders = 0;
    this.hasPresence = false;
    /** Every onRecover the page got, newest last (for the curious, and for the tests). */
    this.recoveries = [];
    this.status = '';

    this.el.joinForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.join(this.el.nick.value, this.el.room.value);
    });
    this.el.sendForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.sendText();
    });
    this.el.leave.addEventListener('click', () => this.leave());
    this.el.dismiss.addEventListener('click', () =>
      this.keepingBottom(() => (this.el.notice.hidden = true)),
    );
    // The browser knows before the backoff does that the network is back.
    globalThis.addEventListener('online', () => this.client?.reconnect());
    // Status follows the client: "reconnecting in N s" counts down, and the client goes from
    // waiting to connecting without an event.
    setInterval(() => this.syncStatus(), 250);
    this.prefill();
    this.syncStatus();
  }

  prefill() {
    const params = new URLSearchParams(globalThis.location.search);
    let saved = {};
    try {
      saved = JSON.parse(globalThis.localStorage.getItem('heimdallr.chat') || '{}') || {};
    } catch {
      saved = {};
    }
    this.el.nick.value = params.get('nick') || saved.nick || '';
    this.el.room.value = params.get('room') || saved.room || '';
    // With auth on, a connect token (a JWT from the back end) may come in the page's URL.
    this.token = params.get('token') || undefined;
  }

  join(nick, room) {
    nick = nick.trim().slice(0, MAX_NICK);
    room = room.trim();
    if (!nick || !ROOM_ID.test(room)) {
      this.el.joinForm.reportValidity();
      return;
    }
    this.nick = nick;
    this.room = room;
    try {
      globalThis.localStorage.setItem('heimdallr.chat', JSON.stringify({ nick, room }));
    } catch {
      // storage disabled: the form simply starts empty next time
    }
    this.el.roomName.textContent = room;
    this.el.me.textContent = nick;
    this.el.messages.replaceChildren();
    this.el.notice.hidden = true;
    this.el.joinForm.hidden = true;
    this.el.chat.hidden = false;
    this.members.clear();
    this.hasPresence = false;
    this.renderMembers();
    this.start();
    this.el.text.focus();
  }

  start() {
    const scheme = globalThis.location.protocol === 'https:' ? 'wss' : 'ws';
    const client = new HeimdallrClient(`${scheme}://${globalThis.location.host}/`, {
      name: this.nick,
      token: this.token,
    });
    this.client = client;
    this.joined = false;
    this.joining = false;
    this.failed = null;
    const mine = (fn) => (arg) => {
      if (this.client === client) fn(arg);
    };
    client.on(
      'connected',
      mine((info) => {
        this.showNode(info?.node);
        // The first join, or one that a dropped connection cut short; later the client re-joins.
        if (!this.joined) this.joinRoom(client);
        this.syncStatus();
      }),
    );
    client.on(
      'disconnected',
      mine(({ willReconnect, error, reason }) => {
        if (!willReconnect) this.failed ??= error?.message || reason || 'disconnected';
        this.syncStatus();
      }),
    );
    client.on(
      'reconnecting',
      mine(({ delayMs }) => {
        this.retryAt = Date.now() + delayMs;
        this.syncStatus();
      }),
    );
    client.on('error', (error) => console.warn(`heimdallr: ${error.message}`));
    client.connect().catch(
      mine((error) => {
        this.failed = error.message || 'connection refused';
        this.syncStatus();
      }),
    );
    this.syncStatus();
  }

  async joinRoom(client) {
    if (this.joining) return;
    this.joining = true;
    const room = this.room;
    const mine = (fn) => (arg) => {
      if (this.client === client) fn(arg);
    };
    const mark = this.beginPresenceRead();
    try {
      const ok = await client.join(room, {
        onMessage: mine((msg) => this.onMessage(msg)),
        onJoin: mine((member) => this.onPresenceEvent('join', member)),
        onLeave: mine((member) => this.onPresenceEvent('leave', member)),
        onRecover: mine((event) => this.onRecover(event)),
        onError: mine((error) => {
          this.joined = false;
          this.failed = error.message;
          this.addLine('system', null, '', `left the room: ${error.message}`);
          this.syncStatus();
        }),
      });
      if (this.client !== client) return;
      this.joined = true;
      this.hasPresence = Array.isArray(ok.members);
      if (this.hasPresence) this.setMembers(ok.members, mark);
      this.renderMembers();
      this.addLine('system', null, this.nick, 'joined');
    } catch (error) {
      if (this.client !== client) return;
      // Code 0: the connection dropped first; the next 'connected' joins again.
      if (error.code !== 0) {
        this.failed = `join ${room}: ${error.message}`;
        client.close();
      }
    } finally {
      this.endPresenceRead();
      if (this.client === client) this.joining = false;
    }
    this.syncStatus();
  }

  leave() {
    const client = this.client;
    this.client = null;
    // Closing leaves every room: the others get the leave push.
    client?.close();
    this.joined = false;
    this.members.clear();
    this.renderMembers();
    this.el.chat.hidden = true;
    this.el.joinForm.hidden = false;
    this.el.node.textContent = '';
    this.syncStatus();
  }

  /** The status shown: idle, connecting, connected, reconnecting, or failed. */
  syncStatus() {
    const client = this.client;
    let status = 'idle';
    let label = 'not joined';
    if (client && this.failed) {
      status = 'failed';
      label = `disconnected: ${this.failed}`;
    } else if (client?.state === 'waiting') {
      status = 'reconnecting';
      const seconds = Math.max(1, Math.ceil((this.retryAt - Date.now()) / 1000));
      label = `reconnecting in ${seconds} s`;
    } else if (client?.state === 'connected' && this.joined) {
      status = 'connected';
      label = 'connected';
    } else if (client) {
      status = 'connecting';
      label = 'connecting…';
    }
    if (this.el.status.textContent !== label) this.el.status.textContent = label;
    if (this.status === status) return;
    this.status = status;
    this.doc.body.dataset.status = status;
    this.el.status.className = `status ${status}`;
    this.el.send.disabled = status !== 'connected';
    if (status === 'connected' && this.hasPresence) this.schedulePresenceRefresh();
  }

  showNode(node) {
    this.el.node.textContent = typeof node === 'string' && node ? `node ${node}` : '';
  }

  async sendText() {
    const text = this.el.text.value;
    const client = this.client;
    // Kept in the box while not connected, to be sent once back.
    if (!text.trim() || !client || this.status !== 'connected') return;
    this.el.text.value = '';
    try {
      await client.publish(this.room, messageData(this.nick, text));
    } catch (error) {
      if (this.client !== client) return;
      if (!this.el.text.value) this.el.text.value = text;
      const why =
        error.code === 0 ? 'the connection dropped, it may not have been sent' : error.message;
      this.addLine('system', null, '', `not sent (${why})`);
    }
  }

  onMessage(msg) {
    const { kind, name, text, date } = describeMessage(msg);
    if (kind === 'system' && text === 'join') this.addLine('system', date, name, 'joined', msg);
    else if (kind === 'system' && text === 'leave') this.addLine('system', date, name, 'left', msg);
    else this.addLine(kind, date, name, text, msg);
  }

  onRecover(event) {
    this.recoveries.push(event);
    if (Array.isArray(event.members)) {
      this.hasPresence = true;
      this.setMembers(event.members);
      this.renderMembers();
    }
    if (event.recovered) return;
    // There is no partial recovery: what was missed is not shown, and the page says so.
    this.keepingBottom(() => {
      this.el.noticeText.textContent =
        `${MISSING_NOTICE}: the connection was lost, and the server could not replay ` +
        'what was sent meanwhile.';
      this.el.notice.hidden = false;
    });
    this.addLine('gap', null, '', `${MISSING_NOTICE.toLowerCase()} here`);
  }

  // Presence ---------------------------------------------------------------------------------

  /** A fresh member list; the pushes journaled since `mark` (when given) are applied on top. */
  setMembers(members, mark = null) {
    this.members = new Map(
      members.filter((m) => m && typeof m.client === 'string').map((m) => [m.client, m]),
    );
    if (mark !== null)
      for (const [type, member] of this.presenceJournal.slice(mark))
        this.applyPresence(type, member);
  }

  beginPresenceRead() {
    this.presenceReaders += 1;
    return this.presenceJournal.length;
  }

  endPresenceRead() {
    this.presenceReaders -= 1;
    if (this.presenceReaders === 0) this.presenceJournal = [];
  }

  onPresenceEvent(type, member) {
    if (!member || typeof member.client !== 'string') return;
    if (this.presenceReaders > 0) this.presenceJournal.push([type, member]);
    this.applyPresence(type, member);
    this.renderMembers();
    // Lines for the others; members without a name (raw clients) speak for themselves.
    if (member.client !== this.client?.info?.client && member.user)
      this.addLine('system', null, member.user, type === 'join' ? 'joined' : 'left');
  }

  applyPresence(type, member) {
    if (type === 'join') this.members.set(member.client, member);
    else this.members.delete(member.client);
  }

  schedulePresenceRefresh() {
    clearTimeout(this.presenceTimer);
    const client = this.client;
    this.presenceTimer = setTimeout(async () => {
      if (this.client !== client || this.status !== 'connected') return;
      const mark = this.beginPresenceRead();
      try {
        const { members } = await client.presence(this.room);
        if (this.client !== client || !Array.isArray(members)) return;
        this.setMembers(members, mark);
        this.renderMembers();
      } catch {
        // the next refresh, or the next re-join, brings a fresh list
      } finally {
        this.endPresenceRead();
        if (this.client === client && this.status === 'connected') this.schedulePresenceRefresh();
      }
    }, PRESENCE_REFRESH_MS);
  }

  renderMembers() {
    const { names, anonymous } = this.client
      ? memberNames(this.members.values(), this.nick)
      : { names: [], anonymous: 0 };
    const items = names.map((name) => {
      const li = this.doc.createElement('li');
      li.textContent = name;
      if (name === this.nick) li.className = 'self';
      return li;
    });
    if (anonymous > 0) {
      const li = this.doc.createElement('li');
      li.className = 'anonymous';
      li.textContent = `${anonymous} ${ANONYMOUS}`;
      li.title = 'Members without a name: clients of the raw protocol';
      items.push(li);
    }
    if (this.client && this.joined && !this.hasPresence) {
      const li = this.doc.createElement('li');
      li.className = 'hint';
      li.textContent = 'the others are not listed: this room keeps no presence (presence.enabled)';
      items.push(li);
    }
    this.el.members.replaceChildren(...items);
    this.el.memberCount.textContent = String(names.length + anonymous);
  }

  // The log --------------------------------------------------------------------------------

  /** Runs `change`; a log scrolled to its end (the newest line visible) stays there. */
  keepingBottom(change) {
    const list = this.el.messages;
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    change();
    if (nearBottom) list.scrollTop = list.scrollHeight;
  }

  /** One log line; every piece of peer text goes through textContent, never HTML. */
  addLine(kind, date, name, text, msg = null) {
    this.keepingBottom(() => this.appendLine(kind, date, name, text, msg));
  }

  appendLine(kind, date, name, text, msg) {
    const list = this.el.messages;
    const when = date ?? Date.now();
    const li = this.doc.createElement('li');
    const self = kind !== 'raw' && name && name === this.nick;
    li.className = `msg ${kind}${self ? ' self' : ''}`;
    if (Number.isSafeInteger(msg?.offset)) li.dataset.offset = String(msg.offset);
    const time = this.doc.createElement('time');
    time.dateTime = new Date(when).toISOString();
    time.textContent = formatTime(when);
    const who = this.doc.createElement('span');
    who.className = 'who';
    who.textContent = name;
    const body = this.doc.createElement('span');
    body.className = 'text';
    body.textContent = text;
    li.append(time, who, body);
    list.append(li);
    while (list.childElementCount > MAX_LINES) list.firstElementChild.remove();
  }
}

if (typeof document !== 'undefined' && document.getElementById('join-form')) {
  globalThis.heimdallrChat = new ChatPage(document);
}
