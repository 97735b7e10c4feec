#!/usr/bin/env bash
# Overlay data plane: pod-to-pod TCP between two ovl nodes against the same overlay made by
# hand, and against the underlay alone, side by side in one run.
#
#   ovl       two nodes running ovl-agent (file datastore), one pod each on the agent's bridge
#             (the e2e tests' netns cluster);
#   hand-made the same kernel objects made with ip/bridge, no agent and no nftables table:
#             VTEP ovl.1 (vxlan id 1, local, dev eth0, dstport 4789, nolearning, mtu 1450,
#             address 10.244.I.0/32), bridge ovlbr0 (10.244.I.1/24), and per peer a permanent
#             neighbour, an FDB entry and an onlink route; pods attached alike (mtu 1450, hairpin);
#   underlay  iperf3 between the node namespaces of the hand-made cluster (eth0 to eth0).
#
# Each round runs the three in a rotating order: iperf3 TCP for SECONDS s (pod 1.1 -> pod 2.1),
# then new TCP connections per second (ovl-tcpprobe connect --repeat, one connection at a time,
# the process start included, amortised over CONNS connections). Prints each set-up's median
# (min, max), the per-round ratios' median (min, max), and ovl / hand-made, ovl / underlay.
# With OVL_TP_PROFILE=1 (needs perf, Debian's linux-perf), after the rounds it profiles one more
# stream and connection loop on each overlay (perf record -a -g) and prints the share of their
# CPU spent in nftables chains (and in the FIB lookups they make) and in conntrack and NAT: what
# ovl adds to the hand-made overlay, measured in a way that other load barely moves.
# Usage: overlay_throughput.sh OVL_AGENT OVL_TCPPROBE [ROUNDS=9] [SECONDS=5] [CONNS=1000]
set -euo pipefail
AGENT=${1:?usage: overlay_throughput.sh OVL_AGENT OVL_TCPPROBE [ROUNDS] [SECONDS] [CONNS]}
PROBE=${2:?usage: overlay_throughput.sh OVL_AGENT OVL_TCPPROBE [ROUNDS] [SECONDS] [CONNS]}
ROUNDS=${3:-9}
SECS=${4:-5}
CONNS=${5:-1000}
if [[ $(id -u) -ne 0 ]]; then
  echo "overlay_throughput needs root (it creates network namespaces)" >&2
  exit 2
fi
command -v iperf3 >/dev/null || { echo "overlay_throughput needs iperf3 (scripts/install-deps.sh)" >&2; exit 2; }

BASE="ovltp$$"
# shellcheck source=SCRIPTDIR/../examples/demo/netns-cluster.sh
source "$(dirname "$0")/../examples/demo/netns-cluster.sh"
OVL_RUN="$BASE-o"
HAND_RUN="$BASE-h"
RUN=$OVL_RUN
WORK=$(mktemp -d "${TMPDIR:-/tmp}/$BASE.XXXXXX")
cleanup() {
  trap - EXIT
  trap '' INT TERM
  RUN=$OVL_RUN cluster_down  # deletes every namespace recorded, both clusters
  RUN=$HAND_RUN cluster_down
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# hand_node I: node I of the hand-made cluster, with node 3-I as its one peer.
hand_node() {
  local i=$1 k=$((3 - $1)) ns
  ns=$(RUN=$HAND_RUN node_ns "$i")
  ip -n "$ns" link add ovl.1 address "02:0b:00:00:00:0$i" type vxlan id 1 local "$(node_ip "$i")" \
    dev eth0 dstport 4789 nolearning
  ip -n "$ns" link set ovl.1 mtu 1450 up
  ip -n "$ns" addr add "10.244.$i.0/32" dev ovl.1
  ip -n "$ns" link add ovlbr0 mtu 1450 type bridge
  ip -n "$ns" link set ovlbr0 up
  ip -n "$ns" addr add "10.244.$i.1/24" dev ovlbr0
  ip -n "$ns" neigh replace "10.244.$k.0" lladdr "02:0b:00:00:00:0$k" dev ovl.1 nud permanent
  bridge -n "$ns" fdb append "02:0b:00:00:00:0$k" dev ovl.1 dst "$(node_ip "$k")" self permanent
  ip -n "$ns" route replace "10.244.$k.0/24" via "10.244.$k.0" dev ovl.1 onlink
}

echo "== building: ovl (2 agents), hand-made (ip/bridge), underlay"
RUN=$OVL_RUN cluster_up 2 1
write_cluster_files "$WORK" 2
for i in 1 2; do RUN=$OVL_RUN agent_start "$i" "$WORK" "$AGENT"; done
for i in 1 2; do RUN=$OVL_RUN agent_wait_ready "$i" 30; done
RUN=$OVL_RUN pods_up 2 1
RUN=$HAND_RUN cluster_up 2 1
for i in 1 2; do hand_node "$i"; done
RUN=$HAND_RUN pods_up 2 1

# The kernel objects each side holds, iproute2 as the witness: they must be alike.
objects() { # objects RUN I: the VTEP's settings and its peer entries, with node-specific bits cut
  local ns
  ns=$(RUN=$1 node_ns "$2")
  {
    ip -d -n "$ns" link show ovl.1 | sed -n 's/.*\(vxlan id .*\)/\1/p' | sed 's/ local [0-9.]*//'
    ip -n "$ns" link show ovl.1 | grep -o 'mtu [0-9]*'
    ip -n "$ns" link show ovlbr0 | grep -o 'mtu [0-9]*'
    printf 'neigh %s\n' "$(ip -n "$ns" neigh show dev ovl.1 nud permanent | grep -c .)"
    printf 'fdb %s\n' "$(bridge -n "$ns" fdb show dev ovl.1 | grep -c 'dst .* self permanent')"
    ip -n "$ns" route show dev ovl.1 | sed 's/ proto [0-9a-z]*//'
  }
}
for i in 1 2; do
  if ! diff <(objects "$OVL_RUN" "$i") <(objects "$HAND_RUN" "$i") >"$WORK/diff"; then
    echo "node $i: ovl's and the hand-made kernel objects differ (< ovl, > hand-made):" >&2
    cat "$WORK/diff" >&2
    exit 1
  fi
done
echo "kernel objects alike on both nodes: $(objects "$OVL_RUN" 1 | head -1)"
echo "nftables: ovl node 1 holds $(ip netns exec "$(RUN=$OVL_RUN node_ns 1)" nft list tables | tr '\n' ' ')," \
  "hand-made node 1 holds '$(ip netns exec "$(RUN=$HAND_RUN node_ns 1)" nft list tables | tr '\n' ' ')'"

# Servers: iperf3 and ovl-tcpprobe in pod 2.1 of each cluster and in the hand-made node 2.
for run in "$OVL_RUN" "$HAND_RUN"; do
  ip netns exec "$(RUN=$run pod_ns 2 1)" iperf3 -s -p 5201 >/dev/null 2>&1 &
  ip netns exec "$(RUN=$run pod_ns 2 1)" "$PROBE" serve --port 7000 >/dev/null 2>&1 &
done
ip netns exec "$(RUN=$HAND_RUN node_ns 2)" iperf3 -s -p 5201 >/dev/null 2>&1 &
ip netns exec "$(RUN=$HAND_RUN node_ns 2)" "$PROBE" serve --port 7000 >/dev/null 2>&1 &
src_ns() { case $1 in ovl) RUN=$OVL_RUN pod_ns 1 1 ;; hand) RUN=$HAND_RUN pod_ns 1 1 ;; ul) RUN=$HAND_RUN node_ns 1 ;; esac; }
dst_ip() { case $1 in ovl | hand) pod_ip 2 1 ;; ul) node_ip 2 ;; esac; }
for s in ovl hand ul; do
  wait_until 5 ip netns exec "$(src_ns "$s")" "$PROBE" connect "$(dst_ip "$s")" 7000 >/dev/null ||
    { echo "$s: no TCP connection to $(dst_ip "$s"):7000" >&2; exit 1; }
done

gbits() { # gbits SETUP: one iperf3 run, the receiver's Gbit/s
  local out
  out=$(ip netns exec "$(src_ns "$1")" iperf3 -c "$(dst_ip "$1")" -p 5201 -t "$SECS" -J) ||
    { echo "$1: iperf3 failed: $out" >&2; return 1; }
  jq -r '.end.sum_received.bits_per_second / 1e9' <<<"$out"
}
conn_rate() { # conn_rate SETUP: new TCP connections per second, one at a time
  local t0 t1 failed=0
  t0=$EPOCHREALTIME
  if ! ip netns exec "$(src_ns "$1")" "$PROBE" connect "$(dst_ip "$1")" 7000 --repeat "$CONNS" \
    --timeout-ms 2000 >/dev/null 2>"$WORK/connect.err"; then
    # "connect H:P: F of N failed, last: ...": the failed ones are not counted as connections
    # (their time-outs stay in the time), and the summary says how many there were.
    failed=$(sed -n 's/.*: \([0-9]*\) of [0-9]* failed.*/\1/p' "$WORK/connect.err")
    [[ -n $failed ]] || { cat "$WORK/connect.err" >&2; return 1; }
    echo "$1: $failed of $CONNS connections failed" >&2
  fi
  t1=$EPOCHREALTIME
  printf '%s\n' "$failed" >>"$WORK/failed-$1"
  awk -v n="$((CONNS - failed))" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f\n", n / (b - a) }'
}

echo "== $ROUNDS rounds: iperf3 -t $SECS (TCP, 1 stream), then $CONNS connections, order rotating; load: $(uptime)"
orders=("ovl hand ul" "hand ul ovl" "ul ovl hand")
declare -A tp=() cr=()
for ((r = 0; r < ROUNDS; r++)); do
  line="round $((r + 1)):"
  for s in ${orders[r % 3]}; do
    tp[$s]+="$(gbits "$s") "
    cr[$s]+="$(conn_rate "$s") "
  done
  for s in ovl hand ul; do
    line+=$(awk -v s="$s" -v t="${tp[$s]}" -v c="${cr[$s]}" \
      'BEGIN { nt = split(t, a); nc = split(c, b); printf " %s %.2f Gbit/s %d conn/s;", s, a[nt], b[nc] }')
  done
  echo "$line"
done

python3 - "${tp[ovl]}" "${tp[hand]}" "${tp[ul]}" "${cr[ovl]}" "${cr[hand]}" "${cr[ul]}" <<'EOF'
import statistics, sys
tp = [list(map(float, a.split())) for a in sys.argv[1:4]]
cr = [list(map(float, a.split())) for a in sys.argv[4:7]]
def desc(v):
    return f"median {statistics.median(v):.3f} (min {min(v):.3f}, max {max(v):.3f}, n={len(v)})"
def ratio(label, a, b, target=""):
    per = [x / y for x, y in zip(a, b)]
    m = statistics.median(a) / statistics.median(b)
    print(f"  {label:<24} {m:.3f} of medians; per round {desc(per)}{target}")
    if min(per) <= 1.0 <= max(per):
        print(f"  {'':<24} (the per-round ratios straddle 1.0: the difference is within the noise)")
for name, (o, h, u) in (("pod-to-pod TCP throughput, Gbit/s", tp),
                        ("new TCP connections per second", cr)):
    print(name)
    print(f"  ovl                      {desc(o)}")
    print(f"  hand-made VXLAN          {desc(h)}")
    print(f"  underlay (node to node)  {desc(u)}")
    ratio("ovl / hand-made", o, h, "  (target >= 0.95)" if o is tp[0] else "")
    ratio("ovl / underlay", o, u)
    ratio("hand-made / underlay", h, u)
EOF
for s in ovl hand ul; do
  failed=$(awk '{ n += $1 } END { print n + 0 }' "$WORK/failed-$s")
  ((failed == 0)) || echo "connections that failed (counted out of the rate, their time-outs kept in the time): $s $failed of $((ROUNDS * CONNS))"
done
echo "load at the end: $(uptime)"

# profile SETUP WHAT: one perf-recorded stream or connection loop; prints the shares of the CPU of
# the processes doing it (iperf3 or ovl-tcpprobe, both ends, and ksoftirqd) that were spent in
# nftables chains (inclusive), in the FIB lookups of `fib daddr type` and in conntrack and NAT.
profile() {
  local comms=iperf3 cmd
  if [[ $2 == stream ]]; then
    cmd=(iperf3 -c "$(dst_ip "$1")" -p 5201 -t "$SECS")
  else
    comms=ovl-tcpprobe
    cmd=("$PROBE" connect "$(dst_ip "$1")" 7000 --repeat "$CONNS" --timeout-ms 2000)
  fi
  perf record -q -a -g -F 1999 -o "$WORK/perf.data" -- ip netns exec "$(src_ns "$1")" "${cmd[@]}" \
    >/dev/null 2>&1 || { echo "perf record failed" >&2; return 1; }
  perf report -i "$WORK/perf.data" --children --comm "$comms,ksoftirqd/0,ksoftirqd/1" \
    --sort sym -g none 2>/dev/null | awk -v s="$1" -v w="$2" '
    /^#/ || !/%/ { next }
    { c = $1; self = $2; sub("%", "", c); sub("%", "", self); total += self }
    $4 == "nft_do_chain_ipv4" { chains = c }
    $4 == "nft_fib4_eval_type" { fib = c }
    $4 == "nf_conntrack_in" || $4 == "nf_confirm" || $4 == "nf_nat_inet_fn" ||
      $4 == "ipv4_conntrack_defrag" { ct += c }
    END {
      if (total == 0) { print "  " s " " w ": no samples"; exit }
      printf "  %-4s %-11s nftables chains %4.1f%% (FIB lookups in them %4.1f%%), conntrack and NAT %4.1f%%\n",
        s, w, 100 * chains / total, 100 * fib / total, 100 * ct / total
    }'
}
if [[ ${OVL_TP_PROFILE:-0} == 1 ]]; then
  command -v perf >/dev/null || { echo "OVL_TP_PROFILE=1 needs perf (linux-perf)" >&2; exit 2; }
  echo "where the CPU of the data path goes (perf, share of the samples of the processes doing it):"
  for s in hand ovl; do
    profile "$s" stream
    profile "$s" connections
  done
fi
