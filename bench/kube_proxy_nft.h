// The ruleset kube-proxy writes in nftables mode (pkg/proxy/nftables, 1.31 and later), generated
// for the benchmark's ClusterIP services so that `nft -f` can load it beside ovl's table: table
// `ip kube-proxy`, its base chains, the `service-ips` verdict map, a chain per service port
// (`numgen random mod N vmap`) and per endpoint (masquerade mark and dnat), the `cluster-ips`
// set, the masquerading, no-endpoint and firewall maps and chains. Also the transaction it
// sends when one endpoint of one service is replaced, and the minimal one-map DNAT ruleset the
// data plane is compared with.
#pragma once

#include <string>
#include <vector>

#include "common/ip.h"
#include "model/service.h"

namespace ovl::bench {

struct KubeProxyNftCounts {
  size_t chains = 0;           // every chain of the table, base chains included
  size_t serviceElements = 0;  // elements of the service-ips map
  size_t endpointChains = 0;   // endpoint-... chains
};

// Writes the whole table for `services` (first cluster IP, first port) to `path`, as one
// `nft -f` file. `serviceCidr` is the range cluster-ips-check drops unallocated addresses of,
// `podCidr` the source range that is not masqueraded. Returns what the kernel must then hold.
KubeProxyNftCounts writeKubeProxyNft(const std::string& path,
                                     const std::vector<svc::Service>& services,
                                     Ipv4Prefix serviceCidr, Ipv4Prefix podCidr);

// The transaction kube-proxy sends (an `nft -f` file) when `before` becomes `after`, one
// endpoint replaced: the new endpoint's chain added and filled, the service chain flushed and
// refilled with the new numgen vmap, the old endpoint's chain deleted (kube-proxy deletes stale
// chains in a later transaction; counted here in this one), the table and base objects re-added
// as its every sync does. The service-ips element is unchanged (kube-proxy 1.31 sends element
// diffs), so no element is written.
std::string kubeProxyNftChange(const svc::Service& before, const svc::Service& after,
                               Ipv4Prefix podCidr);

// The smallest DNAT ruleset for the same services: one map from cluster IP . port to the first
// endpoint . target port, looked up by a prerouting and an output nat chain. Nothing else.
void writeMinimalDnat(const std::string& path, const std::vector<svc::Service>& services);

}  // namespace ovl::bench
