#!/usr/bin/env bash
# e2e: the agent's health endpoint cannot be starved. One node's agent, in its namespace:
#   1. under 1,000 slow clients (a request that never ends, one byte a second) AND 10,000 idle
#      connections at once, each re-opened as soon as the agent closes it, each of 10 probes of
#      /healthz and of /readyz answers 200 with its JSON within 1 s (tests/e2e/health_load.py);
#   2. a slow client is cut off 2 s after its connect however it trickles bytes, a request head
#      over 8 KiB gets 431, a method other than GET/HEAD 405, an unknown path 404;
#   3. /metrics still answers in Prometheus text, and the agent kept at most its connection bound
#      (its open descriptors, from /proc, while under load).
# Usage: health_e2e.sh OVL_AGENT
set -euo pipefail
AGENT=${1:?usage: health_e2e.sh OVL_AGENT}
source "$(dirname "$0")/lib.sh"
LOAD="$OVL_ROOT/tests/e2e/health_load.py"
PY=/usr/bin/python3
LOAD_PID=""

stop_load() {
  if [[ -n $LOAD_PID ]]; then
    kill "$LOAD_PID" 2>/dev/null || true
    wait "$LOAD_PID" 2>/dev/null || true
    LOAD_PID=""
  fi
}
trap 'stop_load; _e2e_cleanup' EXIT

# http_raw REQUEST: what the agent answers to the raw REQUEST bytes (printf format), within 5 s.
http_raw() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  node_exec 1 timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/9765; printf "$1" >&3; cat <&3' _ "$1"
}

cluster_up 1 0
write_cluster_files "$E2E_DIR" 1
agent_start 1 "$E2E_DIR" "$AGENT"
agent_wait_ready 1 15
pid=${OVL_AGENT_PID[1]}

echo "== 1,000 slow and 10,000 idle connections at once; 10 probes of /healthz and of /readyz"
# `ip netns exec` execs python, so $! is the load's own pid (stop_load signals it).
ip netns exec "$(node_ns 1)" "$PY" "$LOAD" load 127.0.0.1 9765 --slow 1000 --idle 10000 \
  --seconds 60 >"$E2E_DIR/load.log" 2>&1 &
LOAD_PID=$!
wait_until 30 grep -q '^load up' "$E2E_DIR/load.log" >/dev/null ||
  fail "the load never got its connections open: $(cat "$E2E_DIR/load.log")"
cat "$E2E_DIR/load.log"
e2e_sleep 2 # the slow clients have sent a few bytes each; the agent is at its bound
fds=$(find "/proc/$pid/fd" -mindepth 1 | wc -l)
echo "agent's open descriptors under load: $fds"
probes=0
node_exec 1 "$PY" "$LOAD" probe 127.0.0.1 9765 /healthz /readyz --count 10 --timeout-ms 1000 ||
  probes=$?
((probes == 0)) || fail "a probe was not answered within 1 s under load"
((fds <= 700)) || fail "the agent holds $fds descriptors under load: its connections are not bounded"
kill -0 "$pid" || fail "the agent died under load"
stop_load
cat "$E2E_DIR/load.log"

echo "== a slow client is cut off 2 s after its connect, however it trickles"
start=$(_ovl_now_ms)
# shellcheck disable=SC2016 # expanded by the inner bash
node_exec 1 timeout 10 bash -c 'exec 3<>/dev/tcp/127.0.0.1/9765
  for i in $(seq 1 40); do printf "X" >&3 2>/dev/null || break; sleep 0.2; done
  cat <&3' >"$E2E_DIR/slow.out" 2>&1 || true
elapsed=$(($(_ovl_now_ms) - start))
echo "slow client: closed after ${elapsed} ms: $(head -c 60 "$E2E_DIR/slow.out")"
((elapsed < 4000)) || fail "a slow client kept its connection ${elapsed} ms (deadline 2 s)"

echo "== bounded request head, GET only, known paths only"
big=$(head -c 9000 /dev/zero | tr '\0' 'a')
out=$(http_raw "GET /healthz HTTP/1.1\r\nX-Big: $big\r\n\r\n" || true)
grep -q '^HTTP/1.1 431 ' <<<"$out" || fail "a 9 KB request head: $(head -n1 <<<"$out")"
out=$(http_raw "POST /healthz HTTP/1.1\r\nHost: x\r\n\r\n" || true)
grep -q '^HTTP/1.1 405 ' <<<"$out" || fail "POST: $(head -n1 <<<"$out")"
out=$(http_raw "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n" || true)
grep -q '^HTTP/1.1 404 ' <<<"$out" || fail "unknown path: $(head -n1 <<<"$out")"
echo "431, 405, 404 as expected"

echo "== /healthz, /readyz and /metrics after the load"
out=$(http_raw "GET /readyz HTTP/1.0\r\n\r\n")
grep -q '^HTTP/1.1 200 ' <<<"$out" || fail "/readyz after the load: $(head -n1 <<<"$out")"
grep -q '"ready":true' <<<"$out" || fail "/readyz body: $out"
out=$(http_raw "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
grep -q '^Content-Type: text/plain; version=0.0.4' <<<"$out" || fail "/metrics: $(head -n5 <<<"$out")"
grep -qE '^ovl_services(\{[^}]*\})? 0$' <<<"$out" || fail "/metrics has no ovl_services 0"
echo "PASS"
