// ovl's nftables table (`ip ovl`): keeps the kernel in step with a NatPlan, writing only the
// difference, as one atomic nf_tables batch per sync.
//
// sync() compares the plan with the kernel's table, read back (chains with their rules
// identified by their comments, sets and their elements), and sends the difference. The read-back
// is cached as an acknowledged view: updated only after the kernel accepted a batch, and trusted
// only while the ruleset generation (NFT_MSG_GETGEN) is the one our last batch produced. Anyone
// else's change to any nftables table moves the generation, so the next sync reads the table
// back again and repairs it; every batch also carries the generation it was computed against
// (NFNL_BATCH_GENID), so the kernel refuses it if the ruleset changed in between, and sync()
// re-reads and retries. The table is never flushed on start, and no other table is touched.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"
#include "rules/conntrack.h"
#include "rules/nat_dataplane.h"
#include "rules/nat_plan.h"
#include "rules/nft_layout.h"
#include "rules/nft_socket.h"

namespace ovl::nft {
class NftBatch;
}  // namespace ovl::nft

namespace ovl::nat {

class NatTable final : public NatDataplane {
 public:
  using SyncStats = nat::SyncStats;
  // Since create().
  struct Totals {
    uint64_t syncs = 0;
    uint64_t failures = 0;
    uint64_t readBacks = 0;
    uint64_t retries = 0;  // batches refused because the ruleset changed meanwhile
    uint64_t elementsWritten = 0;
  };

  // Opens the netlink socket in the current network namespace; the table is used in it for the
  // lifetime of the object. Does not touch the kernel's tables.
  static Result<NatTable> create(std::string tableName = "ovl");

  NatTable(NatTable&&) noexcept = default;
  NatTable& operator=(NatTable&&) noexcept = default;

  // Brings the table in step with `want`. When the cached view is trusted and `want` is the
  // index this table last synced, only the keys `want` marks dirty are compared (O(change));
  // else every element is. On success `want`'s dirty keys are cleared.
  Status sync(nft::DesiredIndex& want) override;
  // One-shot: the whole plan, every element compared.
  Status sync(const NatPlan& plan);
  // Deletes the entries of the kernel-filled `affinity` map that send a client to an endpoint
  // `want` no longer has (nft::staleAffinity): such a client would stay on the removed endpoint
  // until the entry times out. sync() does it after deleting endpoints or reading the table
  // back; the agent also on every full pass, for an entry the packet path re-created while it
  // was being deleted. Returns how many were deleted.
  Result<size_t> clearStaleAffinity(const nft::DesiredIndex& want) override;
  // The drop counter of chain vxlan_input (rules/vxlan_allow.h), read from the kernel.
  Result<std::optional<uint64_t>> vxlanDropped() override;
  // Deletes the table (for --cleanup). Not an error when it does not exist.
  Status remove();
  // Forgets the cached view: the next sync reads the kernel's table back.
  void invalidate() { view_.valid = false; }

  const SyncStats& lastSync() const override { return last_; }
  const Totals& totals() const { return totals_; }
  const std::string& tableName() const override { return table_; }

 private:
  struct ChainState {
    std::optional<nft::BaseHook> base;
    std::vector<std::string> comments;  // of its rules, in order
  };
  struct SetState {
    uint32_t keyType = 0, keyLen = 0, dataType = 0, dataLen = 0, flags = 0;
  };
  // What the kernel holds (as last read or acknowledged).
  struct View {
    bool valid = false;
    uint32_t genId = 0;
    bool tableExists = false;
    std::map<std::string, ChainState> chains;
    std::map<std::string, SetState> sets;
    std::array<nft::KernelElems, nft::kSyncedSetCount> elems;
  };

  NatTable(nft::NftSocket sock, std::string table)
      : sock_(std::move(sock)), table_(std::move(table)) {}

  // The element operations of one sync, per synced set (nat_table_steps.h).
  struct ElemDiff;

  Result<uint32_t> genId();
  Result<bool> syncOnce(nft::DesiredIndex& want);  // false: refused (ERESTART), retry

  // Read-back (nat_table_read.cpp).
  // Reads the table into the view, trusted at generation `gen`; false: the ruleset changed
  // while it was read.
  Result<bool> readBackAt(uint32_t gen);
  Status readBack(View& v);
  Status readTable(View& v);
  Status readChains(View& v);
  Status readRules(View& v);
  Status readSets(View& v);
  Status readElements(View& v, nft::SetId id);
  // Every element of set `l` into `out`; `malformed` when one did not fit the layout.
  Status dumpElements(const nft::SetLayout& l, nft::KernelElems& out, bool& malformed);

  // The batch, planned from the difference between `want` and the view (nat_table_diff.cpp).
  // A set with another key or flags, or a base chain on another hook: not changeable in place.
  bool wrongShape(const std::vector<nft::ChainSpec>& chains) const;
  // The table, the missing sets and chains, and the rules of every chain that differs.
  void planStructure(nft::NftBatch& batch, bool rebuild, const std::vector<nft::ChainSpec>& chains);
  ElemDiff diffElements(const nft::DesiredIndex& want) const;
  void planElements(nft::NftBatch& batch, const ElemDiff& diff);
  // Chains and sets no longer wanted.
  void planRemovals(nft::NftBatch& batch, const std::vector<nft::ChainSpec>& chains);

  // Sending (nat_table_send.cpp). false: refused because the ruleset changed (ERESTART).
  Result<bool> send(nft::NftBatch& batch);
  // The kernel accepted the batch: the view becomes what `want` describes.
  void acknowledge(const nft::DesiredIndex& want, const std::vector<nft::ChainSpec>& chains,
                   const ElemDiff& diff, uint32_t gen);

  nft::NftSocket sock_;
  std::string table_;
  View view_;
  uint64_t syncedIndex_ = 0;  // DesiredIndex::id() the view was last synced with
  // The kernel refused the last batch for a reason the read-back did not explain (a set limit
  // someone else set, say): the next attempt deletes and re-creates the table in its batch.
  bool refused_ = false;
  bool destroyUnsupported_ = false;  // the kernel predates NFT_MSG_DESTROYSETELEM (6.3)
  SyncStats last_;
  Totals totals_;
};

}  // namespace ovl::nat
