// iptables-legacy rules, which nftables cannot see, read through libip4tc (the library
// iptables-legacy itself uses) into the model of nft_inspect.h, so the same analyses (VXLAN
// port dropped, FORWARD dropping pod traffic) apply to them. Only the tables the kernel already
// has (/proc/net/ip_tables_names) are read: opening another would load its module.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "diagnostics/nft_inspect.h"

namespace ovl::diag {

// The built-in chains (with hook and policy) and their rules, of the named tables, in the
// network namespace of the calling thread.
Result<NftRuleset> readLegacyRuleset(const std::vector<std::string>& tables);

}  // namespace ovl::diag
