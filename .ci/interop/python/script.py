"""The scripted conversation every interop peer runs (tests/interop.rs has the
same script on wsock's side; node/script.js is its Node twin).

The client sends MESSAGES in order; the server echoes each one back unchanged.
The last one travels in fragments whenever a peer we did not write can make
them: peer clients send it as FRAGMENTS, peer servers echo it as FRAGMENTS.
Then the client closes with CLOSE_CODE and "bye from <client>", and the server
answers with the same code and reason.
"""

PATH = "/interop"
OFFERED_PROTOCOLS = ["chat.v0", "chat.v1"]
PROTOCOL = "chat.v1"

TEXT = "hello from the client: h\u00e9llo w\u00f6rld \u2713 \U0001f980"
BINARY = bytes(range(256))
BIG_LEN = 4 * 1024 * 1024
BIG = (bytes(range(251)) * (BIG_LEN // 251 + 1))[:BIG_LEN]  # byte i is i % 251
SMALL = [f"message {i}" for i in range(1000)]
FRAGMENTS = ["fragmented:", " one", " two", " three"]
FRAGMENTED = "".join(FRAGMENTS)
MESSAGES = [TEXT, BINARY, BIG, *SMALL, FRAGMENTED]

CLOSE_CODE = 1000


def close_reason(client: str) -> str:
    return f"bye from {client}"


def describe(message) -> str:
    """A short description of a message for failure reports."""
    kind = "text" if isinstance(message, str) else "binary"
    head = message[:40]
    return f"{kind} of {len(message)} {'chars' if kind == 'text' else 'bytes'} starting {head!r}"


def same(got, want) -> bool:
    """Same type (text vs binary) and same content."""
    return type(got) is type(want) and got == want
