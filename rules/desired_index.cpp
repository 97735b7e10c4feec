#include "rules/desired_index.h"

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <algorithm>
#include <atomic>
#include <iterator>

namespace ovl::nft {
namespace {

using nat::NatPlan;
using nat::Target;

std::atomic<uint64_t> nextIndexId{1};

size_t setIndex(SetId id) {
  return static_cast<size_t>(id);
}

ElemKey vipKey(const nat::VipEntry& v) {
  return ElemKey{{v.ip.value, static_cast<uint32_t>(v.protocol), v.port, 0}};
}
ElemKey nodePortKey(const nat::NodePortEntry& n) {
  return ElemKey{{static_cast<uint32_t>(n.protocol), n.port, 0, 0}};
}
ElemKey slotKey(const nat::SlotEntry& s) {
  return ElemKey{{s.vip.value, static_cast<uint32_t>(s.protocol), s.port, s.slot}};
}

}  // namespace

DesiredIndex::DesiredIndex(svc::MasqueradeMode masquerade, Ipv4Prefix podCidr)
    : id_(nextIndexId.fetch_add(1)), masquerade_(masquerade), podCidr_(podCidr) {
  intern("svc_reject");
}

DesiredIndex DesiredIndex::of(const NatPlan& plan) {
  DesiredIndex index(plan.masquerade, plan.podCidr);
  index.add(plan);
  return index;
}

void DesiredIndex::add(const NatPlan& fragment) {
  apply(fragment, +1);
}

void DesiredIndex::remove(const NatPlan& fragment) {
  apply(fragment, -1);
}

void DesiredIndex::setVxlanAllow(const nat::VxlanAllowPlan& allow) {
  static const std::vector<nat::VxlanSource> kNone;
  const auto& before = vxlan_ ? vxlan_->sources : kNone;
  const size_t set = setIndex(SetId::kVxlanPeers);
  // Both lists are sorted: a merge puts only what differs (a changed comment is a remove and
  // an add of the same key, which the table writes as one replacement).
  std::vector<nat::VxlanSource> gone;
  std::vector<nat::VxlanSource> come;
  std::set_difference(before.begin(), before.end(), allow.sources.begin(), allow.sources.end(),
                      std::back_inserter(gone));
  std::set_difference(allow.sources.begin(), allow.sources.end(), before.begin(), before.end(),
                      std::back_inserter(come));
  for (const auto& s : gone) {
    put(set, ElemKey{{s.ip.value, 0, 0, 0}}, {}, s.comment, -1);
  }
  for (const auto& s : come) {
    put(set, ElemKey{{s.ip.value, 0, 0, 0}}, {}, s.comment, +1);
  }
  if (!vxlan_ || vxlan_->port != allow.port) {
    chainsCache_.reset();
  }
  vxlan_ = allow;
  boundDirty();
}

size_t DesiredIndex::elementCount() const {
  size_t n = 0;
  for (const auto& m : elems_) {
    n += m.size();
  }
  return n;
}

void DesiredIndex::clearDirty() {
  for (auto& d : dirty_) {
    d.clear();
  }
  allDirty_ = false;
}

std::string_view DesiredIndex::intern(std::string name) {
  auto it = names_.find(name);
  if (it == names_.end()) {
    it = names_.insert(std::move(name)).first;
  }
  return *it;
}

void DesiredIndex::put(size_t set, const ElemKey& key, const ElemData& data,
                       std::string_view comment, int delta) {
  ElemMap& m = elems_[set];
  if (!allDirty_) {
    dirty_[set].push_back(key);
  }
  if (delta > 0) {
    Elem& e = m[key];
    ++e.refs;
    e.verdict = data.verdict;
    e.chain = data.chain;
    e.value = data.value;
    if (e.comment != comment) {
      e.comment.assign(comment);
    }
    return;
  }
  auto it = m.find(key);
  if (it != m.end() && --it->second.refs == 0) {
    m.erase(it);
  }
}

template <typename Key>
void DesiredIndex::count(std::map<Key, uint32_t>& counts, const Key& key, int delta) {
  if (delta > 0) {
    if (++counts[key] == 1) {
      chainsCache_.reset();
    }
  } else if (auto it = counts.find(key); it != counts.end() && --it->second == 0) {
    counts.erase(it);
    chainsCache_.reset();
  }
}

bool DesiredIndex::targetData(bool nodePort, const Target& target, int delta, ElemData& d) {
  if (target.kind == Target::Kind::kDrop) {
    d.verdict = NF_DROP;
    return true;
  }
  d.verdict = NFT_GOTO;
  if (target.kind == Target::Kind::kReject || target.slots == 0) {
    d.chain = *names_.find("svc_reject");  // a balance target without slots has no endpoint
    return false;
  }
  const bool affinity = target.affinityTimeout > 0;
  count(targets_, ChainKey{nodePort, target.slots, target.masquerade, affinity, target.keepSource},
        delta);
  d.chain =
      intern(targetChain(nodePort, target.slots, affinity, target.masquerade, target.keepSource));
  return true;
}

std::optional<ElemData> DesiredIndex::affinityData(bool nodePort, const Target& target, int delta) {
  if (target.kind != Target::Kind::kBalance || target.slots == 0 || target.affinityTimeout == 0) {
    return std::nullopt;
  }
  count(affTimeouts_, target.affinityTimeout, delta);
  ElemData d;
  d.verdict = NFT_GOTO;
  d.chain = intern(affRecChain(nodePort, target.affinityTimeout));
  return d;
}

// Balanced or dropped in the main map, rejected in the reject_* map, and with affinity also in
// the affinity_* map.
void DesiredIndex::putEntry(bool nodePort, const ElemKey& key, const Target& target,
                            std::string_view comment, int delta) {
  ElemData d;
  const bool balanced = targetData(nodePort, target, delta, d);
  const SetId main = nodePort ? SetId::kNodePorts : SetId::kServices;
  const SetId rejected = nodePort ? SetId::kRejectNodePorts : SetId::kRejectServices;
  put(setIndex(balanced ? main : rejected), key, d, comment, delta);
  if (auto a = affinityData(nodePort, target, delta)) {
    put(setIndex(nodePort ? SetId::kAffinityNodePorts : SetId::kAffinityServices), key, *a, comment,
        delta);
  }
}

void DesiredIndex::apply(const NatPlan& fragment, int delta) {
  for (const auto& v : fragment.vips) {
    putEntry(false, vipKey(v), v.target, v.comment, delta);
  }
  for (const auto& n : fragment.nodePorts) {
    putEntry(true, nodePortKey(n), n.target, n.comment, delta);
  }
  for (const auto& s : fragment.slots) {
    ElemData d;
    d.value = {s.endpoint.value, s.endpointPort};
    put(setIndex(SetId::kEndpoints), slotKey(s), d, s.comment, delta);
  }
  for (const Ipv4& ip : fragment.hairpin) {
    put(setIndex(SetId::kHairpin), ElemKey{{ip.value, ip.value, 0, 0}}, {}, {}, delta);
  }
  boundDirty();
}

void DesiredIndex::boundDirty() {
  if (allDirty_) {
    return;
  }
  const size_t bound = 2 * elementCount() + 4096;
  for (const auto& d : dirty_) {
    if (d.size() > bound) {
      allDirty_ = true;
    }
  }
  if (allDirty_) {
    for (auto& d : dirty_) {
      d.clear();
      d.shrink_to_fit();
    }
  }
}

// Which lb chains the elements point at: plain, affinity and masquerade variants.
ChainsInUse DesiredIndex::chainsInUse() const {
  ChainsInUse in;
  for (const auto& [key, refs] : targets_) {
    const auto& [nodePort, n, masquerade, affinity, keepSource] = key;
    in.slots.insert(n);  // the affinity chains balance through lb_<N> too
    if (affinity) {
      in.affSlots.insert(n);
    }
    const std::string base = affinity ? lbAffChain(nodePort, n) : lbChain(nodePort, n);
    if (masquerade) {
      in.masq.insert(base);
    } else if (keepSource) {
      in.keep.insert(base);
    }
  }
  for (const auto& [timeout, refs] : affTimeouts_) {
    in.affTimeouts.insert(timeout);
  }
  return in;
}

const std::vector<ChainSpec>& DesiredIndex::chains() const {
  if (!chainsCache_) {
    chainsCache_ = chainSpecs(chainsInUse(), masquerade_, podCidr_);
    if (vxlan_) {
      chainsCache_->push_back(nat::vxlanChainSpec(vxlan_->port));  // a base chain: last
    }
  }
  return *chainsCache_;
}

}  // namespace ovl::nft
