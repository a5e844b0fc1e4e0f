// heimdallr chat demo: one ES module, no build step, no dependencies.
//
// Wire format (the ancestor's demo, unchanged, so old and new clients interoperate): every frame is
// a JSON text frame {"msgType":"user"|"system","userId":<nick>,"text":<text>,"date":<epoch ms>}.
// System texts: "join" when a client enters a room, "leave" when it leaves, and "here" (the
// presence convention below). The server relays frames untouched; anything that is not this JSON
// is shown as plain text.
//
// Presence: the server keeps none, so a newcomer would only learn about members who speak after
// it. Convention: whoever sees someone else's "join" answers once with a system "here"; a "here"
// adds its sender to the member list without a line in the log. Old clients ignore (or just show)
// "here", and their own "join"/"leave"/messages still update the list.

export const ROOM_ID = /^[A-Za-z0-9_-]{1,64}$/;
export const MAX_NICK = 32;
export const BACKOFF = Object.freeze({ baseMs: 500, maxMs: 15000 });
/** A connection that lasted this long resets the backoff; a shorter one keeps growing it. */
export const STABLE_MS = 5000;
const MAX_LINES = 500;

/**
 * Delay before reconnect attempt `attempt` (0, 1, 2, …): exponential from BACKOFF.baseMs, capped
 * at BACKOFF.maxMs, with "equal jitter" (half fixed, half random) so that clients dropped together
 * by a dying node spread out without any of them retrying at once.
 */
export function backoffDelay(attempt, random = Math.random) {
  const ceiling = Math.min(BACKOFF.maxMs, BACKOFF.baseMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * The wait a draining server asks for: it closes with 1001 and the reason "server draining;
 * reconnect in N ms", spreading its clients' reconnects. null when the close carries no such hint.
 */
export function drainHintMs(code, reason) {
  if (code !== 1001) return null;
  const match = /reconnect in (\d+) ms/.exec(reason ?? '');
  return match ? Math.min(Number(match[1]), BACKOFF.maxMs) : null;
}

function isScalar(value) {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}

/**
 * One received frame. The ancestor's JSON gives {kind: "user"|"system", userId, text, date} (date
 * is null when absent or not a valid time); anything else gives {kind: "raw", text}. Never throws.
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
  if (message === null || typeof message !== 'object' || Array.isArray(message)) return raw;
  if (message.msgType !== 'user' && message.msgType !== 'system') return raw;
  if (!isScalar(message.userId) || !isScalar(message.text)) return raw;
  const userId = String(message.userId);
  if (userId === '') return raw;
  // A Date holds ±8.64e15 ms; beyond that the time would be "Invalid Date".
  const date =
    typeof message.date === 'number' && Math.abs(message.date) <= 8.64e15 ? message.date : null;
  return { kind: message.msgType, userId, text: String(message.text), date };
}

/** A frame in the ancestor's format. */
export function encodeMessage(msgType, userId, text, date = Date.now()) {
  return JSON.stringify({ msgType, userId, text, date });
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
      messages: $('messages'),
      sendForm: $('send-form'),
      text: $('text'),
      send: $('send'),
    };
    this.nick = '';
    this.room = '';
    this.ws = null;
    this.wanted = false; // the user asked to be in the room: reconnect when dropped
    this.attempt = 0;
    this.openedAt = 0;
    this.retryTimer = 0;
    this.countdownTimer = 0;
    this.retryAt = 0;
    this.members = new Set();
    this.decoder = new TextDecoder();

    this.el.joinForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.join(this.el.nick.value, this.el.room.value);
    });
    this.el.sendForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.sendText();
    });
    this.el.leave.addEventListener('click', () => this.leave());
    // Tell the room when the tab goes away; a dropped connection cannot, and stays listed until
    // the others reconnect (a known limit of presence without a server).
    globalThis.addEventListener('pagehide', () => this.sendMessage('system', 'leave'));
    globalThis.addEventListener('online', () => {
      if (this.wanted && !this.ws) this.connect();
    });
    this.prefill();
    this.setStatus('idle');
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
    this.el.joinForm.hidden = true;
    this.el.chat.hidden = false;
    this.wanted = true;
    this.attempt = 0;
    this.connect();
    this.el.text.focus();
  }

  leave() {
    this.wanted = false;
    this.clearRetry();
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      if (ws.readyState === WebSocket.OPEN) ws.send(encodeMessage('system', this.nick, 'leave'));
      ws.close(1000, 'leave');
    }
    this.members.clear();
    this.renderMembers();
    this.el.chat.hidden = true;
    this.el.joinForm.hidden = false;
    this.el.node.textContent = '';
    this.setStatus('idle');
  }

  connect() {
    this.clearRetry();
    const scheme = globalThis.location.protocol === 'https:' ? 'wss' : 'ws';
    const url = `${scheme}://${globalThis.location.host}/${encodeURIComponent(this.room)}`;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.openedAt = 0;
    this.setStatus('connecting');
    ws.addEventListener('open', () => {
      if (this.ws !== ws) return;
      this.openedAt = Date.now();
      // Rebuild presence from scratch: the others answer this join with "here".
      this.members = new Set([this.nick]);
      this.renderMembers();
      this.setStatus('connected');
      this.sendMessage('system', 'join');
      this.refreshNode();
    });
    ws.addEventListener('message', (event) => {
      if (this.ws === ws) this.receive(event.data);
    });
    ws.addEventListener('close', (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.openedAt && Date.now() - this.openedAt >= STABLE_MS) this.attempt = 0;
      // A draining node is not a failure: take its hint (the load balancer sends us elsewhere).
      const hint = drainHintMs(event.code, event.reason);
      if (hint !== null) this.attempt = 0;
      if (this.wanted) this.scheduleReconnect(hint);
    });
    // 'error' is always followed by 'close', which decides what happens next.
  }

  /** Reconnects after `delay` ms, or after the next backoff step when it is null. */
  scheduleReconnect(delay = null) {
    this.clearRetry();
    if (delay === null) {
      delay = backoffDelay(this.attempt);
      this.attempt += 1;
    }
    this.retryAt = Date.now() + delay;
    this.retryTimer = setTimeout(() => this.connect(), delay);
    this.countdownTimer = setInterval(() => this.setStatus('reconnecting'), 250);
    this.setStatus('reconnecting');
  }

  clearRetry() {
    clearTimeout(this.retryTimer);
    clearInterval(this.countdownTimer);
    this.retryTimer = 0;
    this.countdownTimer = 0;
  }

  setStatus(status) {
    const labels = {
      idle: 'not joined',
      connecting: 'connecting…',
      connected: 'connected',
    };
    let label = labels[status];
    if (status === 'reconnecting') {
      const seconds = Math.max(1, Math.ceil((this.retryAt - Date.now()) / 1000));
      label = `reconnecting in ${seconds} s`;
    }
    if (this.el.status.textContent !== label) this.el.status.textContent = label;
    this.doc.body.dataset.status = status;
    this.el.status.className = `status ${status}`;
    this.el.send.disabled = status !== 'connected';
  }

  async refreshNode() {
    try {
      const response = await fetch('/stats', { cache: 'no-store' });
      const stats = response.ok ? await response.json() : null;
      this.el.node.textContent =
        stats && typeof stats.node === 'string' ? `node ${stats.node}` : '';
    } catch {
      this.el.node.textContent = '';
    }
  }

  /** Sends only on an open socket; returns whether it did. */
  sendMessage(msgType, text) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(encodeMessage(msgType, this.nick, text));
    return true;
  }

  sendText() {
    const text = this.el.text.value;
    if (!text.trim()) return;
    // Kept in the box when the socket is not open, to be sent once reconnected.
    if (this.sendMessage('user', text)) this.el.text.value = '';
  }

  receive(data) {
    const text = typeof data === 'string' ? data : this.decoder.decode(data);
    const message = parseFrame(text);
    if (message.kind === 'user') {
      this.addMember(message.userId);
      this.addLine('user', message.date, message.userId, message.text);
    } else if (message.kind === 'system') {
      this.onSystem(message);
    } else {
      this.addLine('raw', null, '', message.text);
    }
  }

  onSystem({ userId, text, date }) {
    const self = userId === this.nick;
    if (text === 'join') {
      this.addMember(userId);
      this.addLine('system', date, userId, 'joined');
      if (!self) this.sendMessage('system', 'here');
    } else if (text === 'leave') {
      if (!self) this.members.delete(userId);
      this.renderMembers();
      this.addLine('system', date, userId, 'left');
    } else if (text === 'here') {
      this.addMember(userId);
    } else {
      this.addLine('system', date, userId, text);
    }
  }

  addMember(userId) {
    if (this.members.has(userId)) return;
    this.members.add(userId);
    this.renderMembers();
  }

  renderMembers() {
    const items = [...this.members]
      .sort((a, b) => a.localeCompare(b))
      .map((name) => {
        const li = this.doc.createElement('li');
        li.textContent = name;
        if (name === this.nick) li.className = 'self';
        return li;
      });
    this.el.members.replaceChildren(...items);
    this.el.memberCount.textContent = String(this.members.size);
  }

  /** One log line; every piece of peer text goes through textContent, never HTML. */
  addLine(kind, date, userId, text) {
    const list = this.el.messages;
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    const when = date ?? Date.now();
    const li = this.doc.createElement('li');
    li.className = `msg ${kind}${userId && userId === this.nick ? ' self' : ''}`;
    const time = this.doc.createElement('time');
    time.dateTime = new Date(when).toISOString();
    time.textContent = formatTime(when);
    const who = this.doc.createElement('span');
    who.className = 'who';
    who.textContent = kind === 'raw' ? 'raw' : userId;
    const body = this.doc.createElement('span');
    body.className = 'text';
    body.textContent = text;
    li.append(time, who, body);
    list.append(li);
    while (list.childElementCount > MAX_LINES) list.firstElementChild.remove();
    if (nearBottom) list.scrollTop = list.scrollHeight;
  }
}

if (typeof document !== 'undefined' && document.getElementById('join-form')) {
  globalThis.heimdallrChat = new ChatPage(document);
}
