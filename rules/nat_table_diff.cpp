// NatTable's plan of one batch: what differs between the desired index and the view (the table,
// sets, chains and their rules, elements, and what is no longer wanted), as batch messages.
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <algorithm>
#include <set>

#include "rules/nat_table.h"
#include "rules/nat_table_steps.h"
#include "rules/nft_batch.h"
#include "rules/nft_handles.h"
#include "rules/nft_wire.h"

namespace ovl::nat {

using nft::ElemKey;
using nft::KernelElem;
using nft::KernelElems;
using nft::SetLayout;

std::string keyName(const SetLayout& l, const ElemKey& k, bool add) {
  return std::string(add ? "add element " : "delete element ") + nft::keyToString(l, k) +
         (add ? " to " : " from ") + kindName(l) + " " + l.name;
}

namespace {

// ---- building objects -------------------------------------------------------------------

nft::SetHandle makeSet(const std::string& table, const SetLayout& l) {
  nft::SetHandle s(nftnl_set_alloc());
  nftnl_set_set_str(s.get(), NFTNL_SET_TABLE, table.c_str());
  nftnl_set_set_str(s.get(), NFTNL_SET_NAME, l.name);
  nftnl_set_set_u32(s.get(), NFTNL_SET_FAMILY, NFPROTO_IPV4);
  nftnl_set_set_u32(s.get(), NFTNL_SET_KEY_TYPE, l.keyType());
  nftnl_set_set_u32(s.get(), NFTNL_SET_KEY_LEN, l.keyLen());
  nftnl_set_set_u32(s.get(), NFTNL_SET_FLAGS, l.flags);
  // The kernel requires a transaction-local set id (NFTA_SET_ID) with every new set.
  nftnl_set_set_u32(s.get(), NFTNL_SET_ID, static_cast<uint32_t>(l.id) + 1);
  if ((l.flags & NFT_SET_MAP) != 0) {
    nftnl_set_set_u32(s.get(), NFTNL_SET_DATA_TYPE, l.dataType());
    if (!l.verdict) {
      nftnl_set_set_u32(s.get(), NFTNL_SET_DATA_LEN, l.dataLen());
    }
  }
  if (l.size != 0) {
    nftnl_set_set_u32(s.get(), NFTNL_SET_DESC_SIZE, l.size);
  }
  return s;
}

nft::ChainHandle makeChain(const std::string& table, const nft::ChainSpec& spec) {
  nft::ChainHandle c(nftnl_chain_alloc());
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TABLE, table.c_str());
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_NAME, spec.name.c_str());
  nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_FAMILY, NFPROTO_IPV4);
  if (spec.base) {
    nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_HOOKNUM, spec.base->hook);
    nftnl_chain_set_s32(c.get(), NFTNL_CHAIN_PRIO, spec.base->priority);
    nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TYPE, spec.base->type.c_str());
    nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_POLICY, spec.base->policy);
  }
  return c;
}

nft::RuleHandle makeRule(const std::string& table, const std::string& chain,
                         const nft::RuleSpec& spec) {
  nft::RuleHandle r(nftnl_rule_alloc());
  nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, table.c_str());
  nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, chain.c_str());
  nftnl_rule_set_u32(r.get(), NFTNL_RULE_FAMILY, NFPROTO_IPV4);
  nft::UdataHandle ud = nft::commentUdata(spec.comment, NFTNL_UDATA_RULE_COMMENT);
  nftnl_rule_set_data(r.get(), NFTNL_RULE_USERDATA, nftnl_udata_buf_data(ud.get()),
                      nftnl_udata_buf_len(ud.get()));
  spec.build(r.get());
  return r;
}

// ---- the element diff -------------------------------------------------------------------

void compareKey(const ElemKey& key, const nft::DesiredIndex::ElemMap& want, const KernelElems& have,
                ElemOps& ops) {
  auto w = want.find(key);
  auto h = have.find(key);
  if (w == want.end()) {
    if (h != have.end()) {
      ops.del.push_back(key);
    }
    return;
  }
  if (h == have.end()) {
    ops.add.push_back(&*w);
  } else if (!h->second.sameAs(w->second.view(key))) {
    ops.del.push_back(key);
    ops.add.push_back(&*w);
  }
}

// Every key of both: a merge of the two sorted maps.
ElemOps diffAll(const nft::DesiredIndex::ElemMap& want, const KernelElems& have) {
  ElemOps ops;
  auto w = want.begin();
  auto h = have.begin();
  while (w != want.end() || h != have.end()) {
    if (h == have.end() || (w != want.end() && w->first < h->first)) {
      ops.add.push_back(&*w);
      ++w;
    } else if (w == want.end() || h->first < w->first) {
      ops.del.push_back(h->first);
      ++h;
    } else {
      if (!h->second.sameAs(w->second.view(w->first))) {
        ops.del.push_back(h->first);
        ops.add.push_back(&*w);
      }
      ++w;
      ++h;
    }
  }
  return ops;
}

// Only the keys the index touched since the last sync.
ElemOps diffDirty(std::vector<ElemKey> keys, const nft::DesiredIndex::ElemMap& want,
                  const KernelElems& have) {
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  ElemOps ops;
  for (const ElemKey& k : keys) {
    compareKey(k, want, have, ops);
  }
  return ops;
}

}  // namespace

bool NatTable::wrongShape(const std::vector<nft::ChainSpec>& chains) const {
  bool wrong = false;
  for (const SetLayout& l : nft::setLayouts()) {
    auto it = view_.sets.find(l.name);
    if (it == view_.sets.end()) {
      continue;
    }
    const SetState& st = it->second;
    if (st.keyType != l.keyType() || st.keyLen != l.keyLen() || st.flags != l.flags ||
        ((l.flags & NFT_SET_MAP) != 0 &&
         (st.dataType != l.dataType() || (!l.verdict && st.dataLen != l.dataLen())))) {
      wrong = true;
    }
  }
  for (const nft::ChainSpec& c : chains) {
    auto it = view_.chains.find(c.name);
    if (it != view_.chains.end() && it->second.base != c.base) {
      wrong = true;
    }
  }
  return wrong;
}

void NatTable::planStructure(nft::NftBatch& batch, bool rebuild,
                             const std::vector<nft::ChainSpec>& chains) {
  if (rebuild) {
    batch.delTable(table_);
  }
  if (!view_.tableExists) {
    batch.addTable(table_);
  }
  for (const SetLayout& l : nft::setLayouts()) {
    if (view_.sets.count(l.name) == 0) {
      nft::SetHandle s = makeSet(table_, l);
      batch.addSet(s.get(), std::string("add ") + kindName(l) + " " + l.name);
      ++last_.setsAdded;
    }
  }
  for (const nft::ChainSpec& c : chains) {
    if (view_.chains.count(c.name) == 0) {
      nft::ChainHandle h = makeChain(table_, c);
      batch.addChain(h.get(), "add chain " + c.name);
      ++last_.chainsAdded;
    }
  }
  for (const nft::ChainSpec& c : chains) {
    auto it = view_.chains.find(c.name);
    if (it != view_.chains.end()) {
      bool same = it->second.comments.size() == c.rules.size();
      for (size_t i = 0; same && i < c.rules.size(); ++i) {
        same = it->second.comments[i] == c.rules[i].comment;
      }
      if (same) {
        continue;
      }
      batch.flushChain(table_, c.name);
      ++last_.chainsRefilled;
    }
    for (const nft::RuleSpec& r : c.rules) {
      nft::RuleHandle h = makeRule(table_, c.name, r);
      batch.addRule(h.get(), "add rule to chain " + c.name + " (\"" + r.comment + "\")");
      ++last_.rulesAdded;
    }
  }
}

NatTable::ElemDiff NatTable::diffElements(const nft::DesiredIndex& want) const {
  ElemDiff diff;
  for (size_t s = 0; s < nft::kSyncedSetCount; ++s) {
    diff.ops[s] = last_.incremental ? diffDirty(want.dirty(s), want.elems(s), view_.elems[s])
                                    : diffAll(want.elems(s), view_.elems[s]);
  }
  return diff;
}

// Every delete before every add, so a replaced element (same key) is deleted first and an
// element that jumped to a chain that goes away is gone before the chain.
void NatTable::planElements(nft::NftBatch& batch, const ElemDiff& diff) {
  const auto& layouts = nft::setLayouts();
  // Element messages dominate a full sync's batch: size the buffer once (about 40 bytes per
  // delete, 96 plus the comment per add).
  size_t expected = 0;
  for (const ElemOps& o : diff.ops) {
    expected += o.del.size() * 40;
    for (const auto* a : o.add) {
      expected += 96 + a->second.comment.size();
    }
  }
  batch.expect(expected);
  for (size_t s = 0; s < nft::kSyncedSetCount; ++s) {
    const SetLayout& l = layouts[s];
    const auto& del = diff.ops[s].del;
    batch.elements(
        nft::NftBatch::ElemOp::kDelete, table_, l.name, del.size(),
        [&](nlmsghdr* nlh, size_t i) { nft::putKey(nlh, l, del[i]); },
        [&l, &del](size_t i) { return keyName(l, del[i], false); });
    last_.elementsDeleted += del.size();
  }
  for (size_t s = 0; s < nft::kSyncedSetCount; ++s) {
    const SetLayout& l = layouts[s];
    const auto& add = diff.ops[s].add;
    batch.elements(
        nft::NftBatch::ElemOp::kAdd, table_, l.name, add.size(),
        [&](nlmsghdr* nlh, size_t i) {
          nft::putElement(nlh, l, add[i]->second.view(add[i]->first));
        },
        [&l, &add](size_t i) { return keyName(l, add[i]->first, true); });
    last_.elementsAdded += add.size();
  }
}

// After the elements that pointed at them. They may jump to one another (the *_masq and *_keep
// variants goto the lb chains), and the kernel refuses to delete a chain something still jumps
// to: so every one is flushed first, then all deleted, whatever their order.
void NatTable::planRemovals(nft::NftBatch& batch, const std::vector<nft::ChainSpec>& chains) {
  std::set<std::string> wanted;
  for (const nft::ChainSpec& c : chains) {
    wanted.insert(c.name);
  }
  std::vector<std::string> gone;
  for (const auto& [name, st] : view_.chains) {
    if (wanted.count(name) == 0) {
      gone.push_back(name);
    }
  }
  for (const std::string& name : gone) {
    batch.flushChain(table_, name);
  }
  for (const std::string& name : gone) {
    batch.delChain(table_, name);
    ++last_.chainsDeleted;
  }
  const auto& layouts = nft::setLayouts();
  for (const auto& entry : view_.sets) {
    // Not a structured binding: clang 14 (the fuzz build) cannot capture one in a lambda.
    const std::string& name = entry.first;
    if (std::none_of(layouts.begin(), layouts.end(),
                     [&](const SetLayout& l) { return name == l.name; })) {
      batch.delSet(table_, name);
    }
  }
}

}  // namespace ovl::nat
