'use strict';
// Shared by the peer servers: command-line flags and the readiness line the harness waits for.

/** Parses `--key value` pairs into an object of strings (no validation beyond presence). */
function parseArgs(argv, defaults) {
  const out = { ...defaults };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i];
    if (!key.startsWith('--') || i + 1 >= argv.length) {
      console.error(`usage: --host H --port P [...]; bad argument ${key}`);
      process.exit(64);
    }
    out[key.slice(2)] = argv[i + 1];
  }
  return out;
}

// Same backlog as heimdallr's acceptor (4096, capped by net.core.somaxconn), so connection storms
// meet the same kernel queue on both sides.
const kListenBacklog = 4096;

/** Listens and prints "<name> listening on HOST:PORT" once bound (port 0 picks a free one). */
function listen(server, name, host, port) {
  server.listen({ host, port: Number(port), backlog: kListenBacklog }, () => {
    const addr = server.address();
    console.log(`${name} listening on ${addr.address}:${addr.port}`);
  });
  for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
}

/** The room named by a WebSocket request path: "/42" or "/42?x=y" -> "42". */
function roomFromPath(url) {
  const path = url.split('?', 1)[0];
  return decodeURIComponent(path.slice(1)) || 'default';
}

module.exports = { parseArgs, listen, roomFromPath };
