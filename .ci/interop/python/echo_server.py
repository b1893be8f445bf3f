"""Python `websockets` echo server for the wscat tests of tests/examples_run.rs.

Usage: python echo_server.py [CONNECTIONS]
Binds 127.0.0.1 on a free port and prints the port as the first stdout line.
Echoes every message on any path, text as text and binary as binary. When a
connection ends it prints "closed CODE REASON" (the client's close frame; 1006
if there was none). Exits 0 once CONNECTIONS connections (default 1) have
ended, 2 if they have not within DEADLINE seconds.
"""

import sys
import threading
import time

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import serve

DEADLINE = 60.0


def main() -> int:
    wanted = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    ended = threading.Semaphore(0)

    def echo(ws) -> None:
        try:
            for message in ws:  # ends after a normal close
                ws.send(message)
        except ConnectionClosed:
            pass
        print(f"closed {ws.close_code} {ws.close_reason or ''}".rstrip(), flush=True)
        ended.release()

    with serve(echo, "127.0.0.1", 0) as server:
        print(server.socket.getsockname()[1], flush=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        deadline = time.monotonic() + DEADLINE
        for _ in range(wanted):
            if not ended.acquire(timeout=max(0.0, deadline - time.monotonic())):
                print(f"echo_server: fewer than {wanted} connections ended in time", file=sys.stderr)
                return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
