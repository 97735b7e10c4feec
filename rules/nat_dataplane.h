// What the agent's loop needs of the NAT data plane: bring it in step with the desired index,
// say what the last sync did, and clear stale ClientIP affinity. NatTable (nat_table.h) is the
// nftables implementation; unit tests of the loop use a fake (tests/fakes/).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "rules/conntrack.h"
#include "rules/nft_layout.h"

namespace ovl::nat {

// What the last sync() did.
struct SyncStats {
  size_t operations = 0;       // objects and elements written or deleted (0: nothing sent)
  size_t elementsAdded = 0;    // including the add half of a replacement
  size_t elementsDeleted = 0;  // including the delete half of a replacement
  size_t chainsAdded = 0;
  size_t chainsDeleted = 0;
  size_t chainsRefilled = 0;  // flushed and refilled: their rules differed
  size_t rulesAdded = 0;
  size_t setsAdded = 0;
  size_t messages = 0;       // netlink messages in the batch
  size_t batchBytes = 0;     // 0: no batch sent
  bool readBack = false;     // the kernel's table was read back (cache cold or stale)
  bool rebuilt = false;      // the table was deleted and re-created in the batch (wrong shape)
  bool incremental = false;  // only the desired index's dirty keys were compared
  double diffMs = 0;         // diffing the desired table against the view
  double kernelMs = 0;       // sending the batch until the kernel's last ack
  // UDP backends this sync took away: (VIP or 0.0.0.0 for NodePorts, port, endpoint, port)
  // that an `endpoints` element deleted or replaced pointed at and no element of the same
  // service port points at any more. Their conntrack entries should go (conntrack.h). Derived
  // from what the kernel held, so endpoints removed while the agent was down count too.
  std::vector<conntrack::StaleUdpFlow> removedUdpBackends;
  // Entries of the kernel-filled `affinity` map deleted after the sync because their endpoint
  // is gone (clearStaleAffinity); and why that failed, if it did (the sync itself succeeded).
  size_t endpointSlotsDeleted = 0;  // of the `endpoints` map (deleted or replaced)
  bool affinityWasInUse = false;    // the table held affinity_* elements before the sync
  size_t affinityCleared = 0;
  std::string affinityProblem;
};

class NatDataplane {
 public:
  virtual ~NatDataplane() = default;

  // Brings the data plane in step with `want`; on success `want`'s dirty keys are cleared.
  virtual Status sync(nft::DesiredIndex& want) = 0;
  // Deletes kernel-filled affinity entries that point at an endpoint `want` no longer has.
  virtual Result<size_t> clearStaleAffinity(const nft::DesiredIndex& want) = 0;
  // The VXLAN allow-list's drop counter (packets); nullopt while its rule is not in the kernel.
  virtual Result<std::optional<uint64_t>> vxlanDropped() = 0;
  virtual const SyncStats& lastSync() const = 0;
  virtual const std::string& tableName() const = 0;
};

}  // namespace ovl::nat
