#!/usr/bin/env bash
# The ovl demo: installs what it needs, builds, starts a 3-node cluster in network namespaces
# (examples/demo/), 2 pods per node, one ovl-agent per node, and shows pod-to-pod TCP across
# the overlay, the kernel objects the agent made, a service balancing over pods on every node
# (cluster IP and NodePort), the agent repairing a route that someone deleted, and `ovlctl
# diagnose` finding and fixing strict rp_filter (masquerade none). Everything lives in
# namespaces named ovldemo-*; the host is not touched.
#   scripts/demo.sh          run it, then remove the cluster
#   scripts/demo.sh --keep   leave it running (ip netns list; ip netns exec ovldemo-n1 bash)
#   scripts/demo.sh --down   remove a cluster left by --keep
#   scripts/demo.sh --datastore etcd [--keep]
#                            the same on etcd: one etcd member in the underlay namespace, the
#                            nodes register and claim their subnets, the service is written
#                            with `ovlctl service apply`, and a node whose agent dies is dropped
#                            by the others when its lease expires
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
mode=""
datastore=file
usage() { echo "usage: $0 [--datastore file|etcd] [--keep|--down]" >&2; exit 2; }
while (($#)); do
  case $1 in
    --keep | --down) mode=$1 ;;
    --datastore) datastore=${2:-}; shift ;;
    --datastore=*) datastore=${1#--datastore=} ;;
    *) usage ;;
  esac
  shift
done
case $datastore in file | etcd) ;; *) usage ;; esac
[[ $(id -u) -eq 0 ]] || { echo "demo: run as root (it creates network namespaces)" >&2; exit 1; }

export DEMO_RUN=ovldemo
source examples/demo/netns-cluster.sh
source examples/demo/etcd-cluster.sh
run_dir=/run/ovl-demo
stop_left_over() {
  # Agents of a previous --keep run: their pids are not ours, so end them through their netns.
  local ns
  for ns in $(ip netns list | awk '{print $1}' | grep "^${RUN}-" || true); do
    _ovl_kill_ns_procs "$ns"
    ip netns del "$ns" 2>/dev/null || true
  done
}
if [[ $mode == --down ]]; then
  stop_left_over
  rm -rf "$run_dir"
  echo "demo cluster removed"
  exit 0
fi

scripts/install-deps.sh
echo "== building"
scripts/build.sh >/dev/null
agent="$root/build/agent/ovl-agent"
probe="$root/build/tests/tools/ovl-tcpprobe"
ovlctl="$root/build/agent/ovlctl"
stop_left_over
if [[ $mode != --keep ]]; then
  trap 'cluster_down; rm -rf "$run_dir"' EXIT
fi

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@" | sed 's/^/  /'; }

say "3 nodes on an underlay bridge, one ovl-agent each (examples/demo/, datastore $datastore)"
cluster_up 3 2
rm -rf "$run_dir" && mkdir -p "$run_dir"
if [[ $datastore == etcd ]]; then
  etcd_up 1 "$run_dir/etcd"
  write_etcd_agent_files "$run_dir" 3 5 # lease TTL 5 s; each node's previous subnet: 10.244.i.0/24
  sed -n '/^datastore/,$p' "$run_dir/node1.yaml" | sed 's/^/  node1.yaml: /'
  ctl() { ul_exec "$ovlctl" "$@" --config "$run_dir/node1.yaml"; }
  show ctl network apply -f examples/demo/network.yaml
  show ctl network show
else
  cp examples/demo/cluster.yaml examples/demo/node[123].yaml "$run_dir/"
fi
for i in 1 2 3; do agent_start "$i" "$run_dir" "$agent"; done
for i in 1 2 3; do agent_wait_ready "$i" 20; done
pods_up 3 2
echo "agents ready; logs in $run_dir/agent-node*.log"
if [[ $datastore == etcd ]]; then
  say "the nodes registered themselves in etcd; the service is written with ovlctl"
  show ctl node list
  show ctl service apply -f examples/demo/cluster.yaml
  show ctl service list
  wait_until 5 bash -c "ip netns exec $(node_ns 3) nft list map ip ovl services | grep -q demo/web" >/dev/null
fi

say "what the agent on node1 made (iproute2 reads it back)"
n1="ip netns exec $(node_ns 1)"
show $n1 bash -c "ip -d link show ovl.1 | grep -oE '^[0-9]+: .* mtu [0-9]+|link/ether [^ ]+|vxlan id .* nolearning'"
show $n1 ip -4 -br addr show dev ovl.1
show $n1 ip neigh show dev ovl.1
show $n1 bridge fdb show dev ovl.1
show $n1 ip route show dev ovl.1

say "pod-to-pod TCP across the overlay: every ordered pair of the 6 pods"
check_all_pairs 3 2 "$probe"

say "service demo/web: 10.96.0.10:80 (and NodePort 30080) over pod 1 of every node"
for i in 1 2 3; do
  ip netns exec "$(pod_ns "$i" 1)" "$probe" serve --port 8080 --hello "n${i}p1" >/dev/null 2>&1 &
done
wait_until 5 pod_exec 1 2 "$probe" connect 10.96.0.10 80 >/dev/null
echo "300 connections from pod n1p2 to 10.96.0.10:80, answered by:"
pod_exec 1 2 "$probe" connect 10.96.0.10 80 --expect-hello --repeat 300 | sort | uniq -c | sed 's/^/  /'
echo "100 connections from node2's host to node3's NodePort 192.168.50.3:30080, answered by:"
node_exec 2 "$probe" connect 192.168.50.3 30080 --expect-hello --repeat 100 | sort | uniq -c | sed 's/^/  /'
show $n1 bash -c "nft list map ip ovl services; nft list map ip ovl endpoints"
echo "  (a service without endpoints is refused at once; see tests/e2e/services_e2e.sh)"

say "someone deletes node1's route to node3's pods; the agent puts it back"
show $n1 ip route del 10.244.3.0/24 dev ovl.1
wait_until 2 bash -c "[[ -n \$(ip -n $(node_ns 1) route show 10.244.3.0/24 dev ovl.1) ]]"
show $n1 ip route show 10.244.3.0/24 dev ovl.1
grep "replace route 10.244.3.0/24" "$run_dir/agent-node1.log" | tail -n1 | sed 's/^/  agent log: /'

if [[ $datastore == etcd ]]; then
  say "node3's agent is killed (no cleanup): its lease expires, node1 drops its route; back on restart"
  agent_kill 3 KILL
  wait_until 8 bash -c "[[ -z \$(ip -n $(node_ns 1) route show 10.244.3.0/24 dev ovl.1) ]]"
  show ctl node list
  agent_start 3 "$run_dir" "$agent"
  agent_wait_ready 3 20
  wait_until 5 bash -c "[[ -n \$(ip -n $(node_ns 1) route show 10.244.3.0/24 dev ovl.1) ]]"
  show $n1 ip route show 10.244.3.0/24 dev ovl.1
fi

if [[ $datastore == file ]]; then
  say "rp_filter: masquerade none and strict reverse-path filtering on every node"
  sed -i 's/^  port: 4789$/&\n  masquerade: none/' "$run_dir/cluster.yaml"
  wait_until 5 grep -q "cluster reloaded" "$run_dir/agent-node1.log" >/dev/null
  for i in 1 2 3; do
    node_exec "$i" sh -c 'for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 1 >"$f"; done'
    # A host process's first route lookup for the cluster IP needs a route (nat OUTPUT then
    # rewrites the destination); a default route that leads nowhere (.254) is enough.
    node_exec "$i" ip route add default via 192.168.50.254 dev eth0
  done
  echo "host processes keep their underlay source address now, so replies come back asymmetrically:"
  echo "9 connections from node1's host to 10.96.0.10:80 (one endpoint per node):"
  node_exec 1 "$probe" connect 10.96.0.10 80 --expect-hello --repeat 9 --timeout-ms 300 2>&1 |
    sort | uniq -c | sed 's/^/  /' || true
  printf '$ ovlctl diagnose   (on node1)\n'
  rc=0
  node_exec 1 "$ovlctl" diagnose --config "$run_dir/node1.yaml" >"$run_dir/diagnose.txt" || rc=$?
  sed 's/^/  /' "$run_dir/diagnose.txt"
  echo "  (exit status $rc)"
  for i in 1 2 3; do
    printf '$ ovlctl diagnose --fix   (on node%s)\n' "$i"
    node_exec "$i" "$ovlctl" diagnose --config "$run_dir/node$i.yaml" --fix |
      sed -n '/^CHANGED/,$p' | sed 's/^/  /'
  done
  echo "9 connections from node1's host to 10.96.0.10:80 again, answered by:"
  node_exec 1 "$probe" connect 10.96.0.10 80 --expect-hello --repeat 9 --timeout-ms 2000 |
    sort | uniq -c | sed 's/^/  /'
else
  echo "(the rp_filter part of the demo, ovlctl diagnose --fix, runs with the file datastore)"
fi

if [[ $mode == --keep ]]; then
  say "left running: ip netns list | grep ovldemo; scripts/demo.sh --down removes it"
else
  say "done; removing the demo cluster"
fi
