#!/usr/bin/env bash
# e2e, the acceptance case of `ovlctl diagnose`: a 3-node cluster with `masquerade: none` and
# strict rp_filter (1) on every node (conf/all, conf/default and every interface). A host process
# on node1 connects to a cluster IP whose only endpoint is a pod on node2, and hangs: node2's
# VTEP drops the request (its source, node1's underlay address, routes back via eth0) and
# node1's eth0 drops the reply (its source, node2's pod, routes back via the VTEP). Checks:
#   1. the connection fails; `ovlctl diagnose` on node2 names node2's VTEP and on node1 names
#      node1's underlay interface (for the reply), exit 1; `-o json` validates against
#      docs/diagnose-json.schema.json; `ovlctl trace` shows the dropped reply;
#   2. `ovlctl diagnose --fix` on both: the same connection succeeds, and every other sysctl
#      (sysctl -a in the node namespace), the routes, addresses and nftables ruleset are as
#      before; a second diagnose exits 0; --persist writes the drop-in with slashed keys;
#   3. the VTEP deleted and re-created with strict defaults: the agent (rpFilter: fix)
#      restores loose within 2 s and logs why;
#   4. the agent's periodic checks log a new finding (ip_forward off) once, and its end.
# Usage: diagnose_e2e.sh OVL_AGENT OVL_TCPPROBE OVLCTL
set -euo pipefail
AGENT=${1:?usage: diagnose_e2e.sh OVL_AGENT OVL_TCPPROBE OVLCTL}
PROBE=${2:?usage: diagnose_e2e.sh OVL_AGENT OVL_TCPPROBE OVLCTL}
OVLCTL=${3:?usage: diagnose_e2e.sh OVL_AGENT OVL_TCPPROBE OVLCTL}
source "$(dirname "$0")/lib.sh"
SCHEMA="$OVL_ROOT/docs/diagnose-json.schema.json"
step() { printf '\n== %s\n' "$*"; }

step "3 nodes, masquerade none, strict rp_filter everywhere; service 10.96.0.10:80 -> n2p1"
cluster_up 3 1
write_cluster_files "$E2E_DIR" 3
# The agents only warn for now (ovlctl diagnose is what is tested first); node2's is restarted
# with rpFilter: fix for step 3.
for i in 1 2 3; do echo 'rpFilter: warn' >>"$E2E_DIR/node$i.yaml"; done
# node3 runs every check each second (step 4).
echo 'resyncSeconds: 1' >>"$E2E_DIR/node3.yaml"
cat >>"$E2E_DIR/cluster.yaml" <<'YAML'
services:
  - namespace: default
    name: web
    clusterIP: 10.96.0.10
    ports: [{name: http, port: 80, targetPort: 8080}]
    endpoints: [{ip: 10.244.2.11, node: node2}]
YAML
sed -i "s/^  port: 4789\$/&\\n  serviceCIDR: 10.96.0.0\/12\\n  masquerade: none/" "$E2E_DIR/cluster.yaml"
grep -q 'masquerade: none' "$E2E_DIR/cluster.yaml" || fail "cluster file without masquerade: none"
for i in 1 2 3; do
  # A host process's first route lookup for the cluster IP needs a route (nat OUTPUT rewrites
  # the destination afterwards); nothing answers at .254.
  node_exec "$i" ip route add default via 192.168.50.254 dev eth0
  # Strict everywhere, also for interfaces made later (the agent's VTEP and bridge).
  node_exec "$i" sh -c 'for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 1 >"$f"; done'
  agent_start "$i" "$E2E_DIR" "$AGENT"
done
for i in 1 2 3; do agent_wait_ready "$i" 20; done
pods_up 3 1
ip netns exec "$(pod_ns 2 1)" "$PROBE" serve --port 8080 --hello n2p1 >/dev/null 2>&1 &
server=$!
wait_until 5 pod_exec 2 1 "$PROBE" connect 10.244.2.11 8080 >/dev/null
for i in 1 2; do
  node_exec "$i" sysctl -n net.ipv4.conf.all.rp_filter net.ipv4.conf.eth0.rp_filter \
    net.ipv4.conf.ovl/1.rp_filter | tr '\n' ' ' | grep -qx '1 1 1 ' ||
    fail "node$i: rp_filter is not strict on all/eth0/ovl.1"
done

step "1. the connection hangs; diagnose names the interfaces"
if node_exec 1 "$PROBE" connect 10.96.0.10 80 --timeout-ms 1500 --expect-hello; then
  fail "node1 -> 10.96.0.10:80 worked under strict rp_filter (the test premise is wrong)"
fi
echo "node1 host -> 10.96.0.10:80: failed, as expected"
diagnose() { # diagnose I ARGS...: prints the output; returns ovlctl's exit status
  local i=$1
  shift
  node_exec "$i" "$OVLCTL" diagnose --config "$E2E_DIR/node$i.yaml" "$@"
}
for i in 2 1; do
  rc=0
  diagnose "$i" >"$E2E_DIR/diag$i.txt" || rc=$?
  printf -- '--- ovlctl diagnose on node%s (exit %s)\n' "$i" "$rc"
  cat "$E2E_DIR/diag$i.txt"
  ((rc == 1)) || fail "diagnose on node$i exited $rc, expected 1"
done
grep -q '^\* \[rp_filter\] ovl\.1: strict reverse-path filtering' "$E2E_DIR/diag2.txt" ||
  fail "diagnose on node2 does not name node2's VTEP ovl.1"
grep -q 'host on node1 -> service -> endpoint on node2' "$E2E_DIR/diag2.txt" ||
  fail "diagnose on node2 does not name the broken path"
grep -q '^\* \[rp_filter\] eth0: strict reverse-path filtering' "$E2E_DIR/diag1.txt" ||
  fail "diagnose on node1 does not name node1's underlay interface eth0"
grep -q 'reply arriving on node1' "$E2E_DIR/diag1.txt" ||
  fail "diagnose on node1 does not say the reply is what eth0 drops"
grep -q 'kernel answer: ip route get 192.168.50.1 from 10.244.2.2 iif eth0 -> E' "$E2E_DIR/diag1.txt" ||
  fail "diagnose on node1 does not show the kernel's answer"
# node2 dropped the connection's SYNs (node1 never got a reply to drop): its counter moved.
grep -q 'IPReversePathFilter: [1-9]' "$E2E_DIR/diag2.txt" ||
  fail "diagnose on node2 does not show a non-zero IPReversePathFilter counter"
# The agent (rpFilter: warn) logged the same finding, once, and changed nothing.
n=$(grep -c 'warning diagnose \[rp_filter\] ovl.1: strict' "${OVL_AGENT_LOG[2]}" || true)
((n == 1)) || fail "the agent on node2 logged the ovl.1 rp_filter finding $n times, expected once"
# ...and shows it on its health endpoint.
# shellcheck disable=SC2016 # expanded by the inner bash
health=$(timeout 2 ip netns exec "$(node_ns 2)" bash -c '
  exec 3<>"/dev/tcp/${1%:*}/${1##*:}" || exit 1
  printf "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" >&3
  cat <&3' _ "$OVL_HEALTH_ADDR" | sed -n '/^{/,$p')
jq -e '.findings[] | select(.check == "rp_filter" and .subject == "ovl.1" and .fixed == false)' \
  <<<"$health" >/dev/null || fail "the health endpoint of node2 does not list the finding: $health"
echo "node2's agent logged the finding once and lists it on /healthz"
v=$(agent_metric 2 ovl_rp_filter_findings)
[[ $v =~ ^[1-9] ]] || fail "node2's /metrics: ovl_rp_filter_findings is '$v', expected at least 1"
echo "node2's /metrics: ovl_rp_filter_findings $v"

rc=0
diagnose 2 -o json >"$E2E_DIR/diag2.json" || rc=$?
((rc == 1)) || fail "diagnose -o json on node2 exited $rc, expected 1"
/usr/bin/python3 - "$SCHEMA" "$E2E_DIR/diag2.json" <<'PY' || fail "-o json does not match the schema"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
doc = json.load(open(sys.argv[2]))
jsonschema.validate(doc, schema)
rp = [f for f in doc["findings"] if f["check"] == "rp_filter" and f["subject"] == "ovl.1"]
assert rp and rp[0]["fixable"] and not rp[0]["fixed"], rp
assert doc["exitCode"] == 1 and doc["problems"] >= 1, doc
print("diagnose -o json: valid against", sys.argv[1])
PY

node_exec 1 "$OVLCTL" trace --config "$E2E_DIR/node1.yaml" 192.168.50.1 10.96.0.10:80/tcp |
  tee "$E2E_DIR/trace.txt"
grep -q 'endpoint 10.244.2.11:8080 on node2 (100.0%' "$E2E_DIR/trace.txt" || fail "trace: endpoint"
grep -q 'DROPPED by reverse-path filtering' "$E2E_DIR/trace.txt" || fail "trace: rp verdict"

step "2. diagnose --fix on both nodes: the connection works, nothing else changed"
snapshot() { # snapshot I FILE: every sysctl (rp_filter of the two fixed interfaces aside), routes, addresses, nft
  local i=$1
  {
    # Counters that move by themselves are left out (conntrack entries, random/entropy, inode
    # and file counts are global and change with everything else on the machine).
    node_exec "$i" sysctl -a 2>/dev/null | grep -vE \
      '^(net\.ipv4\.conf\.(eth0|ovl/1)\.rp_filter|net\.netfilter\.nf_conntrack_count|kernel\.(random\.(uuid|entropy_avail)|ns_last_pid|pty\.nr)|fs\.(dentry-state|file-nr|inode-nr|inode-state)) '
    node_exec "$i" ip route show table all
    node_exec "$i" ip addr show
    node_exec "$i" nft list ruleset
  } >"$2"
}
for i in 1 2; do
  # IPv6 duplicate address detection on the pods' bridge ports finishes by itself (tentative
  # flag, local route): wait for it, or the snapshots differ by what the kernel did meanwhile.
  wait_until 10 bash -c "! ip -n $(node_ns "$i") addr show | grep -q tentative" >/dev/null ||
    fail "node$i: IPv6 addresses still tentative"
  snapshot "$i" "$E2E_DIR/before$i"
  # A snapshot that failed to collect would compare equal to anything.
  grep -q '^net.ipv4.conf.lo.rp_filter = 1$' "$E2E_DIR/before$i" &&
    grep -q 'table ip ovl' "$E2E_DIR/before$i" && grep -q 'proto 77' "$E2E_DIR/before$i" &&
    grep -q 'inet 192.168.50.' "$E2E_DIR/before$i" || fail "node$i: incomplete snapshot"
done
for i in 1 2; do
  rc=0
  diagnose "$i" --fix --persist --sysctl-dir "$E2E_DIR/sysctl.d-node$i" >"$E2E_DIR/fix$i.txt" || rc=$?
  printf -- '--- ovlctl diagnose --fix --persist on node%s (exit %s)\n' "$i" "$rc"
  cat "$E2E_DIR/fix$i.txt"
  ((rc == 0)) || fail "diagnose --fix on node$i exited $rc, expected 0"
done
for i in 1 2; do
  [[ $(node_exec "$i" sysctl -n net.ipv4.conf.all.rp_filter) == 1 ]] ||
    fail "node$i: --fix changed conf/all (it must never relax rp_filter host-wide)"
  grep -qx 'net.ipv4.conf.ovl/1.rp_filter = 2' "$E2E_DIR/sysctl.d-node$i/99-zz-ovl-rp-filter.conf" ||
    fail "node$i: the drop-in does not hold net.ipv4.conf.ovl/1.rp_filter = 2"
  grep -qx 'net.ipv4.conf.eth0.rp_filter = 2' "$E2E_DIR/sysctl.d-node$i/99-zz-ovl-rp-filter.conf" ||
    fail "node$i: the drop-in does not hold net.ipv4.conf.eth0.rp_filter = 2"
done
out=$(node_exec 1 "$PROBE" connect 10.96.0.10 80 --timeout-ms 3000 --expect-hello) ||
  fail "node1 -> 10.96.0.10:80 still fails after --fix"
[[ $out == n2p1 ]] || fail "node1 -> 10.96.0.10:80 answered '$out'"
echo "node1 host -> 10.96.0.10:80 answered by $out"
for i in 1 2; do
  snapshot "$i" "$E2E_DIR/after$i"
  diff -u "$E2E_DIR/before$i" "$E2E_DIR/after$i" ||
    fail "node$i: --fix changed more than rp_filter of eth0 and ovl.1 (diff above)"
  echo "node$i: sysctls, routes, addresses and nftables unchanged but for the two rp_filter values"
  diagnose "$i" >/dev/null || fail "diagnose on node$i after --fix exited $?, expected 0"
done

step "3. the VTEP re-created with strict defaults: the agent (rpFilter: fix) restores loose"
agent_kill 2
sed -i 's/^rpFilter: warn$/rpFilter: fix/' "$E2E_DIR/node2.yaml"
agent_start 2 "$E2E_DIR" "$AGENT"
agent_wait_ready 2 20
node_exec 2 sysctl -qw net.ipv4.conf.default.rp_filter=1
node_exec 2 ip link del ovl.1
wait_until 2 bash -c "[[ \$(ip netns exec $(node_ns 2) sysctl -n net.ipv4.conf.ovl/1.rp_filter 2>/dev/null) == 2 ]]" ||
  fail "the agent on node2 did not restore rp_filter=2 on the re-created VTEP within 2 s"
wait_until 2 grep -q 'diagnose \[rp_filter\] ovl.1: strict .* Fixed (rpFilter: fix)' "${OVL_AGENT_LOG[2]}" ||
  fail "the agent did not log why it changed rp_filter"
grep -q 'diagnose: net.ipv4.conf.ovl/1.rp_filter = 2 (was 1)' "${OVL_AGENT_LOG[2]}" ||
  fail "the agent did not log what it changed"
grep 'diagnose' "${OVL_AGENT_LOG[2]}" | tail -n 2
v=$(agent_metric 2 ovl_rp_filter_fixes_total)
[[ $v =~ ^[1-9] ]] || fail "node2's /metrics: ovl_rp_filter_fixes_total is '$v', expected at least 1"
d=$(agent_metric 2 'ovl_drift_repairs_total{kind="link"}')
[[ $d =~ ^[1-9] ]] || fail "node2's /metrics: the re-created VTEP is not a link drift repair ('$d')"
echo "node2's /metrics: ovl_rp_filter_fixes_total $v, link drift repairs $d"
out=$(node_exec 1 "$PROBE" connect 10.96.0.10 80 --timeout-ms 3000 --expect-hello) ||
  fail "node1 -> 10.96.0.10:80 fails after the VTEP was re-created"
echo "node1 host -> 10.96.0.10:80 answered by $out after node2's VTEP was re-created"

step "4. the agent's periodic checks: ip_forward turned off on node3 is logged, then resolved"
node_exec 3 sysctl -qw net.ipv4.ip_forward=0
wait_until 5 grep -q 'warning diagnose \[ip_forward\] net.ipv4.ip_forward: IPv4 forwarding is off' \
  "${OVL_AGENT_LOG[3]}" || fail "the agent on node3 did not report ip_forward=0"
node_exec 3 sysctl -qw net.ipv4.ip_forward=1
wait_until 5 grep -q 'diagnose: resolved: \[ip_forward\]' "${OVL_AGENT_LOG[3]}" ||
  fail "the agent on node3 did not report the ip_forward finding as resolved"
grep 'diagnose.*ip_forward' "${OVL_AGENT_LOG[3]}"
kill "$server" 2>/dev/null || true
echo PASS
