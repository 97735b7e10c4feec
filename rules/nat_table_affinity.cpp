// NatTable's cleanup of the kernel-filled `affinity` map: entries that send a client to an
// endpoint its service no longer has are deleted, in batches of their own.
#include <cerrno>
#include <map>

#include <fmt/format.h>

#include "rules/nat_table.h"
#include "rules/nat_table_steps.h"
#include "rules/nft_batch.h"
#include "rules/nft_wire.h"

namespace ovl::nat {

using nft::ElemKey;
using nft::KernelElem;
using nft::KernelElems;
using nft::SetId;
using nft::SetLayout;

Result<size_t> NatTable::clearStaleAffinity(const nft::DesiredIndex& want) {
  const SetLayout& l = nft::setLayout(SetId::kAffinity);
  // Entries expire, and the packet path adds and refreshes them meanwhile: destroy ignores the
  // ones already gone. Kernels before 6.3 have no destroy (EINVAL), and a delete of a missing
  // entry fails the whole batch: there the map is read again and the batch retried.
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    KernelElems entries;
    bool malformed = false;
    if (auto s = dumpElements(l, entries, malformed); !s) {
      return s.error().withContext("clear stale ClientIP affinity");
    }
    const std::vector<ElemKey> stale =
        nft::staleAffinity(entries, want.elems(idx(SetId::kEndpoints)));
    if (stale.empty()) {
      return size_t{0};
    }
    Result<uint32_t> gen = genId();
    if (!gen) {
      return gen.error().withContext("clear stale ClientIP affinity");
    }
    // The batch moves the generation: the view stays trusted if it was in step before.
    const bool inStep = view_.valid && view_.genId == *gen;
    nft::NftBatch batch(sock_, inStep ? *gen : 0);
    batch.elements(
        destroyUnsupported_ ? nft::NftBatch::ElemOp::kDelete : nft::NftBatch::ElemOp::kDestroy,
        table_, l.name, stale.size(),
        [&](nlmsghdr* nlh, size_t i) { nft::putKey(nlh, l, stale[i]); },
        [&](size_t i) { return keyName(l, stale[i], false); });
    const uint32_t sentinel = batch.finish();
    auto sent = sock_.sendBatch(batch.buffer(), sentinel);
    if (!sent) {
      view_.valid = false;
      return sent.error().withContext("clear stale ClientIP affinity");
    }
    if (sent->empty()) {
      if (inStep) {
        view_.genId = nextGeneration(*gen);
      }
      return stale.size();
    }
    // Refused: nothing was applied, so the view is as good as before.
    const int code = sent->front().code;
    if (code == ERESTART) {
      return size_t{0};  // someone changed the ruleset: the next sync reads back, then clears
    }
    if (!destroyUnsupported_ && (code == EINVAL || code == EOPNOTSUPP)) {
      destroyUnsupported_ = true;
      continue;
    }
    if (destroyUnsupported_ && code == ENOENT) {
      continue;  // an entry expired between the read and the delete
    }
    return Error::sys(
        code, fmt::format("clear stale ClientIP affinity: {}", batch.describe(sent->front())));
  }
  return Error{ERESTART, fmt::format("clear stale ClientIP affinity: entries of map {} kept "
                                     "changing ({} attempts)",
                                     l.name, kMaxAttempts)};
}

}  // namespace ovl::nat
