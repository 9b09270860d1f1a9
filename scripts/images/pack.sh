#!/usr/bin/env bash
# Packs one dynamically linked binary into a FROM-scratch OCI archive, with exactly the shared
# libraries `ldd` lists (and the loader) at their own paths. Prints the manifest digest.
#   pack.sh BINARY REFERENCE OUT.tar USER [extra oci.py args...]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
(($# >= 4)) || { sed -n '2,4p' "$0" >&2; exit 2; }
bin="$1" ref="$2" out="$3" user="$4"; shift 4
[[ -x "$bin" ]] || { echo "pack.sh: $bin is not an executable" >&2; exit 1; }
libs=()
while read -r lib; do
  [[ -n "$lib" ]] && libs+=("--file=$(readlink -f "$lib")=$lib:0755")
done < <(ldd "$bin" | awk '/=> \//{print $3} /^[[:space:]]*\/lib/{print $1}' | sort -u)
name="$(basename "$bin")"
python3 "$HERE/oci.py" --out "$out" --name "$ref" --entrypoint "/usr/local/bin/$name" \
  --user "$user" --dir /tmp --file "$bin=/usr/local/bin/$name:0755" "${libs[@]}" "$@"
