#!/usr/bin/env bash
# e2e: the VXLAN allow-list (issue 13). A 2-node cluster from the file datastore, one pod per
# node, a third node namespace on the underlay that is not (yet) in the cluster, and a stranger
# namespace on the underlay (192.168.50.100). Crafted VXLAN (scapy: the cluster's VNI, an inner
# frame to node1's VTEP MAC, inner UDP to a listener in pod n1p1) with forged inner sources
# (node2's pod, an unused pod address, the stranger's own address). Checks, in order:
#   1. pod-to-pod TCP works across the overlay;
#   2. from the stranger: the pod receives none of it, and the kernel counter, the agent's
#      ovl_vxlan_dropped_packets_total and `ovlctl diagnose` (text and JSON) grow by the number
#      sent; cluster pod-to-pod traffic still works;
#   3. negative control: the same packets with node2's underlay address forged as the outer
#      source ARE delivered (which also shows what the allow-list does not stop: a host on the
#      same link forging a node's address);
#   4. node3 added to the cluster file: its VXLAN is accepted within a second; removed: refused
#      within a second.
# node1's rp_filter is turned off first, so that every forged inner source would be routed to
# the pod (the situation the issue reported): the allow-list alone has to stop them.
# Usage: vxlan_allow_e2e.sh OVL_AGENT OVL_TCPPROBE OVLCTL
set -euo pipefail
AGENT=${1:?usage: vxlan_allow_e2e.sh OVL_AGENT OVL_TCPPROBE OVLCTL}
PROBE=${2:?usage: vxlan_allow_e2e.sh OVL_AGENT OVL_TCPPROBE OVLCTL}
OVLCTL=${3:?usage: vxlan_allow_e2e.sh OVL_AGENT OVL_TCPPROBE OVLCTL}
source "$(dirname "$0")/lib.sh"

# Debian's python3, where python3-scapy is installed (not a python3 first in PATH).
PY=${OVL_PYTHON:-/usr/bin/python3}
"$PY" -c 'import scapy.all' 2>/dev/null || {
  [[ -n ${CI:-} ]] && fail "python3-scapy is missing (scripts/install-deps.sh installs it)"
  echo "SKIP: python3-scapy is missing"
  exit 77
}

step() { printf '\n== %s\n' "$*"; }
now_ms() { date +%s%3N; }
LISTEN_PORT=9999
STRANGER=192.168.50.100

# The sender: VXLAN to DST with outer source OUTER, an inner frame from SMAC to MAC, one datagram
# per inner source, COUNT rounds every INTERVAL seconds; the inner payload says the inner source
# and the round. SMAC is a node's VTEP MAC, as a forger would copy it (the kernel delivers the
# frame with any source MAC: ovl turns learning off and nothing checks it).
cat >"$E2E_DIR/send.py" <<'PY'
import sys, time
from scapy.all import IP, UDP, Ether, Raw, conf
outer, dst, mac, smac, vni, count, interval = sys.argv[1:8]
inner_dst, port, sources = sys.argv[8], int(sys.argv[9]), sys.argv[10:]
# The VXLAN header by hand (flags: VNI present; the VNI; reserved bytes zero): scapy's VXLAN layer
# marks an Ethernet payload as VXLAN-GPE, which the kernel drops as reserved bits set.
vxlan = bytes([0x08, 0, 0, 0]) + int(vni).to_bytes(3, "big") + bytes([0])
sock = conf.L3socket()
for n in range(int(count)):
    for src in sources:
        sock.send(IP(src=outer, dst=dst) / UDP(sport=40000, dport=4789) /
                  Raw(vxlan) / Ether(src=smac, dst=mac) /
                  IP(src=src, dst=inner_dst, ttl=64) / UDP(sport=1234, dport=port) /
                  Raw(f"{src} {n}".encode()))
    if n + 1 < int(count):
        time.sleep(float(interval))
PY
# The listener in the pod: one line per datagram, "<ms since epoch> <inner source> <payload>".
cat >"$E2E_DIR/listen.py" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        data, (src, _) = s.recvfrom(2048)
        out.write(f"{int(time.time() * 1000)} {src} {data.decode(errors='replace')}\n")
PY

step "cluster: node1, node2 in the cluster file; node3 and a stranger on the underlay"
cluster_up 3 1
write_cluster_files "$E2E_DIR" 3
awk '/name: node3/{skip=3} skip>0{skip--; next} {print}' "$E2E_DIR/cluster.yaml" >"$E2E_DIR/cluster2.yaml"
# node3 runs no agent: its VTEP MAC is fixed here, so that its crafted frames can carry it.
MAC3=02:00:00:00:03:03
sed "s|podSubnet: 10.244.3.0/24|&\n    vtepMAC: $MAC3|" "$E2E_DIR/cluster.yaml" >"$E2E_DIR/cluster3.yaml"
grep -q "vtepMAC: $MAC3" "$E2E_DIR/cluster3.yaml" || fail "cluster3.yaml: no vtepMAC for node3"
cp "$E2E_DIR/cluster2.yaml" "$E2E_DIR/cluster.yaml"
for i in 1 2; do agent_start "$i" "$E2E_DIR" "$AGENT"; done
for i in 1 2; do agent_wait_ready "$i" 20; done
pod_add 1 1
pod_add 2 1
stranger="$RUN-x"
_ovl_ns_add "$stranger"
ip -n "$stranger" link add eth0 type veth peer name x0 netns "$(ul_ns)"
ip -n "$(ul_ns)" link set x0 master br0 up
ip -n "$stranger" addr add "$STRANGER/24" dev eth0
ip -n "$stranger" link set eth0 up
for k in all default eth0 ovl/1 ovlbr0; do node_exec 1 sysctl -qw "net.ipv4.conf.$k.rp_filter=0"; done
mac1=$(node_exec 1 cat /sys/class/net/ovl.1/address)
mac2=$(node_exec 2 cat /sys/class/net/ovl.1/address)
pod_exec 1 1 "$PY" "$E2E_DIR/listen.py" "$LISTEN_PORT" "$E2E_DIR/received.log" &
listener=$!
received() { grep -c . "$E2E_DIR/received.log" 2>/dev/null || true; }
wait_until 5 bash -c "ip netns exec $(pod_ns 1 1) ss -Hlun 'sport = :$LISTEN_PORT' | grep -q ." >/dev/null ||
  fail "the listener in pod n1p1 did not start"
# send NS OUTER SMAC COUNT INTERVAL SOURCES...: crafted VXLAN from namespace NS to node1.
send() {
  local ns=$1 outer=$2 smac=$3 count=$4 interval=$5
  shift 5
  ip netns exec "$ns" "$PY" "$E2E_DIR/send.py" "$outer" "$(node_ip 1)" "$mac1" "$smac" 1 \
    "$count" "$interval" "$(pod_ip 1 1)" "$LISTEN_PORT" "$@"
}
kernel_dropped() {
  node_exec 1 nft list chain ip ovl vxlan_input |
    sed -n 's/.*ip saddr != @vxlan_peers counter packets \([0-9]*\) bytes.*/\1/p'
}
FORGED=("$(pod_ip 2 1)" 10.244.200.5 "$STRANGER")

step "1. pod-to-pod TCP across the overlay"
check_all_pairs 2 1 "$PROBE"
node_exec 1 nft list chain ip ovl vxlan_input
node_exec 1 nft list set ip ovl vxlan_peers

step "2. the stranger's crafted VXLAN: none received, all counted"
before=$(kernel_dropped)
metric_before=$(agent_metric 1 ovl_vxlan_dropped_packets_total)
[[ -n $before && -n $metric_before ]] || fail "no counter to read (kernel '$before', metric '$metric_before')"
send "$stranger" "$STRANGER" "$mac2" 2 0.05 "${FORGED[@]}"
sent=$((2 * ${#FORGED[@]}))
e2e_sleep 1
[[ $(received) == 0 ]] || fail "the pod received the stranger's packets: $(cat "$E2E_DIR/received.log")"
after=$(kernel_dropped)
((after - before == sent)) || fail "kernel counter grew by $((after - before)), expected $sent"
echo "kernel counter: $before -> $after ($sent sent)"
metric_grown() { (($(agent_metric 1 ovl_vxlan_dropped_packets_total) - metric_before == sent)); }
wait_until 3 metric_grown >/dev/null ||
  fail "ovl_vxlan_dropped_packets_total: $(agent_metric 1 ovl_vxlan_dropped_packets_total), expected $((metric_before + sent))"
echo "metric ovl_vxlan_dropped_packets_total: $metric_before -> $((metric_before + sent))"
node_exec 1 "$OVLCTL" diagnose --config "$E2E_DIR/node1.yaml" >"$E2E_DIR/diag.txt" || true
grep -F "$after VXLAN packets from non-cluster sources dropped" "$E2E_DIR/diag.txt" ||
  { cat "$E2E_DIR/diag.txt"; fail "ovlctl diagnose has no line for the $after dropped packets"; }
node_exec 1 "$OVLCTL" diagnose --config "$E2E_DIR/node1.yaml" -o json >"$E2E_DIR/diag.json" || true
jq -e --arg t "$after VXLAN packets from non-cluster sources dropped" \
  '.findings[] | select(.check == "vxlan_allow" and .severity == "info" and .title == $t)' \
  "$E2E_DIR/diag.json" >/dev/null || { cat "$E2E_DIR/diag.json"; fail "no vxlan_allow finding in the JSON"; }
"$PY" -c 'import json, sys, jsonschema
jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))' \
  "$E2E_DIR/diag.json" "$OVL_ROOT/docs/diagnose-json.schema.json" || fail "diagnose JSON does not match its schema"
check_all_pairs 2 1 "$PROBE"

step "3. negative control: the same packets with node2's underlay address forged are delivered"
send "$stranger" "$(node_ip 2)" "$mac2" 1 0 "${FORGED[@]}"
got_all() { (($(received) >= ${#FORGED[@]})); }
wait_until 2 got_all >/dev/null || fail "the control was not delivered: $(cat "$E2E_DIR/received.log")"
for src in "${FORGED[@]}"; do
  grep -q " $src $src 0\$" "$E2E_DIR/received.log" || fail "control from inner $src missing: $(cat "$E2E_DIR/received.log")"
done
((after == $(kernel_dropped))) || fail "the control was counted as dropped"
echo "control delivered to the pod: ${FORGED[*]} (outer source $(node_ip 2) forged: not stopped by the allow-list)"
: >"$E2E_DIR/received.log"

step "4. node3 added: accepted within a second; removed: refused within a second"
# node3 (not running an agent) sends every 50 ms for 8 s, inner source its own pod address.
send "$(node_ns 3)" "$(node_ip 3)" "$MAC3" 160 0.05 10.244.3.11 &
sender=$!
e2e_sleep 1
[[ $(received) == 0 ]] || fail "node3's VXLAN was accepted before it joined"
added=$(now_ms)
cp "$E2E_DIR/cluster3.yaml" "$E2E_DIR/cluster.tmp" && mv "$E2E_DIR/cluster.tmp" "$E2E_DIR/cluster.yaml"
got_one() { (($(received) > 0)); }
wait_until 3 got_one >/dev/null || fail "node3's VXLAN never arrived after it was added"
first=$(awk 'NR == 1 { print $1 }' "$E2E_DIR/received.log")
echo "node3 added: first packet $((first - added)) ms later"
((first - added <= 1000)) || fail "node3 allowed after $((first - added)) ms (more than a second)"
e2e_sleep 1
counted=$(kernel_dropped)
removed=$(now_ms)
cp "$E2E_DIR/cluster2.yaml" "$E2E_DIR/cluster.tmp" && mv "$E2E_DIR/cluster.tmp" "$E2E_DIR/cluster.yaml"
e2e_sleep 2
last=$(awk 'END { print $1 }' "$E2E_DIR/received.log")
echo "node3 removed: last packet $((last - removed)) ms later"
((last - removed <= 1000)) || fail "node3 still accepted $((last - removed)) ms after its removal"
wait "$sender" || fail "the sender failed"
dropped_after_removal=$(($(kernel_dropped) - counted))
((dropped_after_removal > 0)) || fail "node3's packets after its removal were not counted"
echo "node3's packets dropped by the allow-list after its removal: $dropped_after_removal"
check_all_pairs 2 1 "$PROBE"
kill "$listener" 2>/dev/null || true
echo "PASS"
