#!/usr/bin/env bash
# e2e: Service NAT on a 3-node cluster. A NodePort service with one endpoint pod on each node
# and an external IP, and a service without endpoints. Checks:
#   1. the cluster IP answers from pods on every node and from every node's host processes,
#      and from an endpoint pod that lands on itself (hairpin), also when the service lists its
#      endpoints without their node; ClientIP affinity keeps each client on one endpoint;
#   2. 3,000 connections land uniformly on the 3 endpoints (chi-square, p > 0.001), and
#      weights 1:3 shift them accordingly;
#   3. the NodePort on every node's address and the external IP answer a client outside the
#      cluster; the NodePort does not answer on 127.0.0.1; with externalTrafficPolicy Local the
#      endpoint sees the client's own address, and a node without a local endpoint drops;
#   4. a service without endpoints refuses at once (< 100 ms); a UDP client that keeps one
#      socket moves to a live endpoint within 1 s of its endpoint's removal;
#   5. kill -9 and restart of an agent while a pod makes connections: none fails;
#   6. an element deleted or a chain flushed by someone else is repaired within 1 s;
#   7. `nft list table ip ovl` reads like the services (comments), and --cleanup removes it.
# Usage: services_e2e.sh OVL_AGENT OVL_TCPPROBE
set -euo pipefail
AGENT=${1:?usage: services_e2e.sh OVL_AGENT OVL_TCPPROBE}
PROBE=${2:?usage: services_e2e.sh OVL_AGENT OVL_TCPPROBE}
source "$(dirname "$0")/lib.sh"
step() { printf '\n== %s\n' "$*"; }

write_cluster() { # write_cluster W1 W2 W3: endpoint weights (empty = unset)
  local i w
  {
    printf 'network:\n  podCIDR: 10.244.0.0/16\n  subnetLength: 24\n  serviceCIDR: 10.96.0.0/12\n'
    printf 'nodes:\n'
    for i in 1 2 3; do
      printf '  - {name: node%s, underlayIP: 192.168.50.%s, podSubnet: 10.244.%s.0/24}\n' "$i" "$i" "$i"
    done
    printf 'services:\n'
    printf '  - namespace: default\n    name: web\n    type: NodePort\n    clusterIP: 10.96.0.10\n'
    printf '    externalIPs: [203.0.113.10]\n'
    printf '    ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]\n'
    printf '    endpoints:\n'
    for i in 1 2 3; do
      w=${!i:-}
      printf '      - {ip: 10.244.%s.11, node: node%s%s}\n' "$i" "$i" "${w:+, weight: $w}"
    done
    printf '  - namespace: default\n    name: empty\n    clusterIP: 10.96.0.11\n    ports: [{port: 80}]\n'
    printf '  - namespace: default\n    name: dns\n    clusterIP: 10.96.0.53\n'
    printf '    ports: [{protocol: UDP, port: 53, targetPort: 5353}]\n    endpoints:\n'
    for i in ${DNS_ENDPOINTS:-2 3}; do printf '      - {ip: 10.244.%s.11, node: node%s}\n' "$i" "$i"; done
    printf '  - namespace: default\n    name: sticky\n    clusterIP: 10.96.0.13\n'
    printf '    sessionAffinity: ClientIP\n    sessionAffinityTimeoutSeconds: 30\n'
    printf '    ports: [{port: 80, targetPort: 8080}]\n    endpoints:\n'
    for i in 1 2 3; do printf '      - {ip: 10.244.%s.11, node: node%s}\n' "$i" "$i"; done
    # Endpoints listed without their node (the field is optional): the pods n{1,2,3}p2 on :8082.
    printf '  - namespace: default\n    name: anon\n    clusterIP: 10.96.0.14\n'
    printf '    ports: [{port: 80, targetPort: 8082}]\n    endpoints:\n'
    for i in 1 2 3; do printf '      - {ip: 10.244.%s.12}\n' "$i"; done
    printf '  - namespace: default\n    name: local\n    type: NodePort\n    clusterIP: 10.96.0.12\n'
    printf '    externalTrafficPolicy: Local\n'
    printf '    ports: [{port: 81, targetPort: 8081, nodePort: 30081}]\n'
    printf '    endpoints: [{ip: 10.244.1.11, node: node1}]\n'
  } >"$E2E_DIR/cluster.tmp"
  mv "$E2E_DIR/cluster.tmp" "$E2E_DIR/cluster.yaml"
}

# chi2 COUNTS_FILE PROPORTIONS...: chi-square statistic of `uniq -c` output against the
# expected proportions (in the sorted order of the names).
chi2() {
  local file=$1; shift
  awk -v props="$*" 'BEGIN { n = split(props, p, " ") }
    { c[NR] = $1; total += $1 }
    END { if (NR != n) { print "categories: " NR " expected " n; exit 1 }
          for (i = 1; i <= n; i++) { e = total * p[i]; x += (c[i] - e) ^ 2 / e }
          printf "%.2f\n", x }' "$file"
}

step "cluster of 3 nodes x 2 pods, endpoints n1p1 n2p1 n3p1 on :8080"
cluster_up 3 2
write_cluster_files "$E2E_DIR" 3
write_cluster
for i in 1 2 3; do
  # A node has a default route; here it leads nowhere (nothing answers at .254), which is
  # enough for a host process's first route lookup before nat OUTPUT rewrites the destination.
  node_exec "$i" ip route add default via 192.168.50.254 dev eth0
  agent_start "$i" "$E2E_DIR" "$AGENT"
done
for i in 1 2 3; do agent_wait_ready "$i" 20; done
pods_up 3 2
servers=()
for i in 1 2 3; do
  ip netns exec "$(pod_ns "$i" 1)" "$PROBE" serve --port 8080 --hello "n${i}p1" >/dev/null 2>&1 &
  servers+=($!)
done
for i in 2 3; do
  ip netns exec "$(pod_ns "$i" 1)" "$PROBE" udp-serve --port 5353 --hello "n${i}p1" >/dev/null 2>&1 &
  servers+=($!)
done
for i in 1 2 3; do
  ip netns exec "$(pod_ns "$i" 2)" "$PROBE" serve --port 8082 --hello "n${i}p2" >/dev/null 2>&1 &
  servers+=($!)
done
# The endpoint of `local` says which client address it sees.
ip netns exec "$(pod_ns 1 1)" "$PROBE" serve --port 8081 --hello "{peer}" >/dev/null 2>&1 &
servers+=($!)
wait_until 5 pod_exec 1 1 "$PROBE" connect 10.244.1.11 8080 >/dev/null

step "1. the cluster IP from every pod and every node"
for i in 1 2 3; do
  for where in pod node; do
    if [[ $where == pod ]]; then out=$(pod_exec "$i" 2 "$PROBE" connect 10.96.0.10 80 --expect-hello)
    else out=$(node_exec "$i" "$PROBE" connect 10.96.0.10 80 --expect-hello); fi
    [[ $out =~ ^n[123]p1$ ]] || fail "$where $i: 10.96.0.10:80 answered '$out'"
    echo "$where $i -> 10.96.0.10:80 answered by $out"
  done
done

# Hairpin: n1p1 is an endpoint of the service it calls. When it lands on itself, the reply
# finds its way back through the node's de-NAT only because the connection is masqueraded
# (and, with br_netfilter active, because its bridge port has hairpin on: see pod_add).
pod_exec 1 1 "$PROBE" connect 10.96.0.10 80 --expect-hello --repeat 60 >"$E2E_DIR/hairpin" ||
  fail "a pod reaching its own service failed: $(sort "$E2E_DIR/hairpin" | uniq -c)"
grep -q "^n1p1$" "$E2E_DIR/hairpin" || fail "60 connections from n1p1 never landed on n1p1"
echo "hairpin: n1p1 -> 10.96.0.10:80 answered by: $(sort "$E2E_DIR/hairpin" | uniq -c | tr -s ' \n' ' ')"
# The same where the service does not say which node its endpoints are on (as `ovlctl service
# apply` accepts): node 2 finds 10.244.2.12 on itself by its pod subnet. The endpoints of
# `anon` are no other service's, so no element of another service's hairpin stands in.
pod_exec 2 2 "$PROBE" connect 10.96.0.14 80 --expect-hello --repeat 30 >"$E2E_DIR/hairpin-anon" ||
  fail "a pod reaching its own service (endpoints without node) failed: $(sort "$E2E_DIR/hairpin-anon" | uniq -c | tr -s ' \n' ' ')"
grep -q "^n2p2$" "$E2E_DIR/hairpin-anon" || fail "30 connections from n2p2 never landed on n2p2"
echo "hairpin, endpoints without node: n2p2 -> 10.96.0.14:80 answered by: $(sort "$E2E_DIR/hairpin-anon" | uniq -c | tr -s ' \n' ' ')"

# ClientIP affinity: every pod stays on one endpoint of `sticky` across 30 connections.
for i in 1 2 3; do
  got=$(pod_exec "$i" 2 "$PROBE" connect 10.96.0.13 80 --expect-hello --repeat 30 | sort -u)
  [[ $(wc -l <<<"$got") == 1 && $got =~ ^n[123]p1$ ]] ||
    fail "affinity: pod n${i}p2 was served by: $(tr '\n' ' ' <<<"$got")"
  echo "affinity: 30 connections from n${i}p2 to 10.96.0.13:80 all served by $got"
done

step "2. 3,000 connections spread uniformly; weights 1:3 shift them"
pod_exec 1 2 "$PROBE" connect 10.96.0.10 80 --expect-hello --repeat 3000 | sort | uniq -c >"$E2E_DIR/uniform"
cat "$E2E_DIR/uniform"
x=$(chi2 "$E2E_DIR/uniform" 0.3333333 0.3333333 0.3333334)
echo "chi-square $x (df 2; p > 0.001 needs < 13.82)"
awk -v x="$x" 'BEGIN { exit !(x < 13.82) }' || fail "not uniform: chi-square $x"
write_cluster 1 3 0
# Weight 0: n3p1 leaves node 1's endpoint map once the agent has the new file.
wait_until 3 bash -c "! ip netns exec $(node_ns 1) nft list map ip ovl endpoints | grep -q 'web:http -> 10.244.3.11'"
pod_exec 1 2 "$PROBE" connect 10.96.0.10 80 --expect-hello --repeat 3000 | sort | uniq -c >"$E2E_DIR/weighted"
cat "$E2E_DIR/weighted"
x=$(chi2 "$E2E_DIR/weighted" 0.25 0.75)
echo "chi-square $x against 1:3 (df 1; p > 0.001 needs < 10.83)"
awk -v x="$x" 'BEGIN { exit !(x < 10.83) }' || fail "not 1:3: chi-square $x"
write_cluster

step "3. NodePort and external IP from a client outside the cluster"
cns="${RUN}-client"
_ovl_ns_add "$cns"
ip -n "$cns" link add eth0 type veth peer name cl netns "$(ul_ns)"
ip -n "$(ul_ns)" link set cl master br0 up
ip -n "$cns" addr add 192.168.50.200/24 dev eth0
ip -n "$cns" link set eth0 up
ip -n "$cns" route add 203.0.113.10/32 via 192.168.50.1
for i in 1 2 3; do
  out=$(ip netns exec "$cns" "$PROBE" connect "192.168.50.$i" 30080 --expect-hello)
  [[ $out =~ ^n[123]p1$ ]] || fail "NodePort on node $i answered '$out'"
  echo "client -> 192.168.50.$i:30080 answered by $out"
done
out=$(ip netns exec "$cns" "$PROBE" connect 203.0.113.10 80 --expect-hello)
[[ $out =~ ^n[123]p1$ ]] || fail "external IP answered '$out'"
echo "client -> 203.0.113.10:80 answered by $out"
# A local listener on 127.0.0.1:30080 must get its own connections: ovl's NodePort is only on
# the node's other addresses.
ip netns exec "$(node_ns 1)" "$PROBE" serve --bind 127.0.0.1 --port 30080 --hello loopback >/dev/null 2>&1 &
servers+=($!)
wait_until 3 node_exec 1 "$PROBE" connect 127.0.0.1 30080 >/dev/null
out=$(node_exec 1 "$PROBE" connect 127.0.0.1 30080 --expect-hello)
[[ $out == loopback ]] || fail "127.0.0.1:30080 was answered by '$out', not by the local listener"
echo "127.0.0.1:30080 reaches the node's own listener, not the NodePort"
seen=$(ip netns exec "$cns" "$PROBE" connect 192.168.50.1 30081 --expect-hello)
[[ $seen == 192.168.50.200 ]] || fail "externalTrafficPolicy Local: the endpoint saw '$seen', not the client"
echo "externalTrafficPolicy Local: the endpoint sees the client's own address $seen"
# Dropped, as kube-proxy does (the client's load balancer should not send here): a timeout,
# neither an answer nor a refusal.
if ip netns exec "$cns" "$PROBE" connect 192.168.50.2 30081 --timeout-ms 500 2>"$E2E_DIR/etp"; then
  fail "externalTrafficPolicy Local: node 2 (no local endpoint) answered"
fi
grep -q "timed out" "$E2E_DIR/etp" || fail "externalTrafficPolicy Local: node 2 did not drop: $(cat "$E2E_DIR/etp")"
echo "externalTrafficPolicy Local: node 2, with no local endpoint, drops ($(cat "$E2E_DIR/etp"))"

step "4. a service without endpoints refuses at once"
t0=${EPOCHREALTIME/./}
if pod_exec 1 2 "$PROBE" connect 10.96.0.11 80 --timeout-ms 2000 2>"$E2E_DIR/refused"; then
  fail "10.96.0.11 accepted a connection"
fi
ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
cat "$E2E_DIR/refused"
grep -q "refused" "$E2E_DIR/refused" || fail "not refused: $(cat "$E2E_DIR/refused")"
((ms < 100)) || fail "refusal took $ms ms"
echo "refused in $ms ms (including starting the probe)"

step "4b. a UDP client on one socket moves off a removed endpoint within 1 s"
ip netns exec "$(pod_ns 1 2)" "$PROBE" udp-stream 10.96.0.53 53 --seconds 5 --interval-ms 20 \
  >"$E2E_DIR/udp.log" &
udp=$!
udp_start=${EPOCHREALTIME/./}
e2e_sleep 1.5
first=$(awk '$2 != "-" { a = $2 } END { print a }' "$E2E_DIR/udp.log")
[[ $first =~ ^n[23]p1$ ]] || fail "UDP: no answer from the dns service: $(tail -3 "$E2E_DIR/udp.log")"
keep=$([[ $first == n2p1 ]] && echo 3 || echo 2)
removed_at=$(((${EPOCHREALTIME/./} - udp_start) / 1000))
DNS_ENDPOINTS=$keep write_cluster
wait "$udp"
moved=$(awk -v t="$removed_at" -v want="n${keep}p1" '$1 >= t && $2 == want { print $1 - t; exit }' "$E2E_DIR/udp.log")
late=$(awk -v t="$removed_at" -v gone="$first" '$1 >= t + 1000 && $2 == gone' "$E2E_DIR/udp.log" | wc -l)
[[ -n $moved ]] || fail "UDP: the client never reached n${keep}p1 after $first was removed"
((moved < 1000 && late == 0)) || fail "UDP: moved after $moved ms, $late answers from $first later"
echo "UDP: the socket served by $first reached n${keep}p1 $moved ms after $first was removed"
write_cluster

step "5. kill -9 and restart of node 1's agent while its pod makes connections"
pod_exec 1 2 "$PROBE" connect 10.96.0.10 80 --repeat 3000 --timeout-ms 1000 >/dev/null 2>"$E2E_DIR/during" &
client=$!
e2e_sleep 0.3
agent_kill 1 KILL
agent_start 1 "$E2E_DIR" "$AGENT"
agent_wait_ready 1 10
wait "$client" || fail "connections failed across the restart: $(cat "$E2E_DIR/during")"
echo "3000 connections, none failed, across kill -9 and restart"

step "6. drift in the table is repaired within 1 s"
node_exec 2 nft delete element ip ovl services '{ 10.96.0.10 . tcp . 80 }'
wait_until 1 bash -c "ip netns exec $(node_ns 2) nft list map ip ovl services | grep -q 10.96.0.10" ||
  fail "deleted element not restored within 1 s"
node_exec 2 nft flush chain ip ovl nat_prerouting
wait_until 1 bash -c "ip netns exec $(node_ns 2) nft list chain ip ovl nat_prerouting | grep -q vmap" ||
  fail "flushed chain not refilled within 1 s"
out=$(pod_exec 2 2 "$PROBE" connect 10.96.0.10 80 --expect-hello)
[[ $out =~ ^n[123]p1$ ]] || fail "after repair, 10.96.0.10:80 answered '$out'"

step "7. the table reads like the services; --cleanup removes it"
node_exec 1 nft list table ip ovl >"$E2E_DIR/table"
grep -q 'comment "default/web:http"' "$E2E_DIR/table" || fail "no service comment in the table"
grep -q 'comment "default/web:http -> 10.244.2.11:8080"' "$E2E_DIR/table" || fail "no endpoint comment"
grep -E 'default/web:http' "$E2E_DIR/table" | head -3
kill "${servers[@]}" 2>/dev/null || true
agent_kill 1 TERM
node_exec 1 "$AGENT" --config "$E2E_DIR/node1.yaml" --cleanup
if node_exec 1 nft list table ip ovl >/dev/null 2>&1; then fail "table ip ovl survived --cleanup"; fi
echo "PASS"
