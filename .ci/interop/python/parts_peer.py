"""Python `websockets` server for wsock's messages-in-parts interop test.

Usage: python parts_peer.py
Binds 127.0.0.1 on a free port and prints the port as the first stdout line.
Serves exactly one connection (tests/interop.rs, wsock's send_writer and
recv_reader):
  1. reads one message with recv_streaming(), a fragment per frame, and
     answers with one text message summing it up:
     "KIND fragments=N lengths=L1,L2,... bytes=B crc32=HEX"
     (KIND text or binary; the lengths in bytes, UTF-8 for text; zlib's CRC-32
     of all its bytes);
  2. waits for the text message "go", then sends TEXT_PIECES with
     send(iterable), a fragmented text message, and BINARY_PIECES the same
     way from a generator, a fragmented binary message;
  3. waits for the client's close, which must be 1000.
Exits 0 when all of that happened, 1 with a message on stderr otherwise, and
2 when the conversation did not end within DEADLINE seconds.
"""

import sys
import threading
import zlib

from websockets.exceptions import ConnectionClosedOK
from websockets.sync.server import serve

DEADLINE = 60.0
PATH = "/parts"

# tests/interop.rs has the same pieces.
TEXT_PIECES = [f"piece {i} from python: h\u00e9llo \U0001f980 " * (i + 1) for i in range(12)]
BINARY_PIECE_COUNT = 8


def binary_pieces():
    """Piece i: the byte i, 65,536 + i times."""
    for i in range(BINARY_PIECE_COUNT):
        yield bytes([i]) * (65536 + i)


done = threading.Event()
problems: list[str] = []


def summary(fragments) -> str:
    if all(isinstance(f, str) for f in fragments):
        kind = "text"
    elif all(isinstance(f, bytes) for f in fragments):
        kind = "binary"
    else:
        kind = "mixed"
    data = [f.encode() if isinstance(f, str) else f for f in fragments]
    whole = b"".join(data)
    lengths = ",".join(str(len(d)) for d in data)
    return f"{kind} fragments={len(data)} lengths={lengths} bytes={len(whole)} crc32={zlib.crc32(whole):08x}"


def converse(ws) -> None:
    if ws.request.path != PATH:
        problems.append(f"path {ws.request.path!r}, want {PATH!r}")
    fragments = list(ws.recv_streaming())
    if len(fragments) < 2:
        problems.append(f"the message came in {len(fragments)} fragment(s), want several")
    ws.send(summary(fragments))
    go = ws.recv(timeout=DEADLINE)
    if go != "go":
        problems.append(f"got {go!r}, want 'go'")
        return
    ws.send(TEXT_PIECES)
    ws.send(binary_pieces())
    try:
        extra = ws.recv(timeout=DEADLINE)
        problems.append(f"a message after 'go': {extra[:40]!r}")
    except ConnectionClosedOK:
        pass
    if ws.close_code != 1000:
        problems.append(f"close {ws.close_code} {ws.close_reason!r}, want 1000")


def handler(ws) -> None:
    try:
        converse(ws)
    except Exception as e:  # a timeout or an abnormal close
        problems.append(f"conversation ended abnormally: {e!r}")
    finally:
        done.set()


def main() -> int:
    with serve(handler, "127.0.0.1", 0) as server:
        print(server.socket.getsockname()[1], flush=True)
        serving = threading.Thread(target=server.serve_forever)
        serving.start()
        finished = done.wait(DEADLINE)
        server.shutdown()
        serving.join()
    if not finished:
        print(f"python parts peer: no conversation finished within {DEADLINE} s", file=sys.stderr)
        return 2
    if problems:
        for problem in problems:
            print(f"python parts peer: {problem}", file=sys.stderr)
        return 1
    print("python parts peer: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
