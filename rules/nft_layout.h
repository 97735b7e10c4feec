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
#include <tuple>
#include <vector>

#include "rules/conntrack.h"
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

// An element as wanted, as handed to the batch builder: views into a DesiredIndex.
struct DesiredElem {
  ElemKey key;
  ElemData data;
  std::string_view comment;
};

// An element as the kernel holds it (read back, or acknowledged). The comment is kept as a
// hash: it is only ever compared, and 110,000 comment strings would double the view's size.
struct KernelElem {
  int32_t verdict = 0;
  std::string chain;
  std::array<uint32_t, 2> value{};
  size_t commentHash = 0;

  static size_t hashComment(std::string_view comment) {
    return std::hash<std::string_view>{}(comment);
  }
  bool sameAs(const DesiredElem& d) const {
    return verdict == d.data.verdict && value == d.data.value && chain == d.data.chain &&
           commentHash == hashComment(d.comment);
  }
  static KernelElem from(const DesiredElem& d) {
    return KernelElem{d.data.verdict, std::string(d.data.chain), d.data.value,
                      hashComment(d.comment)};
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

// A rule whose comment ends with " #<hash of its expressions>": rules are recognised by their
// comment when the table is read back, so a rule whose body changes (a newer ovl) gets another
// comment and its chain is refilled.
RuleSpec hashedRule(std::string comment, std::function<void(nftnl_rule*)> build);

struct ChainSpec {
  std::string name;
  std::optional<BaseHook> base;
  std::vector<RuleSpec> rules;
};

// What table `ip ovl` should hold, kept up to date in O(change): plan fragments (typically one
// service's planNat()) are added and removed, and the index records which element keys they
// touched, so that NatTable can compare only those with the kernel.
//
// Elements are reference-counted by key: the hairpin set's elements are shared by every service
// with an endpoint on this node. Two fragments that give one key different data (two services
// on one IP:port, which validation rejects) do not fail the table: the later one wins.
class DesiredIndex {
 public:
  struct Elem {
    int32_t verdict = 0;
    std::string_view chain;  // interned in the index
    std::array<uint32_t, 2> value{};
    std::string comment;
    uint32_t refs = 0;
    DesiredElem view(const ElemKey& key) const {
      return DesiredElem{key, {verdict, chain, value}, comment};
    }
  };
  using ElemMap = std::map<ElemKey, Elem>;

  DesiredIndex(svc::MasqueradeMode masquerade = svc::MasqueradeMode::kOffCluster,
               Ipv4Prefix podCidr = {});
  // The whole plan at once (tests, benchmarks, one-shot syncs).
  static DesiredIndex of(const nat::NatPlan& plan);

  DesiredIndex(DesiredIndex&&) noexcept = default;
  DesiredIndex& operator=(DesiredIndex&&) noexcept = default;

  void add(const nat::NatPlan& fragment);
  void remove(const nat::NatPlan& fragment);

  // Chains in dependency order (jump targets before their users), base chains last.
  // Built again only when the set of targets in use changes.
  const std::vector<ChainSpec>& chains() const;
  const ElemMap& elems(size_t set) const { return elems_[set]; }
  size_t elementCount() const;

  // Keys touched since clearDirty() (unsorted, may repeat); allDirty(): compare everything.
  const std::vector<ElemKey>& dirty(size_t set) const { return dirty_[set]; }
  bool allDirty() const { return allDirty_; }
  void clearDirty();
  // Identifies this index (and its history of dirty keys) to NatTable.
  uint64_t id() const { return id_; }

 private:
  // The shared chain a balanced target jumps to: (nodePort, slots, masquerade, affinity, keep).
  using ChainKey = std::tuple<bool, uint32_t, bool, bool, bool>;
  void apply(const nat::NatPlan& fragment, int delta);
  void put(size_t set, const ElemKey& key, const ElemData& data, std::string_view comment,
           int delta);
  std::string_view intern(std::string name);

  uint64_t id_;
  svc::MasqueradeMode masquerade_;
  Ipv4Prefix podCidr_;
  std::array<ElemMap, kSyncedSetCount> elems_;
  std::array<std::vector<ElemKey>, kSyncedSetCount> dirty_;
  bool allDirty_ = true;
  std::map<ChainKey, uint32_t> targets_;      // balanced targets in use, by reference count
  std::map<uint32_t, uint32_t> affTimeouts_;  // affinity timeouts in use
  std::set<std::string, std::less<>> names_;  // interned chain names (stable views)
  mutable std::optional<std::vector<ChainSpec>> chainsCache_;
};

// The UDP backends that deleting the keys `del` from the `endpoints` map (whose content was
// `before`) takes away, given what it holds after (`after`): each (VIP or 0.0.0.0, port,
// endpoint, endpoint port) of a deleted UDP slot that no slot of the same service port still
// points at. Sorted, without duplicates. Their conntrack entries should be deleted.
std::vector<conntrack::StaleUdpFlow> removedUdpBackends(const std::vector<ElemKey>& del,
                                                        const std::map<ElemKey, KernelElem>& before,
                                                        const DesiredIndex::ElemMap& after);

// The entries of the kernel-filled `affinity` map that send a client to an endpoint its service
// no longer has: no element of `endpoints` with the entry's service key (daddr, proto, dport)
// points at the entry's endpoint. ClientIP affinity would keep those clients on the removed
// endpoint until the entry times out (3 hours by default), where kube-proxy's per-endpoint
// `recent` lists go with the endpoint.
std::vector<ElemKey> staleAffinity(const std::map<ElemKey, KernelElem>& affinity,
                                   const DesiredIndex::ElemMap& endpoints);

// A rule comment as stored in NFTNL_RULE_USERDATA (and back); "" when there is none.
UdataHandle commentUdata(std::string_view comment, uint8_t type);
std::string parseComment(const void* data, uint32_t len, uint8_t type);

}  // namespace ovl::nft
