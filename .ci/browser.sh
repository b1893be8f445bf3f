#!/usr/bin/env bash
# wsock in a real browser: runs tests/browser.rs (ignored by default) with
# Chromium driven by playwright-core.
#
# Usage: NODE_DIR=/path/to/folder [CHROMIUM=/usr/bin/chromium] bash .ci/browser.sh
#   NODE_DIR  a folder with node_modules/playwright-core (npm install with
#             .ci/interop/node/package.json)
# Installs nothing itself.
set -euo pipefail

: "${NODE_DIR:?set NODE_DIR to a folder with node_modules/playwright-core}"
chromium=${CHROMIUM:-/usr/bin/chromium}
[[ -d $NODE_DIR/node_modules/playwright-core ]] || { echo "browser: $NODE_DIR/node_modules/playwright-core not found" >&2; exit 2; }
[[ -x $chromium ]] || { echo "browser: $chromium not found" >&2; exit 2; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# The browser_chat test runs the example's binary, which `cargo test --test`
# does not build.
cargo build --example browser_chat
WSOCK_NODE_DIR=$(cd "$NODE_DIR" && pwd) WSOCK_CHROMIUM=$chromium \
  cargo test --test browser -- --ignored "$@"
