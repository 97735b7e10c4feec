// DesiredIndex: what table `ip ovl` should hold (its elements per set, and the chains they
// need), kept up to date in O(change) as plan fragments come and go.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <absl/container/btree_map.h>

#include "common/ip.h"
#include "model/service.h"
#include "rules/nat_plan.h"
#include "rules/nft_chains.h"
#include "rules/nft_elements.h"
#include "rules/nft_sets.h"
#include "rules/vxlan_allow.h"

namespace ovl::nft {

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
    uint32_t refs = 0;       // next to the verdict: no padding (1.1 million of them at scale)
    std::string_view chain;  // interned in the index
    std::array<uint32_t, 2> value{};
    std::string comment;
    DesiredElem view(const ElemKey& key) const {
      return DesiredElem{key, {verdict, chain, value}, comment};
    }
  };
  // A B-tree, not std::map: 1.1 million elements at 100,000 services (see KernelElems).
  using ElemMap = absl::btree_map<ElemKey, Elem>;

  DesiredIndex(svc::MasqueradeMode masquerade = svc::MasqueradeMode::kOffCluster,
               Ipv4Prefix podCidr = {});
  // The whole plan at once (tests, benchmarks, one-shot syncs).
  static DesiredIndex of(const nat::NatPlan& plan);

  DesiredIndex(DesiredIndex&&) noexcept = default;
  DesiredIndex& operator=(DesiredIndex&&) noexcept = default;

  void add(const nat::NatPlan& fragment);
  void remove(const nat::NatPlan& fragment);
  // The VXLAN allow-list (rules/vxlan_allow.h): its sources become elements of `vxlan_peers`,
  // changed one by one (a source that stays is not touched), and its port the rule of chain
  // `vxlan_input`. Never set: no such chain (tests, benchmarks of the service maps).
  void setVxlanAllow(const nat::VxlanAllowPlan& allow);

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
  // A services / nodeports element, with its reject_* and affinity_* counterparts.
  void putEntry(bool nodePort, const ElemKey& key, const nat::Target& target,
                std::string_view comment, int delta);
  // The element's verdict; false for a reject (the element goes to the reject_* map instead).
  bool targetData(bool nodePort, const nat::Target& target, int delta, ElemData& d);
  // The affinity_* element of a balanced service with affinity: -> goto (np)affrec_<T>.
  std::optional<ElemData> affinityData(bool nodePort, const nat::Target& target, int delta);
  void put(size_t set, const ElemKey& key, const ElemData& data, std::string_view comment,
           int delta);
  // Reference counts of what the chains are built from; a key that comes or goes changes them.
  template <typename Key>
  void count(std::map<Key, uint32_t>& counts, const Key& key, int delta);
  // Never lets the lists of touched keys outgrow the table: past that, compare everything.
  void boundDirty();
  ChainsInUse chainsInUse() const;
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
  std::optional<nat::VxlanAllowPlan> vxlan_;
};

}  // namespace ovl::nft
