// What this node's nftables table (`ip ovl`) holds, read back with libnftnl and grouped per
// service frontend, for `ovlctl nat list` and `ovlctl service list --kernel`. The kernel is the
// only source: service names come from the comments the planner gives every element
// ("namespace/name:port"), the action, affinity and masquerade from the chain an element jumps
// to (lb_<N>, lbaff_<N>_masq, ...; rules/nft_chains.h), the endpoints from map `endpoints`.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "rules/nft_layout.h"

namespace ovl::nft {
class NftSocket;
}

namespace ovl::cli {

// One element of one of the table's synced sets, as the kernel holds it.
struct KernelElement {
  nft::SetId set = nft::SetId::kServices;
  nft::ElemKey key;
  int32_t verdict = 0;              // verdict maps
  std::string chain;                // goto target
  std::array<uint32_t, 2> value{};  // data maps (endpoints: address, port)
  std::string comment;
};

struct KernelTable {
  bool exists = false;
  std::vector<KernelElement> elements;
};

// Reads every element of the synced sets of table ip `table`; a missing table is not an error.
Result<KernelTable> readKernelTable(nft::NftSocket& sock, const std::string& table);

struct KernelEndpoint {
  std::string address;  // "10.244.1.5:8080"
  uint32_t slots = 0;   // the random slots it holds (its weight)
};

// One frontend: a (cluster or external IP, protocol, port) or a NodePort (protocol, port).
struct KernelFrontend {
  std::string service;  // "namespace/name" from the element's comment; "" when it has none
  std::string port;     // the service port's name (or number), from the comment
  bool nodePort = false;
  std::string frontend;  // "10.96.0.10:80/tcp"; NodePorts "*:30080/tcp"
  // "balance", "reject" (no endpoint), "drop" (policy Local, none here); "goto <chain>" for a
  // chain this ovl does not write (another version's table)
  std::string action;
  uint32_t slots = 0;
  std::optional<uint32_t> affinitySeconds;  // ClientIP affinity and its timeout
  bool masquerade = false;                  // always masqueraded (_masq chains)
  bool keepSource = false;                  // never masqueraded (_keep: policy Local)
  std::vector<KernelEndpoint> endpoints;
};

// Pure: the frontends of `t`, sorted by service, then cluster/external IPs before NodePorts.
std::vector<KernelFrontend> groupFrontends(const KernelTable& t);

}  // namespace ovl::cli
