"""Python `websockets` client for wsock's interop tests.

Usage: python client.py ws://127.0.0.1:PORT/interop
       python client.py wss://localhost:PORT/interop --ca CA_PEM
Runs script.py's conversation against a wsock echo server: offers two
subprotocols and checks the server chose chat.v1, sends every message
(the fragmented one in fragments) and checks each echo, then closes with 1000
"bye from python" and checks the server's close frame says the same.
Over wss://, the server's certificate must chain to the CA in the PEM file
CA_PEM (the default roots are trusted too) and name the URL's host.
Exits 0 when everything matched, 1 with a message on stderr otherwise.
"""

import argparse
import ssl
import sys

from websockets.sync.client import connect

import script

TIMEOUT = 20.0
CLIENT = "python"


class Mismatch(Exception):
    pass


def expect_echo(ws, index: int, want) -> None:
    got = ws.recv(timeout=TIMEOUT)
    if not script.same(got, want):
        raise Mismatch(f"echo {index}: got {script.describe(got)}, want {script.describe(want)}")


def converse(url: str, ca: str | None) -> str:
    """Runs the conversation; returns how it travelled (for the last line)."""
    tls = None
    if ca is not None:
        tls = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    with connect(
        url,
        ssl=tls,
        subprotocols=script.OFFERED_PROTOCOLS,
        max_size=16 * 1024 * 1024,
        open_timeout=TIMEOUT,
        close_timeout=TIMEOUT,
    ) as ws:
        how = f"over {ws.socket.version()}" if isinstance(ws.socket, ssl.SSLSocket) else "in the clear"
        if ws.subprotocol != script.PROTOCOL:
            raise Mismatch(f"subprotocol {ws.subprotocol!r}, want {script.PROTOCOL!r}")
        index = 0
        for message in (script.TEXT, script.BINARY, script.BIG):
            ws.send(message)
            expect_echo(ws, index, message)
            index += 1
        # The small ones go out back to back; the echoes must come back in order.
        for message in script.SMALL:
            ws.send(message)
        for message in script.SMALL:
            expect_echo(ws, index, message)
            index += 1
        ws.send(script.FRAGMENTS)
        expect_echo(ws, index, script.FRAGMENTED)

        reason = script.close_reason(CLIENT)
        ws.close(script.CLOSE_CODE, reason)
        if (ws.close_code, ws.close_reason) != (script.CLOSE_CODE, reason):
            raise Mismatch(
                f"server's close frame: {ws.close_code} {ws.close_reason!r}, want {script.CLOSE_CODE} {reason!r}"
            )
        return how


def main() -> int:
    parser = argparse.ArgumentParser(description="Python websockets interop client")
    parser.add_argument("url", help="ws://127.0.0.1:PORT/interop or wss://localhost:PORT/interop")
    parser.add_argument("--ca", metavar="CA_PEM", help="for wss://: trust the CA in this PEM file")
    args = parser.parse_args()
    try:
        how = converse(args.url, args.ca)
    except Exception as e:
        print(f"python client: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"python client: ok, {len(script.MESSAGES)} messages echoed, closed {script.CLOSE_CODE}, {how}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
