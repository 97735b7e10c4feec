# shellcheck shell=bash
# lib.sh: helpers for the e2e tests. Source it from a test script; it sources the netns cluster
# library and installs an EXIT trap that always tears the cluster down.
#
#   fail MSG                              print and exit 1
#   (wait_until and check_all_pairs come from examples/demo/netns-cluster.sh)
#   e2e_sleep S                           sleep that a signal interrupts (bash runs traps only
#                                         after a foreground command ends: prefer this, or
#                                         `cmd & wait $!`, to a long foreground `sleep`)
#   agent_metric I SAMPLE                 the value of SAMPLE (a name with its labels, as
#                                         /metrics writes it) in agent I's GET /metrics
#   E2E_DIR                               a scratch directory for this run, removed on exit
#                                         (kept, with the agent logs, if OVL_KEEP=1)

# Privileged: without root, skip (exit 77) on a developer's machine, fail under CI.
if [[ $(id -u) -ne 0 ]]; then
  [[ -n ${CI:-} ]] && { echo "FAIL: e2e needs root (CI is set, so this is a failure)" >&2; exit 1; }
  echo "SKIP: e2e needs root"
  exit 77
fi

OVL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../examples/demo/netns-cluster.sh
source "$OVL_ROOT/examples/demo/netns-cluster.sh"

E2E_DIR=$(mktemp -d "${TMPDIR:-/tmp}/${RUN}.XXXXXX")

fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}

e2e_sleep() {
  # read -t on a pipe that never delivers: a builtin, so no child process is left behind.
  read -rt "$1" <> <(:) || true
}

_e2e_cleanup() {
  local rc=$? i
  trap - EXIT
  # A second signal during the clean-up must not cut it short and leave namespaces behind.
  trap '' INT TERM
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

agent_metric() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 2 ip netns exec "$(node_ns "$1")" bash -c '
    exec 3<>"/dev/tcp/${1%:*}/${1##*:}" || exit 1
    printf "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" >&3
    cat <&3' _ "$OVL_HEALTH_ADDR" | awk -v n="$2" '$1 == n { print $2 }'
}

trap _e2e_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
