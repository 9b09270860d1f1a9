#!/usr/bin/env bash
# Stress mode (`make test-stress N=20`): runs the fast tests (everything but `root_*` and
# `cluster_*`) N times, several copies in parallel, while busy loops keep every CPU loaded, and
# reports runs and failures per test. It flushes out races (an assertion that holds only when
# the machine is idle) before CI meets them.
#
#   scripts/stress.sh [-n N] [-j JOBS] [--hogs H] [-- cargo test selection, e.g. -p oxidize-testbed]
#
#   N      rounds: each test binary runs N times (default 20)
#   JOBS   test binaries running at once (default 2 x CPUs)
#   H      busy-loop processes (default: one per CPU); their PIDs are in target/stress/hogs.pid
#          and they are killed when the script ends, also on Ctrl-C
#
# Logs of failed runs stay in target/stress/. Exits non-zero if any run failed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/.tools/bin:$ROOT/.venv/bin:$PATH"

cpus="$(nproc)"
rounds=20
parallel=$((2 * cpus))
hogs="$cpus"
while (($#)); do
  case "$1" in
    -n) rounds="$2"; shift 2 ;;
    -j) parallel="$2"; shift 2 ;;
    --hogs) hogs="$2"; shift 2 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
selection=("$@")
((${#selection[@]})) || selection=(--workspace)

out="$ROOT/target/stress"
rm -rf "$out"
mkdir -p "$out/runs"

echo "[stress] building the test binaries (cargo test --no-run ${selection[*]})"
cargo test --locked --no-run --message-format=json "${selection[@]}" >"$out/build.json"
# One line per test binary: executable <TAB> package directory <TAB> label.
python3 - "$out/build.json" >"$out/binaries.tsv" <<'PY'
import json, os, sys
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") != "compiler-artifact" or not m.get("profile", {}).get("test"):
        continue
    exe = m.get("executable")
    if not exe:
        continue
    t = m["target"]
    kind = t["kind"][0]
    # package_id: "path+file:///dir#name@version", or "path+file:///name#version".
    url, _, frag = m["package_id"].partition("#")
    package = frag.split("@")[0] if "@" in frag else url.rsplit("/", 1)[-1]
    label = f'{package}:{kind}:{t["name"]}'
    print(f'{exe}\t{os.path.dirname(m["manifest_path"])}\t{label}')
PY
nbin="$(wc -l <"$out/binaries.tsv")"
echo "[stress] $nbin test binaries x $rounds rounds, $parallel at once, $hogs busy loops"

hog_pids=()
stop_hogs() {
  for pid in "${hog_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${hog_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  hog_pids=()
  rm -f "$out/hogs.pid"
}
trap stop_hogs EXIT
trap 'exit 130' INT TERM
for ((i = 0; i < hogs; i++)); do
  (while :; do :; done) &
  hog_pids+=("$!")
done
printf '%s\n' "${hog_pids[@]}" >"$out/hogs.pid"
echo "[stress] busy loops: pids ${hog_pids[*]}"

# One job per (round, binary), at most JOBS at once; each writes its libtest output to
# runs/<round>-<n>.log and its exit code to runs/<round>-<n>.rc.
run_one() {
  local round="$1" n="$2" exe="$3" dir="$4"
  local log="$out/runs/$round-$n.log" rc=0
  (cd "$dir" && CARGO_MANIFEST_DIR="$dir" "$exe" --skip root_ --skip cluster_) >"$log" 2>&1 || rc=$?
  echo "$rc" >"$out/runs/$round-$n.rc"
}
mapfile -t binaries <"$out/binaries.tsv"
start=$SECONDS
for ((round = 1; round <= rounds; round++)); do
  for n in "${!binaries[@]}"; do
    IFS=$'\t' read -r exe dir _ <<<"${binaries[$n]}"
    while (($(jobs -rp | wc -l) >= parallel + hogs)); do
      wait -n || true
    done
    run_one "$round" "$n" "$exe" "$dir" &
  done
done
# Wait for the test jobs only (the busy loops never end by themselves).
for pid in $(jobs -rp); do
  [[ " ${hog_pids[*]} " == *" $pid "* ]] || wait "$pid" || true
done
wall=$((SECONDS - start))
stop_hogs

python3 - "$out" "$rounds" "$wall" <<'PY'
import collections, os, re, sys
out, rounds, wall = sys.argv[1], int(sys.argv[2]), sys.argv[3]
labels = [l.rstrip("\n").split("\t")[2] for l in open(os.path.join(out, "binaries.tsv"))]
runs = collections.Counter()
fails = collections.Counter()
crashed = collections.Counter()
where = collections.defaultdict(list)
line = re.compile(r"^test (\S+) \.\.\. (ok|FAILED)")
for name in sorted(os.listdir(os.path.join(out, "runs"))):
    if not name.endswith(".log"):
        continue
    n = int(name.split("-")[1].split(".")[0])
    label = labels[n]
    path = os.path.join(out, "runs", name)
    rc = open(path[:-4] + ".rc").read().strip()
    seen_fail = False
    for l in open(path, errors="replace"):
        m = line.match(l)
        if m:
            key = f"{label} {m.group(1)}"
            runs[key] += 1
            if m.group(2) == "FAILED":
                fails[key] += 1
                where[key].append(path)
                seen_fail = True
    if rc != "0" and not seen_fail:
        crashed[label] += 1
        where[label].append(path)
total_runs = sum(runs.values())
total_fails = sum(fails.values()) + sum(crashed.values())
print(f"\n[stress] {len(runs)} tests, {total_runs} test runs in {wall} s, {total_fails} failures")
if fails or crashed:
    print(f"{'test':<90} {'runs':>5} {'failures':>8}")
    for key in sorted(fails, key=lambda k: -fails[k]):
        print(f"{key:<90} {runs[key]:>5} {fails[key]:>8}   e.g. {where[key][0]}")
    for label in crashed:
        print(f"{label + ' (binary exited non-zero without a failed test)':<90} {rounds:>5} {crashed[label]:>8}   e.g. {where[label][0]}")
    sys.exit(1)
PY
