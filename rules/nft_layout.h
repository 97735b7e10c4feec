// The pure half of NatTable: NatPlan -> the chains, rules, sets and elements of table `ip ovl`,
// and the byte layout of every set key and value. No kernel access here (rules are built as
// libnftnl objects, which is plain memory). This header gathers the parts, one per object kind:
//   nft_sets.h        the sets and maps: key/data components, one layout per set
//   nft_elements.h    elements (wanted and as the kernel holds them), their wire bytes, comments
//   nft_chains.h      chains and their rules (nft_expr.cpp builds the expressions)
//   desired_index.h   DesiredIndex: the desired table, updated incrementally
//   stale_elements.h  what deleted elements leave behind (UDP conntrack, affinity entries)
//   vxlan_allow.h     the VXLAN allow-list: set vxlan_peers and chain vxlan_input
//
// What each packet pays (the filter chains see every packet, the nat chains only the first
// packet of a connection):
//   filter_prerouting / filter_output  established and related packets leave at the first
//                                      rule (one ct state test); a first packet is looked up
//                                      in reject_services, then its protocol . port in
//                                      reject_nodeports, and only on a hit the FIB (is daddr
//                                      local?) and the vmap
//   nat_prerouting / nat_output        services vmap -> lb_<N> (ct mark, numgen, endpoints);
//                                      the nodeports rule likewise looks the port up before
//                                      the FIB
//   nat_postrouting                    connections no DNAT translated leave at the first rule;
//                                      the rest: affinity mark, masquerade mark, hairpin,
//                                      masquerade off-cluster / all
//   vxlan_input                        meta l4proto udp first, so TCP leaves at once
//
// Register layout (each concatenation component takes whole 32-bit registers, as the kernel's
// concat lookups expect; see nft_elements.cpp for the bytes):
//   services / reject_services key   reg32_00 ip daddr | reg32_01 l4proto | reg32_02 th dport
//   nodeports / reject_nodeports key reg32_00 l4proto  | reg32_01 th dport
//   endpoints key                    reg32_00 daddr (0 for NodePorts) | 01 l4proto | 02 dport |
//                                    reg32_03 numgen slot          -> data reg32_04 addr, 05 port
//
//   affinity key                     reg32_00 ip saddr | 01 daddr (0 for NodePorts) | 02 l4proto |
//                                    reg32_03 th dport             -> data reg32_04 addr, 05 port
//
// ClientIP affinity. nft 1.0.6 cannot print a rule whose dynset data (or a later concat) is a
// lookup's result register (`nft list` aborts in netlink_parse_concat_expr), so the choice is
// not remembered where it is made but after DNAT, from conntrack:
//  - `lbaff_<N>` / `nplbaff_<N>`: mark the connection (kMarkAffinity / kMarkNodePortAffinity),
//    `dnat to ip saddr . <service key> map @affinity` (a hit DNATs and ends the chain), else
//    balance as lb_<N> does.
//  - nat postrouting and nat input (the first packet of a connection, before any masquerade):
//    `ct mark & 0xc != 0 jump affinity_record`; that chain looks the service up again by the
//    conntrack original tuple (`ct original ip daddr . meta l4proto . ct original proto-dst`,
//    one rule per protocol: nft types proto-dst only under a protocol match) in the verdict maps
//    `affinity_services` / `affinity_nodeports`, whose elements goto `affrec_<T>` /
//    `npaffrec_<T>` (T = the service's timeout in seconds). Those hold
//    `update @affinity { ip saddr . ct original ip daddr . meta l4proto . ct original proto-dst
//    timeout T : ip daddr . th dport }` (0.0.0.0 for the daddr of NodePorts), every operand a
//    packet or conntrack field, which nft 1.0.6 lists. The update refreshes the timeout on every
//    new connection of the client, as kube-proxy's `recent` match does.
//  - `affinity` is filled by the kernel only: NatTable creates it but never syncs its elements.
#pragma once

#include "rules/desired_index.h"
#include "rules/nft_chains.h"
#include "rules/nft_elements.h"
#include "rules/nft_sets.h"
#include "rules/stale_elements.h"
