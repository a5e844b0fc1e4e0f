'use strict';
// Node `http` hello-world, the peer for the /health benchmark (S4): every request gets 200 and a
// small JSON body, keep-alive as Node does by default.
//   node http-server.js --host 127.0.0.1 --port 0
const http = require('http');
const { parseArgs, listen } = require('./common');

const opts = parseArgs(process.argv.slice(2), { host: '127.0.0.1', port: '0' });
const body = '{"status":"ok"}';
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
});
listen(server, 'http-peer', opts.host, opts.port);
