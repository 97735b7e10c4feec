#!/usr/bin/env bash
# e2e: ovl-agent's start-up in a node namespace. Each bad input stops it with exit code 2 and a
# message naming file, line, field and what was expected, before it changes anything in the
# kernel; a good configuration serves /healthz and /readyz.
# `ovlctl status` reads the agent and the kernel, and says when the agent is not running.
# Usage: agent_startup_e2e.sh OVL_AGENT OVL_TCPPROBE OVLCTL
set -euo pipefail
AGENT=${1:?usage: agent_startup_e2e.sh OVL_AGENT OVL_TCPPROBE OVLCTL}
OVLCTL=${3:?usage: agent_startup_e2e.sh OVL_AGENT OVL_TCPPROBE OVLCTL}
source "$(dirname "$0")/lib.sh"

cluster_up 2 0
write_cluster_files "$E2E_DIR" 2
cp "$E2E_DIR/cluster.yaml" "$E2E_DIR/cluster.good"
cp "$E2E_DIR/node1.yaml" "$E2E_DIR/node1.good"

# expect_refusal NAME PATTERN: the agent on node 1 exits 2, its output matches PATTERN, and
# the kernel holds no VTEP or bridge.
expect_refusal() {
  local name=$1 pattern=$2 rc=0 out
  out=$(node_exec 1 timeout 10 "$AGENT" --config "$E2E_DIR/node1.yaml" 2>&1) || rc=$?
  printf '%s: exit %s: %s\n' "$name" "$rc" "$(grep -m1 -E "$pattern" <<<"$out" || echo "$out")"
  [[ $rc == 2 ]] || fail "$name: exit code $rc, expected 2; output: $out"
  grep -qE "$pattern" <<<"$out" || fail "$name: output does not match '$pattern': $out"
  if node_exec 1 ip link show ovl.1 >/dev/null 2>&1 || node_exec 1 ip link show ovlbr0 >/dev/null 2>&1; then
    fail "$name: the agent changed the kernel before refusing"
  fi
  cp "$E2E_DIR/cluster.good" "$E2E_DIR/cluster.yaml"
  cp "$E2E_DIR/node1.good" "$E2E_DIR/node1.yaml"
}

printf 'network:\n  podCIDR: 10.244.0.0/16\n  vni: [1\n' >"$E2E_DIR/cluster.yaml"
expect_refusal "YAML syntax error" 'cluster\.yaml:[0-9]+:[0-9]+: '
sed -i 's/vni: 1/vni: 16777216/' "$E2E_DIR/cluster.yaml"
expect_refusal "VNI out of range" 'cluster\.yaml:4:[0-9]+: network\.vni: .*16777216.*1\.\.16777215'
sed -i 's#podCIDR: 10.244.0.0/16#podCIDR: 10.244.0.0/33#' "$E2E_DIR/cluster.yaml"
expect_refusal "invalid CIDR" 'cluster\.yaml:2:[0-9]+: network\.podCIDR: .*10\.244\.0\.0/33'
sed -i 's/underlayIP: 192.168.50.2/underlayIP: 192.168.50.1/' "$E2E_DIR/cluster.yaml"
expect_refusal "two nodes with one underlay IP" 'nodes\[1\]\.underlayIP: .*192\.168\.50\.1.*node1'
sed -i 's#podSubnet: 10.244.2.0/24#podSubnet: 10.244.1.0/24#' "$E2E_DIR/cluster.yaml"
expect_refusal "overlapping pod subnets" 'nodes\[1\]\.podSubnet: .*10\.244\.1\.0/24'
sed -i 's#podSubnet: 10.244.2.0/24#podSubnet: 10.245.2.0/24#' "$E2E_DIR/cluster.yaml"
expect_refusal "pod subnet outside podCIDR" 'nodes\[1\]\.podSubnet: .*10\.245\.2\.0/24.*10\.244\.0\.0/16'
sed -i 's#podSubnet: 10.244.2.0/24#podSubnet: 10.244.2.9/24#' "$E2E_DIR/cluster.yaml"
expect_refusal "subnet not a network address" 'nodes\[1\]\.podSubnet: .*10\.244\.2\.0/24'
sed -i 's/underlayInterface: eth0/underlayInterface: eth9/' "$E2E_DIR/node1.yaml"
expect_refusal "unknown underlay interface" 'node1\.yaml:3:[0-9]+: underlayInterface: .*eth9.*eth0'
sed -i 's/nodeName: node1/nodeName: node7/' "$E2E_DIR/node1.yaml"
expect_refusal "node not in the cluster" "node 'node7'"

echo "== log options: levels are case-insensitive, a bad one is refused with the valid ones"
rc=0
out=$(node_exec 1 timeout 10 "$AGENT" --config "$E2E_DIR/node1.yaml" --log-level loud 2>&1) || rc=$?
[[ $rc == 2 ]] || fail "--log-level loud: exit $rc, expected 2: $out"
grep -q 'trace,debug,info,warn,error' <<<"$out" || fail "--log-level loud: $out"
sed -i 's/nodeName: node1/nodeName: node7/' "$E2E_DIR/node1.yaml"
rc=0
out=$(node_exec 1 timeout 10 "$AGENT" --config "$E2E_DIR/node1.yaml" --log-level DEBUG \
        --log-format json 2>&1) || rc=$?
cp "$E2E_DIR/node1.good" "$E2E_DIR/node1.yaml"
[[ $rc == 2 ]] || fail "node7 with json logs: exit $rc: $out"
line=$(grep -m1 "node 'node7'" <<<"$out") || fail "json logs: no line about node7: $out"
jq -e '.level == "error" and (.time | test("^[0-9-]+T[0-9:.]+Z$")) and (.msg | contains("node7"))' \
  <<<"$line" >/dev/null || fail "json log line: $line"
echo "json log line: $line"

echo "== a good configuration: ready, health endpoints answer"
agent_start 1 "$E2E_DIR" "$AGENT"
agent_wait_ready 1 10
[[ $(_ovl_http_status "$(node_ns 1)" 127.0.0.1 9765 /healthz) == 200 ]] || fail "/healthz not 200"
body=$(node_exec 1 bash -c 'exec 3<>/dev/tcp/127.0.0.1/9765; printf "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" >&3; cat <&3')
grep -q '"ready":true' <<<"$body" || fail "/readyz body: $body"
grep -q '"peers":1' <<<"$body" || fail "/readyz body: $body"
echo "readyz: $(tail -n1 <<<"$body")"
echo "== ovlctl status: the agent and the kernel"
rc=0
status=$(node_exec 1 "$OVLCTL" status -c "$E2E_DIR/node1.yaml" -o json) || rc=$?
[[ $rc == 0 ]] || fail "ovlctl status: exit $rc: $status"
jq -e '.agent.running and .agent.ready and .agent.peers == 1 and .agent.version != null
       and (.agent.lastConverged | test("Z$")) and .vtep.name == "ovl.1" and .vtep.up
       and .vtep.peerEntries.routes == 1 and .bridge.name == "ovlbr0" and .bridge.mtu == .vtep.mtu' \
  <<<"$status" >/dev/null || fail "ovlctl status: $status"
node_exec 1 "$OVLCTL" status -c "$E2E_DIR/node1.yaml"
echo "== a second agent on the node is refused with exit 2"
rc=0
out=$(node_exec 1 timeout 10 "$AGENT" --config "$E2E_DIR/node1.yaml" 2>&1) || rc=$?
echo "second agent: exit $rc: $out"
[[ $rc == 2 ]] && grep -q "another ovl-agent (pid ${OVL_AGENT_PID[1]})" <<<"$out" || fail "second agent not refused"
echo "== another process on the health address: refused with exit 2"
sed -i "s#stateDir: .*#stateDir: $E2E_DIR/state-other#" "$E2E_DIR/node1.yaml"
rc=0
out=$(node_exec 1 timeout 10 "$AGENT" --config "$E2E_DIR/node1.yaml" 2>&1) || rc=$?
echo "exit $rc: $(tail -n1 <<<"$out")"
[[ $rc == 2 ]] && grep -q "healthAddress 127.0.0.1:9765: cannot listen" <<<"$out" || fail "port clash not refused"
agent_kill 1 TERM
echo "== ovlctl status with the agent down: said so, exit 1, the kernel's state still shown"
rc=0
status=$(node_exec 1 "$OVLCTL" status -c "$E2E_DIR/node1.yaml" -o json) || rc=$?
[[ $rc == 1 ]] || fail "ovlctl status with the agent down: exit $rc: $status"
jq -e '(.agent.running | not) and (.agent.problem | contains("not running"))
       and .vtep.name == "ovl.1" and .vtep.up and .vtep.peerEntries.routes == 1' \
  <<<"$status" >/dev/null || fail "ovlctl status with the agent down: $status"
node_exec 1 "$OVLCTL" status -c "$E2E_DIR/node1.yaml" || true
echo "PASS"
