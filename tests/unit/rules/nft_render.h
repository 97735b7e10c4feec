// Test helper: a rule's expressions as text, one `[ <expr> ]` per line, in the form libnftnl
// prints them (the form `nft --debug=netlink` shows). libnftnl prints registers by number
// (NFT_REG_VERDICT is 0, NFT_REG32_00 is 8, reg32_01 is 9, ...) and data as 32-bit words read in
// host order (on x86, the address bytes 0a f4 00 00 print as 0x0000f40a).
#pragma once

#include <string>
#include <vector>

#include "rules/nft_chains.h"
#include "rules/nft_handles.h"

namespace ovl::nft::testing {

inline std::string render(const RuleSpec& spec) {
  RuleHandle rule(nftnl_rule_alloc());
  spec.build(rule.get());
  std::string out;
  nftnl_expr_iter* it = nftnl_expr_iter_create(rule.get());
  for (nftnl_expr* e = nftnl_expr_iter_next(it); e != nullptr; e = nftnl_expr_iter_next(it)) {
    char buf[512];
    nftnl_expr_snprintf(buf, sizeof(buf), e, NFTNL_OUTPUT_DEFAULT, 0);
    out += std::string("[ ") + nftnl_expr_get_str(e, NFTNL_EXPR_NAME) + " " + buf + "]\n";
  }
  nftnl_expr_iter_destroy(it);
  return out;
}

// The comment without its " #<hash>" suffix.
inline std::string commentName(const RuleSpec& spec) {
  return spec.comment.substr(0, spec.comment.rfind(" #"));
}

inline const ChainSpec* findChain(const std::vector<ChainSpec>& chains, const std::string& name) {
  for (const ChainSpec& c : chains) {
    if (c.name == name) {
      return &c;
    }
  }
  return nullptr;
}

}  // namespace ovl::nft::testing
