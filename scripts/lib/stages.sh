# Stage runner for the test scripts (sourced, not run): every stage runs even after another
# failed, and a summary table at the end says which passed and how long each took.
#
#   source scripts/lib/stages.sh
#   stage "cargo fmt" cargo fmt --all -- --check      # runs the command, records pass/FAIL + seconds
#   stage "cluster" bash scripts/cluster/run.sh          # a stage added by another script
#   stage_note "cargo test" "rerun: cargo test -p x --lib name -- --exact"   # printed under the table
#   stages_summary                                       # prints the table; returns 1 if any failed
#
# A stage is any command (or shell function); its exit status decides pass or FAIL. Output goes
# straight to the terminal, under a `=== name` header.

STAGE_NAMES=()
STAGE_RESULTS=()
STAGE_SECONDS=()
STAGE_NOTES=()

# stage NAME COMMAND [ARGS...]: runs COMMAND, records the result, never exits the caller.
stage() {
  local name="$1" start rc=0
  shift
  printf '\n=== %s\n' "$name"
  start=$SECONDS
  # `|| rc=$?` keeps `set -e` in the caller from stopping at a failed stage.
  "$@" || rc=$?
  STAGE_NAMES+=("$name")
  STAGE_SECONDS+=("$((SECONDS - start))")
  if ((rc == 0)); then
    STAGE_RESULTS+=(pass)
  else
    STAGE_RESULTS+=("FAIL")
    printf '=== %s: FAILED (exit %d)\n' "$name" "$rc" >&2
  fi
  return 0
}

# stage_note STAGE TEXT: a line printed under the summary table (e.g. a command to rerun a test).
stage_note() {
  STAGE_NOTES+=("$1: $2")
}

# stages_summary: the table of every stage run so far; returns 1 if any failed.
stages_summary() {
  local i failed=0 width=5
  for i in "${!STAGE_NAMES[@]}"; do
    ((${#STAGE_NAMES[$i]} > width)) && width=${#STAGE_NAMES[$i]}
  done
  printf '\n=== summary\n'
  printf "%-${width}s  %-6s  %7s\n" stage result seconds
  for i in "${!STAGE_NAMES[@]}"; do
    printf "%-${width}s  %-6s  %7s\n" "${STAGE_NAMES[$i]}" "${STAGE_RESULTS[$i]}" "${STAGE_SECONDS[$i]}"
    [[ "${STAGE_RESULTS[$i]}" == pass ]] || failed=1
  done
  if ((${#STAGE_NOTES[@]})); then
    printf '\n'
    printf '%s\n' "${STAGE_NOTES[@]}"
  fi
  if ((failed)); then
    printf '\nFAILED: %s\n' "$(for i in "${!STAGE_NAMES[@]}"; do
      [[ "${STAGE_RESULTS[$i]}" == pass ]] || printf '%s; ' "${STAGE_NAMES[$i]}"
    done | sed 's/; $//')"
    return 1
  fi
  printf '\nall %d stages passed\n' "${#STAGE_NAMES[@]}"
}
