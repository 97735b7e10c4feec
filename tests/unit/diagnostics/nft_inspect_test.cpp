// diagnostics/nft_inspect: the nftables analyses (VXLAN port, FORWARD drops) on a model ruleset.
#include "diagnostics/nft_inspect.h"

#include <gtest/gtest.h>

#include <linux/netfilter.h>

#include <optional>
#include <vector>

namespace ovl::diag {
namespace {

NftChain chain(const char* table, uint32_t hook, uint32_t policy, std::vector<NftRule> rules) {
  NftChain c;
  // Appended, not assigned: GCC 12 at -O3 (a Release build) reports a false -Wrestrict in the
  // inlined operator=(const char*) (GCC bugs 105329, 105651).
  c.family.append("inet");
  c.table.append(table);
  c.name.append("c");
  c.hook = hook;
  c.type.append("filter");
  c.policy = policy;
  c.rules = std::move(rules);
  return c;
}

NftRule rule(Verdict v, std::optional<uint8_t> proto = std::nullopt,
             std::optional<uint16_t> dport = std::nullopt) {
  NftRule r;
  // Appended, not assigned: GCC 12 at -O3 (a Release build) reports a false -Wrestrict in the
  // inlined operator=(const char*) (GCC bugs 105329, 105651).
  r.family.append("inet");
  r.table.append("t");
  r.chain.append("c");
  r.verdict = v;
  r.l4proto = proto;
  r.dport = dport;
  return r;
}

TEST(NftAnalysis, VxlanPortDropsAndPolicyDrop) {
  NftRuleset rs;
  rs.chains.push_back(chain("t", NF_INET_LOCAL_IN, NF_ACCEPT, {rule(Verdict::kDrop, 17, 4789)}));
  auto f = vxlanPortDrops(rs, 4789, "ovl");
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].severity, Severity::kError);
  EXPECT_EQ(f[0].fixCommand, "nft insert rule inet t c udp dport 4789 accept");
  // Another port, or TCP: not ours.
  rs.chains[0].rules = {rule(Verdict::kDrop, 17, 53), rule(Verdict::kDrop, 6, 4789)};
  EXPECT_TRUE(vxlanPortDrops(rs, 4789, "ovl").empty());
  // Policy drop: only an accept of the port before it helps.
  rs.chains[0].policy = NF_DROP;
  EXPECT_EQ(vxlanPortDrops(rs, 4789, "ovl").size(), 1U);
  rs.chains[0].rules.insert(rs.chains[0].rules.begin(), rule(Verdict::kAccept, 17, 4789));
  EXPECT_TRUE(vxlanPortDrops(rs, 4789, "ovl").empty());
  // ovl's own table is never reported; nor an output chain.
  rs.chains = {chain("t", NF_INET_LOCAL_OUT, NF_DROP, {})};
  EXPECT_TRUE(vxlanPortDrops(rs, 4789, "ovl").empty());
}

TEST(NftAnalysis, ForwardDrops) {
  NftRuleset rs;
  rs.chains.push_back(chain("t", NF_INET_FORWARD, NF_DROP, {}));
  EXPECT_EQ(
      forwardDrops(rs, *Ipv4Prefix::parse("10.244.0.0/16"), {"ovl.1", "ovlbr0"}, "ovl").size(), 1U);
  NftRule accept = rule(Verdict::kAccept);
  accept.ifnames = {"ovlbr0"};
  rs.chains[0].rules = {accept};
  EXPECT_TRUE(
      forwardDrops(rs, *Ipv4Prefix::parse("10.244.0.0/16"), {"ovl.1", "ovlbr0"}, "ovl").empty());
  NftRule other = rule(Verdict::kDrop);
  other.addrs = {*Ipv4Prefix::parse("172.17.0.0/16")};
  rs.chains[0] = chain("t", NF_INET_FORWARD, NF_ACCEPT, {other});
  EXPECT_TRUE(
      forwardDrops(rs, *Ipv4Prefix::parse("10.244.0.0/16"), {"ovl.1", "ovlbr0"}, "ovl").empty());
  rs.chains[0].rules = {rule(Verdict::kDrop)};  // unconditional drop
  EXPECT_EQ(forwardDrops(rs, *Ipv4Prefix::parse("10.244.0.0/16"), {"ovl.1"}, "ovl").size(), 1U);
}
}  // namespace
}  // namespace ovl::diag
