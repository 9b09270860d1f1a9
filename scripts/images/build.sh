#!/usr/bin/env bash
# `make images`: the operator and dataplane images, FROM scratch, as OCI archives, reproducibly.
#
#   build/images/oxidize-operator-<appVersion>.tar    ghcr.io/oxidize-dev/oxidize-operator:<appVersion>
#   build/images/oxidize-dataplane-<appVersion>.tar   ghcr.io/oxidize-dev/oxidize-dataplane:<appVersion>
#   build/images/pause-<version>.tar                  oxidize.local/pause:<version> (local cluster only)
#   build/images/digests.txt                          one line per image: archive, reference, digest
#
# The binaries are built by cargo here (release, stripped, source paths remapped so the
# checkout's location does not leak into them) and packed with exactly the shared libraries
# `ldd` lists; no base image is pulled (none can be). Same commit, same toolchain: same digests.
# The operator image runs as 65532:65532; the dataplane image too, except where the pod spec
# asks for root (the tune init container and the relay; see docs/operator.md).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
OUT="${OXIDIZE_IMAGES_DIR:-$ROOT/build/images}"
APP_VERSION="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/oxidize/Chart.yaml)"
PAUSE_VERSION=3.10-oxidize
REPO="${OXIDIZE_IMAGE_REPO:-ghcr.io/oxidize-dev}"
start=$SECONDS
say() { printf '[images %4ss] %s\n' "$((SECONDS - start))" "$*"; }
[[ -n "$APP_VERSION" ]] || { echo "images: no appVersion in charts/oxidize/Chart.yaml" >&2; exit 1; }
mkdir -p "$OUT"

# A target dir of its own: these flags differ from the test and demo builds, which would
# otherwise rebuild everything each time one of them runs. At a fixed path outside the
# checkout: libxdp-sys compiles its build directory into the binary as a string, so a
# checkout-relative target dir made the dataplane image depend on where the checkout is.
export CARGO_TARGET_DIR="${OXIDIZE_IMAGES_TARGET:-/var/tmp/oxidize-images-target}"
export CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=symbols
export RUSTFLAGS="--remap-path-prefix=$ROOT=/oxidize --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo -C link-arg=-Wl,--build-id=none"
export SOURCE_DATE_EPOCH=0
say "cargo build --release (oxidize-operator, oxidize-dataplane)"
cargo build --release --locked -q -p oxidize-operator --bin oxidize-operator \
  -p oxidize-dataplane --bin oxidize-dataplane
BIN="$CARGO_TARGET_DIR/release"

image() { # name binary user
  local name="$1" bin="$2" user="$3" tar="$OUT/$1-$APP_VERSION.tar" digest
  digest="$(bash scripts/images/pack.sh "$bin" "$REPO/$name:$APP_VERSION" "$tar" "$user" \
    --label "org.opencontainers.image.version=$APP_VERSION" \
    --label "org.opencontainers.image.source=https://github.com/oxidize-dev/oxidize")"
  printf '%s %s %s\n' "$(basename "$tar")" "$REPO/$name:$APP_VERSION" "$digest" >>"$OUT/digests.txt.new"
  say "$REPO/$name:$APP_VERSION  $digest  $(du -h "$tar" | cut -f1)"
}

rm -f "$OUT/digests.txt.new"
image oxidize-operator "$BIN/oxidize-operator" 65532:65532
image oxidize-dataplane "$BIN/oxidize-dataplane" 65532:65532

say "pause (static C, for the local cluster's sandboxes)"
mkdir -p "$OUT/pause"
gcc -Os -static -s -Wall -Werror -o "$OUT/pause/pause" scripts/images/pause.c
pause_digest="$(python3 scripts/images/oci.py --out "$OUT/pause-$PAUSE_VERSION.tar" \
  --name "oxidize.local/pause:$PAUSE_VERSION" --entrypoint /pause --user 65535:65535 \
  --file "$OUT/pause/pause=/pause:0755")"
printf '%s %s %s\n' "pause-$PAUSE_VERSION.tar" "oxidize.local/pause:$PAUSE_VERSION" "$pause_digest" >>"$OUT/digests.txt.new"
mv "$OUT/digests.txt.new" "$OUT/digests.txt"
say "done; digests in ${OUT#"$ROOT"/}/digests.txt"
