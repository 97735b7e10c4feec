# shellcheck shell=bash
# lib.sh: helpers for the e2e tests. Source it from a test script; it sources the netns cluster
# library and installs an EXIT trap that always tears the cluster down.
#
#   fail MSG                              print and exit 1
#   wait_until TIMEOUT_S CMD...           poll CMD every 100 ms; prints elapsed ms on success
#   check_all_pairs N PODS TCPPROBE_BIN   TCP between every ordered pair of pods
#   e2e_sleep S                           sleep that a signal interrupts (bash runs traps only
#                                         after a foreground command ends: prefer this, or
#                                         `cmd & wait $!`, to a long foreground `sleep`)
#   E2E_DIR                               a scratch directory for this run, removed on exit
#                                         (kept, with the agent logs, if OVL_KEEP=1)

OVL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../examples/demo/netns-cluster.sh
source "$OVL_ROOT/examples/demo/netns-cluster.sh"

OVL_PROBE_PORT="${OVL_PROBE_PORT:-7777}"
OVL_PROBE_TIMEOUT_MS="${OVL_PROBE_TIMEOUT_MS:-2000}"
E2E_DIR=$(mktemp -d "${TMPDIR:-/tmp}/${RUN}.XXXXXX")

fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}

e2e_sleep() {
  # read -t on a pipe that never delivers: a builtin, so no child process is left behind.
  read -rt "$1" <> <(:) || true
}

_e2e_now_ms() {
  local t=${EPOCHREALTIME/./}
  printf '%s\n' "$((t / 1000))"
}

# wait_until TIMEOUT_S CMD...: runs CMD every 100 ms until it succeeds (returns 0 and prints
# "waited N ms for: CMD") or TIMEOUT_S passes (returns 1, printing CMD's last output on stderr).
wait_until() {
  local timeout=${1:?usage: wait_until TIMEOUT_S CMD...} start deadline out now
  shift
  start=$(_e2e_now_ms)
  deadline=$((start + timeout * 1000))
  while :; do
    if out=$("$@" 2>&1); then
      now=$(_e2e_now_ms)
      printf 'waited %s ms for: %s\n' "$((now - start))" "$*"
      return 0
    fi
    now=$(_e2e_now_ms)
    if ((now >= deadline)); then
      printf 'timed out after %s s waiting for: %s\n%s\n' "$timeout" "$*" "$out" >&2
      return 1
    fi
    sleep 0.1
  done
}

# check_all_pairs N PODS TCPPROBE_BIN: serves in every pod (with the pod's name as hello), then
# connects from every pod to every other one and checks that the right pod answered. Prints a
# matrix (rows: source, columns: destination) and returns non-zero naming the failing pairs.
check_all_pairs() {
  local n=${1:?usage: check_all_pairs N PODS TCPPROBE_BIN} pods=${2:?} probe=${3:?}
  local i j k l src dst out rc=0 total=0 bad=0 line
  local -a pods_list=() servers=() clients=() failures=()
  local results="$E2E_DIR/pairs.$$"
  rm -rf "$results" && mkdir -p "$results" || return 1
  for ((i = 1; i <= n; i++)); do
    for ((j = 1; j <= pods; j++)); do pods_list+=("$i.$j"); done
  done
  for src in "${pods_list[@]}"; do
    # `ip netns exec` execs the server, so $! is the server and `kill` below ends it (a
    # backgrounded shell function would leave it running, orphaned, on the port).
    ip netns exec "$(pod_ns "${src%.*}" "${src#*.}")" "$probe" serve --port "$OVL_PROBE_PORT" \
      --hello "n${src%.*}p${src#*.}" >"$results/serve-$src.log" 2>&1 &
    servers+=($!)
  done
  for src in "${pods_list[@]}"; do
    i=${src%.*} j=${src#*.}
    if ! wait_until 5 pod_exec "$i" "$j" "$probe" connect "$(pod_ip "$i" "$j")" \
      "$OVL_PROBE_PORT" >/dev/null; then
      kill "${servers[@]}" 2>/dev/null
      wait "${servers[@]}" 2>/dev/null || true
      printf 'check_all_pairs: server in pod n%sp%s did not start\n' "$i" "$j" >&2
      return 1
    fi
  done
  # One client job per source pod, each trying every destination in turn.
  for src in "${pods_list[@]}"; do
    (
      i=${src%.*} j=${src#*.}
      for dst in "${pods_list[@]}"; do
        [[ $src == "$dst" ]] && continue
        k=${dst%.*} l=${dst#*.}
        if out=$(pod_exec "$i" "$j" "$probe" connect "$(pod_ip "$k" "$l")" "$OVL_PROBE_PORT" \
          --timeout-ms "$OVL_PROBE_TIMEOUT_MS" --expect-hello 2>&1) &&
          [[ $out == "n${k}p${l}" ]]; then
          echo ok >"$results/$src-$dst"
        else
          printf '%s\n' "${out//$'\n'/ }" >"$results/$src-$dst"
        fi
      done
    ) &
    clients+=($!)
  done
  wait "${clients[@]}" || true
  kill "${servers[@]}" 2>/dev/null
  wait "${servers[@]}" 2>/dev/null || true

  line=$(printf '%-7s' 'src\dst')
  for dst in "${pods_list[@]}"; do line+=$(printf ' %-6s' "n${dst%.*}p${dst#*.}"); done
  printf '%s\n' "$line"
  for src in "${pods_list[@]}"; do
    line=$(printf '%-7s' "n${src%.*}p${src#*.}")
    for dst in "${pods_list[@]}"; do
      if [[ $src == "$dst" ]]; then
        line+=$(printf ' %-6s' '-')
        continue
      fi
      total=$((total + 1))
      out=$(<"$results/$src-$dst")
      if [[ $out == ok ]]; then
        line+=$(printf ' %-6s' ok)
      else
        line+=$(printf ' %-6s' FAIL)
        bad=$((bad + 1))
        failures+=("n${src%.*}p${src#*.} -> n${dst%.*}p${dst#*.} ($(pod_ip "${dst%.*}" "${dst#*.}")): $out")
      fi
    done
    printf '%s\n' "$line"
  done
  rm -rf "$results"
  printf 'pairs: %s/%s ok\n' "$((total - bad))" "$total"
  if ((bad > 0)); then
    printf 'failing pair: %s\n' "${failures[@]}" >&2
    rc=1
  fi
  return "$rc"
}

_e2e_cleanup() {
  local rc=$? i
  trap - EXIT
  if ((rc != 0)); then
    for i in "${!OVL_AGENT_LOG[@]}"; do
      printf -- '--- last lines of %s\n' "${OVL_AGENT_LOG[$i]}" >&2
      tail -n 30 "${OVL_AGENT_LOG[$i]}" >&2 2>/dev/null
    done
  fi
  cluster_down
  if [[ ${OVL_KEEP:-0} == 1 ]]; then
    printf 'kept %s\n' "$E2E_DIR" >&2
  else
    rm -rf "$E2E_DIR"
  fi
  exit "$rc"
}

trap _e2e_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
