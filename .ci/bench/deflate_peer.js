// Node ws peer of the `deflate` bench row (examples/bench.rs).
//
// The bench runs it with `node` from PATH, ws taken from the folder in
// WSOCK_BENCH_NODE_DIR (its node_modules; by default target/ci/node), in
// two ways:
//
//   node deflate_peer.js serve on|off
//       A sink server on 127.0.0.1 (ws's WebSocketServer) with
//       perMessageDeflate { threshold: 128 } (ws's defaults otherwise:
//       zlib level 6 (Z_DEFAULT_COMPRESSION), memLevel 8, 15-bit windows,
//       context takeover; the threshold is ws's 1,024 B by default, which
//       would leave the smaller half of the ~1 KiB sample uncompressed:
//       128 is wsock's default), or perMessageDeflate false. Prints its
//       port on stdout line 1, then serves connections until its stdin
//       closes. Per connection it counts text messages until a "done"
//       text, then answers one text: "<messages> <payload bytes> <wire
//       bytes>", the wire bytes being the socket's bytesRead after the
//       opening handshake (frame headers and masks included, up to and
//       including the "done").
//
//   node deflate_peer.js send on|off PORT FILE N lines|whole
//       A client (ws's WebSocket) with the same perMessageDeflate setting.
//       FILE holds the sample: one message per line ("lines"), or the
//       whole file is one message ("whole"), each turned into a Buffer
//       once. It sends N text messages, cycling through the sample, with
//       at most 4 MiB (at least one message) sent but not yet written (the
//       send callbacks), then "done" right after the last, and waits for
//       the answer; the clock runs from the first send to the answer.
//       Prints one line: "result <seconds> <cpu seconds of this process>
//       <the answer>".
//
// Every wait is bounded: a client run and a sink's silence end after
// 120 s and 60 s; the server exits when its stdin closes.

'use strict';

const fs = require('fs');
const path = require('path');

const nodeDir =
  process.env.WSOCK_BENCH_NODE_DIR || path.join(__dirname, '..', '..', 'target', 'ci', 'node');
const { WebSocket, WebSocketServer } = require(require.resolve('ws', { paths: [nodeDir] }));

const PEER_WAIT_MS = 60_000;
const RUN_LIMIT_MS = 120_000;
const WINDOW_BYTES = 4 << 20;
const DEFLATE = { threshold: 128 };

function fail(why) {
  process.stderr.write(`deflate_peer.js: ${why}\n`);
  process.exit(1);
}

function compression(flag) {
  if (flag !== 'on' && flag !== 'off') fail(`compression must be on or off, not ${flag}`);
  return flag === 'on' ? DEFLATE : false;
}

function serve(flag) {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    perMessageDeflate: compression(flag),
    maxPayload: 64 << 20,
  });
  wss.on('listening', () => process.stdout.write(`${wss.address().port}\n`));
  wss.on('error', (e) => fail(`server: ${e.message}`));
  wss.on('connection', (ws, req) => {
    const socket = req.socket;
    let base = socket.bytesRead; // the opening handshake
    let messages = 0;
    let payload = 0;
    let silence = setTimeout(() => ws.terminate(), PEER_WAIT_MS);
    ws.on('message', (data, isBinary) => {
      silence.refresh();
      if (!isBinary && data.length === 4 && data.toString() === 'done') {
        ws.send(`${messages} ${payload} ${socket.bytesRead - base}`);
        messages = 0;
        payload = 0;
        base = socket.bytesRead;
      } else {
        messages += 1;
        payload += data.length;
      }
    });
    ws.on('close', () => clearTimeout(silence));
    ws.on('error', () => clearTimeout(silence));
  });
  process.stdin.on('data', () => {});
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('close', () => process.exit(0));
}

function send(flag, port, file, n, mode) {
  const data = fs.readFileSync(file);
  const sample = [];
  if (mode === 'lines') {
    let from = 0;
    for (let i = data.indexOf(10); i !== -1; from = i + 1, i = data.indexOf(10, from)) {
      if (i > from) sample.push(Buffer.from(data.subarray(from, i)));
    }
    if (from < data.length) sample.push(Buffer.from(data.subarray(from)));
  } else {
    sample.push(data);
  }
  const size = sample.reduce((a, b) => a + b.length, 0) / sample.length;
  const window = Math.max(1, Math.floor(WINDOW_BYTES / size));
  const guard = setTimeout(() => fail(`no answer within ${RUN_LIMIT_MS} ms`), RUN_LIMIT_MS);
  const ws = new WebSocket(`ws://127.0.0.1:${port}/deflate`, {
    perMessageDeflate: compression(flag),
    maxPayload: 64 << 20,
    handshakeTimeout: 10_000,
  });
  let start;
  let cpu;
  let sent = 0;
  let pending = 0;
  const written = (err) => {
    if (err) fail(`send: ${err.message}`);
    pending -= 1;
    pump();
  };
  const pump = () => {
    while (sent < n && pending < window) {
      const m = sample[sent % sample.length];
      sent += 1;
      pending += 1;
      ws.send(m, { binary: false }, written);
    }
    if (sent === n && !pump.done) {
      pump.done = true;
      ws.send('done'); // after the last message: ws keeps the order
    }
  };
  ws.on('error', (e) => fail(`client: ${e.message}`));
  ws.on('open', () => {
    start = process.hrtime.bigint();
    cpu = process.cpuUsage();
    pump();
  });
  ws.on('message', (answer) => {
    const secs = Number(process.hrtime.bigint() - start) / 1e9;
    const used = process.cpuUsage(cpu);
    const counted = Number(String(answer).split(' ')[0]);
    if (counted !== n) fail(`the sink counted ${counted} of ${n} messages`);
    const cpuSecs = (used.user + used.system) / 1e6;
    process.stdout.write(`result ${secs.toFixed(6)} ${cpuSecs.toFixed(6)} ${answer}\n`);
    clearTimeout(guard);
    ws.close();
    // The close handshake is not waited for (bounded by ws's own timer).
    setTimeout(() => process.exit(0), 1000).unref();
  });
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'serve' && args.length === 1) {
  serve(args[0]);
} else if (cmd === 'send' && args.length === 5) {
  send(args[0], Number(args[1]), args[2], Number(args[3]), args[4]);
} else {
  fail('usage: deflate_peer.js serve on|off | send on|off PORT FILE N lines|whole');
}
