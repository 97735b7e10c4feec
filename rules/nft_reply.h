// Private to rules/: the messages of NatTable's read-back (one chain, rule, set or set-element
// message of a dump) as values. Pure functions of one message, so that the fuzz harness can feed
// them crafted replies without a kernel.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "common/result.h"
#include "rules/nft_chains.h"
#include "rules/nft_elements.h"
#include "rules/nft_sets.h"

struct nlmsghdr;

namespace ovl::nft {

struct ChainReply {
  std::string name;
  std::optional<BaseHook> base;  // a base chain's hook, priority, type and policy
};
// What a rule's first `counter` expression holds.
struct RuleCounter {
  uint64_t packets = 0;
  uint64_t bytes = 0;
};
struct RuleReply {
  std::string chain;
  std::string comment;                 // "" when the rule has none (then it is not ovl's)
  std::optional<RuleCounter> counter;  // nullopt when the rule counts nothing
};
struct SetReply {
  std::string name;
  uint32_t keyType = 0, keyLen = 0, dataType = 0, dataLen = 0, flags = 0;
};

// Each: nullopt for an object of another table than `table` (a dump covers every table of the
// family); an error for a message that does not parse.
Result<std::optional<ChainReply>> chainReply(const nlmsghdr* m, const std::string& table);
Result<std::optional<RuleReply>> ruleReply(const nlmsghdr* m, const std::string& table);
Result<std::optional<SetReply>> setReply(const nlmsghdr* m, const std::string& table);

// The elements of one NFT_MSG_NEWSETELEM message of the set laid out as `l`, into out (by key).
// False when an element does not fit the layout (it is skipped).
bool elementsReply(const nlmsghdr* m, const SetLayout& l, KernelElems& out);

}  // namespace ovl::nft
