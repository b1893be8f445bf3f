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
    "deflate": 10, "tls": 11, "transport": 12, "options": 13,
    # 2 engine
    "engine": 20, "inbox": 21,
    # 3 handshake
    "connect": 30,
    # 4 sockets
    "message_socket": 40, "parts": 41, "stream": 42, "hub": 43,
    # 5 server
    "server": 50,
    # 6 docs: the guide's pages (text and doctests; they link to every layer)
    "guide": 60,
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
    bad.extend(size_problems())
    if bad:
        print("layer check failed (see ARCHITECTURE.md, Layers and Limits of size):")
        print("\n".join(bad))
        return 1
    print(f"layers: {len(seen)} import edges between {len(RANKS)} modules, all downward"
          f" (allowed upward: {', '.join('->'.join(e) for e in sorted(ALLOWED))})")
    return 0

MAX_FILE_LINES = 500
MAX_FN_LINES = 80
# Files and functions allowed over the limits, each with its reason in
# ARCHITECTURE.md ("Limits of size"). Tests (a `#[cfg(test)] mod`) do not count.
SIZE_EXCEPTIONS = set()

def size_problems():
    """Files over MAX_FILE_LINES and functions over MAX_FN_LINES in src/."""
    out = []
    fn_start = re.compile(r"^(\s*)(pub(\([^)]*\))? )?(const )?fn (\w+)")
    for path in sorted(pathlib.Path("src").rglob("*.rs")):
        lines = path.read_text().splitlines()
        code = len(lines)
        for i, line in enumerate(lines):
            if line.strip() == "#[cfg(test)]" and i + 1 < len(lines) and lines[i + 1].startswith("mod "):
                code = i
                break
        if code > MAX_FILE_LINES and str(path) not in SIZE_EXCEPTIONS:
            out.append(f"{path}: {code} lines outside its tests (at most {MAX_FILE_LINES})")
        for i, line in enumerate(lines[:code]):
            m = fn_start.match(line)
            if not m:
                continue
            end = m.group(1) + "}"
            for j in range(i + 1, code):
                if lines[j] == end:
                    n = j - i + 1
                    name = f"{path}::{m.group(5)}"
                    if n > MAX_FN_LINES and name not in SIZE_EXCEPTIONS:
                        out.append(f"{path}:{i + 1}: fn {m.group(5)} is {n} lines (at most {MAX_FN_LINES})")
                    break
    return out

if __name__ == "__main__":
    sys.exit(main())
