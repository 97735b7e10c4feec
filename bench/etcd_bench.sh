#!/usr/bin/env bash
# The etcd datastore at scale, against the file datastore holding the same cluster, in one run
# (issue 5, "Benchmark"). A 3-node netns cluster and one etcd member (in the underlay namespace)
# hold 1,000 simulated nodes (registered as agents register: lease, subnet claim, record) and
# 10,000 services of 10 endpoints each (written by `ovlctl service apply`); the peers are a
# cluster file with the same 1,003 nodes and 10,000 services, and `nft -f` of the very ruleset
# the agent programs (node1's `nft list table ip ovl`, made reloadable as
# bench/services_bench.cpp's makeReloadable does), loaded into a fresh namespace.
#  1. cold start: node1's agent after `ovl-agent --cleanup` (no VTEP, bridge or nft table) until
#     /readyz answers 200 (its first pass converged: 1,002 peers and 10,000 services in the
#     kernel, counted after each run with iproute2 and nft as witnesses: the endpoints map holds
#     services x endpoints elements at that moment, so every element was in the kernel by then);
#     the three (etcd, file, nft -f) alternate within each run, in reversed order every other run;
#  2. memory: node1's agent cold-started on etcd, then RSS_CHANGES Puts of one endpoint of one
#     service each (each waited for until its element is in node1's kernel); its peak RSS
#     (VmHWM) at readiness and at the end of the run;
#  3. one endpoint change, from the write until the kernel announces the new element on all 3
#     agents (ovl-bench-nft-watch, on the nftables notification group). The write is a Put sent
#     on an open connection (ovl-bench-etcd-put, which takes the time just before the request
#     and at etcd's answer), then, as a cross-check with an independent client, `etcdctl put`
#     timed from its launch (its own start-up included); for the file datastore, the cluster
#     file renamed into place.
# Figures: median, min, max over RUNS runs (cold start) and CHANGES changes; ratios etcd/file.
# OVL_BENCH_LOG_LEVEL=debug makes the agents log each snapshot's build time.
# Usage: etcd_bench.sh OVL_AGENT OVLCTL OVL_ETCD_CLAIM NFT_WATCH ETCD_PUT [RUNS=5] [CHANGES=20]
# Environment: NODES (simulated nodes, 1000), SERVICES (10000), ENDPOINTS (per service, 10),
# RSS_CHANGES (100); smaller sizes for a quick look, the defaults for the figures.
# AGENT_BEFORE=PATH: another build of ovl-agent (e.g. before a change), cold-started on etcd in
# the same runs (alternating with the others) and measured in 2. as well, for before/after.
set -euo pipefail
AGENT=${1:?usage: etcd_bench.sh OVL_AGENT OVLCTL OVL_ETCD_CLAIM NFT_WATCH ETCD_PUT [RUNS] [CHANGES]}
OVLCTL=${2:?}
CLAIM=${3:?}
WATCH=${4:?}
PUT=${5:?}
RUNS=${6:-5}
CHANGES=${7:-20}
NODES=${NODES:-1000}
SERVICES=${SERVICES:-10000}
ENDPOINTS=${ENDPOINTS:-10}
RSS_CHANGES=${RSS_CHANGES:-100}
((ENDPOINTS >= 2 && ENDPOINTS <= 200 && SERVICES >= 20 && SERVICES <= 60000 && RSS_CHANGES <= 250)) ||
  fail "ENDPOINTS must be 2..200, SERVICES 20..60000, RSS_CHANGES at most 250"
source "$(dirname "$0")/../tests/e2e/lib.sh"
source "$OVL_ROOT/examples/demo/etcd-cluster.sh"
step() { printf '\n== %s\n' "$*"; }
D=$E2E_DIR

# stats NAME FILE: "NAME: median X ms (min A, max B, n=N)"; sets STAT_MEDIAN.
stats() {
  local name=$1 file=$2
  read -r STAT_MEDIAN min max n < <(sort -n "$file" | awk '{v[NR]=$1} END {
    m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2; printf "%.1f %.1f %.1f %d\n", m, v[1], v[NR], NR }')
  printf '  %-44s median %8.1f ms  (min %.1f, max %.1f, n=%d)\n' "$name" "$STAT_MEDIAN" "$min" "$max" "$n"
}
ms_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f\n", (b - a) / 1000 }'; } # microseconds
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
ready() { [[ $(_ovl_http_status "$(node_ns "$1")" 127.0.0.1 9765 /readyz) == 200 ]]; }

cluster_up 3 0
etcd_up 1 "$D/etcd"
etcd_ctl put /ovl/config '{podCIDR: 10.0.0.0/8, subnetLength: 24, serviceCIDR: 172.30.0.0/16}' >/dev/null
write_etcd_agent_files "$D" 3 30
for i in 1 2 3; do echo "logLevel: ${OVL_BENCH_LOG_LEVEL:-info}" >>"$D/node$i.yaml"; done
for i in 1 2 3; do agent_start "$i" "$D" "$AGENT"; done
for i in 1 2 3; do agent_wait_ready "$i" 30; done

step "loading $NODES simulated nodes and $SERVICES services"
t=$(_ovl_now_ms)
ul_exec "$CLAIM" --endpoints "$(etcd_endpoints)" --count "$NODES" --parallel 8 --keep --ttl 3600 \
  --name-prefix sim >"$D/sim" || { tail "$D/sim"; fail "simulated nodes did not register"; }
echo "  $NODES nodes registered in $(($(_ovl_now_ms) - t)) ms"
# Endpoint j (0-based) of svc-i: 10.244.(j+1).(i%250+2).
awk -v n="$SERVICES" -v e="$ENDPOINTS" 'BEGIN { print "services:"; for (i = 1; i <= n; i++) {
  printf "  - {namespace: bench, name: svc-%d, clusterIP: 172.30.%d.%d, ports: [{port: 80, targetPort: 8080}], endpoints: [",
    i, int(i / 250), i % 250 + 1
  for (j = 0; j < e; j++) printf "%s{ip: 10.244.%d.%d}", (j ? ", " : ""), j + 1, i % 250 + 2
  print "]}" } }' >"$D/services.yaml"
t=$(_ovl_now_ms)
ul_exec "$OVLCTL" service apply -f "$D/services.yaml" --config "$D/node1.yaml" >/dev/null
echo "  $SERVICES services applied with ovlctl in $(($(_ovl_now_ms) - t)) ms"
# The same cluster as a cluster file (the peer).
{
  printf 'network: {podCIDR: 10.0.0.0/8, subnetLength: 24, serviceCIDR: 172.30.0.0/16}\nnodes:\n'
  for i in 1 2 3; do printf '  - {name: node%s, underlayIP: 192.168.50.%s, podSubnet: 10.244.%s.0/24}\n' "$i" "$i" "$i"; done
  awk '{ split($1, a, "-"); i = a[2]; printf "  - {name: %s, underlayIP: 198.18.%d.%d, podSubnet: %s}\n", $1, int(i / 256), i % 256, $2 }' "$D/sim"
  cat "$D/services.yaml"
} >"$D/cluster.yaml"
for i in 1 2 3; do
  sed -e 's/^datastore: etcd/clusterFile: cluster.yaml/' -e '/^underlayIP:/d' -e '/^etcd:/,$d' \
    -e "s#stateDir: .*#stateDir: $D/state-file-node$i#" "$D/node$i.yaml" >"$D/node$i-file.yaml"
done
peer_routes() { node_exec "$1" ip route show dev ovl.1 proto 77 | wc -l; }
all_peers() { local i; for i in 1 2 3; do [[ $(peer_routes "$i") == $((NODES + 2)) ]] || return 1; done; }
all_services() {
  local i
  for i in 1 2 3; do [[ $(node_exec "$i" nft list map ip ovl services) == *"bench/svc-$SERVICES:80"* ]] || return 1; done
}
wait_until 60 all_peers >/dev/null || fail "the agents do not route to $((NODES + 2)) peers each"
wait_until 120 all_services >/dev/null || fail "the agents do not hold the $SERVICES services"
echo "  every agent routes to $((NODES + 2)) peers and holds the $SERVICES services"

# elements_in: the element count of the endpoints map in nft's listing on stdin.
elements_in() {
  awk '/map endpoints \{/ { on = 1 } on && /elements = \{/ { el = 1 } on && el { n += gsub(/ : /, "") }
    on && /^\t}/ { on = 0; el = 0 } END { print n + 0 }'
}
# endpoint_elements NS: the element count of the endpoints map in namespace NS (nft as witness).
endpoint_elements() { ip netns exec "$1" nft list map ip ovl endpoints | elements_in; }

# The peer ruleset: what node1's agent programmed, made reloadable by nft -f (as
# bench/services_bench.cpp's makeReloadable does: nft lists the typeof maps by their types, which
# it cannot load back with a numgen key, and the nplb chains' constant as an invalid type).
# (A listing taken while the kernel's table changes can come out short: taken again until whole.)
for ((t = 0; t < 10; t++)); do
  node_exec 1 nft list table ip ovl >"$D/ruleset.nft"
  (($(elements_in <"$D/ruleset.nft") == SERVICES * ENDPOINTS)) && break
  sleep 1
done
sed -i -e 's/type ipv4_addr \. inet_proto \. inet_service \. mark : ipv4_addr \. inet_service/typeof ip daddr . meta l4proto . th dport . numgen random mod 2 : ip daddr . th dport/' \
  -e 's/dnat ip to 0x0 \[invalid type\] \. /dnat ip to ip daddr \& 0.0.0.0 . /' "$D/ruleset.nft"
NFT_NS="$RUN-nft"
ELEMENTS=$(endpoint_elements "$(node_ns 1)")
((ELEMENTS == SERVICES * ENDPOINTS)) ||
  fail "node1's endpoints map holds $ELEMENTS elements, expected $((SERVICES * ENDPOINTS))"
echo "  the peer ruleset: $(wc -l <"$D/ruleset.nft") lines, $ELEMENTS endpoint elements"

# vm_kb PID FIELD: a /proc/PID/status figure in kB.
vm_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

# cold_start_once CONFIG OUT: one cold start of node1's agent with CONFIG; its time in OUT.
cold_start_once() {
  local cfg=$1 out=$2 bin=${3:-$AGENT} t0 routes elems eps
  agent_kill 1 TERM
  node_exec 1 "$bin" --config "$D/$cfg" --cleanup >>"$D/cleanup.log" 2>&1
  node_exec 1 ip link show ovl.1 >/dev/null 2>&1 && fail "cleanup left ovl.1"
  t0=$(_ovl_now_ms)
  ip netns exec "$(node_ns 1)" "$bin" --config "$D/$cfg" </dev/null >>"$D/agent-node1.log" 2>&1 &
  OVL_AGENT_PID[1]=$!
  until ready 1; do
    kill -0 "${OVL_AGENT_PID[1]}" 2>/dev/null || fail "agent 1 died; see $D/agent-node1.log"
    sleep 0.02
  done
  echo "$(($(_ovl_now_ms) - t0))" >>"$out"
  vm_kb "${OVL_AGENT_PID[1]}" VmHWM >>"$out.hwm"
  routes=$(node_exec 1 ip route show dev ovl.1 proto 77 | wc -l)
  elems=$(node_exec 1 nft list map ip ovl services | grep -c 'comment "bench/')
  eps=$(endpoint_elements "$(node_ns 1)")
  ((routes == NODES + 2 && elems == SERVICES && eps == ELEMENTS)) ||
    fail "after a cold start with $cfg: $routes routes, $elems services and $eps endpoint elements in the kernel"
}

# nft_once OUT: `nft -f` of the peer ruleset in a fresh namespace; its time (from nft's launch
# to its exit) in OUT.
nft_once() {
  local t0 eps
  ip netns add "$NFT_NS"
  t0=$(_ovl_now_ms)
  ip netns exec "$NFT_NS" nft -f "$D/ruleset.nft" || fail "nft -f of the peer ruleset failed"
  echo "$(($(_ovl_now_ms) - t0))" >>"$1"
  eps=$(endpoint_elements "$NFT_NS")
  ip netns del "$NFT_NS"
  ((eps == ELEMENTS)) || fail "nft -f loaded $eps endpoint elements, expected $ELEMENTS"
}

step "1. cold start of node1's agent to a fully programmed kernel ($RUNS runs each, alternating)"
: >"$D/cold-etcd"
: >"$D/cold-file"
: >"$D/cold-nft"
: >"$D/cold-before"
rm -f "$D"/cold-*.hwm
before_once() { [[ -z ${AGENT_BEFORE:-} ]] || cold_start_once node1.yaml "$D/cold-before" "$AGENT_BEFORE"; }
for ((r = 1; r <= RUNS; r++)); do
  if ((r % 2)); then
    cold_start_once node1.yaml "$D/cold-etcd"
    cold_start_once node1-file.yaml "$D/cold-file"
    nft_once "$D/cold-nft"
    before_once
  else
    before_once
    nft_once "$D/cold-nft"
    cold_start_once node1-file.yaml "$D/cold-file"
    cold_start_once node1.yaml "$D/cold-etcd"
  fi
done
stats "etcd datastore (to /readyz 200)" "$D/cold-etcd"
cold_etcd=$STAT_MEDIAN
stats "file datastore (peer)" "$D/cold-file"
cold_file=$STAT_MEDIAN
stats "nft -f of the same ruleset (peer)" "$D/cold-nft"
cold_nft=$STAT_MEDIAN
echo "  every endpoint element ($ELEMENTS) was in the kernel at /readyz 200 in each run"
echo "  ratio etcd/file: $(ratio "$cold_etcd" "$cold_file")"
echo "  ratio etcd/(nft -f): $(ratio "$cold_etcd" "$cold_nft") (target <= 0.5)"
if [[ -n ${AGENT_BEFORE:-} ]]; then
  stats "etcd datastore, AGENT_BEFORE" "$D/cold-before"
  echo "  ratio etcd/(etcd, AGENT_BEFORE): $(ratio "$cold_etcd" "$STAT_MEDIAN")"
  echo "  ratio (etcd, AGENT_BEFORE)/(nft -f): $(ratio "$STAT_MEDIAN" "$cold_nft")"
fi
for f in etcd file before; do # peak RSS at /readyz 200, in MB
  [[ -s $D/cold-$f.hwm ]] || continue
  read -r m lo hi < <(sort -n "$D/cold-$f.hwm" | awk '{ v[NR] = $1 / 1024 } END {
    printf "%.1f %.1f %.1f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, v[1], v[NR] }')
  printf '  peak RSS (VmHWM) at /readyz 200, %-7s median %6.1f MB (min %.1f, max %.1f)\n' "$f:" "$m" "$lo" "$hi"
done

step "2. peak RSS of node1's agent (etcd): cold start, then $RSS_CHANGES endpoint changes"
# rss_doc K IP: svc-K with its ENDPOINTS endpoints, the last one IP.
rss_doc() {
  local k=$1 j eps=""
  for ((j = 0; j < ENDPOINTS - 1; j++)); do eps+="{ip: 10.244.$((j + 1)).$((k % 250 + 2))}, "; done
  printf '{namespace: bench, name: svc-%d, clusterIP: 172.30.%d.%d, ports: [{port: 80, targetPort: 8080}], endpoints: [%s{ip: %s}]}' \
    "$k" "$((k / 250))" "$((k % 250 + 1))" "$eps" "$2"
}
# rss_run BIN LABEL NET: node1's agent BIN cold-started on etcd, then RSS_CHANGES changes (the
# new endpoints in NET.0/24); prints its peak RSS at readiness and at the end.
rss_run() {
  local bin=$1 label=$2 net=$3 k ip svc hwm_ready hwm_end rss_end
  agent_kill 1 TERM
  node_exec 1 "$bin" --config "$D/node1.yaml" --cleanup >>"$D/cleanup.log" 2>&1
  agent_start 1 "$D" "$bin"
  agent_wait_ready 1 120
  hwm_ready=$(vm_kb "${OVL_AGENT_PID[1]}" VmHWM)
  ip netns exec "$(node_ns 1)" "$WATCH" "$net" >"$D/mon-rss" 2>&1 &
  RSS_MONITOR=$!
  wait_until 10 grep -q watching "$D/mon-rss" >/dev/null || fail "the element watcher did not start"
  coproc RSSPUT { ul_exec "$PUT" "$(etcd_endpoints)" 2>"$D/put-rss.err"; }
  for ((k = 1; k <= RSS_CHANGES; k++)); do
    ip=$net.$k
    svc=$((k * (SERVICES / RSS_CHANGES)))
    printf '%s\t%s\n' "/ovl/services/bench/svc-$svc" "$(rss_doc "$svc" "$ip")" >&"${RSSPUT[1]}"
    read -r -t 10 _ _ <&"${RSSPUT[0]}" || fail "the Put of change $k failed: $(cat "$D/put-rss.err")"
    wait_until 20 grep -q " $ip\$" "$D/mon-rss" >/dev/null || fail "change $k not in node1's kernel"
  done
  exec {RSSPUT[1]}>&-
  wait "$RSSPUT_PID" 2>/dev/null || true
  kill "$RSS_MONITOR" 2>/dev/null || true
  wait "$RSS_MONITOR" 2>/dev/null || true
  hwm_end=$(vm_kb "${OVL_AGENT_PID[1]}" VmHWM)
  rss_end=$(vm_kb "${OVL_AGENT_PID[1]}" VmRSS)
  printf '  %s: peak RSS (VmHWM) at /readyz 200: %.1f MB; after %d changes: %.1f MB (VmRSS now %.1f MB; target < 100 MB)\n' \
    "$label" "$(awk -v k="$hwm_ready" 'BEGIN { print k / 1024 }')" "$RSS_CHANGES" \
    "$(awk -v k="$hwm_end" 'BEGIN { print k / 1024 }')" "$(awk -v k="$rss_end" 'BEGIN { print k / 1024 }')"
}
[[ -z ${AGENT_BEFORE:-} ]] || rss_run "$AGENT_BEFORE" "AGENT_BEFORE" 10.250.2
rss_run "$AGENT" "ovl-agent" 10.250.1

# monitors_start A.B.C: a watcher on each node, its lines ("US IP") in $D/mon-$i.
monitors_start() {
  local i
  MONITORS=()
  for i in 1 2 3; do
    ip netns exec "$(node_ns "$i")" "$WATCH" "$1" >"$D/mon-$i" 2>&1 &
    MONITORS+=($!)
  done
  monitors_live() { local i; for i in 1 2 3; do grep -q watching "$D/mon-$i" || return 1; done; }
  wait_until 10 monitors_live >/dev/null || fail "the element watchers did not start"
}
monitors_stop() {
  kill "${MONITORS[@]}" 2>/dev/null || true
  wait "${MONITORS[@]}" 2>/dev/null || true
}
# seen_us IP: the latest first sighting (us) of IP across the 3 watchers.
seen_us() {
  local i t latest=0
  for i in 1 2 3; do
    t=$(grep -m1 " $1\$" "$D/mon-$i" | cut -d' ' -f1) || return 1
    [[ -n $t ]] || return 1
    ((t > latest)) && latest=$t
  done
  echo "$latest"
}

step "3. one endpoint change until it is in the nft table of all 3 agents ($CHANGES changes each)"
monitors_start 10.244.3
service_doc() { rss_doc "$@"; } # K IP: svc-K with its last endpoint IP
coproc PUTTER { ul_exec "$PUT" "$(etcd_endpoints)" 2>"$D/put.err"; }
: >"$D/change-etcd"
: >"$D/change-etcd-ack"
for ((k = 1; k <= CHANGES; k++)); do
  ip=10.244.3.$((100 + k))
  printf '%s\t%s\n' "/ovl/services/bench/svc-$k" "$(service_doc "$k" "$ip")" >&"${PUTTER[1]}"
  read -r -t 10 t0 t1 <&"${PUTTER[0]}" || fail "the Put of change $k failed: $(cat "$D/put.err")"
  wait_until 10 seen_us "$ip" >/dev/null || fail "change $k not seen on every node"
  seen=$(seen_us "$ip")
  ms_between "$t0" "$seen" >>"$D/change-etcd"
  ms_between "$t1" "$seen" >>"$D/change-etcd-ack"
done
exec {PUTTER[1]}>&-
wait "$PUTTER_PID" 2>/dev/null || true
: >"$D/change-etcdctl"
for ((k = 1; k <= CHANGES; k++)); do
  ip=10.244.3.$((150 + k))
  t0=${EPOCHREALTIME/./}
  etcd_ctl put "/ovl/services/bench/svc-$k" "$(service_doc "$k" "$ip")" >/dev/null
  wait_until 10 seen_us "$ip" >/dev/null || fail "change $k (etcdctl) not seen on every node"
  seen=$(seen_us "$ip")
  echo "$(((seen - t0) / 1000))" >>"$D/change-etcdctl"
done
monitors_stop

for i in 1 2 3; do agent_kill "$i" TERM; done
for i in 1 2 3; do
  ip netns exec "$(node_ns "$i")" "$AGENT" --config "$D/node$i-file.yaml" </dev/null >>"$D/agent-node$i-file.log" 2>&1 &
  OVL_AGENT_PID[$i]=$!
done
for i in 1 2 3; do wait_until 60 ready "$i" >/dev/null || fail "agent $i not ready on the file datastore"; done
monitors_start 10.244.2
: >"$D/change-file"
for ((k = 1; k <= CHANGES; k++)); do
  ip=10.244.2.$((100 + k))
  sed "/name: svc-$k,/ s/{ip: [0-9.]*}\]}\$/{ip: $ip}]}/" "$D/cluster.yaml" >"$D/cluster.next"
  t0=${EPOCHREALTIME/./}
  mv "$D/cluster.next" "$D/cluster.yaml"
  wait_until 60 seen_us "$ip" >/dev/null || fail "file change $k not seen on every node"
  seen=$(seen_us "$ip")
  echo "$(((seen - t0) / 1000))" >>"$D/change-file"
done
monitors_stop
stats "etcd datastore, from the Put request" "$D/change-etcd"
change_etcd=$STAT_MEDIAN
stats "etcd datastore, from the Put's acknowledgement" "$D/change-etcd-ack"
stats "etcd datastore, from launching etcdctl put" "$D/change-etcdctl"
stats "file datastore (peer), from the rename" "$D/change-file"
echo "  ratio etcd/file: $(ratio "$change_etcd" "$STAT_MEDIAN")"
echo "targets: cold start <= 3000 ms (etcd median $cold_etcd ms); change <= 100 ms median (etcd $change_etcd ms)"
