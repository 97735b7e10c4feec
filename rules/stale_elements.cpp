#include "rules/stale_elements.h"

#include <set>

#include "model/service.h"

namespace ovl::nft {

// The UDP backends that deleting `del` from the endpoints map takes away: endpoints-map keys
// are vip . proto . port . slot, values endpoint . port; a backend still reached through
// another slot of the same service port stays.
std::vector<conntrack::StaleUdpFlow> removedUdpBackends(const std::vector<ElemKey>& del,
                                                        const KernelElems& before,
                                                        const DesiredIndex::ElemMap& after) {
  std::set<conntrack::StaleUdpFlow> out;
  for (const ElemKey& k : del) {
    if (k.w[1] != static_cast<uint32_t>(svc::Protocol::kUdp)) {
      continue;
    }
    auto it = before.find(k);
    if (it == before.end()) {
      continue;
    }
    const conntrack::StaleUdpFlow flow{Ipv4{k.w[0]}, static_cast<uint16_t>(k.w[2]),
                                       Ipv4{it->second.value[0]},
                                       static_cast<uint16_t>(it->second.value[1])};
    bool kept = false;
    for (auto a = after.lower_bound(ElemKey{{k.w[0], k.w[1], k.w[2], 0}});
         !kept && a != after.end() && a->first.w[0] == k.w[0] && a->first.w[1] == k.w[1] &&
         a->first.w[2] == k.w[2];
         ++a) {
      kept = a->second.value == it->second.value;
    }
    if (!kept) {
      out.insert(flow);
    }
  }
  return {out.begin(), out.end()};
}

// Affinity keys are client . daddr . proto . dport (daddr 0.0.0.0 for NodePorts), their data
// endpoint . port; the endpoints map's keys daddr . proto . dport . slot, in the same units.
std::vector<ElemKey> staleAffinity(const KernelElems& affinity,
                                   const DesiredIndex::ElemMap& endpoints) {
  std::vector<ElemKey> out;
  for (const auto& [key, elem] : affinity) {
    bool live = false;
    for (auto e = endpoints.lower_bound(ElemKey{{key.w[1], key.w[2], key.w[3], 0}});
         !live && e != endpoints.end() && e->first.w[0] == key.w[1] && e->first.w[1] == key.w[2] &&
         e->first.w[2] == key.w[3];
         ++e) {
      live = e->second.value == elem.value;
    }
    if (!live) {
      out.push_back(key);
    }
  }
  return out;
}

}  // namespace ovl::nft
