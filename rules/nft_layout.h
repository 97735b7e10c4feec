// The pure half of NatTable: NatPlan -> the chains, rules, sets and elements of table `ip ovl`,
// and the byte layout of every set key and value. No kernel access here (rules are built as
// libnftnl objects, which is plain memory).
//
// Register layout (each concatenation component takes whole 32-bit registers, as the kernel's
// concat lookups expect; see nft_layout.cpp for the bytes):
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

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "rules/nat_plan.h"
#include "rules/nft_handles.h"

namespace ovl::nft {

// ct mark bits the service chains set and nat_postrouting reads.
inline constexpr uint32_t kMarkService = 0x1;           // DNATed by ovl
inline constexpr uint32_t kMarkMasquerade = 0x2;        // masquerade whatever the source
inline constexpr uint32_t kMarkAffinity = 0x4;          // ClientIP affinity, cluster/external IP
inline constexpr uint32_t kMarkNodePortAffinity = 0x8;  // ClientIP affinity, NodePort
inline constexpr uint32_t kMarkKeepSource = 0x10;       // never masquerade (ETP Local)

// The concatenation components ovl's sets use, each one 32-bit register wide.
enum class Component : uint8_t {
  kAddr,   // IPv4 address, network byte order                      (nft type ipv4_addr)
  kProto,  // IP protocol number: 1 byte, then 3 zero bytes          (inet_proto)
  kPort,   // port: 2 bytes network order, then 2 zero bytes         (inet_service)
  kSlot,   // numgen result: u32 in host byte order, as numgen writes (mark: nft has no fixed-size
           //   integer type for a concat, and mark is a host-order u32, so `nft list` can print it)
};

enum class SetId : uint8_t {
  kServices,
  kNodePorts,
  kRejectServices,
  kRejectNodePorts,
  kEndpoints,
  kHairpin,
  kAffinityServices,
  kAffinityNodePorts,
  kAffinity,  // dynamic: filled by the kernel, never synced (keep it after the synced ones)
};
inline constexpr size_t kSetCount = 9;
inline constexpr size_t kSyncedSetCount = 8;

struct SetLayout {
  SetId id;
  const char* name;
  std::vector<Component> key;
  std::vector<Component> data;  // empty: a plain set, or a verdict map when verdict is set
  bool verdict = false;
  uint32_t flags = 0;  // NFT_SET_*
  uint32_t size = 0;   // 0 = unbounded
  uint32_t keyType() const;
  uint32_t dataType() const;  // NFT_DATA_VERDICT for verdict maps
  uint32_t keyLen() const { return static_cast<uint32_t>(key.size() * 4); }
  uint32_t dataLen() const { return static_cast<uint32_t>(data.size() * 4); }
};
const SetLayout& setLayout(SetId id);
const std::array<SetLayout, kSetCount>& setLayouts();

// A set key as values in host order, one per component, compared component by component (the
// order NatPlan sorts in). Unused components are 0.
struct ElemKey {
  std::array<uint32_t, 4> w{};
  auto operator<=>(const ElemKey&) const = default;
};

// The data of an element: a verdict (+ chain) for verdict maps, values for data maps.
struct ElemData {
  int32_t verdict = 0;              // NF_DROP, NF_ACCEPT, NFT_GOTO, NFT_JUMP (verdict maps)
  std::string_view chain;           // for NFT_GOTO / NFT_JUMP
  std::array<uint32_t, 2> value{};  // data maps
};

// An element as wanted: views into the plan and into DesiredTable's interned chain names.
struct DesiredElem {
  ElemKey key;
  ElemData data;
  std::string_view comment;
};

// An element as the kernel holds it (read back, or acknowledged).
struct KernelElem {
  ElemKey key;
  int32_t verdict = 0;
  std::string chain;
  std::array<uint32_t, 2> value{};
  std::string comment;

  bool sameAs(const DesiredElem& d) const {
    return verdict == d.data.verdict && value == d.data.value && chain == d.data.chain &&
           comment == d.comment;
  }
  static KernelElem from(const DesiredElem& d) {
    return KernelElem{d.key, d.data.verdict, std::string(d.data.chain), d.data.value,
                      std::string(d.comment)};
  }
};

// Wire encoding of keys and data (the register bytes). Returns the number of bytes written.
size_t encode(const std::vector<Component>& comps, const std::array<uint32_t, 4>& w, uint8_t* out);
// False when len does not match the layout.
bool decode(const std::vector<Component>& comps, const void* data, size_t len,
            std::array<uint32_t, 4>& w);

// "10.96.0.10 . tcp . 80" for messages.
std::string keyToString(const SetLayout& layout, const ElemKey& key);

struct BaseHook {
  uint32_t hook = 0;  // NF_INET_*
  int32_t priority = 0;
  std::string type;  // "nat" / "filter"
  // Always accept (1, NF_ACCEPT): a base chain with policy drop, set by someone else, would
  // drop every packet on its hook, not only service traffic. Read back and repaired.
  uint32_t policy = 1;
  bool operator==(const BaseHook&) const = default;
};

struct RuleSpec {
  std::string comment;  // identifies the rule: "ovl: lb_3 dnat"; fully determines its content
  std::function<void(nftnl_rule*)> build;  // appends the expressions
};

struct ChainSpec {
  std::string name;
  std::optional<BaseHook> base;
  std::vector<RuleSpec> rules;
};

struct DesiredTable {
  std::vector<ChainSpec> chains;  // dependency order: jump targets before their users
  std::array<std::vector<DesiredElem>, kSyncedSetCount> elems;  // sorted by key
  std::set<std::string> chainNames;  // interned names the elements point into
};

// Builds the desired table. The DesiredTable holds views into plan: keep plan alive.
DesiredTable buildDesired(const nat::NatPlan& plan);

// A rule comment as stored in NFTNL_RULE_USERDATA (and back); "" when there is none.
UdataHandle commentUdata(std::string_view comment, uint8_t type);
std::string parseComment(const void* data, uint32_t len, uint8_t type);

}  // namespace ovl::nft
