// Node `ws` echo server for wsock's interop tests.
//
// Usage: node server.js [CLIENT]   (with ws resolvable, e.g. NODE_PATH=DIR/node_modules)
// Binds 127.0.0.1 on a free port and prints the port as the first stdout line.
// Serves exactly one connection (the wsock client running script.js's
// conversation): checks the path and the chosen subprotocol, echoes every
// message (the fragmented one back in fragments), records what arrived, and
// after the client's close checks the messages and the close code and reason.
// Exits 0 when all of that matched, 1 with a message on stderr otherwise, and 2
// when no conversation finished within DEADLINE_MS. CLIENT (default wsock) names
// the client in the close reason it expects, "bye from CLIENT".
'use strict';

const { WebSocketServer } = require('ws');
const script = require('./script.js');

const DEADLINE_MS = 60_000;
const CLIENT = process.argv[2] || 'wsock';

const problems = [];

function finish() {
  for (const problem of problems) console.error(`node server: ${problem}`);
  if (problems.length === 0) {
    console.log(`node server: ok, ${script.MESSAGES.length} messages echoed, closed ${script.CLOSE_CODE}`);
  }
  process.exit(problems.length === 0 ? 0 : 1);
}

setTimeout(() => {
  console.error(`node server: no conversation finished within ${DEADLINE_MS} ms`);
  process.exit(2);
}, DEADLINE_MS).unref();

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  maxPayload: 16 * 1024 * 1024,
  handleProtocols: (protocols) => (protocols.has(script.PROTOCOL) ? script.PROTOCOL : false),
});

wss.on('listening', () => console.log(wss.address().port));

wss.once('connection', (ws, request) => {
  wss.close(); // one conversation only: stop listening
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
