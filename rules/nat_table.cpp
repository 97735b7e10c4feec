// NatTable's sync loop: each attempt reads the table back unless the view is trusted, plans one
// batch from the difference (nat_table_diff.cpp), sends it and acknowledges it
// (nat_table_send.cpp); a batch refused because the ruleset changed meanwhile is retried.
#include "rules/nat_table.h"

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <cerrno>
#include <chrono>

#include "rules/nat_table_steps.h"
#include "rules/nft_batch.h"
#include "rules/nft_wire.h"
#include "rules/vxlan_allow.h"

namespace ovl::nat {

using nft::SetId;

Result<NatTable> NatTable::create(std::string tableName) {
  auto sock = nft::NftSocket::create();
  if (!sock) {
    return sock.error();
  }
  return NatTable(std::move(*sock), std::move(tableName));
}

Result<uint32_t> NatTable::genId() {
  std::vector<char> buf;
  nlmsghdr* nlh = nft::requestHeader(buf, sock_, NFT_MSG_GETGEN, NLM_F_ACK, AF_UNSPEC);
  uint32_t id = 0;
  Status s = sock_.request(nlh, [&](const nlmsghdr* m) -> Status {
    std::array<const nlattr*, NFTA_GEN_MAX + 1> tb;
    nft::parseMsgAttrs(m, tb);
    if (tb[NFTA_GEN_ID] != nullptr) {
      id = ntohl(mnl_attr_get_u32(tb[NFTA_GEN_ID]));
    }
    return okStatus();
  });
  if (!s) {
    return s.error().withContext("get nftables ruleset generation");
  }
  return id;
}

Status NatTable::sync(const NatPlan& plan) {
  nft::DesiredIndex want = nft::DesiredIndex::of(plan);
  return sync(want);
}

Status NatTable::sync(nft::DesiredIndex& want) {
  ++totals_.syncs;
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    Result<bool> r = syncOnce(want);
    if (!r) {
      ++totals_.failures;
      view_.valid = false;
      syncedIndex_ = 0;
      return r.error();
    }
    if (*r) {
      totals_.elementsWritten += last_.elementsAdded;
      syncedIndex_ = want.id();
      want.clearDirty();
      // Endpoint slots deleted (or the table read back after a restart) where affinity is or
      // was in use (a service deleted with its affinity leaves entries too): clients that
      // ClientIP affinity still sends to a removed endpoint are let go.
      const bool affinityInUse = last_.affinityWasInUse ||
                                 !want.elems(idx(SetId::kAffinityServices)).empty() ||
                                 !want.elems(idx(SetId::kAffinityNodePorts)).empty();
      if (affinityInUse && (last_.endpointSlotsDeleted > 0 || last_.readBack)) {
        auto cleared = clearStaleAffinity(want);
        if (cleared) {
          last_.affinityCleared = *cleared;
        } else {
          last_.affinityProblem = cleared.error().message;
        }
      }
      return okStatus();
    }
    ++totals_.retries;  // the ruleset changed under us: read it again
  }
  ++totals_.failures;
  syncedIndex_ = 0;
  return Error{ERESTART, "sync table ip " + table_ + ": the nftables ruleset kept changing (" +
                             std::to_string(kMaxAttempts) + " attempts)"};
}

Result<bool> NatTable::syncOnce(nft::DesiredIndex& want) {
  last_ = SyncStats{};
  Result<uint32_t> gen = genId();
  if (!gen) {
    return gen.error();
  }
  if (!view_.valid || view_.genId != *gen) {
    Result<bool> read = readBackAt(*gen);
    if (!read || !*read) {
      return read;  // an error, or false: changed while we read
    }
  }
  last_.affinityWasInUse = !view_.elems[idx(SetId::kAffinityServices)].empty() ||
                           !view_.elems[idx(SetId::kAffinityNodePorts)].empty();

  const auto diffStart = std::chrono::steady_clock::now();
  const std::vector<nft::ChainSpec>& chains = want.chains();
  // A table of the wrong shape (a set with another key, a base chain on another hook, ...) is
  // deleted and re-created in the same batch: there is no way to change those in place.
  const bool rebuild = view_.tableExists && (refused_ || wrongShape(chains));
  if (rebuild) {
    const uint32_t genIdNow = view_.genId;
    view_ = View{};
    view_.valid = true;
    view_.genId = genIdNow;
  }
  last_.rebuilt = rebuild;
  // Only the touched keys, when the view is what the kernel held after this index's last sync.
  last_.incremental = !last_.readBack && !rebuild && !want.allDirty() && syncedIndex_ == want.id();

  nft::NftBatch batch(sock_, *gen);
  planStructure(batch, rebuild, chains);
  const ElemDiff diff = diffElements(want);
  planElements(batch, diff);
  planRemovals(batch, chains);
  last_.operations = batch.operations();
  last_.diffMs = msSince(diffStart);
  if (batch.empty()) {
    return true;
  }
  Result<bool> sent = send(batch);
  if (!sent || !*sent) {
    return sent;
  }
  batch.release();  // before the view grows: the batch of a full sync is megabytes
  acknowledge(want, chains, diff, *gen);
  return true;
}

Result<std::optional<uint64_t>> NatTable::vxlanDropped() {
  auto c = readVxlanDropCounter(sock_, table_);
  if (!c) {
    return c.error();
  }
  return *c ? std::optional<uint64_t>((*c)->packets) : std::nullopt;
}

Status NatTable::remove() {
  view_.valid = false;
  Result<uint32_t> gen = genId();
  if (!gen) {
    return gen.error();
  }
  nft::NftBatch batch(sock_, 0);
  batch.delTable(table_);
  const uint32_t sentinel = batch.finish();
  auto sent = sock_.sendBatch(batch.buffer(), sentinel);
  if (!sent) {
    return sent.error().withContext("delete table ip " + table_);
  }
  if (!sent->empty() && sent->front().code != ENOENT) {
    return Error::sys(sent->front().code, "delete table ip " + table_);
  }
  return okStatus();
}

}  // namespace ovl::nat
