#include "rules/nat_table.h"

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <set>

#include <fmt/format.h>

#include "rules/nft_batch.h"
#include "rules/nft_handles.h"

namespace ovl::nat {
namespace {

using nft::DesiredElem;
using nft::ElemKey;
using nft::KernelElem;
using nft::SetId;
using nft::SetLayout;

constexpr int kMaxAttempts = 4;

double msSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

// Every committed transaction moves the ruleset generation by one (nf_tables_commit); 0 is
// never a generation the view trusts.
uint32_t nextGeneration(uint32_t gen) {
  return gen + 1 == 0 ? 1 : gen + 1;
}

size_t idx(SetId id) {
  return static_cast<size_t>(id);
}

const char* kindName(const SetLayout& l) {
  return l.data.empty() && !l.verdict ? "set" : "map";
}

// Parses the attributes nested in attr (or, with attr == nullptr, those of nlh after its
// nfgenmsg) into tb[type].
template <size_t N>
void parseAttrs(const nlattr* attr, std::array<const nlattr*, N>& tb) {
  tb.fill(nullptr);
  mnl_attr_parse_nested(
      attr,
      [](const nlattr* a, void* data) -> int {
        auto* t = static_cast<std::array<const nlattr*, N>*>(data);
        const uint16_t type = mnl_attr_get_type(a);
        if (type < N) {
          (*t)[type] = a;
        }
        return MNL_CB_OK;
      },
      &tb);
}
template <size_t N>
void parseMsgAttrs(const nlmsghdr* nlh, std::array<const nlattr*, N>& tb) {
  tb.fill(nullptr);
  mnl_attr_parse(
      nlh, sizeof(nfgenmsg),
      [](const nlattr* a, void* data) -> int {
        auto* t = static_cast<std::array<const nlattr*, N>*>(data);
        const uint16_t type = mnl_attr_get_type(a);
        if (type < N) {
          (*t)[type] = a;
        }
        return MNL_CB_OK;
      },
      &tb);
}

// A request header: NFT_MSG_<type> in family ip.
nlmsghdr* requestHeader(std::vector<char>& buf, nft::NftSocket& sock, uint16_t type, uint16_t flags,
                        uint16_t family = NFPROTO_IPV4) {
  buf.assign(4096, 0);
  return nftnl_nlmsg_build_hdr(buf.data(), type, family, flags, sock.nextSeq());
}

// ---- element wire format ----------------------------------------------------------------

void putKey(nlmsghdr* nlh, const SetLayout& l, const ElemKey& k) {
  uint8_t bytes[16];
  const size_t n = nft::encode(l.key, k.w, bytes);
  nlattr* nest = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);
  mnl_attr_put(nlh, NFTA_DATA_VALUE, n, bytes);
  mnl_attr_nest_end(nlh, nest);
}

void putElement(nlmsghdr* nlh, const SetLayout& l, const DesiredElem& e) {
  putKey(nlh, l, e.key);
  if (l.verdict) {
    nlattr* data = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_DATA);
    nlattr* verdict = mnl_attr_nest_start(nlh, NFTA_DATA_VERDICT);
    mnl_attr_put_u32(nlh, NFTA_VERDICT_CODE, htonl(static_cast<uint32_t>(e.data.verdict)));
    if (!e.data.chain.empty()) {
      char name[NFT_CHAIN_MAXNAMELEN];
      const size_t n = std::min(e.data.chain.size(), sizeof(name) - 1);
      std::memcpy(name, e.data.chain.data(), n);
      name[n] = '\0';
      mnl_attr_put_strz(nlh, NFTA_VERDICT_CHAIN, name);
    }
    mnl_attr_nest_end(nlh, verdict);
    mnl_attr_nest_end(nlh, data);
  } else if (!l.data.empty()) {
    uint8_t bytes[16];
    const std::array<uint32_t, 4> w{e.data.value[0], e.data.value[1], 0, 0};
    const size_t n = nft::encode(l.data, w, bytes);
    nlattr* data = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_DATA);
    mnl_attr_put(nlh, NFTA_DATA_VALUE, n, bytes);
    mnl_attr_nest_end(nlh, data);
  }
  if (!e.comment.empty()) {
    // Userdata TLV as nft writes it: type NFTNL_UDATA_SET_ELEM_COMMENT, length, NUL-terminated
    // text (nft keeps comments below 128 bytes).
    uint8_t ud[2 + 128];
    const size_t n = std::min<size_t>(e.comment.size(), 127);
    ud[0] = NFTNL_UDATA_SET_ELEM_COMMENT;
    ud[1] = static_cast<uint8_t>(n + 1);
    std::memcpy(ud + 2, e.comment.data(), n);
    ud[2 + n] = '\0';
    mnl_attr_put(nlh, NFTA_SET_ELEM_USERDATA, n + 3, ud);
  }
}

// Parses one NFTA_LIST_ELEM; false when it does not fit the layout.
bool parseElement(const nlattr* attr, const SetLayout& l, ElemKey& key, KernelElem& out) {
  std::array<const nlattr*, NFTA_SET_ELEM_MAX + 1> tb;
  parseAttrs(attr, tb);
  if (tb[NFTA_SET_ELEM_KEY] == nullptr) {
    return false;
  }
  std::array<const nlattr*, NFTA_DATA_MAX + 1> k;
  parseAttrs(tb[NFTA_SET_ELEM_KEY], k);
  if (k[NFTA_DATA_VALUE] == nullptr ||
      !nft::decode(l.key, mnl_attr_get_payload(k[NFTA_DATA_VALUE]),
                   mnl_attr_get_payload_len(k[NFTA_DATA_VALUE]), key.w)) {
    return false;
  }
  if (tb[NFTA_SET_ELEM_DATA] != nullptr) {
    std::array<const nlattr*, NFTA_DATA_MAX + 1> data;
    parseAttrs(tb[NFTA_SET_ELEM_DATA], data);
    if (data[NFTA_DATA_VERDICT] != nullptr) {
      std::array<const nlattr*, NFTA_VERDICT_MAX + 1> v;
      parseAttrs(data[NFTA_DATA_VERDICT], v);
      if (v[NFTA_VERDICT_CODE] != nullptr) {
        out.verdict = static_cast<int32_t>(ntohl(mnl_attr_get_u32(v[NFTA_VERDICT_CODE])));
      }
      if (v[NFTA_VERDICT_CHAIN] != nullptr) {
        out.chain = mnl_attr_get_str(v[NFTA_VERDICT_CHAIN]);
      }
    } else if (data[NFTA_DATA_VALUE] != nullptr) {
      std::array<uint32_t, 4> w{};
      if (!nft::decode(l.data, mnl_attr_get_payload(data[NFTA_DATA_VALUE]),
                       mnl_attr_get_payload_len(data[NFTA_DATA_VALUE]), w)) {
        return false;
      }
      out.value = {w[0], w[1]};
    }
  }
  if (tb[NFTA_SET_ELEM_USERDATA] != nullptr) {
    out.commentHash = KernelElem::hashComment(nft::parseComment(
        mnl_attr_get_payload(tb[NFTA_SET_ELEM_USERDATA]),
        mnl_attr_get_payload_len(tb[NFTA_SET_ELEM_USERDATA]), NFTNL_UDATA_SET_ELEM_COMMENT));
  }
  return true;
}

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

// What one set's elements need: deletes (by key) and adds; a replacement (same key, new value
// or comment) is one of each.
struct ElemOps {
  std::vector<ElemKey> del;
  std::vector<const nft::DesiredIndex::ElemMap::value_type*> add;  // into the index: 8 bytes each
};

void compareKey(const ElemKey& key, const nft::DesiredIndex::ElemMap& want,
                const std::map<ElemKey, KernelElem>& have, ElemOps& ops) {
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
ElemOps diffAll(const nft::DesiredIndex::ElemMap& want, const std::map<ElemKey, KernelElem>& have) {
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
                  const std::map<ElemKey, KernelElem>& have) {
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  ElemOps ops;
  for (const ElemKey& k : keys) {
    compareKey(k, want, have, ops);
  }
  return ops;
}

std::string keyName(const SetLayout& l, const ElemKey& k, bool add) {
  return std::string(add ? "add element " : "delete element ") + nft::keyToString(l, k) +
         (add ? " to " : " from ") + kindName(l) + " " + l.name;
}

}  // namespace

Result<NatTable> NatTable::create(std::string tableName) {
  auto sock = nft::NftSocket::create();
  if (!sock) {
    return sock.error();
  }
  return NatTable(std::move(*sock), std::move(tableName));
}

Result<uint32_t> NatTable::genId() {
  std::vector<char> buf;
  nlmsghdr* nlh = requestHeader(buf, sock_, NFT_MSG_GETGEN, NLM_F_ACK, AF_UNSPEC);
  uint32_t id = 0;
  Status s = sock_.request(nlh, [&](const nlmsghdr* m) -> Status {
    std::array<const nlattr*, NFTA_GEN_MAX + 1> tb;
    parseMsgAttrs(m, tb);
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

Status NatTable::readBack(View& v) {
  v = View{};
  std::vector<char> buf;
  // The table itself.
  {
    nlmsghdr* nlh = requestHeader(buf, sock_, NFT_MSG_GETTABLE, NLM_F_ACK);
    mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, table_.c_str());
    bool found = false;
    Status s = sock_.request(nlh, [&](const nlmsghdr*) -> Status {
      found = true;
      return okStatus();
    });
    if (!s && s.error().code != ENOENT) {
      return s.error().withContext("read table ip " + table_);
    }
    v.tableExists = s.ok() && found;
  }
  if (!v.tableExists) {
    v.valid = true;
    return okStatus();
  }
  // Chains (the dump covers every table of the family: keep ours).
  {
    nlmsghdr* nlh = requestHeader(buf, sock_, NFT_MSG_GETCHAIN, NLM_F_DUMP);
    Status s = sock_.request(nlh, [&](const nlmsghdr* m) -> Status {
      nft::ChainHandle c(nftnl_chain_alloc());
      if (nftnl_chain_nlmsg_parse(m, c.get()) < 0) {
        return Error::msg("cannot parse a chain of table ip " + table_);
      }
      const char* table = nftnl_chain_get_str(c.get(), NFTNL_CHAIN_TABLE);
      if (table == nullptr || table_ != table) {
        return okStatus();
      }
      ChainState& st = v.chains[nftnl_chain_get_str(c.get(), NFTNL_CHAIN_NAME)];
      if (nftnl_chain_is_set(c.get(), NFTNL_CHAIN_HOOKNUM)) {
        const char* type = nftnl_chain_get_str(c.get(), NFTNL_CHAIN_TYPE);
        st.base = nft::BaseHook{nftnl_chain_get_u32(c.get(), NFTNL_CHAIN_HOOKNUM),
                                nftnl_chain_get_s32(c.get(), NFTNL_CHAIN_PRIO),
                                type != nullptr ? type : "",
                                nftnl_chain_is_set(c.get(), NFTNL_CHAIN_POLICY)
                                    ? nftnl_chain_get_u32(c.get(), NFTNL_CHAIN_POLICY)
                                    : NF_ACCEPT};
      }
      return okStatus();
    });
    if (!s) {
      return s.error().withContext("read chains of table ip " + table_);
    }
  }
  // Rules: only their comments (they identify the rules), in order.
  {
    nlmsghdr* nlh = requestHeader(buf, sock_, NFT_MSG_GETRULE, NLM_F_DUMP);
    mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, table_.c_str());
    Status s = sock_.request(nlh, [&](const nlmsghdr* m) -> Status {
      nft::RuleHandle r(nftnl_rule_alloc());
      if (nftnl_rule_nlmsg_parse(m, r.get()) < 0) {
        return Error::msg("cannot parse a rule of table ip " + table_);
      }
      const char* table = nftnl_rule_get_str(r.get(), NFTNL_RULE_TABLE);
      if (table == nullptr || table_ != table) {
        return okStatus();
      }
      std::string comment;
      uint32_t len = 0;
      if (const void* ud = nftnl_rule_get_data(r.get(), NFTNL_RULE_USERDATA, &len)) {
        comment = nft::parseComment(ud, len, NFTNL_UDATA_RULE_COMMENT);
      }
      // A rule without a comment is not ours: "" makes its chain differ, so it is refilled.
      v.chains[nftnl_rule_get_str(r.get(), NFTNL_RULE_CHAIN)].comments.push_back(comment);
      return okStatus();
    });
    if (!s) {
      return s.error().withContext("read rules of table ip " + table_);
    }
  }
  // Sets.
  {
    nlmsghdr* nlh = requestHeader(buf, sock_, NFT_MSG_GETSET, NLM_F_DUMP);
    mnl_attr_put_strz(nlh, NFTA_SET_TABLE, table_.c_str());
    Status s = sock_.request(nlh, [&](const nlmsghdr* m) -> Status {
      nft::SetHandle set(nftnl_set_alloc());
      if (nftnl_set_nlmsg_parse(m, set.get()) < 0) {
        return Error::msg("cannot parse a set of table ip " + table_);
      }
      const char* table = nftnl_set_get_str(set.get(), NFTNL_SET_TABLE);
      if (table == nullptr || table_ != table) {
        return okStatus();
      }
      SetState& st = v.sets[nftnl_set_get_str(set.get(), NFTNL_SET_NAME)];
      st.keyType = nftnl_set_get_u32(set.get(), NFTNL_SET_KEY_TYPE);
      st.keyLen = nftnl_set_get_u32(set.get(), NFTNL_SET_KEY_LEN);
      st.flags = nftnl_set_get_u32(set.get(), NFTNL_SET_FLAGS);
      if (nftnl_set_is_set(set.get(), NFTNL_SET_DATA_TYPE)) {
        st.dataType = nftnl_set_get_u32(set.get(), NFTNL_SET_DATA_TYPE);
        st.dataLen = nftnl_set_get_u32(set.get(), NFTNL_SET_DATA_LEN);
      }
      return okStatus();
    });
    if (!s) {
      return s.error().withContext("read sets of table ip " + table_);
    }
  }
  for (size_t i = 0; i < nft::kSyncedSetCount; ++i) {
    if (v.sets.count(nft::setLayouts()[i].name) != 0) {
      if (Status s = readElements(v, static_cast<SetId>(i)); !s) {
        return s;
      }
    }
  }
  v.valid = true;
  return okStatus();
}

Status NatTable::dumpElements(const SetLayout& l, std::map<ElemKey, KernelElem>& out,
                              bool& malformed) {
  std::vector<char> buf;
  nlmsghdr* nlh = requestHeader(buf, sock_, NFT_MSG_GETSETELEM, NLM_F_DUMP);
  mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, table_.c_str());
  mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, l.name);
  malformed = false;
  Status s = sock_.request(nlh, [&](const nlmsghdr* m) -> Status {
    std::array<const nlattr*, NFTA_SET_ELEM_LIST_MAX + 1> tb;
    parseMsgAttrs(m, tb);
    if (tb[NFTA_SET_ELEM_LIST_ELEMENTS] == nullptr) {
      return okStatus();
    }
    // mnl_attr_for_each_nested, without its void* arithmetic (C++ needs the casts).
    const nlattr* list = tb[NFTA_SET_ELEM_LIST_ELEMENTS];
    const auto* a = static_cast<const nlattr*>(mnl_attr_get_payload(list));
    int left = static_cast<int>(mnl_attr_get_payload_len(list));
    for (; mnl_attr_ok(a, left); a = mnl_attr_next(a)) {
      left -= static_cast<int>(MNL_ALIGN(a->nla_len));
      ElemKey key;
      KernelElem e;
      if (parseElement(a, l, key, e)) {
        out.insert_or_assign(key, std::move(e));
      } else {
        malformed = true;
      }
    }
    return okStatus();
  });
  if (!s) {
    return s.error().withContext(std::string("read elements of ") + kindName(l) + " " + l.name);
  }
  return okStatus();
}

Status NatTable::readElements(View& v, SetId id) {
  const SetLayout& l = nft::setLayout(id);
  bool malformed = false;
  if (auto s = dumpElements(l, v.elems[idx(id)], malformed); !s) {
    return s;
  }
  if (malformed) {
    // An element whose key does not fit the layout cannot be deleted by key: make the set's
    // shape differ so that the table is rebuilt.
    v.sets[l.name].keyLen = 0;
  }
  return okStatus();
}

Result<size_t> NatTable::clearStaleAffinity(const nft::DesiredIndex& want) {
  const SetLayout& l = nft::setLayout(SetId::kAffinity);
  // Entries expire, and the packet path adds and refreshes them meanwhile: destroy ignores the
  // ones already gone. Kernels before 6.3 have no destroy (EINVAL), and a delete of a missing
  // entry fails the whole batch: there the map is read again and the batch retried.
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    std::map<ElemKey, KernelElem> entries;
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
        table_, l.name, stale.size(), [&](nlmsghdr* nlh, size_t i) { putKey(nlh, l, stale[i]); },
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
    View v;
    if (Status s = readBack(v); !s) {
      return s.error();
    }
    Result<uint32_t> after = genId();
    if (!after) {
      return after.error();
    }
    if (*after != *gen) {
      return false;  // changed while we read
    }
    v.genId = *gen;
    view_ = std::move(v);
    last_.readBack = true;
    ++totals_.readBacks;
  }
  last_.affinityWasInUse = !view_.elems[idx(SetId::kAffinityServices)].empty() ||
                           !view_.elems[idx(SetId::kAffinityNodePorts)].empty();

  const auto diffStart = std::chrono::steady_clock::now();
  const std::vector<nft::ChainSpec>& chains = want.chains();
  const auto& layouts = nft::setLayouts();

  // A table of the wrong shape (a set with another key, a base chain on another hook, ...) is
  // deleted and re-created in the same batch: there is no way to change those in place.
  bool rebuild = refused_ && view_.tableExists;
  if (view_.tableExists) {
    for (const SetLayout& l : layouts) {
      auto it = view_.sets.find(l.name);
      if (it == view_.sets.end()) {
        continue;
      }
      const SetState& st = it->second;
      if (st.keyType != l.keyType() || st.keyLen != l.keyLen() || st.flags != l.flags ||
          ((l.flags & NFT_SET_MAP) != 0 &&
           (st.dataType != l.dataType() || (!l.verdict && st.dataLen != l.dataLen())))) {
        rebuild = true;
      }
    }
    for (const nft::ChainSpec& c : chains) {
      auto it = view_.chains.find(c.name);
      if (it != view_.chains.end() && it->second.base != c.base) {
        rebuild = true;
      }
    }
  }
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
  if (rebuild) {
    batch.delTable(table_);
  }
  if (!view_.tableExists) {
    batch.addTable(table_);
  }
  for (const SetLayout& l : layouts) {
    if (view_.sets.count(l.name) == 0) {
      nft::SetHandle s = makeSet(table_, l);
      batch.addSet(s.get(), std::string("add ") + kindName(l) + " " + l.name);
      ++last_.setsAdded;
    }
  }
  std::set<std::string> wanted;
  for (const nft::ChainSpec& c : chains) {
    wanted.insert(c.name);
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

  // Elements: every delete before every add, so a replaced element (same key) is deleted first
  // and an element that jumped to a chain that goes away is gone before the chain.
  std::array<ElemOps, nft::kSyncedSetCount> ops;
  for (size_t s = 0; s < nft::kSyncedSetCount; ++s) {
    ops[s] = last_.incremental ? diffDirty(want.dirty(s), want.elems(s), view_.elems[s])
                               : diffAll(want.elems(s), view_.elems[s]);
  }
  // Element messages dominate a full sync's batch: size the buffer once (about 40 bytes per
  // delete, 96 plus the comment per add).
  size_t expected = 0;
  for (const ElemOps& o : ops) {
    expected += o.del.size() * 40;
    for (const auto* a : o.add) {
      expected += 96 + a->second.comment.size();
    }
  }
  batch.expect(expected);
  for (size_t s = 0; s < nft::kSyncedSetCount; ++s) {
    const SetLayout& l = layouts[s];
    const auto& del = ops[s].del;
    batch.elements(
        nft::NftBatch::ElemOp::kDelete, table_, l.name, del.size(),
        [&](nlmsghdr* nlh, size_t i) { putKey(nlh, l, del[i]); },
        [&l, &del](size_t i) { return keyName(l, del[i], false); });
    last_.elementsDeleted += del.size();
  }
  for (size_t s = 0; s < nft::kSyncedSetCount; ++s) {
    const SetLayout& l = layouts[s];
    const auto& add = ops[s].add;
    batch.elements(
        nft::NftBatch::ElemOp::kAdd, table_, l.name, add.size(),
        [&](nlmsghdr* nlh, size_t i) { putElement(nlh, l, add[i]->second.view(add[i]->first)); },
        [&l, &add](size_t i) { return keyName(l, add[i]->first, true); });
    last_.elementsAdded += add.size();
  }

  // Chains no longer wanted: after the elements that pointed at them. They may jump to one
  // another (the *_masq and *_keep variants goto the lb chains), and the kernel refuses to
  // delete a chain something still jumps to: so every one is flushed first, then all deleted,
  // whatever their order.
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
  for (const auto& [name, st] : view_.sets) {
    if (std::none_of(layouts.begin(), layouts.end(),
                     [&](const SetLayout& l) { return name == l.name; })) {
      batch.delSet(table_, name);
    }
  }

  last_.operations = batch.operations();
  last_.diffMs = msSince(diffStart);
  if (batch.empty()) {
    return true;
  }
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

  // Acknowledged: the kernel now holds exactly what `want` describes.
  refused_ = false;
  batch.release();  // before the view grows: the batch of a full sync is megabytes
  const size_t endpointsSet = static_cast<size_t>(SetId::kEndpoints);
  last_.endpointSlotsDeleted = ops[endpointsSet].del.size();
  last_.removedUdpBackends = nft::removedUdpBackends(
      ops[endpointsSet].del, view_.elems[endpointsSet], want.elems(endpointsSet));
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
  for (const SetLayout& l : layouts) {
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
    for (const ElemKey& k : ops[s].del) {
      have.erase(k);
    }
    for (const auto* a : ops[s].add) {
      have.insert_or_assign(a->first, KernelElem::from(a->second.view(a->first)));
    }
  }
  view_.genId = nextGeneration(*gen);
  return true;
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
