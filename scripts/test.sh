#!/usr/bin/env bash
# The whole test command (`make test`): formatting, lints, every test including the root
# network-namespace ones, then the check that the tests left no namespace behind.
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh -p oxidize-testbed root_`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/.tools/bin:$ROOT/.venv/bin:$PATH"

section() { printf '\n=== %s\n' "$*"; }

leftover_netns() { ip netns list 2>/dev/null | awk '{print $1}' | grep '^oxt-' || true; }

if [[ $(id -u) -eq 0 ]]; then
  stale="$(leftover_netns)"
  if [[ -n "$stale" ]]; then
    section "removing test-bed namespaces left by an earlier killed run"
    cargo run -q -p oxidize-testbed -- sweep
  fi
fi

section "cargo fmt --check"
cargo fmt --all -- --check

section "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

section "cargo test"
cargo test --workspace --locked --no-fail-fast "$@"

for check in scripts/checks/*.sh; do
  [[ -e "$check" ]] || continue
  section "$check"
  bash "$check"
done

if [[ $(id -u) -eq 0 ]]; then
  section "no test-bed namespace left behind"
  left="$(leftover_netns)"
  if [[ -n "$left" ]]; then
    echo "tests left these namespaces behind:" >&2
    echo "$left" >&2
    exit 1
  fi
  echo "none"
fi
section "all tests passed"
