// NatTable sends a planned batch and, once the kernel acknowledged it, makes its view what the
// kernel now holds (never before: a refused batch applied nothing).
#include <arpa/inet.h>
#include <linux/netfilter/nf_tables.h>

#include <cerrno>
#include <chrono>

#include "rules/nat_table.h"
#include "rules/nat_table_steps.h"
#include "rules/nft_batch.h"

namespace ovl::nat {

using nft::ElemKey;
using nft::KernelElem;
using nft::SetId;
using nft::SetLayout;

Result<bool> NatTable::send(nft::NftBatch& batch) {
  const uint32_t sentinel = batch.finish();
  last_.messages = batch.messages();
  last_.batchBytes = batch.buffer().size();
  const auto sendStart = std::chrono::steady_clock::now();
  auto sent = sock_.sendBatch(batch.buffer(), sentinel);
  last_.kernelMs = msSince(sendStart);
  if (!sent) {
    view_.valid = false;
    return sent.error().withContext("sync table ip " + table_);
  }
  if (!sent->empty()) {
    view_.valid = false;
    const nft::BatchError& e = sent->front();
    if (e.code == ERESTART) {
      return false;
    }
    refused_ = true;
    Error err = Error::sys(e.code, batch.describe(e));
    if (!e.extMessage.empty()) {
      err.message += " (kernel: " + e.extMessage + ")";
    }
    if (sent->size() > 1) {
      err.message += " (and " + std::to_string(sent->size() - 1) + " more errors)";
    }
    return err.withContext("sync table ip " + table_ + ": batch refused, nothing applied");
  }
  refused_ = false;
  return true;
}

// Acknowledged: the kernel now holds exactly what `want` describes.
void NatTable::acknowledge(const nft::DesiredIndex& want, const std::vector<nft::ChainSpec>& chains,
                           const ElemDiff& diff, uint32_t gen) {
  const size_t endpointsSet = static_cast<size_t>(SetId::kEndpoints);
  last_.endpointSlotsDeleted = diff.ops[endpointsSet].del.size();
  last_.removedUdpBackends = nft::removedUdpBackends(
      diff.ops[endpointsSet].del, view_.elems[endpointsSet], want.elems(endpointsSet));
  view_.tableExists = true;
  view_.chains.clear();
  for (const nft::ChainSpec& c : chains) {
    ChainState& st = view_.chains[c.name];
    st.base = c.base;
    for (const nft::RuleSpec& r : c.rules) {
      st.comments.push_back(r.comment);
    }
  }
  view_.sets.clear();
  for (const SetLayout& l : nft::setLayouts()) {
    SetState& st = view_.sets[l.name];
    st.keyType = l.keyType();
    st.keyLen = l.keyLen();
    st.flags = l.flags;
    if ((l.flags & NFT_SET_MAP) != 0) {
      st.dataType = l.dataType();
      st.dataLen = l.verdict ? 16 : l.dataLen();
    }
  }
  for (size_t s = 0; s < nft::kSyncedSetCount; ++s) {
    auto& have = view_.elems[s];
    for (const ElemKey& k : diff.ops[s].del) {
      have.erase(k);
    }
    for (const auto* a : diff.ops[s].add) {
      have.insert_or_assign(a->first, KernelElem::from(a->second.view(a->first)));
    }
  }
  view_.genId = nextGeneration(gen);
}

}  // namespace ovl::nat
