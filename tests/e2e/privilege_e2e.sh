#!/usr/bin/env bash
# e2e: least privilege. node2's agent runs as `nobody` with CAP_NET_ADMIN as its only capability
# (setpriv: ambient, inheritable and bounding set; what examples/systemd/ovl-agent.service's
# User= + AmbientCapabilities= give it) and node1's as root, in a 2-node cluster with strict
# rp_filter everywhere and masquerade none (so node2's strict VTEP drops node1's host -> pod
# traffic):
#   1. node2's agent converges: its VTEP, the route to node1's pods, the nft table ip ovl, and the
#      rp_filter fix (rpFilter: fix makes ovl.1 loose), /readyz 200; its process holds uid
#      65534 and CapEff = CAP_NET_ADMIN only; node1's host reaches node2's pod through the service;
#   2. without the capability it exits at once, saying it needs CAP_NET_ADMIN;
#   3. with the capability but a state directory it may not write, it says whose it must be.
# Usage: privilege_e2e.sh OVL_AGENT OVL_TCPPROBE
set -euo pipefail
AGENT=${1:?usage: privilege_e2e.sh OVL_AGENT OVL_TCPPROBE}
PROBE=${2:?usage: privilege_e2e.sh OVL_AGENT OVL_TCPPROBE}
source "$(dirname "$0")/lib.sh"
step() { printf '\n== %s\n' "$*"; }
command -v setpriv >/dev/null || fail "setpriv (util-linux) is not installed"
NOBODY=65534
NOGROUP=$(getent group nogroup | cut -d: -f3)
NOGROUP=${NOGROUP:-65534}

# as_nobody.sh CAPS: runs the agent as nobody with only CAPS (e.g. "+net_admin", or "" for none).
make_wrapper() {
  local name=$1 caps=$2 capargs=""
  [[ -n $caps ]] && capargs="--inh-caps=$caps --ambient-caps=$caps --bounding-set=-all,$caps"
  [[ -z $caps ]] && capargs="--inh-caps=-all --bounding-set=-all"
  printf '#!/bin/sh\nexec setpriv --reuid=%s --regid=%s --clear-groups %s -- %q "$@"\n' \
    "$NOBODY" "$NOGROUP" "$capargs" "$AGENT" >"$E2E_DIR/$name"
  chmod 755 "$E2E_DIR/$name"
}

step "2 nodes, strict rp_filter, masquerade none; service 10.96.0.10:80 -> node2's pod"
cluster_up 2 1
write_cluster_files "$E2E_DIR" 2
chmod 755 "$E2E_DIR" # nobody reads its configuration there
echo 'rpFilter: fix' >>"$E2E_DIR/node2.yaml"
cat >>"$E2E_DIR/cluster.yaml" <<'YAML'
services:
  - namespace: default
    name: web
    clusterIP: 10.96.0.10
    ports: [{name: http, port: 80, targetPort: 8080}]
    endpoints: [{ip: 10.244.2.11, node: node2}]
YAML
sed -i "s/^  port: 4789\$/&\\n  serviceCIDR: 10.96.0.0\/12\\n  masquerade: none/" "$E2E_DIR/cluster.yaml"
for i in 1 2; do
  node_exec "$i" ip route add default via 192.168.50.254 dev eth0
  node_exec "$i" sh -c 'for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 1 >"$f"; done'
done
# The state directory belongs to the agent's user (systemd: StateDirectory=/RuntimeDirectory=).
install -d -o "$NOBODY" -g "$NOGROUP" "$E2E_DIR/state-node2"
make_wrapper as-nobody-net-admin.sh +net_admin
make_wrapper as-nobody.sh ""

step "1. node2's agent as nobody with CAP_NET_ADMIN only converges"
agent_start 1 "$E2E_DIR" "$AGENT"
agent_start 2 "$E2E_DIR" "$E2E_DIR/as-nobody-net-admin.sh"
agent_wait_ready 1 20
agent_wait_ready 2 20
pid=${OVL_AGENT_PID[2]}
uid=$(awk '/^Uid:/ { print $3 }' "/proc/$pid/status")
capeff=$(awk '/^CapEff:/ { print $2 }' "/proc/$pid/status")
echo "node2's agent: pid $pid, euid $uid, CapEff $capeff"
[[ $uid == "$NOBODY" ]] || fail "node2's agent runs as uid $uid, expected $NOBODY"
[[ $capeff == 0000000000001000 ]] || fail "node2's agent has CapEff $capeff, expected CAP_NET_ADMIN only"
node_exec 2 ip -d link show ovl.1 | grep -q 'vxlan id 1 ' || fail "node2: no VTEP ovl.1"
node_exec 2 ip route show 10.244.1.0/24 | grep -q 'dev ovl.1' || fail "node2: no route to node1's pods"
node_exec 2 nft list table ip ovl >/dev/null || fail "node2: no nft table ip ovl"
wait_until 5 bash -c "[[ \$(ip netns exec $(node_ns 2) sysctl -n net.ipv4.conf.ovl/1.rp_filter) == 2 ]]" ||
  fail "node2's agent did not make ovl.1 loose (rpFilter: fix)"
grep 'diagnose: net.ipv4.conf.ovl/1.rp_filter = 2' "${OVL_AGENT_LOG[2]}" ||
  fail "node2's agent did not log its rp_filter fix"
pods_up 2 1
ip netns exec "$(pod_ns 2 1)" "$PROBE" serve --port 8080 --hello n2p1 >/dev/null 2>&1 &
wait_until 5 pod_exec 2 1 "$PROBE" connect 10.244.2.11 8080 >/dev/null
out=$(node_exec 1 "$PROBE" connect 10.96.0.10 80 --timeout-ms 3000 --expect-hello) ||
  fail "node1 host -> 10.96.0.10:80 (node2's pod) fails"
echo "node1 host -> 10.96.0.10:80 answered by $out"
agent_kill 2
[[ ${OVL_AGENT_RC[2]} == 0 ]] || fail "node2's agent exited ${OVL_AGENT_RC[2]} on SIGTERM"

step "2. without CAP_NET_ADMIN: a clear refusal"
rc=0
out=$(node_exec 2 timeout 10 "$E2E_DIR/as-nobody.sh" --config "$E2E_DIR/node2.yaml" 2>&1) || rc=$?
echo "exit $rc: $(grep -m1 'needs CAP_NET_ADMIN' <<<"$out" || echo "$out")"
[[ $rc == 1 ]] || fail "without CAP_NET_ADMIN: exit $rc, expected 1: $out"
grep -q 'permission denied: ovl-agent needs CAP_NET_ADMIN' <<<"$out" || fail "no clear message: $out"

step "3. a state directory the agent's user may not write: says whose it must be"
sed -i "s#^stateDir: .*#stateDir: $E2E_DIR/state-root#" "$E2E_DIR/node2.yaml"
install -d -m 755 "$E2E_DIR/state-root"
rc=0
out=$(node_exec 2 timeout 10 "$E2E_DIR/as-nobody-net-admin.sh" --config "$E2E_DIR/node2.yaml" 2>&1) ||
  rc=$?
echo "exit $rc: $out"
[[ $rc != 0 ]] || fail "a state directory owned by root: the agent started"
grep -qE "state-root/agent.lock.*permission denied: ovl-agent runs as nobody \(uid $NOBODY\)" <<<"$out" ||
  fail "no clear message about the state directory: $out"
echo PASS
