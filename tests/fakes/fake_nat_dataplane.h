// An in-memory NAT data plane (rules/nat_dataplane.h): keeps what the last sync was given,
// clears the index's dirty keys as NatTable does on success, and can be told to fail or to
// report stale UDP backends and affinity entries.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "rules/nat_dataplane.h"

namespace ovl::test {

class FakeNatDataplane final : public nat::NatDataplane {
 public:
  struct Sync {
    size_t elements = 0;    // every element of the index
    size_t dirtyKeys = 0;   // keys marked dirty since the last sync
    bool allDirty = false;  // the whole index was to be compared
  };

  std::vector<Sync> syncs;
  std::vector<std::string> comments;  // of every element after the last successful sync
  std::optional<Error> failSync;      // the next syncs fail with it while set
  nat::SyncStats nextStats;           // what the next successful sync reports
  int affinityClears = 0;
  Result<std::optional<uint64_t>> vxlanCounter = std::optional<uint64_t>{};  // vxlanDropped()

  Status sync(nft::DesiredIndex& want) override {
    Sync s{want.elementCount(), 0, want.allDirty()};
    for (size_t set = 0; set < nft::kSyncedSetCount; ++set) {
      s.dirtyKeys += want.dirty(set).size();
    }
    syncs.push_back(s);
    if (failSync) {
      return *failSync;
    }
    comments.clear();
    for (size_t set = 0; set < nft::kSyncedSetCount; ++set) {
      for (const auto& [key, elem] : want.elems(set)) {
        comments.push_back(elem.comment);
      }
    }
    want.clearDirty();
    last_ = nextStats;
    nextStats = {};
    return okStatus();
  }
  Result<size_t> clearStaleAffinity(const nft::DesiredIndex&) override {
    ++affinityClears;
    return size_t{0};
  }
  Result<std::optional<uint64_t>> vxlanDropped() override { return vxlanCounter; }
  const nat::SyncStats& lastSync() const override { return last_; }
  const std::string& tableName() const override { return table_; }

  bool programs(const std::string& commentPart) const {
    for (const auto& c : comments) {
      if (c.find(commentPart) != std::string::npos) {
        return true;
      }
    }
    return false;
  }

 private:
  nat::SyncStats last_;
  std::string table_ = "ovl";
};

}  // namespace ovl::test
