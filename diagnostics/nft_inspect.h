// What other nftables tables do to ovl's traffic, read through libnftnl: every base chain and
// rule of families ip and inet, reduced to what matters here (protocol, UDP destination port,
// address prefixes, interface names, verdict), and pure analyses of that model: does something
// drop the VXLAN UDP port, does a FORWARD chain drop pod traffic. Also the read-back of ovl's
// own table, compared with what the services plan says it should hold.
//
// iptables-legacy rules, invisible to nftables, are read into the same model through libip4tc
// (diagnostics/iptables_legacy.h) and analysed alike.
//
// Limits: rules reached by jump/goto from a base chain are not followed; conditions on
// anything else (ct state, marks, sets, inverted matches) make a rule "maybe" match.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/ip.h"
#include "common/result.h"
#include "diagnostics/finding.h"
#include "rules/nat_plan.h"
#include "rules/vxlan_allow.h"

namespace ovl::nft {
class NftSocket;
}

namespace ovl::diag {

enum class Verdict { kNone, kAccept, kDrop, kOther };  // kDrop includes reject

struct NftRule {
  std::string family, table, chain;
  uint64_t handle = 0;
  std::optional<uint8_t> l4proto;    // meta l4proto / ip protocol ==
  std::optional<uint16_t> dport;     // th/udp/tcp dport == (host order)
  std::vector<Ipv4Prefix> addrs;     // ip saddr/daddr == or in prefix
  std::vector<std::string> ifnames;  // iifname/oifname ==
  bool unknownCondition = false;     // any other match (ct, mark, set lookup, ...)
  Verdict verdict = Verdict::kNone;
  bool conditional() const {
    return l4proto || dport || !addrs.empty() || !ifnames.empty() || unknownCondition;
  }
  std::string describe() const;  // "table inet fw chain input rule handle 4: udp dport 4789 drop"
};

struct NftChain {
  std::string family, table, name;
  std::optional<uint32_t> hook;  // NF_INET_*; unset = a regular chain
  std::string type;              // filter / nat / route
  int32_t priority = 0;
  uint32_t policy = 1;  // NF_ACCEPT
  std::vector<NftRule> rules;
  bool legacy = false;  // an iptables-legacy chain (diagnostics/iptables_legacy.h), not nftables
};

struct NftRuleset {
  std::vector<NftChain> chains;
};

// Reads every chain and rule of families ip and inet.
Result<NftRuleset> readRuleset(nft::NftSocket& sock);

// Base chains (other than ownTable's) on input/prerouting that drop UDP to `port`: a matching
// drop rule, or policy drop with no rule that accepts the port before it.
std::vector<Finding> vxlanPortDrops(const NftRuleset& rs, uint16_t port,
                                    const std::string& ownTable);

// Base chains on forward that drop pod traffic: an unconditional drop or one that matches the
// pod CIDR or ovl's interfaces, or policy drop with no accept for them.
std::vector<Finding> forwardDrops(const NftRuleset& rs, const Ipv4Prefix& podCidr,
                                  const std::vector<std::string>& ifaces,
                                  const std::string& ownTable);

// ovl's table as the kernel holds it: existence and the keys of each synced set.
struct OwnTable {
  bool exists = false;
  std::map<std::string, std::set<std::string>> keys;  // set name -> keys ("10.96.0.10 . tcp . 80")
};
Result<OwnTable> readOwnTable(nft::NftSocket& sock, const std::string& table);
// What the plan wants in the same form, with the VXLAN allow-list's sources when given.
OwnTable desiredOwnTable(const nat::NatPlan& plan,
                         const std::optional<nat::VxlanAllowPlan>& allow = std::nullopt);
// Findings for a missing table and for each set whose keys differ.
std::vector<Finding> compareOwnTable(const OwnTable& desired, const OwnTable& actual,
                                     const std::string& table);
// The VXLAN allow-list (check vxlan_allow): an info finding with what its rule dropped
// ("N VXLAN packets from non-cluster sources dropped"), or an error when the rule is missing
// from an existing table (`counter` nullopt: VXLAN from anyone reaches the pods).
std::vector<Finding> vxlanAllowFindings(const std::optional<nat::VxlanDropCounter>& counter,
                                        const nat::VxlanAllowPlan& plan, const std::string& table);

}  // namespace ovl::diag
