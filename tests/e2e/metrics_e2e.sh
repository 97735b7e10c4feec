#!/usr/bin/env bash
# e2e: the agents' /metrics scraped by a real Prometheus (Debian's `prometheus`, run in the
# underlay namespace, scrape interval 1 s) on a 3-node cluster; checked through its HTTP query API:
#   1. all three targets are up, and /metrics on every agent parses as Prometheus text
#      (promtool check metrics);
#   2. ovl_services on each node equals the cluster file's services;
#   3. a service added to the cluster file: ovl_services +1 on every node, and the network
#      programming latency and the services sync histograms count it;
#   4. a route the agent owns deleted under it: the route is back, and
#      ovl_drift_repairs_total{kind="route"} of that node has increased;
#   5. examples/grafana/ovl-dashboard.json is valid JSON with the import inputs Grafana needs,
#      every metric its expressions use is in the agents' /metrics, and every expression is
#      accepted by this Prometheus.
# Usage: metrics_e2e.sh OVL_AGENT
set -euo pipefail
AGENT=${1:?usage: metrics_e2e.sh OVL_AGENT}
# The agents listen on their node's underlay address, where the underlay's Prometheus reaches them.
# shellcheck disable=SC2034 # read by lib.sh's cluster helpers
OVL_HEALTH_ADDR=0.0.0.0:9765
source "$(dirname "$0")/lib.sh"
step() { printf '\n== %s\n' "$*"; }

for tool in prometheus promtool curl jq; do
  if ! command -v "$tool" >/dev/null; then
    [[ -n ${CI:-} ]] && fail "$tool is not installed (scripts/install-deps.sh installs it)"
    echo "SKIP: $tool is not installed (scripts/install-deps.sh installs it)"
    exit 77
  fi
done
DASHBOARD="$OVL_ROOT/examples/grafana/ovl-dashboard.json"
PROM_IP=192.168.50.250
PROM="http://$PROM_IP:9090"
PROM_PID=""

stop_prometheus() {
  if [[ -n $PROM_PID ]]; then
    kill "$PROM_PID" 2>/dev/null || true
    wait "$PROM_PID" 2>/dev/null || true
    PROM_PID=""
  fi
}
# Prometheus first, then lib.sh's clean-up, which takes the test's exit status from $?.
_metrics_cleanup() {
  local rc=$?
  set +e
  stop_prometheus
  (exit "$rc")
  _e2e_cleanup
}
trap _metrics_cleanup EXIT

write_cluster() { # write_cluster N: N services, svc1..svcN, each with one endpoint on node 2
  local n=$1 s
  {
    printf 'network:\n  podCIDR: 10.244.0.0/16\n  subnetLength: 24\n  serviceCIDR: 10.96.0.0/12\n'
    printf 'nodes:\n'
    for i in 1 2 3; do
      printf '  - {name: node%s, underlayIP: 192.168.50.%s, podSubnet: 10.244.%s.0/24}\n' "$i" "$i" "$i"
    done
    printf 'services:\n'
    for ((s = 1; s <= n; s++)); do
      printf '  - {namespace: default, name: svc%s, clusterIP: 10.96.0.%s, ' "$s" "$((10 + s))"
      printf 'ports: [{port: 80, targetPort: 8080}], endpoints: [{ip: 10.244.2.%s, node: node2}]}\n' \
        "$((10 + s))"
    done
  } >"$E2E_DIR/cluster.tmp"
  mv "$E2E_DIR/cluster.tmp" "$E2E_DIR/cluster.yaml"
}

# query PROMQL: the query's result vector as JSON ([{metric, value}...]); fails on an API error.
query() {
  ul_exec curl -sf --max-time 3 "$PROM/api/v1/query" --data-urlencode "query=$1" |
    jq -ce 'if .status == "success" then .data.result else error(.error) end'
}
# scalar PROMQL: the value of a query that yields one sample ("" when it yields none).
scalar() { query "$1" | jq -r '.[0].value[1] // ""'; }
# per_node PROMQL: "node1=V node2=V node3=V", by the instance each sample came from.
per_node() {
  query "$1" | jq -r 'map({i: (.metric.instance | capture("\\.(?<n>[0-9]+):").n), v: .value[1]})
    | sort_by(.i) | map("node\(.i)=\(.v)") | join(" ")'
}
# For wait_until, which runs its command again each time (a $(...) in its arguments would not be):
is() { [[ $(scalar "$1") == "$2" ]]; }          # is PROMQL VALUE
nodes_are() { [[ $(per_node "$1") == "$2" ]]; } # nodes_are PROMQL "node1=V node2=V node3=V"
above() {                                       # above PROMQL N: the value is an integer > N
  local v
  v=$(scalar "$1")
  [[ $v =~ ^[0-9]+$ ]] && ((v > $2))
}
has_route() { [[ -n $(node_exec "$1" ip route show "$2" dev ovl.1) ]]; }
metrics_of() { ul_exec curl -sf --max-time 3 "http://$(node_ip "$1"):9765/metrics"; }

step "cluster of 3 nodes, 2 services, agents listening on the underlay"
cluster_up 3 0
write_cluster_files "$E2E_DIR" 3
write_cluster 2
for i in 1 2 3; do agent_start "$i" "$E2E_DIR" "$AGENT"; done
for i in 1 2 3; do agent_wait_ready "$i" 30; done

step "Prometheus in the underlay namespace on $PROM_IP:9090, scraping every second"
ip -n "$(ul_ns)" addr add "$PROM_IP/24" dev br0
ip -n "$(ul_ns)" link set lo up
cat >"$E2E_DIR/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: ovl
    static_configs:
      - targets: ['$(node_ip 1):9765', '$(node_ip 2):9765', '$(node_ip 3):9765']
EOF
ip netns exec "$(ul_ns)" prometheus --config.file="$E2E_DIR/prometheus.yml" \
  --storage.tsdb.path="$E2E_DIR/tsdb" --web.listen-address="$PROM_IP:9090" \
  >"$E2E_DIR/prometheus.log" 2>&1 &
PROM_PID=$!
# shellcheck disable=SC2034 # read by lib.sh's clean-up
OVL_AGENT_LOG[99]="$E2E_DIR/prometheus.log" # shown with the agents' logs on a failure

step "1. all three targets up; /metrics is valid Prometheus text"
wait_until 30 is 'sum(up{job="ovl"})' 3 ||
  fail "targets not up: $(query 'up' 2>&1)"
for i in 1 2 3; do
  metrics_of "$i" >"$E2E_DIR/metrics-node$i.txt" || fail "node $i: GET /metrics failed"
  promtool check metrics <"$E2E_DIR/metrics-node$i.txt" ||
    fail "node $i: promtool check metrics: see $E2E_DIR/metrics-node$i.txt"
done
grep -E '^ovl_build_info\{version="[^"]+"\} 1$' "$E2E_DIR/metrics-node1.txt" ||
  fail "ovl_build_info missing"
echo "/metrics of node 1: $(wc -c <"$E2E_DIR/metrics-node1.txt") bytes, $(grep -vc '^#' "$E2E_DIR/metrics-node1.txt") samples; scrape durations (s): $(per_node 'scrape_duration_seconds{job="ovl"}')"

step "2. ovl_services equals the cluster file's 2 services on every node"
wait_until 10 nodes_are ovl_services "node1=2 node2=2 node3=2" ||
  fail "ovl_services: $(per_node 'ovl_services')"
echo "ovl_services: $(per_node 'ovl_services')"
programmed_before=$(per_node 'ovl_network_programming_duration_seconds_count')
services_syncs_before=$(scalar 'sum(ovl_sync_duration_seconds_count{kind=~"services_.*"})')
echo "programming latency counts: $programmed_before; services syncs (all nodes): $services_syncs_before"

step "3. a service added: ovl_services +1 on every node, programming latency observed"
write_cluster 3
wait_until 15 nodes_are ovl_services "node1=3 node2=3 node3=3" ||
  fail "ovl_services after the add: $(per_node 'ovl_services')"
for i in 1 2 3; do
  b=$(grep -oE "node$i=[0-9]+" <<<"$programmed_before" | cut -d= -f2)
  q="ovl_network_programming_duration_seconds_count{instance=\"$(node_ip "$i"):9765\"}"
  wait_until 5 above "$q" "$b" ||
    fail "node $i: network programming latency not observed (count $b -> $(scalar "$q"))"
done
programmed_after=$(per_node 'ovl_network_programming_duration_seconds_count')
services_syncs_after=$(scalar 'sum(ovl_sync_duration_seconds_count{kind=~"services_.*"})')
((services_syncs_after > services_syncs_before)) ||
  fail "services sync histograms did not count: $services_syncs_before -> $services_syncs_after"
echo "programming latency counts: $programmed_after; services syncs: $services_syncs_after"
echo "p99 programming latency (s): $(scalar 'histogram_quantile(0.99, sum(ovl_network_programming_duration_seconds_bucket) by (le))')"

step "4. a route deleted under node 1's agent: repaired and counted"
inst1="$(node_ip 1):9765"
drift_q="ovl_drift_repairs_total{kind=\"route\",instance=\"$inst1\"}"
overlay_q="ovl_sync_duration_seconds_count{kind=\"overlay\",instance=\"$inst1\"}"
drift_before=$(scalar "$drift_q")
overlay_before=$(scalar "$overlay_q")
[[ -n $drift_before && -n $overlay_before ]] || fail "node 1: no drift or overlay sync series"
node_exec 1 ip route del 10.244.2.0/24 dev ovl.1
wait_until 5 has_route 1 10.244.2.0/24 ||
  fail "node 1: the route to node 2 did not come back"
wait_until 10 above "$drift_q" "$drift_before" ||
  fail "node 1: ovl_drift_repairs_total{kind=\"route\"} stayed at $drift_before"
overlay_after=$(scalar "$overlay_q")
((overlay_after > overlay_before)) ||
  fail "node 1: overlay sync histogram count $overlay_before -> $overlay_after"
echo "node 1: route drift repairs $drift_before -> $(scalar "$drift_q"), overlay syncs $overlay_before -> $overlay_after"

step "5. the Grafana dashboard: JSON, import inputs, metric names, expressions"
jq -e '(.schemaVersion | type == "number") and (.panels | length > 0)
  and ([.__inputs[] | select(.name == "DS_PROMETHEUS" and .pluginId == "prometheus")] | length == 1)
  and ([.templating.list[] | select(.type == "datasource" and .query == "prometheus")] | length >= 1)' \
  "$DASHBOARD" >/dev/null || fail "$DASHBOARD: not a Grafana-importable dashboard"
mapfile -t exprs < <(jq -r '.. | objects | select(has("expr")) | .expr' "$DASHBOARD")
((${#exprs[@]} >= 8)) || fail "$DASHBOARD: only ${#exprs[@]} expressions"
metrics_of 1 >"$E2E_DIR/metrics-node1.txt"
for name in $(printf '%s\n' "${exprs[@]}" | grep -oE '\bovl_[a-z_]+' | sort -u); do
  grep -qE "^$name(\{| )" "$E2E_DIR/metrics-node1.txt" ||
    fail "dashboard uses $name, which the agent's /metrics does not have"
done
for e in "${exprs[@]}"; do
  # Grafana's variables, as Grafana would fill them in.
  q=${e//\$__rate_interval/1m}
  q=${q//\$instance/.*}
  query "$q" >/dev/null || fail "dashboard expression refused by Prometheus: $e"
done
echo "dashboard: ${#exprs[@]} expressions, $(printf '%s\n' "${exprs[@]}" | grep -oE '\bovl_[a-z_]+' | sort -u | wc -l) metric names, all present and accepted"

stop_prometheus
echo "PASS"
