"""Python `websockets` echo server for wsock's interop tests.

Usage: python server.py [CLIENT] [--tls CERT_PEM KEY_PEM]
Binds 127.0.0.1 on a free port and prints the port as the first stdout line.
With --tls it speaks wss://, presenting the certificate (chain) in CERT_PEM
with the private key in KEY_PEM.
Serves exactly one connection (the wsock client running script.py's
conversation): checks the path and the chosen subprotocol, echoes every
message (the fragmented one back in fragments), records what arrived, and
after the client's close checks the messages and the close code and reason.
Exits 0 when all of that matched, 1 with a message on stderr otherwise, and 2
when no conversation finished within DEADLINE seconds. CLIENT (default wsock)
names the client in the close reason it expects, "bye from CLIENT".
"""

import argparse
import ssl
import sys
import threading

from websockets.exceptions import ConnectionClosedOK
from websockets.sync.server import serve

import script

DEADLINE = 60.0
CLIENT = "wsock"  # main() sets it from the command line

done = threading.Event()
problems: list[str] = []
travelled = ["in the clear"]  # or "over TLSv1.3", for the last line


def check_conversation(ws) -> None:
    if isinstance(ws.socket, ssl.SSLSocket):
        travelled[0] = f"over {ws.socket.version()}"
    if ws.request.path != script.PATH:
        problems.append(f"path {ws.request.path!r}, want {script.PATH!r}")
    if ws.subprotocol != script.PROTOCOL:
        problems.append(f"subprotocol {ws.subprotocol!r}, want {script.PROTOCOL!r}")
    received = []
    try:
        while True:
            message = ws.recv(timeout=DEADLINE)
            received.append(message)
            if isinstance(message, str) and message == script.FRAGMENTED:
                ws.send(script.FRAGMENTS)
            else:
                ws.send(message)
    except ConnectionClosedOK:
        pass
    if len(received) != len(script.MESSAGES):
        problems.append(f"received {len(received)} messages, want {len(script.MESSAGES)}")
    for i, (got, want) in enumerate(zip(received, script.MESSAGES)):
        if not script.same(got, want):
            problems.append(f"message {i}: got {script.describe(got)}, want {script.describe(want)}")
            break
    want_reason = script.close_reason(CLIENT)
    if (ws.close_code, ws.close_reason) != (script.CLOSE_CODE, want_reason):
        problems.append(
            f"close received {ws.close_code} {ws.close_reason!r}, want {script.CLOSE_CODE} {want_reason!r}"
        )


def handler(ws) -> None:
    try:
        check_conversation(ws)
    except Exception as e:  # a timeout or an abnormal close
        problems.append(f"conversation ended abnormally: {e!r}")
    finally:
        done.set()


def main() -> int:
    global CLIENT
    parser = argparse.ArgumentParser(description="Python websockets interop echo server")
    parser.add_argument("client", nargs="?", default=CLIENT, help="the client named in its close reason")
    parser.add_argument("--tls", nargs=2, metavar=("CERT_PEM", "KEY_PEM"), help="serve wss:// with these")
    args = parser.parse_args()
    CLIENT = args.client
    tls = None
    if args.tls is not None:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(*args.tls)
    with serve(
        handler,
        "127.0.0.1",
        0,
        ssl=tls,
        subprotocols=[script.PROTOCOL],
        max_size=16 * 1024 * 1024,
    ) as server:
        print(server.socket.getsockname()[1], flush=True)
        serving = threading.Thread(target=server.serve_forever)
        serving.start()
        finished = done.wait(DEADLINE)
        server.shutdown()
        serving.join()
    if not finished:
        print(f"python server: no conversation finished within {DEADLINE} s", file=sys.stderr)
        return 2
    if problems:
        for problem in problems:
            print(f"python server: {problem}", file=sys.stderr)
        return 1
    print(f"python server: ok, {len(script.MESSAGES)} messages echoed, closed {script.CLOSE_CODE}, {travelled[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
