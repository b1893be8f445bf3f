#!/usr/bin/env python3
"""Python websockets peer of the `deflate` bench row (examples/bench.rs).

The bench runs it with the venv's python (WSOCK_BENCH_VENV, by default
target/ci/venv) in two ways, both with websockets' sync API:

  deflate_peer.py serve on|off
      A sink server on 127.0.0.1 (websockets.sync.server.serve), with
      compression="deflate" (websockets' own defaults: level 6, memLevel 5,
      15-bit windows, context takeover, every message compressed) or
      compression=None. Prints its port on stdout line 1, then serves
      connections until its stdin closes. Per connection it counts text
      messages until a "done" text, then answers one text:
      "<messages> <payload bytes> <wire bytes>", where the wire bytes are
      what the connection read from the socket after the opening handshake
      (frame headers and masks included, up to and including the "done").

  deflate_peer.py send on|off PORT FILE N lines|whole
      A client (websockets.sync.client.connect) with the same compression
      setting. FILE holds the sample: one message per line ("lines"), or
      the whole file is one message ("whole"). It sends N text messages,
      cycling through the sample, then "done", and waits for the answer;
      the clock runs from the first send to the answer. Prints one line:
      "result <seconds> <cpu seconds of this process> <the answer>".

Every wait is bounded: connect and close 10 s, each receive 60 s, one run
120 s; the server exits when its stdin closes.
"""

import os
import sys
import threading
import time

from websockets.sync.client import connect
from websockets.sync.server import ServerConnection, serve

PEER_WAIT = 60.0
RUN_LIMIT = 120.0


def compression(flag):
    if flag not in ("on", "off"):
        sys.exit(f"compression must be on or off, not {flag!r}")
    return "deflate" if flag == "on" else None


class CountingConnection(ServerConnection):
    """A server connection that counts the bytes it reads off the socket."""

    def __init__(self, sock, protocol, *args, **kwargs):
        self.wire_bytes = 0
        receive = protocol.receive_data

        def counting(data):
            self.wire_bytes += len(data)
            return receive(data)

        protocol.receive_data = counting
        super().__init__(sock, protocol, *args, **kwargs)


def sink(ws):
    # The opening handshake's bytes are counted already: start after them
    # (the client sends nothing before it has the server's answer).
    base = ws.wire_bytes
    messages = payload = 0
    while True:
        try:
            message = ws.recv(timeout=PEER_WAIT)
        except Exception:
            return  # closed, or silent for too long
        if message == "done":
            ws.send(f"{messages} {payload} {ws.wire_bytes - base}")
            messages = payload = 0
            base = ws.wire_bytes
        else:
            messages += 1
            payload += len(message)  # the sample is ASCII: chars are bytes


def run_server(flag):
    def watch_stdin():
        sys.stdin.buffer.read()
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    with serve(
        sink,
        "127.0.0.1",
        0,
        compression=compression(flag),
        max_size=None,
        ping_interval=None,
        create_connection=CountingConnection,
    ) as server:
        print(server.socket.getsockname()[1], flush=True)
        server.serve_forever()


def run_client(flag, port, path, n, mode):
    with open(path, "rb") as f:
        data = f.read()
    sample = data.split(b"\n") if mode == "lines" else [data]
    sample = [m for m in sample if m]
    with connect(
        f"ws://127.0.0.1:{port}/deflate",
        compression=compression(flag),
        max_size=None,
        ping_interval=None,
        open_timeout=10,
        close_timeout=10,
    ) as ws:
        start, cpu = time.perf_counter(), time.process_time()
        stop = start + RUN_LIMIT
        for i in range(n):
            if i % 64 == 0 and time.perf_counter() > stop:
                sys.exit(f"sent only {i} of {n} messages in {RUN_LIMIT} s")
            # bytes sent as text: no encoding per message, as the others.
            ws.send(sample[i % len(sample)], text=True)
        ws.send("done")
        answer = ws.recv(timeout=PEER_WAIT)
        secs = time.perf_counter() - start
        cpu = time.process_time() - cpu
    counted = int(answer.split()[0])
    if counted != n:
        sys.exit(f"the sink counted {counted} of {n} messages")
    print(f"result {secs:.6f} {cpu:.6f} {answer}", flush=True)


def main(argv):
    if len(argv) == 2 and argv[0] == "serve":
        run_server(argv[1])
    elif len(argv) == 6 and argv[0] == "send":
        run_client(argv[1], int(argv[2]), argv[3], int(argv[4]), argv[5])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
