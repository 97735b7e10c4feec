// Private to NatTable: what the files of its steps share (nat_table.cpp: the sync loop;
// nat_table_read.cpp: read-back; nat_table_diff.cpp: the batch planned from the difference;
// nat_table_send.cpp: sending and acknowledging; nat_table_affinity.cpp: stale affinity).
#pragma once

#include <array>
#include <chrono>
#include <string>
#include <vector>

#include "rules/nat_table.h"
#include "rules/nft_layout.h"

namespace ovl::nat {

// A sync, and a stale-affinity cleanup, give up after this many refused batches.
inline constexpr int kMaxAttempts = 4;

inline double msSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

// Every committed transaction moves the ruleset generation by one (nf_tables_commit); 0 is
// never a generation the view trusts.
inline uint32_t nextGeneration(uint32_t gen) {
  return gen + 1 == 0 ? 1 : gen + 1;
}

inline size_t idx(nft::SetId id) {
  return static_cast<size_t>(id);
}

inline const char* kindName(const nft::SetLayout& l) {
  return l.data.empty() && !l.verdict ? "set" : "map";
}

// "add element 10.96.0.10 . tcp . 80 to map services" / "delete element ... from ...".
std::string keyName(const nft::SetLayout& l, const nft::ElemKey& k, bool add);

// What one set's elements need: deletes (by key) and adds; a replacement (same key, new value
// or comment) is one of each.
struct ElemOps {
  std::vector<nft::ElemKey> del;
  std::vector<const nft::DesiredIndex::ElemMap::value_type*> add;  // into the index: 8 bytes each
};

// The element operations of one sync, per synced set.
struct NatTable::ElemDiff {
  std::array<ElemOps, nft::kSyncedSetCount> ops;
};

}  // namespace ovl::nat
