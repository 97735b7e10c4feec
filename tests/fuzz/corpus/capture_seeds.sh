#!/usr/bin/env bash
# Refreshes the netlink/ and nftables/ seeds: builds, in a network namespace of its own (deleted
# at the end), the kinds of objects ovl reads back (a VXLAN device with FDB entries and permanent
# neighbours, a bridge with a veth port, addresses, onlink routes; a table `ip ovl` shaped like
# ovl's), and saves the kernel's dump replies with capture_seeds.py. Needs root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ns=ovl-seeds-$$
ip netns add "$ns"
trap 'ip netns del "$ns"' EXIT
x() { ip netns exec "$ns" "$@"; }
x ip link add ul0 type veth peer name ul1
x ip addr add 192.168.50.1/24 dev ul0
x ip link set ul0 up
x ip link add ovl.42 type vxlan id 42 local 192.168.50.1 dev ul0 dstport 4789 nolearning
x ip link set ovl.42 address 0e:00:00:00:00:01 up
x ip addr add 10.244.1.0/32 dev ovl.42
x ip link add ovlbr0 type bridge
x ip link add veth0 type veth peer name eth0
x ip link set veth0 master ovlbr0
x ip link set ovlbr0 up
x ip link set veth0 up
x ip addr add 10.244.1.1/24 dev ovlbr0
x bridge fdb append 0e:00:00:00:00:02 dev ovl.42 dst 192.168.50.2 self permanent
x ip neigh add 10.244.2.0 lladdr 0e:00:00:00:00:02 dev ovl.42 nud permanent
x ip route add 10.244.2.0/24 via 10.244.2.0 dev ovl.42 onlink
x nft -f - <<'NFT'
table ip ovl {
  map services { type ipv4_addr . inet_proto . inet_service : verdict; }
  map nodeports { type inet_proto . inet_service : verdict; }
  map endpoints { type ipv4_addr . inet_proto . inet_service . mark : ipv4_addr . inet_service; }
  set hairpin { type ipv4_addr . ipv4_addr; }
  chain svc { }
  chain prerouting { type nat hook prerouting priority -100; policy accept;
    ip daddr . meta l4proto . th dport vmap @services comment "services"
  }
  chain output { type nat hook output priority -100; policy accept;
    meta l4proto . th dport vmap @nodeports comment "nodeports"
  }
}
add element ip ovl services { 10.96.0.10 . tcp . 80 comment "default/web:80" : goto svc }
add element ip ovl nodeports { tcp . 30080 : goto svc }
add element ip ovl endpoints { 10.96.0.10 . tcp . 80 . 0 comment "default/web" : 10.244.2.5 . 8080 }
add element ip ovl hairpin { 10.244.1.5 . 10.244.1.5 }
NFT
x python3 "$here/capture_seeds.py" "$here"
