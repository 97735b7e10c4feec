// NatState / nft::DesiredIndex: the desired table kept per service must always equal the one
// built from scratch, and a change must touch only the changed service's keys.
#include "rules/nat_state.h"

#include <gtest/gtest.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <algorithm>
#include <random>
#include <set>
#include <tuple>

namespace ovl::nat {
namespace {

using nft::DesiredIndex;
using nft::ElemKey;
using nft::SetId;

Ipv4 ip(const std::string& s) {
  return *Ipv4::parse(s);
}

PlanInputs inputs() {
  return PlanInputs{"node1", *Ipv4Prefix::parse("10.244.0.0/16"), svc::MasqueradeMode::kOffCluster,
                    std::nullopt};
}

svc::Service service(int i, int endpoints, bool nodePort = false, bool affinity = false) {
  svc::Service s;
  s.ns = "default";
  s.name = "svc" + std::to_string(i);
  s.type = nodePort ? svc::ServiceType::kNodePort : svc::ServiceType::kClusterIP;
  s.clusterIps = {ip("10.96." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1))};
  svc::ServicePort p{"http", svc::Protocol::kTcp, 80, 8080, std::nullopt};
  if (nodePort) {
    p.nodePort = static_cast<uint16_t>(30000 + i);
  }
  s.ports = {p, svc::ServicePort{"dns", svc::Protocol::kUdp, 53, 5353, std::nullopt}};
  s.affinityClientIp = affinity;
  for (int e = 0; e < endpoints; ++e) {
    svc::Endpoint ep;
    ep.ip = ip("10.244." + std::to_string(e % 3 + 1) + "." + std::to_string(10 + e));
    ep.node = "node" + std::to_string(e % 3 + 1);
    s.endpoints.push_back(ep);
  }
  return s;
}

using Flat = std::set<
    std::tuple<size_t, ElemKey, int32_t, std::string, uint32_t, uint32_t, std::string, uint32_t>>;

Flat flatten(const DesiredIndex& d) {
  Flat out;
  for (size_t s = 0; s < nft::kSyncedSetCount; ++s) {
    for (const auto& [k, e] : d.elems(s)) {
      out.emplace(s, k, e.verdict, std::string(e.chain), e.value[0], e.value[1], e.comment,
                  s == static_cast<size_t>(SetId::kHairpin) ? 0 : e.refs);
    }
  }
  return out;
}

std::vector<std::string> chainNames(const DesiredIndex& d) {
  std::vector<std::string> out;
  for (const auto& c : d.chains()) {
    out.push_back(c.name);
  }
  return out;
}

void expectSameAsFromScratch(NatState& st) {
  const DesiredIndex scratch = DesiredIndex::of(st.plan());
  EXPECT_EQ(flatten(st.desired()), flatten(scratch));
  EXPECT_EQ(chainNames(st.desired()), chainNames(scratch));
}

TEST(NatStateTest, RandomChangesAlwaysEqualTheTableBuiltFromScratch) {
  std::mt19937 rng(7);
  NatState st(inputs());
  std::vector<svc::Service> all;
  for (int i = 0; i < 40; ++i) {
    all.push_back(service(i, 1 + i % 5, i % 3 == 0, i % 4 == 0));
  }
  st.setServices(all);
  expectSameAsFromScratch(st);
  for (int step = 0; step < 200; ++step) {
    const size_t i = rng() % all.size();
    switch (rng() % 4) {
      case 0:  // endpoints change (count, so the lb chain changes too)
        all[i] =
            service(static_cast<int>(i), 1 + static_cast<int>(rng() % 6), i % 3 == 0, i % 4 == 0);
        st.upsert(all[i]);
        break;
      case 1:  // an endpoint stops being ready
        if (!all[i].endpoints.empty()) {
          all[i].endpoints[0].ready = !all[i].endpoints[0].ready;
        }
        st.upsert(all[i]);
        break;
      case 2:  // removed, then back as a whole reload
        st.remove(all[i].id());
        expectSameAsFromScratch(st);
        st.setServices(all);
        break;
      case 3:  // no endpoints at all: reject
        all[i].endpoints.clear();
        st.upsert(all[i]);
        break;
    }
    ASSERT_NO_FATAL_FAILURE(expectSameAsFromScratch(st)) << "step " << step;
  }
}

TEST(NatStateTest, OneChangedServiceTouchesOnlyItsKeys) {
  NatState st(inputs());
  std::vector<svc::Service> all;
  for (int i = 0; i < 100; ++i) {
    all.push_back(service(i, 4));
  }
  st.setServices(all);
  EXPECT_TRUE(st.desired().allDirty()) << "a new index is compared whole";
  st.desired().clearDirty();

  all[42].endpoints[1].ip = ip("10.244.9.9");
  all[42].endpoints[1].node = "node9";
  EXPECT_EQ(st.setServices(all), 1u) << "one service changed in the reload";
  EXPECT_FALSE(st.desired().allDirty());
  const Ipv4 vip = all[42].clusterIps[0];
  size_t touched = 0;
  for (size_t s = 0; s < nft::kSyncedSetCount; ++s) {
    for (const ElemKey& k : st.desired().dirty(s)) {
      ++touched;
      if (s == static_cast<size_t>(SetId::kServices) ||
          s == static_cast<size_t>(SetId::kEndpoints)) {
        EXPECT_EQ(k.w[0], vip.value) << "set " << s;
      }
    }
  }
  // Only what differs: the services elements (2 ports) stay as they were; of the endpoint
  // slots (4 per port) only those whose endpoint changed are removed and re-added, plus the
  // hairpin element of node1's endpoint that went away. Re-adding the whole service would touch
  // 2 x (2 + 8) keys.
  EXPECT_TRUE(st.desired().dirty(static_cast<size_t>(SetId::kServices)).empty());
  EXPECT_GE(touched, 2u * 2);
  EXPECT_LT(touched, 2u * (2 + 8));
  expectSameAsFromScratch(st);
}

TEST(NatStateTest, SharedHairpinElementLivesUntilItsLastService) {
  NatState st(inputs());
  auto a = service(1, 1);  // endpoint 10.244.1.10 on node1
  auto b = service(2, 1);  // the same endpoint, another service
  st.setServices({a, b});
  const ElemKey hp{{ip("10.244.1.10").value, ip("10.244.1.10").value, 0, 0}};
  const auto& hairpin = st.desired().elems(static_cast<size_t>(SetId::kHairpin));
  ASSERT_EQ(hairpin.count(hp), 1u);
  EXPECT_EQ(hairpin.at(hp).refs, 2u);
  st.remove(a.id());
  EXPECT_EQ(hairpin.count(hp), 1u);
  st.remove(b.id());
  EXPECT_EQ(hairpin.count(hp), 0u);
}

TEST(NatStateTest, ThisNodesSubnetReplansHairpinOfEndpointsWithoutNode) {
  NatState st(inputs());
  auto a = service(1, 3);  // endpoints 10.244.{1,2,3}.x
  for (auto& e : a.endpoints) {
    e.node.clear();
  }
  st.setServices({a});
  const ElemKey hp{{ip("10.244.1.10").value, ip("10.244.1.10").value, 0, 0}};
  const auto& before = st.desired().elems(static_cast<size_t>(SetId::kHairpin));
  EXPECT_TRUE(before.empty());
  PlanInputs in = inputs();
  in.selfSubnet = *Ipv4Prefix::parse("10.244.1.0/24");  // known once the node's entry is
  st.setInputs(in);
  const auto& after = st.desired().elems(static_cast<size_t>(SetId::kHairpin));
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after.count(hp), 1u);
  expectSameAsFromScratch(st);
}

TEST(NatStateTest, ChainsFollowTheTargetsInUse) {
  NatState st(inputs());
  st.setServices({service(1, 3), service(2, 5, false, true)});
  auto names = chainNames(st.desired());
  auto has = [&](const std::string& n) {
    return std::find(names.begin(), names.end(), n) != names.end();
  };
  EXPECT_TRUE(has("lb_3"));
  EXPECT_TRUE(has("lbaff_5"));
  EXPECT_TRUE(has("affrec_10800"));
  st.remove("default/svc2");
  names = chainNames(st.desired());
  EXPECT_TRUE(has("lb_3"));
  EXPECT_FALSE(has("lbaff_5"));
  EXPECT_FALSE(has("affrec_10800"));
}

TEST(NatStateTest, NewInputsReplanEverythingAndCompareWhole) {
  NatState st(inputs());
  st.setServices({service(1, 3, true)});
  st.desired().clearDirty();
  const uint64_t before = st.desired().id();
  st.setInputs(PlanInputs{"node1", *Ipv4Prefix::parse("10.244.0.0/16"), svc::MasqueradeMode::kAll,
                          std::nullopt});
  EXPECT_NE(st.desired().id(), before) << "a new index: NatTable compares it whole";
  EXPECT_TRUE(st.desired().allDirty());
  expectSameAsFromScratch(st);
  st.setInputs(st.inputs());
  EXPECT_TRUE(st.desired().allDirty()) << "unchanged inputs change nothing";
}

TEST(NatStateTest, ConflictingKeysDoNotBreakTheTable) {
  // Two services on one IP:port (validation rejects this; the index must still be sane).
  NatState st(inputs());
  auto a = service(1, 2);
  auto b = service(1, 3);
  b.name = "other";
  st.setServices({a, b});
  const auto& services = st.desired().elems(static_cast<size_t>(SetId::kServices));
  EXPECT_EQ(services.size(), 2u) << "one element per (ip, proto, port), not two";
  st.remove(b.id());
  st.remove(a.id());
  EXPECT_TRUE(services.empty());
  EXPECT_EQ(st.desired().elementCount(), 0u);
}

}  // namespace
}  // namespace ovl::nat
