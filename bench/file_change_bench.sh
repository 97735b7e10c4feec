#!/usr/bin/env bash
# One service changed in a large cluster file against the same change in a small one, end to end,
# in one run: two agents on the file datastore, each in its own network namespace, one holding
# SERVICES (10,000) services x 10 endpoints, the other SMALL (100). Each change rewrites one
# endpoint of a service in the middle of the file (a new file renamed onto the cluster file, as
# editors and ConfigMap updates do); the timer runs from just before the rename to the new
# endpoint's element reaching the kernel, seen by an independent nftables notification watcher
# (ovl-bench-nft-watch) in that agent's namespace. The changes alternate between the two agents.
# Figures: median, min, max over CHANGES changes each; the ratio large/small (target <= 1.5).
# The agents log at debug level (OVL_BENCH_LOG_LEVEL) each change's revision, how many services it
# changed and how long the read took: the logs are printed at the end.
# Usage: file_change_bench.sh OVL_AGENT NFT_WATCH [CHANGES=10] [SERVICES=10000] [SMALL=100]
set -euo pipefail
AGENT=${1:?usage: file_change_bench.sh OVL_AGENT NFT_WATCH [CHANGES] [SERVICES] [SMALL]}
WATCH=${2:?}
CHANGES=${3:-10}
SERVICES=${4:-10000}
SMALL=${5:-100}
source "$(dirname "$0")/../tests/e2e/lib.sh"
D=$E2E_DIR

stats() { # NAME FILE: "NAME: median X ms (min A, max B, n=N)"; sets STAT_MEDIAN
  local name=$1 file=$2 min max n
  read -r STAT_MEDIAN min max n < <(sort -n "$file" | awk '{v[NR]=$1} END {
    m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2; printf "%.1f %.1f %.1f %d\n", m, v[1], v[NR], NR }')
  printf '  %-40s median %8.1f ms  (min %.1f, max %.1f, n=%d)\n' "$name" "$STAT_MEDIAN" "$min" "$max" "$n"
}

# write_cluster DIR NODE COUNT: DIR/cluster.yaml with COUNT services x 10 endpoints (block
# layout, as people and tools write it) and DIR/agent.yaml for node NODE.
write_cluster() {
  local dir=$1 node=$2 count=$3
  mkdir -p "$dir"
  printf 'nodeName: node%s\nclusterFile: cluster.yaml\nunderlayInterface: eth0\n' "$node" >"$dir/agent.yaml"
  printf 'healthAddress: %s\nstateDir: %s/state\nlogLevel: %s\n' "$OVL_HEALTH_ADDR" "$dir" \
    "${OVL_BENCH_LOG_LEVEL:-debug}" >>"$dir/agent.yaml"
  {
    printf 'network:\n  podCIDR: 10.244.0.0/16\n  serviceCIDR: 10.96.0.0/12\nnodes:\n'
    printf '  - name: node%s\n    underlayIP: %s\n    podSubnet: 10.244.%s.0/24\n' "$node" "$(node_ip "$node")" "$node"
    awk -v n="$count" 'BEGIN { print "services:"; for (k = 0; k < n; k++) {
      printf "  - namespace: bench\n    name: svc-%d\n    clusterIP: 10.96.%d.%d\n", k, int(k / 250), k % 250 + 1
      printf "    ports:\n      - name: http\n        port: 80\n        targetPort: 8080\n    endpoints:\n"
      for (j = 0; j < 10; j++) printf "      - ip: 10.244.%d.%d\n", 100 + j, k % 250 + 1 } }'
  } >"$dir/cluster.yaml"
}

# change DIR COUNT K IP: the cluster file with svc-(COUNT/2)'s first endpoint set to IP, renamed
# into place; prints the microseconds just before the rename.
change() {
  local dir=$1 target=$(($2 / 2)) ip=$4
  awk -v name="    name: svc-$target" -v ip="$ip" '
    $0 == name { hit = 1 } hit && /^      - ip: / { print "      - ip: " ip; hit = 0; next } { print }' \
    "$dir/cluster.yaml" >"$dir/cluster.next"
  local t0=${EPOCHREALTIME/./}
  mv "$dir/cluster.next" "$dir/cluster.yaml"
  echo "$t0"
}

cluster_up 2 0
write_cluster "$D/large" 1 "$SERVICES"
write_cluster "$D/small" 2 "$SMALL"
ip netns exec "$(node_ns 1)" "$AGENT" --config "$D/large/agent.yaml" </dev/null >"$D/agent-large.log" 2>&1 &
OVL_AGENT_PID[1]=$!
OVL_AGENT_LOG[1]=$D/agent-large.log
ip netns exec "$(node_ns 2)" "$AGENT" --config "$D/small/agent.yaml" </dev/null >"$D/agent-small.log" 2>&1 &
OVL_AGENT_PID[2]=$!
OVL_AGENT_LOG[2]=$D/agent-small.log
ready() { [[ $(_ovl_http_status "$(node_ns "$1")" 127.0.0.1 9765 /readyz) == 200 ]]; }
wait_until 300 ready 1 >/dev/null || fail "the agent with $SERVICES services is not ready"
wait_until 60 ready 2 >/dev/null || fail "the agent with $SMALL services is not ready"

ip netns exec "$(node_ns 1)" "$WATCH" 10.244.3 >"$D/mon-large" 2>&1 &
WATCHERS=($!)
ip netns exec "$(node_ns 2)" "$WATCH" 10.244.3 >"$D/mon-small" 2>&1 &
WATCHERS+=($!)
live() { grep -q watching "$D/mon-large" && grep -q watching "$D/mon-small"; }
wait_until 10 live >/dev/null || fail "the element watchers did not start"
seen_us() { # FILE IP
  local t
  t=$(grep -m1 " $2\$" "$1" | cut -d' ' -f1) && [[ -n $t ]] && echo "$t"
}

: >"$D/large.ms"
: >"$D/small.ms"
for ((k = 1; k <= CHANGES; k++)); do
  ip=10.244.3.$((k % 250 + 1))
  # Alternate which goes first, so that neither always follows the other's work.
  if ((k % 2)); then order="large small"; else order="small large"; fi
  for which in $order; do
    count=$SERVICES
    [[ $which == small ]] && count=$SMALL
    t0=$(change "$D/$which" "$count" "$k" "$ip")
    wait_until 60 seen_us "$D/mon-$which" "$ip" >/dev/null || fail "change $k not seen ($which)"
    seen=$(seen_us "$D/mon-$which" "$ip")
    awk -v a="$t0" -v b="$seen" 'BEGIN { printf "%.1f\n", (b - a) / 1000 }' >>"$D/$which.ms"
  done
done
kill "${WATCHERS[@]}" 2>/dev/null || true
wait "${WATCHERS[@]}" 2>/dev/null || true

printf '\n== one endpoint changed, from the rename to the element in the kernel (load: %s)\n' \
  "$(cut -d' ' -f1-3 /proc/loadavg)"
stats "$SERVICES services" "$D/large.ms"
large=$STAT_MEDIAN
stats "$SMALL services" "$D/small.ms"
printf '  ratio %s/%s: %s (target <= 1.5)\n' "$SERVICES" "$SMALL" \
  "$(awk -v a="$large" -v b="$STAT_MEDIAN" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
printf '  memory of the agents after the changes (the last text and each entry as read are kept):\n'
for which in 1:large 2:small; do
  printf '    %-6s %s, %s\n' "${which#*:}" "$(grep VmRSS "/proc/${OVL_AGENT_PID[${which%%:*}]}/status" | tr -s ' \t' ' ')" \
    "$(grep VmHWM "/proc/${OVL_AGENT_PID[${which%%:*}]}/status" | tr -s ' \t' ' ')"
done
printf '\n== where the time goes (the agents at debug level)\n'
grep -hE 'service\(s\) changed|read whole' "$D/agent-large.log" | tail -n 3 | sed 's/^/  large: /'
grep -hE 'service\(s\) changed|read whole' "$D/agent-small.log" | tail -n 3 | sed 's/^/  small: /'
