#!/usr/bin/env bash
# The demo (`make demo`). Until the relay lands this builds the three-host test bed
# (client <-> relay <-> internet namespaces), sends ping, UDP echoes and a checksummed TCP
# download across it by plain kernel forwarding, prints what it saw and removes everything.
# The relay issue replaces the forwarding hop with the AF_XDP QUIC relay.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [[ $(id -u) -ne 0 ]]; then
  echo "the demo creates network namespaces: run it as root (sudo make demo)" >&2
  exit 1
fi
echo "==> building (release)"
cargo build --release -q -p oxidize-testbed
exec "$ROOT/target/release/oxidize-testbed" selfcheck "$@"
