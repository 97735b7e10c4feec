// NatTable's read-back: the kernel's table `ip <table>` (chains with their hooks, rules by their
// comments, sets with their shape, and the synced sets' elements) into a View.
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <cerrno>

#include "rules/nat_table.h"
#include "rules/nat_table_steps.h"
#include "rules/nft_handles.h"
#include "rules/nft_wire.h"

namespace ovl::nat {

using nft::ElemKey;
using nft::KernelElem;
using nft::SetId;
using nft::SetLayout;

Result<bool> NatTable::readBackAt(uint32_t gen) {
  View v;
  if (Status s = readBack(v); !s) {
    return s.error();
  }
  Result<uint32_t> after = genId();
  if (!after) {
    return after.error();
  }
  if (*after != gen) {
    return false;  // changed while we read
  }
  v.genId = gen;
  view_ = std::move(v);
  last_.readBack = true;
  ++totals_.readBacks;
  return true;
}

Status NatTable::readBack(View& v) {
  v = View{};
  if (Status s = readTable(v); !s) {
    return s;
  }
  if (!v.tableExists) {
    v.valid = true;
    return okStatus();
  }
  if (Status s = readChains(v); !s) {
    return s;
  }
  if (Status s = readRules(v); !s) {
    return s;
  }
  if (Status s = readSets(v); !s) {
    return s;
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

// The table itself.
Status NatTable::readTable(View& v) {
  std::vector<char> buf;
  nlmsghdr* nlh = nft::requestHeader(buf, sock_, NFT_MSG_GETTABLE, NLM_F_ACK);
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
  return okStatus();
}

// Chains (the dump covers every table of the family: keep ours).
Status NatTable::readChains(View& v) {
  std::vector<char> buf;
  nlmsghdr* nlh = nft::requestHeader(buf, sock_, NFT_MSG_GETCHAIN, NLM_F_DUMP);
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
      st.base =
          nft::BaseHook{nftnl_chain_get_u32(c.get(), NFTNL_CHAIN_HOOKNUM),
                        nftnl_chain_get_s32(c.get(), NFTNL_CHAIN_PRIO), type != nullptr ? type : "",
                        nftnl_chain_is_set(c.get(), NFTNL_CHAIN_POLICY)
                            ? nftnl_chain_get_u32(c.get(), NFTNL_CHAIN_POLICY)
                            : NF_ACCEPT};
    }
    return okStatus();
  });
  if (!s) {
    return s.error().withContext("read chains of table ip " + table_);
  }
  return okStatus();
}

// Rules: only their comments (they identify the rules), in order.
Status NatTable::readRules(View& v) {
  std::vector<char> buf;
  nlmsghdr* nlh = nft::requestHeader(buf, sock_, NFT_MSG_GETRULE, NLM_F_DUMP);
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
  return okStatus();
}

// Sets: their shape (key and data types and lengths, flags).
Status NatTable::readSets(View& v) {
  std::vector<char> buf;
  nlmsghdr* nlh = nft::requestHeader(buf, sock_, NFT_MSG_GETSET, NLM_F_DUMP);
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
  return okStatus();
}

Status NatTable::dumpElements(const SetLayout& l, std::map<ElemKey, KernelElem>& out,
                              bool& malformed) {
  std::vector<char> buf;
  nlmsghdr* nlh = nft::requestHeader(buf, sock_, NFT_MSG_GETSETELEM, NLM_F_DUMP);
  mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, table_.c_str());
  mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, l.name);
  malformed = false;
  Status s = sock_.request(nlh, [&](const nlmsghdr* m) -> Status {
    std::array<const nlattr*, NFTA_SET_ELEM_LIST_MAX + 1> tb;
    nft::parseMsgAttrs(m, tb);
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
      if (nft::parseElement(a, l, key, e)) {
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

}  // namespace ovl::nat
