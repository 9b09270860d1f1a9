#!/usr/bin/env bash
# `make demo`: the whole story on a local Kubernetes, as a platform team lives it.
#
#   1. the cluster parts: etcd and Kubernetes v1.36.2 built from their Go modules (cached in
#      .cluster/: the first build takes 15-20 minutes on 2 cores, later ones nothing)
#   2. the images, FROM scratch (`make images`)
#   3. the cluster up (node in its own network namespace), `helm install` of the operator, a NIC
#      for the node (a 2-queue veth with a client namespace on the other end and an "internet"
#      namespace behind the uplink), `kubectl apply` of a RelayNode, the node tuned by the init
#      container, the relay pod Ready and pinned, oxidize-client's tunnel through it (ping v4/v6,
#      a checksummed download), figures read back from a real Prometheus, `kubectl get rn -o
#      wide`, then `kubectl delete`, the node restored, the cluster down.
#
# KEEP=1 leaves the cluster up at the end for exploring with kubectl (and prints how).
# Progress lines carry the elapsed time; a failure names its step and prints the pods, the
# RelayNode, the events and the relay's logs. The relay-only demo (no cluster): make demo-relay.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/.tools/bin:$ROOT/.venv/bin:$PATH"
start=$SECONDS
step() { printf '\n[demo %4ss] == %s\n' "$((SECONDS - start))" "$*"; }
fail() { printf '\n[demo %4ss] FAILED at: %s\n' "$((SECONDS - start))" "$*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || fail "the demo makes network namespaces and runs a cluster: run it as root"

step "cluster parts: etcd + Kubernetes from the official Go modules (cached)"
bash scripts/cluster/build.sh || fail "building the cluster (see the lines above)"
step "images: operator and dataplane FROM scratch"
bash scripts/images/build.sh || fail "building the images"
step "client and test bed binaries"
cargo build -q --locked -p oxidize-dataplane --bin oxidize-client -p oxidize-testbed \
  || fail "cargo build"
step "the story on the cluster (each step prints its time)"
args=(--demo)
[[ "${KEEP:-}" == 1 ]] && args+=(--keep)
OXIDIZE_CLUSTER_TESTS=1 cargo test -q --locked -p oxidize-testbed --test cluster -- "${args[@]}" \
  || fail "the cluster story (the failed step and its diagnostics are above)"
step "demo passed in $((SECONDS - start)) s"
