#!/usr/bin/env bash
# The whole test command (`make test`): formatting, lints, every test including the root
# network-namespace ones, each scripts/checks/*.sh, then the check that this run's tests left no
# namespace behind. Every stage runs even when an earlier one failed; a summary table (stage,
# result, seconds) and a rerun command for each failed test come at the end, and the exit status
# is non-zero if any stage failed.
#
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh -p oxidize-testbed root_`).
#
# OXIDIZE_RUN_ID names this run (a letter, then letters or digits); the test bed puts it in every
# namespace name (`oxt-<pid>-<run id>-<n>-<role>`), so this run checks only its own namespaces
# and never those of another run on the same machine. Generated when unset.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/.tools/bin:$ROOT/.venv/bin:$PATH"
# shellcheck source=lib/stages.sh
source "$ROOT/scripts/lib/stages.sh"

export OXIDIZE_RUN_ID="${OXIDIZE_RUN_ID:-r$(date +%m%d%H%M%S)p$$}"
if [[ ! "$OXIDIZE_RUN_ID" =~ ^[a-z][a-z0-9]{0,31}$ ]]; then
  echo "OXIDIZE_RUN_ID=$OXIDIZE_RUN_ID: use a lowercase letter, then up to 31 lowercase letters or digits" >&2
  exit 2
fi
echo "test run $OXIDIZE_RUN_ID (its namespaces: oxt-<pid>-$OXIDIZE_RUN_ID-*)"

test_bed_namespaces() { ip netns list 2>/dev/null | awk '{print $1}' | grep '^oxt-' || true; }
# This run's namespaces match oxt-<pid>-<run id>-...
this_run() { grep -E "^oxt-[0-9]+-$OXIDIZE_RUN_ID-" || true; }
other_runs() { grep -vE "^oxt-[0-9]+-$OXIDIZE_RUN_ID-" || true; }

# Removes namespaces whose creating process is gone (a killed earlier run); namespaces of runs
# still going on are left alone.
sweep_stale() {
  cargo run -q --locked -p oxidize-testbed -- sweep
}

# cargo test, with its output kept to find failed tests and say how to rerun each alone.
cargo_test() {
  local log="$ROOT/target/test-output.log" rc=0
  mkdir -p "$ROOT/target"
  cargo test --workspace --locked --no-fail-fast "$@" 2>&1 | tee "$log" || rc=$?
  local cmd
  while IFS= read -r cmd; do
    stage_note "cargo test" "rerun: $cmd"
  done < <(rerun_commands "$log")
  return "$rc"
}

# Reads `cargo test` output and prints one command per failed test that reruns it alone. cargo
# says which target failed (`to rerun pass `-p pkg --test name``) after that binary's output,
# where each failed test has a `---- name stdout ----` header; a binary that failed without
# naming a test (a crash) gets the command for the whole binary.
rerun_commands() {
  awk '
    function quote(s) { return s ~ /^[A-Za-z0-9_:]+$/ ? s : "\x27" s "\x27" }
    /^ +(Running|Doc-tests) / { n = 0 }
    /^---- .* stdout ----$/ {
      name = $0; sub(/^---- /, "", name); sub(/ stdout ----$/, "", name); failed[n++] = name
    }
    /to rerun pass `/ {
      args = $0; sub(/.*to rerun pass `/, "", args); sub(/`.*/, "", args)
      if (n == 0) print "cargo test " args
      for (i = 0; i < n; i++) print "cargo test " args " " quote(failed[i]) " -- --exact"
      n = 0
    }
  ' "$1"
}

# Fails if this run's tests left a namespace behind; namespaces of other runs are listed for
# information only (another run may still be using them).
no_namespace_left() {
  local mine others
  mine="$(test_bed_namespaces | this_run)"
  others="$(test_bed_namespaces | other_runs)"
  if [[ -n "$others" ]]; then
    echo "namespaces of other test runs (not checked here):"
    sed 's/^/  /' <<<"$others"
  fi
  if [[ -n "$mine" ]]; then
    echo "test run $OXIDIZE_RUN_ID left these namespaces behind:" >&2
    sed 's/^/  /' <<<"$mine" >&2
    return 1
  fi
  echo "none left by test run $OXIDIZE_RUN_ID"
}

is_root() { [[ $(id -u) -eq 0 ]]; }

if is_root && [[ -n "$(test_bed_namespaces)" ]]; then
  stage "sweep stale namespaces" sweep_stale
fi
stage "cargo fmt --check" cargo fmt --all -- --check
stage "cargo clippy" cargo clippy --workspace --all-targets --locked -- -D warnings
stage "cargo test" cargo_test "$@"
for check in scripts/checks/*.sh; do
  [[ -e "$check" ]] || continue
  stage "$check" bash "$check"
done
# The cluster stages (a real Kubernetes built from source, images, the smoke test and the
# cluster suite): on a full run as root; OXIDIZE_SKIP_CLUSTER=1 leaves them out.
cluster_test() {
  OXIDIZE_CLUSTER_TESTS=1 cargo test --locked -p oxidize-testbed --test "$1"
}
if is_root && (($# == 0)) && [[ "${OXIDIZE_SKIP_CLUSTER:-}" != 1 ]]; then
  stage "cluster: build etcd + Kubernetes (cached)" bash scripts/cluster/build.sh
  stage "images (make images)" bash scripts/images/build.sh
  stage "cluster: smoke test" cluster_test cluster_smoke
  stage "cluster: suite" cluster_test cluster
else
  echo "cluster stages skipped (need root, no extra arguments, OXIDIZE_SKIP_CLUSTER unset)"
fi
if is_root; then
  stage "no namespace left (run $OXIDIZE_RUN_ID)" no_namespace_left
fi
stages_summary
