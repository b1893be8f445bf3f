// Node `ws` client for wsock's interop tests.
//
// Usage: node client.js ws://127.0.0.1:PORT/interop   (with ws resolvable)
//        node client.js wss://localhost:PORT/interop --ca CA_PEM
// Runs script.js's conversation against a wsock echo server: offers two
// subprotocols and checks the server chose chat.v1, sends every message (the
// fragmented one in fragments) and checks each echo, in order, then closes
// with 1000 "bye from node" and checks the server's close frame says the same.
// Over wss://, the server's certificate must chain to the CA in the PEM file
// CA_PEM (the only CA trusted) and name the URL's host.
// Exits 0 when everything matched, 1 with a message on stderr otherwise.
'use strict';

const fs = require('fs');
const { WebSocket } = require('ws');
const script = require('./script.js');

const DEADLINE_MS = 60_000;
const CLIENT = 'node';

function fail(message) {
  console.error(`node client: ${message}`);
  process.exit(1);
}

const [url, ...rest] = process.argv.slice(2);
const withCa = rest.length === 2 && rest[0] === '--ca';
if (!url || !(rest.length === 0 || withCa)) {
  console.error('usage: node client.js ws://127.0.0.1:PORT/interop | wss://localhost:PORT/interop --ca CA_PEM');
  process.exit(2);
}
// permessage-deflate, every message compressed (ws' threshold is 1 KiB).
const options = { maxPayload: 16 * 1024 * 1024, perMessageDeflate: { threshold: 0 } };
if (withCa) options.ca = fs.readFileSync(rest[1]);

setTimeout(() => fail(`conversation not finished within ${DEADLINE_MS} ms`), DEADLINE_MS).unref();

const ws = new WebSocket(url, script.OFFERED_PROTOCOLS, options);
const reason = script.closeReason(CLIENT);
let echoed = 0;
let travelled = 'in the clear'; // or 'over TLSv1.3', for the last line

ws.on('upgrade', (response) => {
  if (response.socket.encrypted) travelled = `over ${response.socket.getProtocol()}`;
});

ws.on('open', () => {
  if (ws.protocol !== script.PROTOCOL) fail(`subprotocol ${ws.protocol}, want ${script.PROTOCOL}`);
  // Everything goes out back to back; the echoes must come back in order.
  for (const message of script.MESSAGES.slice(0, -1)) {
    ws.send(message, { binary: typeof message !== 'string' });
  }
  script.sendFragments(ws, script.FRAGMENTS);
});

ws.on('message', (data, isBinary) => {
  const got = script.decode(data, isBinary);
  const want = script.MESSAGES[echoed];
  if (want === undefined) fail(`unexpected echo ${echoed}: ${script.describe(got)}`);
  if (!script.same(got, want)) fail(`echo ${echoed}: got ${script.describe(got)}, want ${script.describe(want)}`);
  echoed += 1;
  if (echoed === script.MESSAGES.length) ws.close(script.CLOSE_CODE, reason);
});

ws.on('error', (error) => fail(`error: ${error.message}`));

ws.on('close', (code, reasonBuffer) => {
  const got = reasonBuffer.toString('utf8');
  if (echoed !== script.MESSAGES.length) fail(`closed (${code} ${JSON.stringify(got)}) after ${echoed} echoes`);
  if (code !== script.CLOSE_CODE || got !== reason) {
    fail(`server's close frame: ${code} ${JSON.stringify(got)}, want ${script.CLOSE_CODE} ${JSON.stringify(reason)}`);
  }
  console.log(`node client: ok, ${echoed} messages echoed, closed ${code}, ${travelled}`);
});
