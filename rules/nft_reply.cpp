// The read-back's reply messages as values (see nft_reply.h). Read with libmnl and checked
// attribute by attribute, not with libnftnl's nftnl_*_nlmsg_parse(): those call exit() on an
// attribute of an unexpected size (their "ABI breakage" check), which would end the agent without
// a word, and they parse every rule's expressions, of which the read-back needs none.
#include "rules/nft_reply.h"

#include <arpa/inet.h>
#include <endian.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <array>

#include "rules/nft_handles.h"
#include "rules/nft_wire.h"

namespace ovl::nft {

namespace {

// A NUL-terminated string attribute; nullopt when absent or malformed.
std::optional<std::string> stringAttr(const nlattr* a) {
  if (a == nullptr || mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0) {
    return std::nullopt;
  }
  return std::string(mnl_attr_get_str(a));
}

// A 32-bit attribute in network byte order (as nf_tables sends them); nullopt when absent or not
// four bytes long.
std::optional<uint32_t> u32Attr(const nlattr* a) {
  if (a == nullptr || mnl_attr_validate(a, MNL_TYPE_U32) < 0) {
    return std::nullopt;
  }
  return ntohl(mnl_attr_get_u32(a));
}

// A 64-bit attribute in network byte order (a counter's packets and bytes); nullopt when absent
// or not eight bytes long.
std::optional<uint64_t> u64Attr(const nlattr* a) {
  if (a == nullptr || mnl_attr_validate(a, MNL_TYPE_U64) < 0) {
    return std::nullopt;
  }
  return be64toh(mnl_attr_get_u64(a));
}

// The first `counter` expression in a rule's expression list; nullopt when there is none or it
// is malformed (a counter without its two 64-bit values is not one we can report).
std::optional<RuleCounter> counterOf(const nlattr* exprs) {
  if (exprs == nullptr) {
    return std::nullopt;
  }
  const auto* a = static_cast<const nlattr*>(mnl_attr_get_payload(exprs));
  int left = static_cast<int>(mnl_attr_get_payload_len(exprs));
  for (; mnl_attr_ok(a, left); a = mnl_attr_next(a)) {
    left -= static_cast<int>(MNL_ALIGN(a->nla_len));
    std::array<const nlattr*, NFTA_EXPR_MAX + 1> e;
    parseAttrs(a, e);
    if (stringAttr(e[NFTA_EXPR_NAME]) != "counter" || e[NFTA_EXPR_DATA] == nullptr) {
      continue;
    }
    std::array<const nlattr*, NFTA_COUNTER_MAX + 1> c;
    parseAttrs(e[NFTA_EXPR_DATA], c);
    std::optional<uint64_t> packets = u64Attr(c[NFTA_COUNTER_PACKETS]);
    std::optional<uint64_t> bytes = u64Attr(c[NFTA_COUNTER_BYTES]);
    if (packets && bytes) {
      return RuleCounter{*packets, *bytes};
    }
  }
  return std::nullopt;
}

// Whether m is the nf_tables message `type` (a dump answers with one type only).
bool isMessage(const nlmsghdr* m, uint16_t type) {
  return NFNL_SUBSYS_ID(m->nlmsg_type) == NFNL_SUBSYS_NFTABLES &&
         NFNL_MSG_TYPE(m->nlmsg_type) == type;
}

Error malformed(const char* kind, const std::string& table, const char* what) {
  return Error::msg(std::string("cannot parse a ") + kind + " of table ip " + table + ": " + what);
}

// A base chain's hook; nullopt for a regular chain; an error for a malformed hook.
Result<std::optional<BaseHook>> hookOf(const std::array<const nlattr*, NFTA_CHAIN_MAX + 1>& tb,
                                       const std::string& table) {
  if (tb[NFTA_CHAIN_HOOK] == nullptr) {
    return std::optional<BaseHook>();
  }
  std::array<const nlattr*, NFTA_HOOK_MAX + 1> hook;
  parseAttrs(tb[NFTA_CHAIN_HOOK], hook);
  std::optional<uint32_t> num = u32Attr(hook[NFTA_HOOK_HOOKNUM]);
  std::optional<uint32_t> prio = u32Attr(hook[NFTA_HOOK_PRIORITY]);
  if (!num || !prio) {
    return malformed("chain", table, "its hook has no 32-bit hook number and priority");
  }
  std::optional<uint32_t> policy = u32Attr(tb[NFTA_CHAIN_POLICY]);
  return std::optional<BaseHook>(BaseHook{*num, static_cast<int32_t>(*prio),
                                          stringAttr(tb[NFTA_CHAIN_TYPE]).value_or(""),
                                          policy.value_or(NF_ACCEPT)});
}

}  // namespace

Result<std::optional<ChainReply>> chainReply(const nlmsghdr* m, const std::string& table) {
  std::array<const nlattr*, NFTA_CHAIN_MAX + 1> tb;
  parseMsgAttrs(m, tb);
  if (!isMessage(m, NFT_MSG_NEWCHAIN) || stringAttr(tb[NFTA_CHAIN_TABLE]) != table) {
    return std::optional<ChainReply>();
  }
  std::optional<std::string> name = stringAttr(tb[NFTA_CHAIN_NAME]);
  if (!name) {
    return malformed("chain", table, "no name");
  }
  Result<std::optional<BaseHook>> hook = hookOf(tb, table);
  if (!hook) {
    return hook.error();
  }
  return std::optional<ChainReply>(ChainReply{std::move(*name), std::move(*hook)});
}

Result<std::optional<RuleReply>> ruleReply(const nlmsghdr* m, const std::string& table) {
  std::array<const nlattr*, NFTA_RULE_MAX + 1> tb;
  parseMsgAttrs(m, tb);
  if (!isMessage(m, NFT_MSG_NEWRULE) || stringAttr(tb[NFTA_RULE_TABLE]) != table) {
    return std::optional<RuleReply>();
  }
  std::optional<std::string> chain = stringAttr(tb[NFTA_RULE_CHAIN]);
  if (!chain) {
    return malformed("rule", table, "no chain name");
  }
  RuleReply out;
  out.chain = std::move(*chain);
  if (const nlattr* ud = tb[NFTA_RULE_USERDATA]; ud != nullptr) {
    out.comment = parseComment(mnl_attr_get_payload(ud), mnl_attr_get_payload_len(ud),
                               NFTNL_UDATA_RULE_COMMENT);
  }
  out.counter = counterOf(tb[NFTA_RULE_EXPRESSIONS]);
  return std::optional<RuleReply>(std::move(out));
}

Result<std::optional<SetReply>> setReply(const nlmsghdr* m, const std::string& table) {
  std::array<const nlattr*, NFTA_SET_MAX + 1> tb;
  parseMsgAttrs(m, tb);
  if (!isMessage(m, NFT_MSG_NEWSET) || stringAttr(tb[NFTA_SET_TABLE]) != table) {
    return std::optional<SetReply>();
  }
  std::optional<std::string> name = stringAttr(tb[NFTA_SET_NAME]);
  std::optional<uint32_t> keyType = u32Attr(tb[NFTA_SET_KEY_TYPE]);
  std::optional<uint32_t> keyLen = u32Attr(tb[NFTA_SET_KEY_LEN]);
  if (!name || !keyType || !keyLen) {
    return malformed("set", table, "no name, or no 32-bit key type and length");
  }
  SetReply r;
  r.name = std::move(*name);
  r.keyType = *keyType;
  r.keyLen = *keyLen;
  r.flags = u32Attr(tb[NFTA_SET_FLAGS]).value_or(0);
  if (std::optional<uint32_t> dataType = u32Attr(tb[NFTA_SET_DATA_TYPE])) {
    r.dataType = *dataType;
    r.dataLen = u32Attr(tb[NFTA_SET_DATA_LEN]).value_or(0);
  }
  return std::optional<SetReply>(std::move(r));
}

bool elementsReply(const nlmsghdr* m, const SetLayout& l, KernelElems& out) {
  std::array<const nlattr*, NFTA_SET_ELEM_LIST_MAX + 1> tb;
  parseMsgAttrs(m, tb);
  if (tb[NFTA_SET_ELEM_LIST_ELEMENTS] == nullptr) {
    return true;
  }
  // mnl_attr_for_each_nested, without its void* arithmetic (C++ needs the casts).
  const nlattr* list = tb[NFTA_SET_ELEM_LIST_ELEMENTS];
  const auto* a = static_cast<const nlattr*>(mnl_attr_get_payload(list));
  int left = static_cast<int>(mnl_attr_get_payload_len(list));
  bool ok = true;
  for (; mnl_attr_ok(a, left); a = mnl_attr_next(a)) {
    left -= static_cast<int>(MNL_ALIGN(a->nla_len));
    ElemKey key;
    KernelElem e;
    if (parseElement(a, l, key, e)) {
      out.insert_or_assign(key, std::move(e));
    } else {
      ok = false;
    }
  }
  return ok;
}

}  // namespace ovl::nft
