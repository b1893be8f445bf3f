"""Python `websockets` client that streams 64 MiB to a wsock StreamWebSocket.

Usage: python stream_client.py ws://127.0.0.1:PORT/stream
Sends 64 MiB of seeded random bytes as binary messages of random sizes
(1 B to 256 KiB), prints "crc32 HEX length N" (zlib's CRC-32 of all of it),
then closes with 1000. Exits 0 when the close handshake completes.
"""

import random
import sys
import zlib

from websockets.sync.client import connect

TOTAL = 64 * 1024 * 1024


def main(url: str) -> None:
    rng = random.Random(64)
    data = rng.randbytes(TOTAL)
    with connect(url, open_timeout=20, close_timeout=20) as ws:
        sent = 0
        while sent < TOTAL:
            n = min(rng.randint(1, 256 * 1024), TOTAL - sent)
            ws.send(data[sent : sent + n])
            sent += n
        print(f"crc32 {zlib.crc32(data):08x} length {sent}", flush=True)
        ws.close(1000, "stream sent")


if __name__ == "__main__":
    main(sys.argv[1])
