#!/usr/bin/env bash
# e2e: the etcd datastore on a 3-node cluster with a 3-member etcd cluster (started here, in the
# underlay namespace, and killed at the end). Checks:
#   1. the agents register, each claims its previous subnet (kept in its state directory), pods
#      reach each other; 50 nodes registering at once (a load generator claiming exactly as an
#      agent does) get 50 distinct subnets; an exhausted pool is a clear error;
#   2. `ovlctl service apply/list/delete`, `ovlctl node list` and `ovlctl network show/apply`
#      against etcd (an invalid file, or network settings that would reject a stored service, is
#      refused with file:line and nothing written); garbage in etcd is reported with its key
#      and skipped; every other object is programmed;
#   3. one etcd member killed: the agents carry on (a change still reaches every node, they stay
#      ready, a TCP stream between pods never pauses);
#   4. an agent killed without cleanup: its lease expires and the other nodes remove its route
#      within TTL + 2 s; restarted, it re-registers with the same subnet;
#   5. a node cut off from etcd while services change and the store is compacted: its watch
#      resumes, finds the revision compacted, lists again, and converges to exactly the state the
#      other nodes have;
#   6. every member stopped for 30 s: pod and service traffic keep flowing (the service's client
#      is one of its own endpoints, listed without its node, and lands on itself too: hairpin),
#      the agents report not ready, and converge once etcd is back.
# Usage: etcd_e2e.sh OVL_AGENT OVL_TCPPROBE OVL_ETCD_CLAIM OVLCTL
set -euo pipefail
usage="usage: etcd_e2e.sh OVL_AGENT OVL_TCPPROBE OVL_ETCD_CLAIM OVLCTL"
AGENT=${1:?$usage}
PROBE=${2:?$usage}
CLAIM=${3:?$usage}
OVLCTL=${4:?$usage}
source "$(dirname "$0")/lib.sh"
source "$OVL_ROOT/examples/demo/etcd-cluster.sh"
step() { printf '\n== %s\n' "$*"; }
TTL=4

# svc NAME IP ENDPOINT_IPS...: a service value, as `ovlctl service apply` stores it (YAML).
svc() {
  local name=$1 ip=$2 eps="" e
  shift 2
  for e in "$@"; do eps+="${eps:+, }{ip: $e}"; done
  printf '{namespace: default, name: %s, clusterIP: %s, ports: [{port: 80, targetPort: 8080}], endpoints: [%s]}' \
    "$name" "$ip" "$eps"
}
# nat_state I: the comments of node I's service and endpoint map elements, sorted: what its nft
# table says the services are.
nat_state() {
  { node_exec "$1" nft list map ip ovl services; node_exec "$1" nft list map ip ovl endpoints; } |
    grep -o 'comment "[^"]*"' | sort
}
ready_code() { _ovl_http_status "$(node_ns "$1")" 127.0.0.1 9765 /readyz; }
all_ready() { local i; for i in 1 2 3; do [[ $(ready_code "$i") == 200 ]] || return 1; done; }
has_route() { [[ -n $(node_exec "$1" ip route show "$2" dev ovl.1) ]]; }
no_route() { ! has_route "$@"; }
# in_map I MAP TEXT: node I's nft map MAP mentions TEXT.
in_map() { [[ $(node_exec "$1" nft list map ip ovl "$2") == *"$3"* ]]; }
same_nat() { [[ $(nat_state "$1") == "$(nat_state "$2")" ]]; }
ready_is() { [[ $(ready_code "$1") == "$2" ]]; }

cluster_up 3 0
etcd_up 3 "$E2E_DIR/etcd"
etcd_ctl put /ovl/config '{podCIDR: 10.244.0.0/16, subnetLength: 24, serviceCIDR: 10.96.0.0/12}' >/dev/null
write_etcd_agent_files "$E2E_DIR" 3 "$TTL"

step "1. registration: the previous subnets, pod traffic, 50 concurrent claims, an exhausted pool"
for i in 1 2 3; do agent_start "$i" "$E2E_DIR" "$AGENT"; done
for i in 1 2 3; do agent_wait_ready "$i" 20; done
pods_up 3 2
etcd_ctl get --prefix /ovl/subnets/ | paste - - | tee "$E2E_DIR/subnets"
for i in 1 2 3; do
  grep -q "^/ovl/subnets/10.244.$i.0-24	node$i$" "$E2E_DIR/subnets" || fail "node$i did not claim 10.244.$i.0/24"
done
check_all_pairs 3 2 "$PROBE"
ul_exec "$CLAIM" --endpoints "$(etcd_endpoints)" --count 50 >"$E2E_DIR/claims" ||
  { cat "$E2E_DIR/claims" >&2; fail "a concurrent claim failed"; }
distinct=$( (awk '{print $2}' "$E2E_DIR/claims"; printf '10.244.%s.0/24\n' 1 2 3) | sort -u | wc -l)
echo "50 concurrent claims: $(wc -l <"$E2E_DIR/claims") answers, $distinct distinct subnets with the 3 nodes'"
((distinct == 53)) || fail "concurrent claims gave $distinct distinct subnets, expected 53"
[[ -z $(etcd_ctl get --prefix /ovl/nodes/load- --keys-only) ]] || fail "the load's records outlived their revoked leases"
etcd_ctl put /small/config '{podCIDR: 10.250.0.0/29, subnetLength: 30}' >/dev/null
rc=0
ul_exec "$CLAIM" --endpoints "$(etcd_endpoints)" --prefix /small --count 3 >"$E2E_DIR/small" || rc=$?
cat "$E2E_DIR/small"
[[ $rc != 0 ]] && [[ $(grep -c ' 10.250.0.[04]/30$' "$E2E_DIR/small") == 2 ]] &&
  grep -q 'error: no free /30 left in network.podCIDR 10.250.0.0/29: all 2 subnets are claimed' "$E2E_DIR/small" ||
  fail "an exhausted pool did not give 2 claims and one clear error"

step "2. ovlctl against etcd; garbage in etcd is reported by key and skipped"
ctl() { ul_exec "$OVLCTL" "$@" --config "$E2E_DIR/node1.yaml"; }
printf 'services:\n  - %s\n  - %s\n' "$(svc web 10.96.0.10 10.244.1.11 10.244.2.11)" \
  "$(svc other 10.96.0.30 10.244.3.11)" >"$E2E_DIR/services.yaml"
ctl service apply -f "$E2E_DIR/services.yaml" | tee "$E2E_DIR/apply.out"
grep -q 'service default/web created' "$E2E_DIR/apply.out" || fail "ovlctl service apply did not create web"
[[ $(ctl service apply -f "$E2E_DIR/services.yaml") == *"default/web unchanged"* ]] || fail "a second apply changed web"
printf 'services:\n  - %s\n' "$(svc clash 10.96.0.10 10.244.1.11)" >"$E2E_DIR/clash.yaml"
rc=0
out=$(ctl service apply -f "$E2E_DIR/clash.yaml" 2>&1) || rc=$?
echo "$out"
[[ $rc == 2 && $out == *"clash.yaml:2:"*"10.96.0.10:80/tcp"*"already used by service 'default/web'"* ]] ||
  fail "a service clashing with a stored one was not refused with its file position"
[[ -z $(etcd_ctl get /ovl/services/default/clash) ]] || fail "a refused apply wrote something"
ctl service list | tee "$E2E_DIR/list.out"
grep -qE '^default +web +ClusterIP +10.96.0.10 .*10.244.1.11,10.244.2.11' "$E2E_DIR/list.out" || fail "service list lacks web"
ctl node list -o json | tee "$E2E_DIR/nodes.json" | head -n 9
for i in 1 2 3; do
  grep -q "\"podSubnet\": \"10.244.$i.0/24\"" "$E2E_DIR/nodes.json" || fail "node list lacks node$i's subnet"
done
[[ $(grep -c '"ready": true' "$E2E_DIR/nodes.json") == 3 ]] || fail "node list does not show 3 ready nodes"
ctl node list
[[ $(ctl service delete other) == "service default/other deleted" ]] || fail "service delete failed"
# The network settings: checked alone, then the stored nodes and services against them.
ctl network show | tee "$E2E_DIR/network.out"
grep -qE '10.244.0.0/16 +24 +10.96.0.0/12 +1 +4789 +auto +off-cluster' "$E2E_DIR/network.out" ||
  fail "network show does not show the stored settings"
stored_config=$(etcd_ctl get /ovl/config --print-value-only)
printf 'podCIDR: 10.244.0.0/33\n' >"$E2E_DIR/bad-network.yaml"
rc=0
out=$(ctl network apply -f "$E2E_DIR/bad-network.yaml" 2>&1) || rc=$?
echo "$out"
[[ $rc == 2 && $out == *"bad-network.yaml:1:"*"network.podCIDR"* ]] ||
  fail "an invalid network file was not refused with its position"
printf 'podCIDR: 10.244.0.0/16\nserviceCIDR: 10.100.0.0/16\n' >"$E2E_DIR/narrow.yaml"
rc=0
out=$(ctl network apply -f "$E2E_DIR/narrow.yaml" 2>&1) || rc=$?
echo "$out"
[[ $rc == 2 && $out == *"/ovl/services/default/web:"*"10.96.0.10"* && $out == *"nothing applied"* ]] ||
  fail "network settings that reject a stored service were not refused"
[[ $(etcd_ctl get /ovl/config --print-value-only) == "$stored_config" ]] || fail "a refused network apply wrote something"
printf 'podCIDR: 10.244.0.0/16\nsubnetLength: 24\nserviceCIDR: 10.96.0.0/12\nmasquerade: off-cluster\n' >"$E2E_DIR/network.yaml"
[[ $(ctl network apply -f "$E2E_DIR/network.yaml") == "network settings configured" ]] || fail "network apply failed"
[[ $(ctl network apply -f "$E2E_DIR/network.yaml") == "network settings unchanged" ]] || fail "a second network apply changed something"
wait_until 10 all_ready || fail "the agents are not ready after the network settings were rewritten"
etcd_ctl put /ovl/services/default/bad '{namespace: default, name: bad, clusterIP: 10.96.0.999, ports: [{port: 80}]}' >/dev/null
etcd_ctl put /ovl/services/default/junk '{{{ not yaml' >/dev/null
etcd_ctl put /ovl/nodes/broken '{"name": "broken", "underlayIP": "nope"}' >/dev/null
for i in 1 2 3; do
  wait_until 5 in_map "$i" services default/web:80 >/dev/null || fail "node$i: service web not programmed next to the garbage"
done
for key in /ovl/services/default/bad:1: /ovl/services/default/junk:1: /ovl/nodes/broken:1:; do
  grep -q "$key" "$E2E_DIR/agent-node1.log" || fail "garbage at ${key%%:*} not reported with its key"
done
grep -m3 -E '/ovl/(services/default/(bad|junk)|nodes/broken)' "$E2E_DIR/agent-node1.log" | sed 's/^/  /'
all_ready || fail "garbage made an agent unready"
etcd_ctl del /ovl/services/default/bad >/dev/null
etcd_ctl del /ovl/services/default/junk >/dev/null
etcd_ctl del /ovl/nodes/broken >/dev/null

step "3. one etcd member killed: the agents carry on"
ip netns exec "$(pod_ns 2 1)" "$PROBE" serve --port 7800 >/dev/null 2>&1 &
stream_server=$!
wait_until 5 pod_exec 1 1 "$PROBE" connect "$(pod_ip 2 1)" 7800 >/dev/null
ip netns exec "$(pod_ns 1 1)" "$PROBE" stream "$(pod_ip 2 1)" 7800 --seconds 6 >"$E2E_DIR/stream1.log" 2>&1 &
stream=$!
e2e_sleep 1
etcd_member_stop 1 # the first endpoint of every agent: each is connected to it
# (etcdctl's own put may meet the election that follows the leader's death: retried)
wait_until 10 etcd_ctl put /ovl/services/default/web "$(svc web 10.96.0.10 10.244.1.11 10.244.2.11 10.244.3.11)" >/dev/null ||
  fail "etcdctl could not write with two members of three"
for i in 1 2 3; do
  wait_until 5 in_map "$i" endpoints 10.244.3.11 || fail "node$i: a change made after a member died did not arrive"
done
for t in 1 2 3 4 5 6 7 8 9 10; do all_ready || fail "an agent became unready when one member of three died"; sleep 0.2; done
wait "$stream" || { cat "$E2E_DIR/stream1.log" >&2; fail "the pod stream broke"; }
cat "$E2E_DIR/stream1.log"
gap=$(sed -n 's/.*max gap \([0-9]*\) ms.*/\1/p' "$E2E_DIR/stream1.log")
((gap < 500)) || fail "the pod stream paused for $gap ms when a member died"
etcd_member_start 1
etcd_wait_healthy 20

step "4. an agent killed without cleanup: peers remove it within TTL + 2 s ($TTL + 2 s)"
agent_kill 3 KILL
start=$(_ovl_now_ms)
for i in 1 2; do
  wait_until $((TTL + 2)) no_route "$i" 10.244.3.0/24 >/dev/null ||
    fail "node$i still routes to node3's subnet $((TTL + 2)) s after node3 died"
done
echo "node3's route gone on nodes 1 and 2 after $(($(_ovl_now_ms) - start)) ms (lease TTL $TTL s)"
# The VXLAN allow-list follows etcd's node list: node3's address leaves with its record.
vxlan_allowed() { node_exec "$1" nft list set ip ovl vxlan_peers | grep -q "$(node_ip "$2") comment"; }
vxlan_refused() { ! vxlan_allowed "$@"; }
for i in 1 2; do
  wait_until 1 vxlan_refused "$i" 3 >/dev/null || fail "node$i still accepts VXLAN from node3's address"
done
[[ -z $(etcd_ctl get /ovl/nodes/node3) ]] || fail "node3's record outlived its lease"
agent_start 3 "$E2E_DIR" "$AGENT"
agent_wait_ready 3 20
for i in 1 2; do wait_until 5 has_route "$i" 10.244.3.0/24 >/dev/null || fail "node$i: no route to node3 after it re-registered"; done
for i in 1 2; do wait_until 1 vxlan_allowed "$i" 3 >/dev/null || fail "node$i: VXLAN from node3 not allowed after it re-registered"; done
[[ $(etcd_ctl get /ovl/subnets/10.244.3.0-24 --print-value-only) == node3 ]] || fail "node3 did not reclaim its subnet"

step "5. node1 cut off from etcd; changes and a compaction meanwhile; it converges exactly"
etcd_ctl put /ovl/services/default/gone "$(svc gone 10.96.0.20 10.244.2.11)" >/dev/null
etcd_ctl put /ovl/services/default/moving "$(svc moving 10.96.0.21 10.244.2.11)" >/dev/null
wait_until 5 in_map 1 services default/moving >/dev/null
# Connections to etcd are reset: the agent sees etcd unreachable at once, as after a partition.
node_exec 1 nft -f - <<EOF
table ip ovle2e {
  chain out { type filter hook output priority 0; ip daddr $OVL_ETCD_IP tcp dport 2379-2400 reject with tcp reset; }
}
EOF
wait_until 10 ready_is 1 503 ||
  fail "node1 did not report itself unready when cut off from etcd"
etcd_ctl del /ovl/services/default/gone >/dev/null
etcd_ctl put /ovl/services/default/moving "$(svc moving 10.96.0.21 10.244.3.11 10.244.1.11)" >/dev/null
etcd_ctl put /ovl/services/default/new "$(svc new 10.96.0.22 10.244.2.11)" >/dev/null
rev=$(etcd_ctl get /ovl/config -w json | sed -n 's/.*"revision":\([0-9]*\).*/\1/p')
etcd_ctl compact "$rev" --physical >/dev/null
echo "compacted at revision $rev while node1 was cut off"
e2e_sleep "$TTL" # node1's lease expires too: it must register again
node_exec 1 nft delete table ip ovle2e
wait_until 15 ready_is 1 200 ||
  fail "node1 not ready again after the cut ended"
wait_until 5 same_nat 1 2 || { diff <(nat_state 1) <(nat_state 2) >&2; fail "node1's services differ from node2's after it reconnected"; }
expected=$(nat_state 2)
grep -q 'default/gone' <<<"$expected" && fail "a deleted service is still programmed"
grep -q 'default/new:80' <<<"$expected" || fail "the service added during the cut is missing"
grep -q 'default/moving:80 -> 10.244.3.11:8080' <<<"$expected" || fail "the endpoint change during the cut is missing"
grep -q 'was compacted' "$E2E_DIR/agent-node1.log" || fail "node1's log does not say it listed again after a compaction"
grep 'was compacted' "$E2E_DIR/agent-node1.log" | tail -n1 | sed 's/^/  agent log: /'
for i in 2 3; do wait_until 5 has_route "$i" 10.244.1.0/24 >/dev/null || fail "node$i: no route to node1 after it came back"; done
echo "node1 converged: $(wc -l <<<"$expected") service map elements, the same as node2's"
restarts=$(agent_metric 1 ovl_etcd_watch_restarts_total)
losses=$(agent_metric 1 ovl_etcd_lease_losses_total)
[[ $restarts =~ ^[1-9] && $losses =~ ^[1-9] ]] ||
  fail "node1's /metrics: watch restarts '$restarts', lease losses '$losses'; expected both >= 1"
echo "node1's /metrics: etcd watch restarts $restarts, lease losses $losses"

step "6. every etcd member stopped for 30 s: traffic flows, agents unready, then converge"
declare -a web_servers=()
for i in 1 2 3; do # the endpoints of default/web (10.96.0.10:80 -> 10.244.$i.11:8080)
  ip netns exec "$(pod_ns "$i" 1)" "$PROBE" serve --port 8080 --hello "n${i}p1" >/dev/null 2>&1 &
  web_servers+=($!)
done
wait_until 5 pod_exec 3 2 "$PROBE" connect 10.96.0.10 80 >/dev/null
ip netns exec "$(pod_ns 1 1)" "$PROBE" stream "$(pod_ip 2 1)" 7800 --seconds 36 >"$E2E_DIR/stream2.log" 2>&1 &
stream=$!
e2e_sleep 1
for i in 1 2 3; do etcd_member_stop "$i"; done
for i in 1 2 3; do wait_until 10 ready_is "$i" 503 >/dev/null || fail "node$i still ready with etcd gone"; done
node_exec 1 bash -c 'exec 3<>/dev/tcp/127.0.0.1/9765; printf "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" >&3; cat <&3' |
  tail -n1 | sed 's/^/  node1 readyz: /'
up=$(agent_metric 1 'ovl_datastore_up{datastore="etcd"}')
[[ $up == 0 ]] || fail "node1's /metrics: ovl_datastore_up is '$up' with etcd gone, expected 0"
e2e_sleep 25
# n3p1 (10.244.3.11) is an endpoint of web: about a third of its connections land on itself,
# which works only if node3 masquerades them (web lists its endpoints without their node).
echo "30 connections to the service 10.96.0.10:80 from pod n3p1, one of its endpoints, etcd down for 25 s, answered by:"
pod_exec 3 1 "$PROBE" connect 10.96.0.10 80 --expect-hello --repeat 30 >"$E2E_DIR/hairpin" ||
  fail "service traffic from an endpoint of the service failed while etcd was down; answered by: $(sort "$E2E_DIR/hairpin" | uniq -c | tr -s ' \n' ' ')"
sort "$E2E_DIR/hairpin" | uniq -c | sed 's/^/  /'
grep -qx n3p1 "$E2E_DIR/hairpin" || fail "30 connections from n3p1 never landed on n3p1: hairpin not exercised"
for i in 1 2 3; do etcd_member_start "$i"; done
etcd_wait_healthy 30
wait "$stream" || { cat "$E2E_DIR/stream2.log" >&2; fail "the pod stream broke while etcd was down"; }
cat "$E2E_DIR/stream2.log"
gap=$(sed -n 's/.*max gap \([0-9]*\) ms.*/\1/p' "$E2E_DIR/stream2.log")
((gap < 500)) || fail "the pod stream paused for $gap ms while etcd was down"
wait_until 20 all_ready || fail "the agents did not become ready after etcd came back"
etcd_ctl put /ovl/services/default/after "$(svc after 10.96.0.23 10.244.1.11)" >/dev/null
for i in 1 2 3; do
  wait_until 5 in_map "$i" services default/after:80 >/dev/null || fail "node$i: no change applied after etcd came back"
done
check_all_pairs 3 2 "$PROBE"
kill "$stream_server" "${web_servers[@]}" 2>/dev/null || true
echo "PASS"
