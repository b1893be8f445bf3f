// The scripted conversation every interop peer runs: the Node twin of
// ../python/script.py (read that file for the rules); tests/interop.rs has
// the same script on wsock's side.
'use strict';

const PATH = '/interop';
const OFFERED_PROTOCOLS = ['chat.v0', 'chat.v1'];
const PROTOCOL = 'chat.v1';

const TEXT = 'hello from the client: h\u00e9llo w\u00f6rld \u2713 \u{1f980}';
const BINARY = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const BIG = Buffer.alloc(4 * 1024 * 1024);
for (let i = 0; i < BIG.length; i++) BIG[i] = i % 251;
const SMALL = Array.from({ length: 1000 }, (_, i) => `message ${i}`);
const FRAGMENTS = ['fragmented:', ' one', ' two', ' three'];
const FRAGMENTED = FRAGMENTS.join('');
const MESSAGES = [TEXT, BINARY, BIG, ...SMALL, FRAGMENTED];

const CLOSE_CODE = 1000;
const closeReason = (client) => `bye from ${client}`;

// A message as ws delivers it (data, isBinary) to a string or a Buffer.
function decode(data, isBinary) {
  const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
  return isBinary ? buffer : buffer.toString('utf8');
}

function same(got, want) {
  if (typeof want === 'string') return typeof got === 'string' && got === want;
  return Buffer.isBuffer(got) && got.equals(want);
}

function describe(message) {
  if (typeof message === 'string') {
    return `text of ${message.length} chars starting ${JSON.stringify(message.slice(0, 40))}`;
  }
  return `binary of ${message.length} bytes starting ${message.subarray(0, 16).toString('hex')}`;
}

// Send a text message in fragments (one frame each).
function sendFragments(ws, fragments) {
  fragments.forEach((fragment, i) => ws.send(fragment, { binary: false, fin: i === fragments.length - 1 }));
}

module.exports = {
  PATH, OFFERED_PROTOCOLS, PROTOCOL, TEXT, BINARY, BIG, SMALL, FRAGMENTS, FRAGMENTED,
  MESSAGES, CLOSE_CODE, closeReason, decode, same, describe, sendFragments,
};
