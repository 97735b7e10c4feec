#!/usr/bin/env bash
# e2e, `ovlctl connectivity` on a 3-node cluster with services (web: NodePort with endpoints on
# node2 and node3; dns: UDP on node3; api: TCP on node3; backend: TCP on node2; quiet: UDP on
# node2, whose endpoint never answers). Run on node1. Checks:
#   1. healthy: exit 0, every leg ok (the UDP legs too where the endpoint answers; quiet's legs
#      inconclusive, which does not fail the run), -o json agrees and validates against
#      docs/connectivity-json.schema.json, and a run takes a few seconds;
#   2. strict rp_filter on node1 and node2 (masquerade none): the host's legs to backend (on
#      node2) fail, explained by node1's rp_filter finding on eth0; the pod's legs pass;
#   3. faults: node1's agent killed (so nothing repairs), node1's route to node2's pod subnet
#      deleted, api's server on node3 killed: exit 1; the legs to node2 fail, explained by
#      diagnose's peer_entries finding for node2; api's legs are refused, explained as nothing
#      listening at its endpoint; node3's legs still pass;
#   4. SIGINT and SIGTERM while a run waits on its probes: exit 130 / 143; SIGKILL: the kernel
#      removes the namespace and veth, and the next run frees the IPAM entry left behind;
#   5. usage errors exit 2 and name what is wrong: a conflist without ovl-cni, no node.json;
#      the pod bridge deleted: exit 1, the pod legs fail saying why, the host legs still run;
#   6. datastore etcd (a new 2-node cluster, etcd in the underlay namespace): the cluster is read
#      from etcd without writing to it (same revision), and the legs pass;
#   after every run: no veth of the throwaway pod, no IPAM entry, no new network namespace.
# Usage: connectivity_e2e.sh OVL_AGENT OVL_TCPPROBE OVLCTL
set -euo pipefail
AGENT=${1:?usage: connectivity_e2e.sh OVL_AGENT OVL_TCPPROBE OVLCTL}
PROBE=${2:?usage: connectivity_e2e.sh OVL_AGENT OVL_TCPPROBE OVLCTL}
OVLCTL=${3:?usage: connectivity_e2e.sh OVL_AGENT OVL_TCPPROBE OVLCTL}
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/../../examples/demo/etcd-cluster.sh
source "$OVL_ROOT/examples/demo/etcd-cluster.sh"
SCHEMA="$OVL_ROOT/docs/connectivity-json.schema.json"
step() { printf '\n== %s\n' "$*"; }

step "3 nodes x 1 pod; web (NodePort, node2+node3), dns (UDP, node3), api (TCP, node3), backend (TCP, node2), quiet (UDP, node2, never answers)"
cluster_up 3 1
write_cluster_files "$E2E_DIR" 3
# masquerade none: a host's connection to a service keeps its underlay source (step 2's
# rp_filter fault); the agents only warn about rp_filter, so the fault stays until undone.
sed -i 's/^  port: 4789$/&\n  serviceCIDR: 10.96.0.0\/12\n  masquerade: none/' "$E2E_DIR/cluster.yaml"
for i in 1 2 3; do echo 'rpFilter: warn' >>"$E2E_DIR/node$i.yaml"; done
cat >>"$E2E_DIR/cluster.yaml" <<'YAML'
services:
  - namespace: default
    name: web
    type: NodePort
    clusterIP: 10.96.0.10
    ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]
    endpoints: [{ip: 10.244.2.11, node: node2}, {ip: 10.244.3.11, node: node3}]
  - namespace: default
    name: dns
    clusterIP: 10.96.0.53
    ports: [{protocol: UDP, port: 53, targetPort: 5353}]
    endpoints: [{ip: 10.244.3.11, node: node3}]
  - namespace: default
    name: api
    clusterIP: 10.96.0.20
    ports: [{port: 80, targetPort: 8090}]
    endpoints: [{ip: 10.244.3.11, node: node3}]
  - namespace: default
    name: backend
    clusterIP: 10.96.0.30
    ports: [{port: 80, targetPort: 8080}]
    endpoints: [{ip: 10.244.2.11, node: node2}]
  - namespace: default
    name: quiet
    clusterIP: 10.96.0.54
    ports: [{protocol: UDP, port: 54, targetPort: 5400}]
    endpoints: [{ip: 10.244.2.11, node: node2}]
YAML
grep -q 'masquerade: none' "$E2E_DIR/cluster.yaml" || fail "cluster file without masquerade: none"
for i in 1 2 3; do
  # ovl-cni's configuration as examples/cni ships it, with this node's IPAM directory.
  sed -e "s|/var/lib/cni/ovl|$E2E_DIR/ipam-node$i|" -e "s|/run/ovl|$E2E_DIR/state-node$i|" \
    "$OVL_ROOT/examples/cni/10-ovl.conflist" >"$E2E_DIR/cni-node$i.conflist"
  # Nothing answers at .254: enough for a host process's first route lookup to a cluster IP.
  node_exec "$i" ip route add default via 192.168.50.254 dev eth0
  agent_start "$i" "$E2E_DIR" "$AGENT"
done
for i in 1 2 3; do agent_wait_ready "$i" 20; done
pods_up 3 1
servers=()
for i in 2 3; do
  ip netns exec "$(pod_ns "$i" 1)" "$PROBE" serve --port 8080 --hello "n${i}p1" >/dev/null 2>&1 &
  servers+=($!)
done
ip netns exec "$(pod_ns 3 1)" "$PROBE" udp-serve --port 5353 --hello n3p1 >/dev/null 2>&1 &
servers+=($!)
# quiet's endpoint reads datagrams and never answers: all a UDP probe can say is "inconclusive".
ip netns exec "$(pod_ns 2 1)" python3 -c 'import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 5400))
time.sleep(3600)' &
servers+=($!)
ip netns exec "$(pod_ns 3 1)" "$PROBE" serve --port 8090 --hello api >/dev/null 2>&1 &
api=$!
servers+=("$api")
wait_until 5 pod_exec 3 1 "$PROBE" connect 10.244.3.11 8090 >/dev/null
wait_until 5 bash -c "ip netns exec $(pod_ns 2 1) ss -Hlun 'sport = :5400' | grep -q ." >/dev/null
wait_until 5 pod_exec 2 1 "$PROBE" connect 10.244.2.11 8080 >/dev/null
# Other tests on the machine may add and remove namespaces meanwhile: only this run's count.
ours() { ip netns list | awk -v run="$RUN-" 'index($1, run) == 1 || index($1, "ovlctl") == 1 { print $1 }' | sort; }
netns_before=$(ours)

connectivity() { # connectivity ARGS...: ovlctl connectivity on node1; prints its exit status
  local rc=0
  node_exec 1 "$OVLCTL" connectivity --config "$E2E_DIR/node1.yaml" \
    --cni-conf "$E2E_DIR/cni-node1.conflist" "$@" || rc=$?
  return "$rc"
}
# Nothing of the throwaway pod is left: its veth (ovl + 11 hex digits), its IPAM entry, a
# network namespace.
check_clean() {
  local what=$1 left
  left=$(ip -n "$(node_ns 1)" -o link show | grep -oE ': ovl[0-9a-f]{11}[@:]' || true)
  [[ -z $left ]] || fail "$what: the throwaway pod's veth is left: $left"
  if [[ -f $E2E_DIR/ipam-node1/ovl/allocations.json ]]; then
    left=$(jq -c '.allocations' "$E2E_DIR/ipam-node1/ovl/allocations.json")
    [[ $left == '{}' ]] || fail "$what: IPAM entries left: $left"
  fi
  [[ $(ours) == "$netns_before" ]] || fail "$what: the named namespaces changed: $(ours)"
  ! pgrep -f "$OVLCTL connectivity" >/dev/null || fail "$what: ovlctl connectivity still runs"
  echo "$what: nothing left behind (veth, IPAM entry, namespace, process)"
}

step "1. healthy: exit 0, every leg ok"
t0=${EPOCHREALTIME/./}
rc=0
connectivity >"$E2E_DIR/healthy.txt" 2>"$E2E_DIR/healthy.err" || rc=$?
ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
cat "$E2E_DIR/healthy.err" "$E2E_DIR/healthy.txt"
((rc == 0)) || fail "healthy run exited $rc, expected 0"
echo "healthy run: ${ms} ms"
((ms < 5000)) || fail "a healthy run took ${ms} ms (expected a few seconds at most)"
grep -q 'FAIL' "$E2E_DIR/healthy.txt" && fail "healthy run shows a FAIL"
for row in "node2 pod gateway" "node3 pod gateway" "default/web cluster IP" "default/web NodePort" \
  "default/dns cluster IP" "default/api cluster IP" "default/backend cluster IP" \
  "node3 pod (default/dns endpoint)"; do
  grep -q "^$row .* ok [0-9.]*ms  *ok [0-9.]*ms\$" "$E2E_DIR/healthy.txt" ||
    fail "healthy run: row '$row' is not ok from pod and host"
done
grep -q '^\[ *[0-9]*/[0-9]*\] ok ' "$E2E_DIR/healthy.err" || fail "no progress lines on stderr"
# quiet: from the pod and the host, to the cluster IP and (node2's only UDP endpoint) to the pod.
for row in "default/quiet cluster IP" "node2 pod (default/quiet endpoint)"; do
  grep -q "^$row .* ? (no reply)  *? (no reply)\$" "$E2E_DIR/healthy.txt" ||
    fail "healthy run: row '$row' is not inconclusive from pod and host"
done
grep -q '^? default/quiet cluster IP 10.96.0.54:54/udp from pod and host: no reply within 1000 ms and no ICMP port unreachable' \
  "$E2E_DIR/healthy.txt" || fail "healthy run: quiet's inconclusive legs are not explained"
check_clean "after the healthy run"
rc=0
connectivity -o json >"$E2E_DIR/healthy.json" 2>"$E2E_DIR/healthy-json.err" || rc=$?
((rc == 0)) || fail "healthy run with -o json exited $rc"
[[ ! -s $E2E_DIR/healthy-json.err ]] || fail "-o json is not quiet on stderr: $(cat "$E2E_DIR/healthy-json.err")"
jq -e '.exitCode == 0 and .failed == 0 and .passed == 21 and .inconclusive == 4 and
    (.podAddress | startswith("10.244.1."))' "$E2E_DIR/healthy.json" >/dev/null ||
  fail "healthy -o json: $(jq -c '{exitCode,failed,passed,inconclusive,podAddress}' "$E2E_DIR/healthy.json")"
/usr/bin/python3 - "$SCHEMA" "$E2E_DIR/healthy.json" <<'PY' || fail "-o json does not match the schema"
import json, sys, jsonschema
jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])))
print("connectivity -o json: valid against", sys.argv[1])
PY
check_clean "after the healthy run with -o json"

step "2. strict rp_filter on node1 and node2: the host's connections to backend hang"
# As in diagnose_e2e.sh: with masquerade none, node2 drops the request (its source, node1's
# underlay address, routes back via eth0) and node1's eth0 drops the reply. The pod's
# connections keep pod addresses and pass.
for i in 1 2; do
  # shellcheck disable=SC2016 # expanded by the inner sh
  node_exec "$i" sh -c 'for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 1 >"$f"; done'
done
rc=0
connectivity >"$E2E_DIR/rp.txt" 2>"$E2E_DIR/rp.err" || rc=$?
cat "$E2E_DIR/rp.txt"
((rc == 1)) || fail "run with strict rp_filter exited $rc, expected 1"
grep -q '^default/backend cluster IP .* ok [0-9.]*ms  *FAIL [0-9]*ms$' "$E2E_DIR/rp.txt" ||
  fail "strict rp_filter: backend is not ok from the pod and FAIL from the host"
sed -n '/^FAIL default\/backend cluster IP/,/^$/p' "$E2E_DIR/rp.txt" >"$E2E_DIR/rp-backend.txt"
grep -q '^  \* \[rp_filter\] eth0: strict reverse-path filtering drops overlay traffic arriving on eth0' \
  "$E2E_DIR/rp-backend.txt" || fail "backend's host leg is not explained by node1's rp_filter finding"
grep -q 'fix: sysctl -w net.ipv4.conf.eth0.rp_filter=2' "$E2E_DIR/rp-backend.txt" ||
  fail "backend's host leg does not show the rp_filter fix"
grep -q 'default/backend answers the pod but not the host' "$E2E_DIR/rp-backend.txt" ||
  fail "backend's host leg is not said to fail from the host only"
check_clean "after the run with strict rp_filter"
for i in 1 2; do
  # shellcheck disable=SC2016 # expanded by the inner sh
  node_exec "$i" sh -c 'for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 >"$f"; done'
done

step "3. faults: node1's route to node2 deleted (agent killed), api's server killed"
agent_kill 1 KILL
node_exec 1 ip route del 10.244.2.0/24
kill "$api"
wait "$api" 2>/dev/null || true
rc=0
connectivity >"$E2E_DIR/fault.txt" 2>"$E2E_DIR/fault.err" || rc=$?
cat "$E2E_DIR/fault.txt"
((rc == 1)) || fail "run with faults exited $rc, expected 1"
grep -q '^node2 pod gateway .* FAIL [0-9]*ms  *FAIL [0-9]*ms$' "$E2E_DIR/fault.txt" ||
  fail "the legs to node2's pod gateway are not both FAIL"
grep -q '^node3 pod gateway .* ok [0-9.]*ms  *ok [0-9.]*ms$' "$E2E_DIR/fault.txt" ||
  fail "the legs to node3's pod gateway do not pass any more"
sed -n '/^FAIL node2 pod gateway/,/^$/p' "$E2E_DIR/fault.txt" >"$E2E_DIR/fault-node2.txt"
grep -q '\[peer_entries\] peer node2: route entry on ovl.1 is missing' "$E2E_DIR/fault-node2.txt" ||
  fail "the node2 legs are not explained by diagnose's peer_entries finding"
grep -q 'fix: ip route replace 10.244.2.0/24 via 10.244.2.0 dev ovl.1 onlink' "$E2E_DIR/fault-node2.txt" ||
  fail "the node2 legs do not show the fix"
grep -q '^default/api cluster IP .* FAIL [0-9]*ms  *FAIL [0-9]*ms$' "$E2E_DIR/fault.txt" ||
  fail "the api legs are not both FAIL"
sed -n '/^FAIL default\/api cluster IP/,/^$/p' "$E2E_DIR/fault.txt" >"$E2E_DIR/fault-api.txt"
for want in 'from pod: connection refused; from host: connection refused' \
  'nothing listens on the target port'; do
  grep -q "$want" "$E2E_DIR/fault-api.txt" ||
    fail "the api legs are not explained as refused by its endpoint (no '$want')"
done
grep -q 'peer_entries' "$E2E_DIR/fault-api.txt" &&
  fail "the api legs (endpoint on node3) are explained by node2's finding"
check_clean "after the run with faults"
rc=0
connectivity -o json >"$E2E_DIR/fault.json" 2>/dev/null || rc=$?
((rc == 1)) || fail "run with faults and -o json exited $rc, expected 1"
jq -e '.exitCode == 1 and ([.targets[] | select(.label == "node2 pod gateway") |
    .fromPod.result == "fail" and .fromHost.result == "fail" and
    ([.explanations[] | select(.source == "diagnose") | .check] | index("peer_entries") != null)]
    == [true])' "$E2E_DIR/fault.json" >/dev/null ||
  fail "-o json does not name and explain the node2 legs: $(jq -c '.targets[1]' "$E2E_DIR/fault.json")"
check_clean "after the run with faults and -o json"

step "4. SIGINT and SIGTERM during a run (the legs to node2 wait 5 s)"
for sig in INT TERM; do
  # A background job of a script ignores SIGINT unless told otherwise; an ignored signal
  # never reaches the program: restore the default, as an interactive shell would.
  ip netns exec "$(node_ns 1)" env --default-signal=INT,TERM "$OVLCTL" connectivity \
    --config "$E2E_DIR/node1.yaml" --cni-conf "$E2E_DIR/cni-node1.conflist" --timeout-ms 5000 \
    >"$E2E_DIR/sig$sig.txt" 2>"$E2E_DIR/sig$sig.err" &
  pid=$!
  wait_until 3 jq -e '.allocations | length == 1' "$E2E_DIR/ipam-node1/ovl/allocations.json" \
    >/dev/null || fail "SIG$sig: no IPAM entry while the run is under way"
  wait_until 3 bash -c "ip -n $(node_ns 1) -o link show | grep -qE ': ovl[0-9a-f]{11}@'" \
    >/dev/null || fail "SIG$sig: no veth while the run is under way"
  e2e_sleep 0.5
  kill -s "$sig" "$pid"
  rc=0
  wait "$pid" || rc=$?
  cat "$E2E_DIR/sig$sig.err"
  [[ $sig == INT ]] && want=130 || want=143
  ((rc == want)) || fail "SIG$sig: exited $rc, expected $want"
  grep -q 'the throwaway pod was removed' "$E2E_DIR/sig$sig.err" || fail "SIG$sig: no clean-up message"
  check_clean "after SIG$sig"
done
# SIGKILL cannot be caught: the namespace is held only by the process's descriptor, so the kernel
# removes it and the veth; the IPAM entry stays until the next run sees its process is gone.
ip netns exec "$(node_ns 1)" "$OVLCTL" connectivity --config "$E2E_DIR/node1.yaml" \
  --cni-conf "$E2E_DIR/cni-node1.conflist" --timeout-ms 5000 >/dev/null 2>&1 &
pid=$!
wait_until 3 jq -e '.allocations | length == 1' "$E2E_DIR/ipam-node1/ovl/allocations.json" \
  >/dev/null || fail "SIGKILL: no IPAM entry while the run is under way"
kill -s KILL "$pid"
wait "$pid" 2>/dev/null || true
wait_until 3 bash -c "! ip -n $(node_ns 1) -o link show | grep -qE ': ovl[0-9a-f]{11}@'" ||
  fail "SIGKILL: the throwaway pod's veth outlived the process"
left=$(jq -r '.allocations[].containerID' "$E2E_DIR/ipam-node1/ovl/allocations.json")
[[ $left == "ovlctl-connectivity-$pid-"* ]] || fail "SIGKILL: IPAM holder '$left', expected one of pid $pid"
rc=0
connectivity -o json >"$E2E_DIR/after-kill.json" 2>/dev/null || rc=$?
((rc == 1)) || fail "the run after SIGKILL exited $rc, expected 1 (the faults are still there)"
jq -e --arg h "ovlctl-connectivity-$pid-" '.notes | any(startswith("freed the address of an earlier run that was killed") and contains($h))' \
  "$E2E_DIR/after-kill.json" >/dev/null || fail "the run after SIGKILL does not say it freed the stale entry: $(jq -c .notes "$E2E_DIR/after-kill.json")"
check_clean "after SIGKILL and the next run"

step "5. usage errors: exit 2, naming what is wrong"
echo '{"cniVersion": "1.0.0", "name": "x", "plugins": [{"type": "bridge"}]}' >"$E2E_DIR/other.conflist"
rc=0
out=$(node_exec 1 "$OVLCTL" connectivity --config "$E2E_DIR/node1.yaml" \
  --cni-conf "$E2E_DIR/other.conflist" 2>&1) || rc=$?
((rc == 2)) || fail "a conflist without ovl-cni: exit $rc, expected 2"
[[ $out == *"$E2E_DIR/other.conflist: plugins: expected an entry of type ovl-cni"* ]] ||
  fail "a conflist without ovl-cni: '$out'"
sed "s|^stateDir: .*|stateDir: $E2E_DIR/nowhere|" "$E2E_DIR/node1.yaml" >"$E2E_DIR/nostate.yaml"
rc=0
out=$(node_exec 1 "$OVLCTL" connectivity --config "$E2E_DIR/nostate.yaml" 2>&1) || rc=$?
((rc == 2)) || fail "no node.json: exit $rc, expected 2"
[[ $out == *"$E2E_DIR/nowhere/node.json is not readable"*"is ovl-agent running and converged on this node?"* ]] ||
  fail "no node.json: '$out'"
rc=0
out=$(connectivity -o yaml 2>&1) || rc=$?
((rc == 2)) || fail "-o yaml: exit $rc, expected 2"
echo "usage errors: exit 2 with the file and field named"
check_clean "after the usage errors"
node_exec 1 ip link del ovlbr0
rc=0
connectivity >"$E2E_DIR/nobridge.txt" 2>"$E2E_DIR/nobridge.err" || rc=$?
cat "$E2E_DIR/nobridge.err"
((rc == 1)) || fail "without the pod bridge: exit $rc, expected 1"
grep -q 'no throwaway pod: attach the throwaway pod to ovlbr0: pod bridge ovlbr0 does not exist' \
  "$E2E_DIR/nobridge.err" || fail "without the pod bridge: the error does not say why"
grep -q '^node3 pod gateway .* FAIL 0ms  *ok [0-9.]*ms$' "$E2E_DIR/nobridge.txt" ||
  fail "without the pod bridge: node3's gateway is not FAIL from the pod and ok from the host"
check_clean "after a run without the pod bridge"

step "6. datastore etcd: a new cluster of 2 nodes, web's endpoint on node2"
kill "${servers[@]}" 2>/dev/null || true
cluster_down
cluster_up 2 1
etcd_up 1 "$E2E_DIR/etcd"
etcd_ctl put /ovl/config '{podCIDR: 10.244.0.0/16, subnetLength: 24, serviceCIDR: 10.96.0.0/12}' >/dev/null
etcd_ctl put /ovl/services/default/web '{namespace: default, name: web, clusterIP: 10.96.0.10,
  ports: [{port: 80, targetPort: 8080}], endpoints: [{ip: 10.244.2.11, node: node2}]}' >/dev/null
write_etcd_agent_files "$E2E_DIR/etcd-agents" 2
for i in 1 2; do
  node_exec "$i" ip route add default via 192.168.50.254 dev eth0
  agent_start "$i" "$E2E_DIR/etcd-agents" "$AGENT"
done
for i in 1 2; do agent_wait_ready "$i" 20; done
pods_up 2 1
ip netns exec "$(pod_ns 2 1)" "$PROBE" serve --port 8080 --hello n2p1 >/dev/null 2>&1 &
servers=($!)
wait_until 5 pod_exec 2 1 "$PROBE" connect 10.244.2.11 8080 >/dev/null
netns_before=$(ours)
revision() { etcd_ctl get /ovl/config -w json | jq -r .header.revision; }
before=$(revision)
rc=0
node_exec 1 "$OVLCTL" connectivity --config "$E2E_DIR/etcd-agents/node1.yaml" \
  --cni-conf "$E2E_DIR/cni-node1.conflist" >"$E2E_DIR/etcd.txt" 2>"$E2E_DIR/etcd.err" || rc=$?
cat "$E2E_DIR/etcd.err" "$E2E_DIR/etcd.txt"
((rc == 0)) || fail "the run on the etcd cluster exited $rc, expected 0"
for row in "node2 pod gateway" "node2 pod (default/web endpoint)" "default/web cluster IP"; do
  grep -q "^$row .* ok [0-9.]*ms  *ok [0-9.]*ms\$" "$E2E_DIR/etcd.txt" ||
    fail "etcd cluster: row '$row' is not ok from pod and host"
done
after=$(revision)
((before == after)) || fail "etcd's revision moved from $before to $after during the run"
echo "etcd: revision $before before and after the run: nothing was written"
check_clean "after the run on the etcd cluster"
kill "${servers[@]}" 2>/dev/null || true
echo PASS
