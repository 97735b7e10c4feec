// NatTable's read-back: the kernel's table `ip <table>` (chains with their hooks, rules by their
// comments, sets with their shape, and the synced sets' elements) into a View.
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <cerrno>

#include "rules/nat_table.h"
#include "rules/nat_table_steps.h"
#include "rules/nft_reply.h"
#include "rules/nft_wire.h"

namespace ovl::nat {

using nft::ElemKey;
using nft::KernelElem;
using nft::KernelElems;
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
    Result<std::optional<nft::ChainReply>> c = nft::chainReply(m, table_);
    if (!c) {
      return c.error();
    }
    if (*c) {
      v.chains[(*c)->name].base = (*c)->base;
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
    Result<std::optional<nft::RuleReply>> r = nft::ruleReply(m, table_);
    if (!r) {
      return r.error();
    }
    if (*r) {
      // A rule without a comment is not ours: "" makes its chain differ, so it is refilled.
      v.chains[(*r)->chain].comments.push_back((*r)->comment);
    }
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
    Result<std::optional<nft::SetReply>> r = nft::setReply(m, table_);
    if (!r) {
      return r.error();
    }
    if (*r) {
      const nft::SetReply& set = **r;
      v.sets[set.name] = SetState{set.keyType, set.keyLen, set.dataType, set.dataLen, set.flags};
    }
    return okStatus();
  });
  if (!s) {
    return s.error().withContext("read sets of table ip " + table_);
  }
  return okStatus();
}

Status NatTable::dumpElements(const SetLayout& l, KernelElems& out, bool& malformed) {
  std::vector<char> buf;
  nlmsghdr* nlh = nft::requestHeader(buf, sock_, NFT_MSG_GETSETELEM, NLM_F_DUMP);
  mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, table_.c_str());
  mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, l.name);
  malformed = false;
  Status s = sock_.request(nlh, [&](const nlmsghdr* m) -> Status {
    if (!nft::elementsReply(m, l, out)) {
      malformed = true;
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
