'use strict';
// Socket.IO 4.8 room broadcast with heimdallr's semantics, websocket transport only, compression
// off. A client connects to /socket.io/?EIO=4&transport=websocket&room={room} and is put in {room}
// before its namespace CONNECT is answered; every "msg" event it emits is broadcast to the whole
// room, sender included (io.to(room), not socket.to(room)), payload unchanged.
// With --redis-port, nodes share rooms through @socket.io/redis-adapter on that Redis.
// With --recovery 1, connection state recovery is on (the in-memory adapter keeps every broadcast
// for maxDisconnectionDuration and appends its offset to the event; a client that reconnects with
// its pid and last offset gets its rooms back and the packets it missed). Socket.IO documents that
// the Redis (pub/sub) adapter does not support it, so --recovery refuses --redis-port.
//   node socketio-server.js --host 127.0.0.1 --port 0 [--redis-host H --redis-port P] [--recovery 1]
const http = require('http');
const { Server } = require('socket.io');
const { parseArgs, listen } = require('./common');

const opts = parseArgs(process.argv.slice(2), {
  host: '127.0.0.1',
  port: '0',
  'redis-host': '127.0.0.1',
  'redis-port': '',
  recovery: '0',
  'max-disconnection-ms': String(2 * 60 * 1000),
});
const recovery = opts.recovery === '1';
if (recovery && opts['redis-port']) {
  console.error('--recovery needs the in-memory adapter: connection state recovery does not work with the Redis adapter');
  process.exit(64);
}

const server = http.createServer((req, res) => {
  res.writeHead(req.url === '/health' ? 200 : 404, { 'Content-Type': 'application/json' });
  res.end('{"status":"ok"}');
});
const io = new Server(server, {
  transports: ['websocket'],
  perMessageDeflate: false,
  httpCompression: false,
  serveClient: false,
  cors: { origin: false },
  // Socket.IO's defaults for recovery (2 minutes, middlewares skipped on a recovered connection).
  ...(recovery ? { connectionStateRecovery: {
    maxDisconnectionDuration: Number(opts['max-disconnection-ms']),
    skipMiddlewares: true,
  } } : {}),
});

io.on('connection', (socket) => {
  const room = String(socket.handshake.query.room || 'default');
  socket.join(room); // a recovered socket is in it already: joining again changes nothing
  socket.on('msg', (payload) => {
    io.to(room).emit('msg', payload);
  });
});

async function main() {
  if (opts['redis-port']) {
    const { createClient } = require('redis');
    const { createAdapter } = require('@socket.io/redis-adapter');
    const url = `redis://${opts['redis-host']}:${opts['redis-port']}`;
    const pubClient = createClient({ url });
    const subClient = pubClient.duplicate();
    for (const c of [pubClient, subClient]) c.on('error', (err) => console.error('redis:', err.message));
    await Promise.all([pubClient.connect(), subClient.connect()]);
    io.adapter(createAdapter(pubClient, subClient));
  }
  listen(server, 'socketio-peer', opts.host, opts.port);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
