// The chains of table `ip ovl` and their rules: the shared jump targets the map elements goto
// (lb_<N>, lbaff_<N>, affrec_<T>, their *_masq / *_keep variants, svc_reject, affinity_record)
// and the base chains on the netfilter hooks. Rules are built as libnftnl expressions (plain
// memory, no kernel access); the layout they implement is described in nft_layout.h.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/ip.h"
#include "model/service.h"
#include "rules/nft_handles.h"

namespace ovl::nft {

// ct mark bits the service chains set and nat_postrouting reads.
inline constexpr uint32_t kMarkService = 0x1;           // DNATed by ovl
inline constexpr uint32_t kMarkMasquerade = 0x2;        // masquerade whatever the source
inline constexpr uint32_t kMarkAffinity = 0x4;          // ClientIP affinity, cluster/external IP
inline constexpr uint32_t kMarkNodePortAffinity = 0x8;  // ClientIP affinity, NodePort
inline constexpr uint32_t kMarkKeepSource = 0x10;       // never masquerade (ETP Local)

struct BaseHook {
  uint32_t hook = 0;  // NF_INET_*
  int32_t priority = 0;
  std::string type;  // "nat" / "filter"
  // Always accept (1, NF_ACCEPT): a base chain with policy drop, set by someone else, would
  // drop every packet on its hook, not only service traffic. Read back and repaired.
  uint32_t policy = 1;
  bool operator==(const BaseHook&) const = default;
};

struct RuleSpec {
  std::string comment;  // identifies the rule: "ovl: lb_3 dnat"; fully determines its content
  std::function<void(nftnl_rule*)> build;  // appends the expressions
};

// A rule whose comment ends with " #<hash of its expressions>": rules are recognised by their
// comment when the table is read back, so a rule whose body changes (a newer ovl) gets another
// comment and its chain is refilled.
RuleSpec hashedRule(std::string comment, std::function<void(nftnl_rule*)> build);

struct ChainSpec {
  std::string name;
  std::optional<BaseHook> base;
  std::vector<RuleSpec> rules;
};

// The names of the shared chains a services / nodeports element goes to.
std::string lbChain(bool nodePort, uint32_t slots);        // lb_<N> / nplb_<N>
std::string lbAffChain(bool nodePort, uint32_t slots);     // lbaff_<N> / nplbaff_<N>
std::string affRecChain(bool nodePort, uint32_t timeout);  // affrec_<T> / npaffrec_<T>
// The chain a balanced target jumps to: lb_<N> or lbaff_<N> (np* for NodePorts), with
// `_masq` or `_keep` appended when the target masquerades or keeps the source.
std::string targetChain(bool nodePort, uint32_t slots, bool affinity, bool masquerade,
                        bool keepSource);

// The shared chains the elements point at.
struct ChainsInUse {
  std::set<uint32_t> slots;        // lb_<N> and nplb_<N> (the affinity chains balance through
                                   //   them too)
  std::set<uint32_t> affSlots;     // lbaff_<N> / nplbaff_<N>
  std::set<std::string> masq;      // the targets of *_masq chains
  std::set<std::string> keep;      // the targets of *_keep chains
  std::set<uint32_t> affTimeouts;  // affrec_<T> / npaffrec_<T>
};

// Every chain of the table, in dependency order (jump targets before their users), base chains
// last; `mode` and `podCidr` decide nat_postrouting's masquerade rule.
std::vector<ChainSpec> chainSpecs(const ChainsInUse& inUse, svc::MasqueradeMode mode,
                                  Ipv4Prefix podCidr);

}  // namespace ovl::nft
