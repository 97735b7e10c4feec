#!/usr/bin/env bash
# e2e: a 3-node overlay in network namespaces, each node running ovl-agent from the file
# datastore, 2 pods per node. Checks, in order:
#   1. all 30 ordered pod pairs connect over TCP across the overlay, and the kernel objects on
#      each node are what the agent should make (iproute2 as the witness);
#   2. kill -9 of an agent, one of its routes deleted and bogus FDB entries added while it is
#      down, restart: it converges, and a TCP stream open through that node never reconnects;
#   3. drift while the agent runs (a route deleted, an FDB entry added, the VTEP's MTU changed,
#      the VTEP deleted) is repaired within 1 s (2 s for the re-created VTEP);
#   4. a cluster file with a syntax error keeps the last good state; a bad node entry drops
#      only that node; removing a node removes its entries on every peer within 2 s;
#   5. SIGTERM leaves the overlay in place (traffic keeps flowing); --cleanup removes it.
# Usage: overlay_e2e.sh OVL_AGENT OVL_TCPPROBE
set -euo pipefail
AGENT=${1:?usage: overlay_e2e.sh OVL_AGENT OVL_TCPPROBE}
PROBE=${2:?usage: overlay_e2e.sh OVL_AGENT OVL_TCPPROBE}
source "$(dirname "$0")/lib.sh"

N=3
PODS=2
step() { printf '\n== %s\n' "$*"; }
count() { # count I CMD...: lines printed by `ip`/`bridge` CMD in node I
  local i=$1; shift
  node_exec "$i" "$@" | grep -c . || true
}
expect_count() { # expect_count WANT I CMD...
  local want=$1 got; shift
  got=$(count "$@")
  [[ $got == "$want" ]] || { echo "node $1: '${*:2}' has $got lines, expected $want" >&2; return 1; }
}
routes_to() { node_exec "$1" ip route show "$2" dev ovl.1; }

step "cluster of $N nodes x $PODS pods"
cluster_up "$N" "$PODS"
write_cluster_files "$E2E_DIR" "$N"
for i in $(seq "$N"); do agent_start "$i" "$E2E_DIR" "$AGENT"; done
for i in $(seq "$N"); do agent_wait_ready "$i" 20; done
pods_up "$N" "$PODS"

step "1. every ordered pod pair connects; kernel objects as planned"
check_all_pairs "$N" "$PODS" "$PROBE"
for i in $(seq "$N"); do
  details=$(node_exec "$i" ip -d link show ovl.1)
  for want in "vxlan id 1 local 192.168.50.$i dev eth0" "dstport 4789" "nolearning" "mtu 1450"; do
    grep -q -- "$want" <<<"$details" || fail "node $i: ovl.1 lacks '$want': $details"
  done
  grep -q "inet 10.244.$i.0/32" <<<"$(node_exec "$i" ip -4 addr show dev ovl.1)" || fail "node $i: VTEP address"
  grep -q "inet 10.244.$i.1/24" <<<"$(node_exec "$i" ip -4 addr show dev ovlbr0)" || fail "node $i: bridge address"
  expect_count 2 "$i" ip neigh show dev ovl.1 nud permanent
  expect_count 2 "$i" bridge fdb show dev ovl.1
  expect_count 2 "$i" ip route show dev ovl.1 proto 77
  for k in $(seq "$N"); do
    [[ $k == "$i" ]] && continue
    grep -q "via 10.244.$k.0 .*onlink" <<<"$(routes_to "$i" "10.244.$k.0/24")" || fail "node $i: no route to node $k"
    grep -q "dst 192.168.50.$k self permanent" <<<"$(node_exec "$i" bridge fdb show dev ovl.1)" || fail "node $i: no fdb for node $k"
  done
done
mac1=$(node_exec 1 cat /sys/class/net/ovl.1/address)

step "2. kill -9, damage while down, restart: converges, an open stream never reconnects"
# The stream runs n1p1 -> n2p1, through node 2's VTEP.
ip netns exec "$(pod_ns 2 1)" "$PROBE" serve --port 7800 >"$E2E_DIR/stream-server.log" 2>&1 &
stream_server=$!
wait_until 5 pod_exec 1 1 "$PROBE" connect "$(pod_ip 2 1)" 7800 >/dev/null
ip netns exec "$(pod_ns 1 1)" "$PROBE" stream "$(pod_ip 2 1)" 7800 --seconds 8 --status-file "$E2E_DIR/stream.count" \
  >"$E2E_DIR/stream.log" 2>&1 &
stream=$!
e2e_sleep 1
vtep2_index=$(node_exec 2 cat /sys/class/net/ovl.1/ifindex)
agent_kill 2 KILL
node_exec 2 ip route del 10.244.3.0/24 dev ovl.1
node_exec 2 bridge fdb add 02:de:ad:be:ef:01 dev ovl.1 dst 192.168.50.99 self permanent
node_exec 2 bridge fdb append 00:00:00:00:00:00 dev ovl.1 dst 192.168.50.98 self permanent
# Watch every route, neighbour and FDB change on node 2 across the restart: the new agent must
# adopt what the kernel holds, deleting nothing but the bogus entries.
ip netns exec "$(node_ns 2)" ip monitor route neigh >"$E2E_DIR/monitor.log" 2>&1 &
monitor=$!
e2e_sleep 1
agent_start 2 "$E2E_DIR" "$AGENT"
agent_wait_ready 2 10
wait_until 3 bash -c "[[ -n \$(ip -n $(node_ns 2) route show 10.244.3.0/24 dev ovl.1) ]]"
wait_until 3 bash -c "! bridge -n $(node_ns 2) fdb show dev ovl.1 | grep -q '192.168.50.9[89]'"
expect_count 2 2 bridge fdb show dev ovl.1
if ! wait "$stream"; then
  cat "$E2E_DIR/stream.log" >&2
  fail "the TCP stream through node 2 broke while its agent restarted"
fi
cat "$E2E_DIR/stream.log"
kill "$stream_server" 2>/dev/null || true
kill "$monitor" 2>/dev/null || true
wait "$monitor" 2>/dev/null || true
if grep "^Deleted" "$E2E_DIR/monitor.log" | grep -v "192.168.50.9[89]"; then
  fail "the restarted agent deleted entries it should have adopted"
fi
grep -q "^Deleted.*192.168.50.99" "$E2E_DIR/monitor.log" || fail "the monitor saw no deletion of the bogus entry"
gap=$(sed -n 's/.*max gap \([0-9]*\) ms.*/\1/p' "$E2E_DIR/stream.log")
((gap < 500)) || fail "the stream stalled for $gap ms while the agent restarted"
[[ $(node_exec 1 cat /sys/class/net/ovl.1/address) == "$mac1" ]] || fail "node 1's VTEP MAC changed"
[[ $(node_exec 2 cat /sys/class/net/ovl.1/ifindex) == "$vtep2_index" ]] ||
  fail "the restarted agent re-created its VTEP instead of adopting it"

step "3. drift repaired while the agent runs"
node_exec 1 ip route del 10.244.2.0/24 dev ovl.1
wait_until 1 bash -c "[[ -n \$(ip -n $(node_ns 1) route show 10.244.2.0/24 dev ovl.1) ]]" ||
  fail "deleted route not restored within 1 s"
node_exec 1 bridge fdb add 02:de:ad:be:ef:02 dev ovl.1 dst 192.168.50.97 self permanent
wait_until 1 bash -c "! bridge -n $(node_ns 1) fdb show dev ovl.1 | grep -q 192.168.50.97" ||
  fail "bogus FDB entry not removed within 1 s"
node_exec 1 ip neigh replace 10.244.3.0 lladdr 02:00:00:00:00:33 dev ovl.1 nud permanent
wait_until 1 bash -c "ip -n $(node_ns 1) neigh show 10.244.3.0 dev ovl.1 | grep -qv 02:00:00:00:00:33" ||
  fail "wrong neighbour not corrected within 1 s"
node_exec 1 ip link set ovl.1 mtu 1300
wait_until 1 bash -c "ip -n $(node_ns 1) link show ovl.1 | grep -q 'mtu 1450'" ||
  fail "VTEP MTU not restored within 1 s"
node_exec 1 ip link del ovl.1
wait_until 2 bash -c "[[ \$(ip -n $(node_ns 1) route show dev ovl.1 proto 77 2>/dev/null | wc -l) == 2 ]]" ||
  fail "deleted VTEP not re-created with its routes within 2 s"
check_all_pairs "$N" "$PODS" "$PROBE"

step "4. bad reloads keep the good state; a removed node goes from every peer"
cp "$E2E_DIR/cluster.yaml" "$E2E_DIR/cluster.good"
printf 'network: [unclosed\n' >"$E2E_DIR/cluster.yaml"
e2e_sleep 1
for i in $(seq "$N"); do
  expect_count 2 "$i" ip route show dev ovl.1 proto 77
  grep -q "got nothing" "${OVL_AGENT_LOG[$i]}" && fail "agent $i read the cluster file before its writer finished"
  kill -0 "${OVL_AGENT_PID[$i]}" || fail "agent $i exited on a bad reload"
  grep -qE "cluster.yaml:[0-9]+:[0-9]+: invalid YAML" "${OVL_AGENT_LOG[$i]}" || fail "agent $i did not report the syntax error with its position"
done
# A fourth node with a subnet that is not a network address: rejected, the others stay.
{ cat "$E2E_DIR/cluster.good"; printf '  - name: node4\n    underlayIP: 192.168.50.4\n    podSubnet: 10.244.4.7/24\n'; } \
  >"$E2E_DIR/cluster.tmp" && mv "$E2E_DIR/cluster.tmp" "$E2E_DIR/cluster.yaml"
wait_until 2 grep -q "nodes\[3\].podSubnet" "${OVL_AGENT_LOG[1]}"
expect_count 2 1 ip route show dev ovl.1 proto 77
# node3 leaves (written in place, the way an editor without rename saves).
awk '/name: node3/{skip=3} skip>0{skip--; next} {print}' "$E2E_DIR/cluster.good" >"$E2E_DIR/cluster.yaml"
for i in 1 2; do
  wait_until 2 bash -c "[[ -z \$(ip -n $(node_ns "$i") route show 10.244.3.0/24 dev ovl.1) ]] &&
    ! bridge -n $(node_ns "$i") fdb show dev ovl.1 | grep -q 192.168.50.3 &&
    [[ -z \$(ip -n $(node_ns "$i") neigh show 10.244.3.0 dev ovl.1) ]]" ||
    fail "node 3's entries still on node $i 2 s after it left the cluster"
done
cp "$E2E_DIR/cluster.good" "$E2E_DIR/cluster.yaml"
for i in 1 2; do
  wait_until 2 bash -c "[[ -n \$(ip -n $(node_ns "$i") route show 10.244.3.0/24 dev ovl.1) ]]"
done

step "5. SIGTERM leaves the overlay in place; --cleanup removes it"
for i in $(seq "$N"); do
  agent_kill "$i" TERM
  [[ ${OVL_AGENT_RC[$i]} == 0 ]] || fail "agent $i exited ${OVL_AGENT_RC[$i]} on SIGTERM"
done
check_all_pairs "$N" "$PODS" "$PROBE"
node_exec 1 "$AGENT" --config "$E2E_DIR/node1.yaml" --cleanup
node_exec 1 ip link show ovl.1 >/dev/null 2>&1 && fail "ovl.1 survived --cleanup"
node_exec 1 ip link show ovlbr0 >/dev/null 2>&1 && fail "ovlbr0 survived --cleanup"
node_exec 1 ip link show eth0 >/dev/null || fail "--cleanup removed the underlay"
echo "PASS"
