// Node `ws` echo server for wsock's interop tests.
//
// Usage: node server.js [CLIENT] [--tls CERT_PEM KEY_PEM]
//        (with ws resolvable, e.g. NODE_PATH=DIR/node_modules)
// Binds 127.0.0.1 on a free port and prints the port as the first stdout line.
// With --tls it speaks wss:// (an https server), presenting the certificate
// (chain) in CERT_PEM with the private key in KEY_PEM.
// Serves exactly one connection (the wsock client running script.js's
// conversation): checks the path and the chosen subprotocol, echoes every
// message (the fragmented one back in fragments), records what arrived, and
// after the client's close checks the messages and the close code and reason.
// Exits 0 when all of that matched, 1 with a message on stderr otherwise, and 2
// when no conversation finished within DEADLINE_MS. CLIENT (default wsock) names
// the client in the close reason it expects, "bye from CLIENT".
'use strict';

const fs = require('fs');
const http = require('http');
const https = require('https');
const { WebSocketServer } = require('ws');
const script = require('./script.js');

const DEADLINE_MS = 60_000;
const args = process.argv.slice(2);
const tlsAt = args.indexOf('--tls');
const tls = tlsAt >= 0 ? args.splice(tlsAt, 3).slice(1) : null;
if ((tls && tls.length !== 2) || args.length > 1) {
  console.error('usage: node server.js [CLIENT] [--tls CERT_PEM KEY_PEM]');
  process.exit(2);
}
const CLIENT = args[0] || 'wsock';

const problems = [];
let travelled = 'in the clear'; // or 'over TLSv1.3', for the last line

function finish() {
  for (const problem of problems) console.error(`node server: ${problem}`);
  if (problems.length === 0) {
    console.log(`node server: ok, ${script.MESSAGES.length} messages echoed, closed ${script.CLOSE_CODE}, ${travelled}`);
  }
  process.exit(problems.length === 0 ? 0 : 1);
}

setTimeout(() => {
  console.error(`node server: no conversation finished within ${DEADLINE_MS} ms`);
  process.exit(2);
}, DEADLINE_MS).unref();

const server = tls
  ? https.createServer({ cert: fs.readFileSync(tls[0]), key: fs.readFileSync(tls[1]) })
  : http.createServer();
const wss = new WebSocketServer({
  server,
  maxPayload: 16 * 1024 * 1024,
  // permessage-deflate (off by default in a ws server), every message compressed.
  perMessageDeflate: { threshold: 0 },
  handleProtocols: (protocols) => (protocols.has(script.PROTOCOL) ? script.PROTOCOL : false),
});

server.listen(0, '127.0.0.1', () => console.log(server.address().port));

wss.once('connection', (ws, request) => {
  server.close(); // one conversation only: stop listening
  wss.close();
  if (request.socket.encrypted) travelled = `over ${request.socket.getProtocol()}`;
  if (request.url !== script.PATH) problems.push(`path ${request.url}, want ${script.PATH}`);
  if (ws.protocol !== script.PROTOCOL) problems.push(`subprotocol ${ws.protocol}, want ${script.PROTOCOL}`);
  const received = [];
  ws.on('message', (data, isBinary) => {
    const message = script.decode(data, isBinary);
    received.push(message);
    if (message === script.FRAGMENTED) script.sendFragments(ws, script.FRAGMENTS);
    else ws.send(message, { binary: isBinary });
  });
  ws.on('error', (error) => problems.push(`error: ${error.message}`));
  ws.on('close', (code, reasonBuffer) => {
    const reason = reasonBuffer.toString('utf8');
    if (received.length !== script.MESSAGES.length) {
      problems.push(`received ${received.length} messages, want ${script.MESSAGES.length}`);
    }
    const bad = received.findIndex((got, i) => i < script.MESSAGES.length && !script.same(got, script.MESSAGES[i]));
    if (bad >= 0) {
      problems.push(`message ${bad}: got ${script.describe(received[bad])}, want ${script.describe(script.MESSAGES[bad])}`);
    }
    const wantReason = script.closeReason(CLIENT);
    if (code !== script.CLOSE_CODE || reason !== wantReason) {
      problems.push(`close received ${code} ${JSON.stringify(reason)}, want ${script.CLOSE_CODE} ${JSON.stringify(wantReason)}`);
    }
    finish();
  });
});
