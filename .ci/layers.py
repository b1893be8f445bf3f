#!/usr/bin/env python3
"""Fails when a module of src/ imports from its own layer or one above it.

The layer table is ARCHITECTURE.md's; a module may use `crate::x` only if
x ranks below it. Test modules (`#[cfg(test)] mod ...` to the end of the
file) are not checked: they may drive the public API. Run from the root.
"""
import pathlib
import re
import sys

# Rank of each module: lower ranks are lower layers. Same-layer modules
# that depend on each other get distinct ranks within their layer.
RANKS = {
    # 0 leaves
    "time": 0, "sync": 1, "timer": 2, "error": 3, "info": 4, "codec": 5, "message": 6,
    # 1 parts
    "tls": 10, "transport": 11, "options": 12,
    # 2 engine
    "engine": 20, "inbox": 21,
    # 3 handshake
    "connect": 30,
    # 4 sockets
    "message_socket": 40, "stream": 41, "hub": 42,
    # 5 server
    "server": 50,
}
# The one kind of upward edge allowed: a builder's final call.
ALLOWED = {("options", "server")}

def module_of(path):
    rel = path.relative_to("src").with_suffix("")
    parts = rel.parts
    if parts[-1] == "mod":
        parts = parts[:-1]
    return parts[0] if parts else "lib"

def main():
    bad = []
    seen = set()
    for path in sorted(pathlib.Path("src").rglob("*.rs")):
        me = module_of(path)
        if me == "lib":
            continue
        if me not in RANKS:
            bad.append(f"{path}: module {me!r} has no layer in .ci/layers.py (add it, and to ARCHITECTURE.md)")
            continue
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.strip() == "#[cfg(test)]" and i + 1 < len(lines) and lines[i + 1].lstrip().startswith("mod "):
                break
            code = line.split("//", 1)[0]
            for used in re.findall(r"\bcrate::(\w+)", code):
                if used not in RANKS or used == me:
                    continue  # a re-export of lib.rs (the public names) or itself
                seen.add((me, used))
                if RANKS[used] >= RANKS[me] and (me, used) not in ALLOWED:
                    bad.append(f"{path}:{i + 1}: {me} (rank {RANKS[me]}) imports {used} (rank {RANKS[used]}): {line.strip()}")
    if bad:
        print("layer check failed (see ARCHITECTURE.md, Layers):")
        print("\n".join(bad))
        return 1
    print(f"layers: {len(seen)} import edges between {len(RANKS)} modules, all downward"
          f" (allowed upward: {', '.join('->'.join(e) for e in sorted(ALLOWED))})")
    return 0

if __name__ == "__main__":
    sys.exit(main())
