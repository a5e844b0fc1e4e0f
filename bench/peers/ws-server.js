'use strict';
// Plain `ws` 8.x room broadcast, the Node.js ceiling for heimdallr's protocol: ws://host:port/{room}
// joins {room}; every message a member sends goes to every member of the room, sender included,
// as it came (text stays text). No compression, no envelope. GET /health answers 200.
//   node ws-server.js --host 127.0.0.1 --port 0
const http = require('http');
const { WebSocketServer } = require('ws');
const { parseArgs, listen, roomFromPath } = require('./common');

const opts = parseArgs(process.argv.slice(2), { host: '127.0.0.1', port: '0' });

const server = http.createServer((req, res) => {
  res.writeHead(req.url === '/health' ? 200 : 404, { 'Content-Type': 'application/json' });
  res.end('{"status":"ok"}');
});
const wss = new WebSocketServer({
  server,
  perMessageDeflate: false,
  clientTracking: false,
  maxPayload: 65536,
});

/** room name -> Set of open sockets */
const rooms = new Map();

wss.on('connection', (ws, req) => {
  const room = roomFromPath(req.url);
  let members = rooms.get(room);
  if (!members) rooms.set(room, (members = new Set()));
  members.add(ws);
  ws.on('message', (data, isBinary) => {
    for (const member of members) {
      if (member.readyState === 1) member.send(data, { binary: isBinary });
    }
  });
  ws.on('close', () => {
    members.delete(ws);
    if (members.size === 0 && rooms.get(room) === members) rooms.delete(room);
  });
  ws.on('error', () => {});
});

listen(server, 'ws-peer', opts.host, opts.port);
