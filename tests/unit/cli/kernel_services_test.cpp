// The grouping of `ovlctl nat list` (cli/kernel_services.h): table elements as the kernel holds
// them -> one frontend each, with the action, affinity and masquerading read from the chain an
// element jumps to, and the endpoints from map `endpoints`. The kernel side is in
// tests/netns/cli/nat_list_test.cpp; here the cases a real plan rarely makes.
#include <gtest/gtest.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "cli/kernel_services.h"
#include "cli/nat_command.h"

namespace ovl::cli {
namespace {

constexpr uint32_t kTcp = 6;

uint32_t addr(const char* text) {
  return Ipv4::parse(text)->value;
}

KernelElement element(nft::SetId set, nft::ElemKey key, int32_t verdict, std::string chain,
                      std::string comment) {
  KernelElement e;
  e.set = set;
  e.key = key;
  e.verdict = verdict;
  e.chain = std::move(chain);
  e.comment = std::move(comment);
  return e;
}

KernelElement slot(nft::ElemKey key, const char* endpoint, uint32_t port) {
  KernelElement e;
  e.set = nft::SetId::kEndpoints;
  e.key = key;
  e.value = {addr(endpoint), port};
  return e;
}

TEST(KernelServices, ActionsAffinityAndMasqueradeFromTheChains) {
  const uint32_t vip = addr("10.96.0.10");
  KernelTable t;
  t.exists = true;
  // A NodePort with policy Local and no endpoint here: dropped.
  t.elements.push_back(
      element(nft::SetId::kNodePorts, {{kTcp, 30080, 0, 0}}, NF_DROP, "", "default/web:http"));
  // The cluster IP, balanced over 2 slots with affinity, keeping the client's address.
  t.elements.push_back(element(nft::SetId::kServices, {{vip, kTcp, 80, 0}}, NFT_GOTO,
                               "lbaff_2_keep", "default/web:http"));
  t.elements.push_back(element(nft::SetId::kAffinityServices, {{vip, kTcp, 80, 0}}, NFT_GOTO,
                               "affrec_60", "default/web:http"));
  t.elements.push_back(slot({{vip, kTcp, 80, 0}}, "10.244.1.5", 8080));
  t.elements.push_back(slot({{vip, kTcp, 80, 1}}, "10.244.1.5", 8080));
  // No comment: the frontend is still shown.
  t.elements.push_back(element(nft::SetId::kRejectServices, {{addr("10.96.0.11"), 17, 53, 0}},
                               NFT_GOTO, "svc_reject", ""));
  const auto f = groupFrontends(t);
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[0].service, "");
  EXPECT_EQ(f[0].frontend, "10.96.0.11:53/udp");
  EXPECT_EQ(f[0].action, "reject");
  EXPECT_EQ(f[1].frontend, "10.96.0.10:80/tcp");
  EXPECT_EQ(f[1].action, "balance");
  EXPECT_EQ(f[1].slots, 2u);
  EXPECT_EQ(f[1].affinitySeconds, std::optional<uint32_t>(60));
  EXPECT_TRUE(f[1].keepSource);
  EXPECT_FALSE(f[1].masquerade);
  ASSERT_EQ(f[1].endpoints.size(), 1u);
  EXPECT_EQ(f[1].endpoints[0].address, "10.244.1.5:8080");
  EXPECT_EQ(f[1].endpoints[0].slots, 2u);
  EXPECT_EQ(f[2].frontend, "*:30080/tcp");
  EXPECT_EQ(f[2].action, "drop");
  EXPECT_TRUE(f[2].endpoints.empty());

  const auto json = frontendsToJson(f);
  EXPECT_EQ(json[0]["service"], "-");
  EXPECT_EQ(json[1]["masquerade"], "never");
  EXPECT_EQ(json[1]["affinitySeconds"], 60);
  EXPECT_EQ(json[2]["type"], "NodePort");
  EXPECT_EQ(json[2]["masquerade"], "-");
}

// An element that jumps to a chain this ovl does not write is shown as it is, not as a balance.
TEST(KernelServices, UnknownChainIsNotABalance) {
  KernelTable t;
  t.exists = true;
  t.elements.push_back(element(nft::SetId::kServices, {{addr("10.96.0.1"), kTcp, 443, 0}}, NFT_GOTO,
                               "something_else", "default/kubernetes:https"));
  const auto f = groupFrontends(t);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].action, "goto something_else");
  EXPECT_EQ(f[0].service, "default/kubernetes");
  EXPECT_EQ(f[0].port, "https");
}

}  // namespace
}  // namespace ovl::cli
