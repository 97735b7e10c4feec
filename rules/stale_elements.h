// What deleting elements leaves behind outside the synced sets: the conntrack entries of UDP
// backends that went away, and the kernel-filled ClientIP affinity entries that still point at
// a removed endpoint. Pure functions of the elements before and after a sync.
#pragma once

#include <map>
#include <vector>

#include "rules/conntrack.h"
#include "rules/desired_index.h"
#include "rules/nft_elements.h"

namespace ovl::nft {

// The UDP backends that deleting the keys `del` from the `endpoints` map (whose content was
// `before`) takes away, given what it holds after (`after`): each (VIP or 0.0.0.0, port,
// endpoint, endpoint port) of a deleted UDP slot that no slot of the same service port still
// points at. Sorted, without duplicates. Their conntrack entries should be deleted.
std::vector<conntrack::StaleUdpFlow> removedUdpBackends(const std::vector<ElemKey>& del,
                                                        const KernelElems& before,
                                                        const DesiredIndex::ElemMap& after);

// The entries of the kernel-filled `affinity` map that send a client to an endpoint its service
// no longer has: no element of `endpoints` with the entry's service key (daddr, proto, dport)
// points at the entry's endpoint. ClientIP affinity would keep those clients on the removed
// endpoint until the entry times out (3 hours by default), where kube-proxy's per-endpoint
// `recent` lists go with the endpoint.
std::vector<ElemKey> staleAffinity(const KernelElems& affinity,
                                   const DesiredIndex::ElemMap& endpoints);

}  // namespace ovl::nft
