#!/usr/bin/env bash
# e2e: node identity in etcd (issue 13). A 3-member etcd cluster with TLS and client
# certificates, authentication enabled with the roles of examples/etcd/rbac.sh, three agents
# each with its own certificate (CN = node name) and its pinned subnet. Checks:
#   1. the cluster works: every pod reaches every other one across nodes;
#   2. etcd itself refuses node2's certificate writing node1's record or claim, or a service
#      (permission denied), and node2's own record is not writable by node1;
#   3. records an admin writes to impersonate node2 are rejected by the agents with the key
#      named, and node2's route, FDB entry and traffic stay: a record under
#      /ovl/nodes/aaa-evil claiming node2's subnet, a record under another key carrying the name
#      node2, a record with a claim of its own taking node2's underlay IP;
#   4. node1's own record overwritten (another underlay IP and subnet): node1's VTEP and bridge
#      stay as they are, it reports the change (log and /readyz configIssues) and writes its
#      record back; traffic keeps flowing.
# Usage: etcd_rbac_e2e.sh OVL_AGENT OVL_TCPPROBE OVLCTL
set -euo pipefail
AGENT=${1:?usage: etcd_rbac_e2e.sh OVL_AGENT OVL_TCPPROBE OVLCTL}
PROBE=${2:?usage: etcd_rbac_e2e.sh OVL_AGENT OVL_TCPPROBE OVLCTL}
OVLCTL=${3:?usage: etcd_rbac_e2e.sh OVL_AGENT OVL_TCPPROBE OVLCTL}
source "$(dirname "$0")/lib.sh"
source "$OVL_ROOT/examples/demo/etcd-cluster.sh"
step() { printf '\n== %s\n' "$*"; }
PKI=$E2E_DIR/pki

# as NAME ARGS...: etcdctl with NAME's certificate (the user NAME once authentication is on).
as() {
  local name=$1 eps
  shift
  eps=$(etcd_endpoints)
  ETCDCTL_API=3 ul_exec etcdctl --endpoints "https://${eps//,/,https://}" --dial-timeout 2s \
    --command-timeout 5s --cacert "$PKI/ca.pem" --cert "$PKI/$name.pem" --key "$PKI/$name-key.pem" "$@"
}
# denied NAME ARGS...: etcd refuses NAME's request with "permission denied".
denied() {
  local name=$1 out rc=0
  shift
  out=$(as "$name" "$@" 2>&1) || rc=$?
  printf '  %s: etcdctl %s -> %s\n' "$name" "${*:1:2}" "$(tail -n1 <<<"$out")"
  [[ $rc != 0 && $out == *"permission denied"* ]] || fail "$name: etcdctl $* was not refused: $out"
}
readyz() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 2 ip netns exec "$(node_ns "$1")" bash -c '
    exec 3<>"/dev/tcp/${1%:*}/${1##*:}" || exit 1
    printf "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" >&3
    cat <&3' _ "$OVL_HEALTH_ADDR"
}
# node2_intact I: node I still routes node2's subnet to node2's underlay address.
node2_intact() {
  local fdb
  fdb=$(node_exec "$1" bridge fdb show dev ovl.1)  # whole, not piped to grep -q (SIGPIPE)
  [[ -n $(node_exec "$1" ip route show 10.244.2.0/24 dev ovl.1) && $fdb == *"dst $(node_ip 2) "* ]]
}
logged() { grep -q -- "$2" "$E2E_DIR/agent-node$1.log"; }
one_pair() { pod_exec "$1" 1 "$PROBE" connect "$(pod_ip "$2" 1)" 7900 >/dev/null; }

cluster_up 3 1
make_etcd_certs "$PKI" root ovl-admin node1 node2 node3
etcd_up 3 "$E2E_DIR/etcd" "$PKI"
etcd_ctl put /ovl/config '{podCIDR: 10.244.0.0/16, subnetLength: 24, serviceCIDR: 10.96.0.0/12}' >/dev/null
# The test's own etcdctl (etcd_ctl, CN=client) stays an administrator.
etcd_ctl user add client --no-password >/dev/null
etcd_ctl user grant-role client root >/dev/null 2>&1 || true
eps=$(etcd_endpoints)
ETCDCTL_ENDPOINTS="https://${eps//,/,https://}" ETCDCTL_CACERT=$PKI/ca.pem \
  ETCDCTL_CERT=$PKI/client.pem ETCDCTL_KEY=$PKI/client-key.pem \
  ul_exec "$OVL_ROOT/examples/etcd/rbac.sh" node1=10.244.1.0/24 node2=10.244.2.0/24 \
  node3=10.244.3.0/24 | sed 's/^/  rbac.sh: /'
write_etcd_agent_files "$E2E_DIR" 3 4
for i in 1 2 3; do
  sed -i "s#client.pem#node$i.pem#; s#client-key.pem#node$i-key.pem#" "$E2E_DIR/node$i.yaml"
  printf '  podSubnet: 10.244.%s.0/24\n' "$i" >>"$E2E_DIR/node$i.yaml"
  rm -f "$E2E_DIR/state-node$i/subnet"  # the pinned subnet, not a kept one, decides
done

step "1. three agents, each with its own certificate: the cluster works"
for i in 1 2 3; do agent_start "$i" "$E2E_DIR" "$AGENT"; done
for i in 1 2 3; do agent_wait_ready "$i" 20; done
etcd_ctl get --prefix /ovl/subnets/ | paste - - | tee "$E2E_DIR/subnets" | sed 's/^/  /'
for i in 1 2 3; do
  grep -q "^/ovl/subnets/10.244.$i.0-24	node$i$" "$E2E_DIR/subnets" || fail "node$i did not claim its pinned subnet"
done
pods_up 3 1
check_all_pairs 3 1 "$PROBE"

step "2. etcd refuses node2's certificate writing what is not node2's"
denied node2 put /ovl/nodes/node1 '{"name":"node1","underlayIP":"192.168.50.2","podSubnet":"10.244.1.0/24"}'
denied node2 put /ovl/subnets/10.244.1.0-24 node2
denied node2 del /ovl/nodes/node1
denied node2 put /ovl/services/default/x '{namespace: default, name: x, clusterIP: 10.96.0.9, ports: [{port: 80}]}'
denied node1 put /ovl/nodes/node2 '{}'
# Leases: revoking node1's lease, or binding node2's keys to it, needs write access to node1's keys.
lease1=$(printf '%x' "$(etcd_ctl get /ovl/nodes/node1 -w json | grep -o '"lease":[0-9]*' | cut -d: -f2)")
denied node2 lease revoke "$lease1"
denied node2 put --lease "$lease1" /ovl/nodes/node2 '{}'
[[ $(as node2 get /ovl/nodes/node1 --print-value-only) == *'"podSubnet":"10.244.1.0/24"'* ]] ||
  fail "node2 cannot read node1's record"
as ovl-admin put /ovl/services/default/probe '{namespace: default, name: probe, clusterIP: 10.96.0.20, ports: [{port: 80, targetPort: 7900}]}' >/dev/null ||
  fail "the admin identity cannot write a service"

step "3. records impersonating node2 are rejected with their key; node2 keeps working"
for i in 1 2 3; do
  ip netns exec "$(pod_ns "$i" 1)" "$PROBE" serve --port 7900 >/dev/null 2>&1 &
done
lease=$(etcd_ctl lease grant 60 | awk '{print $2}')
etcd_ctl put --lease "$lease" /ovl/nodes/aaa-evil \
  '{"name":"aaa-evil","underlayIP":"192.168.50.66","podSubnet":"10.244.2.0/24"}' >/dev/null
etcd_ctl put --lease "$lease" /ovl/nodes/bbb \
  '{"name":"node2","underlayIP":"192.168.50.66","podSubnet":"10.244.2.0/24"}' >/dev/null
etcd_ctl put --lease "$lease" /ovl/subnets/10.244.9.0-24 ccc >/dev/null
etcd_ctl put --lease "$lease" /ovl/nodes/ccc \
  '{"name":"ccc","underlayIP":"192.168.50.2","podSubnet":"10.244.9.0/24"}' >/dev/null
for i in 1 3; do
  wait_until 5 logged "$i" "/ovl/nodes/aaa-evil:1:.*podSubnet 10.244.2.0/24 is claimed by node 'node2'" ||
    fail "node$i: the record under /ovl/nodes/aaa-evil was not rejected with its key"
  wait_until 5 logged "$i" "/ovl/nodes/bbb:1:.*name 'node2' is not the name in the record's key ('bbb')" ||
    fail "node$i: the record under /ovl/nodes/bbb carrying node2's name was not rejected"
  wait_until 5 logged "$i" "/ovl/nodes/ccc:1:.*underlay IP 192.168.50.2 is already used by node 'node2'" ||
    fail "node$i: the record taking node2's underlay IP was not rejected"
  node2_intact "$i" || fail "node$i: node2's route or FDB entry changed"
  [[ -z $(node_exec "$i" ip route show 10.244.9.0/24) ]] || fail "node$i: a route to ccc's subnet"
  one_pair "$i" 2 || fail "node$i's pod cannot reach node2's pod next to the impostors"
done
grep -h -m3 -E '/ovl/nodes/(aaa-evil|bbb|ccc):' "$E2E_DIR/agent-node1.log" | cut -c1-220 | sed 's/^/  /'
# ovlctl (with node1's read access) vets the records as the agents do.
ul_exec "$OVLCTL" node list --config "$E2E_DIR/node1.yaml" >"$E2E_DIR/nodes.out" 2>"$E2E_DIR/nodes.err"
sed 's/^/  ovlctl node list: /' "$E2E_DIR/nodes.out"
grep -qE '^node2 +10.244.2.0/24 +192.168.50.2 ' "$E2E_DIR/nodes.out" || fail "ovlctl node list lost node2"
[[ $(grep -c '^node' "$E2E_DIR/nodes.out") == 3 ]] || fail "ovlctl node list shows an impostor"
[[ $(<"$E2E_DIR/nodes.err") == *"skipped: /ovl/nodes/aaa-evil:"* ]] || fail "ovlctl node list does not name the impostor"
[[ $(readyz 1) == *'/ovl/nodes/aaa-evil'* ]] || fail "node1's /readyz does not list the rejected record"
etcd_ctl lease revoke "$lease" >/dev/null

step "4. node1's own record overwritten: its VTEP and bridge stay, it is reported and written back"
vtep_before=$(node_exec 1 ip -d link show ovl.1 | grep -o 'local [0-9.]*')
bridge_before=$(node_exec 1 ip -4 -o addr show dev ovlbr0 | awk '{print $4}')
etcd_ctl put /ovl/nodes/node1 '{"name":"node1","underlayIP":"10.9.9.9","podSubnet":"10.244.77.0/24","ready":true}' >/dev/null
wait_until 5 logged 1 "this node's own keys were changed by someone else" ||
  fail "node1 did not report its overwritten record"
written_back() {
  [[ $(etcd_ctl get /ovl/nodes/node1 --print-value-only) == *'"underlayIP":"192.168.50.1","podSubnet":"10.244.1.0/24"'* ]]
}
wait_until 5 written_back || fail "node1 did not write its record back"
grep -m1 "own keys were changed" "$E2E_DIR/agent-node1.log" | cut -c1-300 | sed 's/^/  /'
[[ $(readyz 1) == *"own keys were changed by someone else"* ]] || fail "node1's /readyz does not report it"
[[ $(node_exec 1 ip -d link show ovl.1 | grep -o 'local [0-9.]*') == "$vtep_before" ]] ||
  fail "node1's VTEP changed its local address"
[[ $(node_exec 1 ip -4 -o addr show dev ovlbr0 | awk '{print $4}') == "$bridge_before" ]] ||
  fail "node1's bridge was renumbered"
echo "  node1: VTEP $vtep_before, bridge $bridge_before: unchanged"
for i in 2 3; do
  one_pair "$i" 1 || fail "node$i's pod cannot reach node1's pod after the overwrite"
  one_pair 1 "$i" || fail "node1's pod cannot reach node$i's pod after the overwrite"
done
for i in 1 2 3; do [[ $(_ovl_http_status "$(node_ns "$i")" 127.0.0.1 9765 /readyz) == 200 ]] || fail "node$i not ready"; done

step "5. node3's certificate without etcd.podSubnet: the claim etcd refuses stops it with a hint"
agent_kill 3
etcd_ctl del /ovl/subnets/10.244.3.0-24 >/dev/null  # node3 gone: a new claim is needed
etcd_ctl del /ovl/nodes/node3 >/dev/null
sed '/podSubnet:/d; s#state-node3#state-nopin#' "$E2E_DIR/node3.yaml" >"$E2E_DIR/nopin.yaml"
rc=0
out=$(node_exec 3 timeout 30 "$AGENT" --config "$E2E_DIR/nopin.yaml" 2>&1) || rc=$?
tail -n1 <<<"$out" | cut -c1-300 | sed 's/^/  /'
[[ $rc == 2 && $out == *"may not write it; if its role allows one pinned subnet, set etcd.podSubnet"* ]] ||
  fail "an agent without its pinned subnet: exit $rc, expected 2 with a hint: $out"
echo "PASS"
