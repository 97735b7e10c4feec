#!/usr/bin/env bash
# Runs one libFuzzer harness for the fuzz label (tests/fuzz/CMakeLists.txt), or scripts/fuzz.sh.
#   run.sh fuzz BINARY SRC_DIR NAME WORK_DIR MAX_LEN [SECONDS]
#     fuzzes for $OVL_FUZZ_SECONDS, else SECONDS, else 60, from a fresh copy of SRC_DIR/corpus/NAME (the committed
#     corpus does not grow); a crash, leak, timeout or OOM fails, naming the reproducer.
#   run.sh regressions BINARY SRC_DIR NAME WORK_DIR MAX_LEN
#     runs every file of SRC_DIR/regressions/NAME once (subfolders, such as pending/, are not run).
set -euo pipefail
mode=$1 bin=$2 src=$3 name=$4 work=$5 max_len=$6
seconds=${OVL_FUZZ_SECONDS:-${7:-60}}
# Time-outs and memory: a slow input (> 10 s) or one that needs more than 2 GiB is a finding.
opts=(-rss_limit_mb=2048 -timeout=10 -max_len="$max_len" -print_final_stats=1)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

case "$mode" in
  regressions)
    files=()
    if [ -d "$src/regressions/$name" ]; then
      while IFS= read -r f; do files+=("$f"); done \
        < <(find "$src/regressions/$name" -maxdepth 1 -type f ! -name '*.md' | sort)
    fi
    if [ "${#files[@]}" -eq 0 ]; then
      echo "fuzz $name: no regression inputs"
      exit 0
    fi
    echo "fuzz $name: ${#files[@]} regression input(s)"
    if ! "$bin" "${opts[@]}" "${files[@]}"; then
      echo "fuzz $name: a regression input fails again (see the input named above)" >&2
      exit 1
    fi
    ;;
  fuzz)
    dir=$work/$name
    rm -rf "$dir"
    mkdir -p "$dir/corpus" "$dir/artifacts"
    cp -r "$src/corpus/$name/." "$dir/corpus/"
    echo "fuzz $name: ${seconds}s from $(find "$dir/corpus" -type f | wc -l) seed(s)"
    if ! "$bin" "${opts[@]}" -max_total_time="$seconds" -artifact_prefix="$dir/artifacts/" \
        "$dir/corpus" 2>"$dir/log"; then
      tail -n 60 "$dir/log" >&2
      echo "fuzz $name: FAILED; reproducer(s):" >&2
      find "$dir/artifacts" -type f >&2
      echo "replay: $bin <file>; keep it in tests/fuzz/regressions/$name/ once fixed" >&2
      exit 1
    fi
    # The summary: executions, coverage (cov) and features (ft) at the end.
    grep -aE '^#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::peak_rss_mb' "$dir/log" || true
    ;;
  *)
    echo "run.sh: unknown mode $mode (expected fuzz, regressions)" >&2
    exit 2
    ;;
esac
