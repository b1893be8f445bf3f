#!/usr/bin/env bash
# wsock against peers nobody here wrote: runs tests/interop.rs,
# tests/proxies.rs and the wscat test of tests/examples_run.rs that needs
# Python websockets (ignored by default) with the peers of .ci/interop/
# found through the environment.
#
# Usage: VENV=/path/to/venv NODE_DIR=/path/to/folder bash .ci/interop.sh [test name filter]
#   VENV      a venv with websockets installed (.ci/interop/requirements.txt)
#   NODE_DIR  a folder with node_modules/ws (npm install in .ci/interop/node,
#             or a copy of its package.json elsewhere)
# Installs nothing itself.
set -euo pipefail

: "${VENV:?set VENV to a venv that has websockets (pip install -r .ci/interop/requirements.txt)}"
: "${NODE_DIR:?set NODE_DIR to a folder with node_modules/ws (npm install in .ci/interop/node)}"
[[ -x $VENV/bin/python ]] || { echo "interop: $VENV/bin/python not found" >&2; exit 2; }
[[ -d $NODE_DIR/node_modules/ws ]] || { echo "interop: $NODE_DIR/node_modules/ws not found" >&2; exit 2; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# tests/examples_run.rs runs the example's binary, which `cargo test --test`
# does not build.
cargo build --example wscat
WSOCK_PYTHON=$VENV/bin/python WSOCK_NODE_DIR=$(cd "$NODE_DIR" && pwd) \
  cargo test --test interop --test proxies --test examples_run -- --ignored "$@"
