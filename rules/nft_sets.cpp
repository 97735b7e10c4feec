#include "rules/nft_sets.h"

#include <linux/netfilter/nf_tables.h>

namespace ovl::nft {
namespace {

// nftables' datatype numbers (nftables src/datatype.h); concatenations shift by TYPE_BITS.
constexpr uint32_t kTypeBits = 6;
constexpr uint32_t kTypeIpAddr = 7;
constexpr uint32_t kTypeInetProto = 12;
constexpr uint32_t kTypeInetService = 13;
constexpr uint32_t kTypeMark = 19;

uint32_t componentType(Component c) {
  switch (c) {
    case Component::kAddr:
      return kTypeIpAddr;
    case Component::kProto:
      return kTypeInetProto;
    case Component::kPort:
      return kTypeInetService;
    case Component::kSlot:
      return kTypeMark;
  }
  return 0;
}

uint32_t concatType(const std::vector<Component>& comps) {
  uint32_t t = 0;
  for (Component c : comps) {
    t = (t << kTypeBits) | componentType(c);
  }
  return t;
}

using C = Component;
const std::array<SetLayout, kSetCount> kLayouts = {{
    {SetId::kServices, "services", {C::kAddr, C::kProto, C::kPort}, {}, true, NFT_SET_MAP, 0},
    {SetId::kNodePorts, "nodeports", {C::kProto, C::kPort}, {}, true, NFT_SET_MAP, 0},
    {SetId::kRejectServices,
     "reject_services",
     {C::kAddr, C::kProto, C::kPort},
     {},
     true,
     NFT_SET_MAP,
     0},
    {SetId::kRejectNodePorts, "reject_nodeports", {C::kProto, C::kPort}, {}, true, NFT_SET_MAP, 0},
    {SetId::kEndpoints,
     "endpoints",
     {C::kAddr, C::kProto, C::kPort, C::kSlot},
     {C::kAddr, C::kPort},
     false,
     NFT_SET_MAP,
     0},
    {SetId::kHairpin, "hairpin", {C::kAddr, C::kAddr}, {}, false, 0, 0},
    {SetId::kAffinityServices,
     "affinity_services",
     {C::kAddr, C::kProto, C::kPort},
     {},
     true,
     NFT_SET_MAP,
     0},
    {SetId::kAffinityNodePorts,
     "affinity_nodeports",
     {C::kProto, C::kPort},
     {},
     true,
     NFT_SET_MAP,
     0},
    {SetId::kVxlanPeers, "vxlan_peers", {C::kAddr}, {}, false, 0, 0},
    // Filled by the kernel (dynset update); bounded: a full map only stops recording new clients.
    {SetId::kAffinity,
     "affinity",
     {C::kAddr, C::kAddr, C::kProto, C::kPort},
     {C::kAddr, C::kPort},
     false,
     NFT_SET_MAP | NFT_SET_TIMEOUT | NFT_SET_EVAL,
     65536},
}};

}  // namespace

uint32_t SetLayout::keyType() const {
  return concatType(key);
}
uint32_t SetLayout::dataType() const {
  return verdict ? NFT_DATA_VERDICT : concatType(data);
}

const SetLayout& setLayout(SetId id) {
  return kLayouts[static_cast<size_t>(id)];
}
const std::array<SetLayout, kSetCount>& setLayouts() {
  return kLayouts;
}

}  // namespace ovl::nft
