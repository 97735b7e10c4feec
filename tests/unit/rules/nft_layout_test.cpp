// The pure translation as a whole: a small NatPlan in (a ClusterIP service with 2 endpoints, a
// NodePort, a service with ClientIP affinity, one without endpoints), the chains, sets, maps and
// elements of table `ip ovl` out, compared with what the layout (nft_layout.h) says they are.
#include "rules/nft_layout.h"

#include <gtest/gtest.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "tests/unit/rules/nft_render.h"

namespace ovl::nft {
namespace {

using nat::NatPlan;
using nat::Target;

Ipv4 ip(const std::string& s) {
  return *Ipv4::parse(s);
}

Target balance(uint32_t slots, uint32_t affinity = 0, bool masquerade = false) {
  Target t;
  t.kind = Target::Kind::kBalance;
  t.slots = slots;
  t.affinityTimeout = affinity;
  t.masquerade = masquerade;
  return t;
}

// default/web     ClusterIP 10.96.0.10 tcp 80 -> 10.244.1.5:8080, 10.244.2.6:8080
// default/np      NodePort  10.96.0.20 tcp 80, node port 30080 (external: masquerade)
//                           -> 10.244.0.7:8080, on this node (hairpin)
// default/sticky  ClusterIP 10.96.0.30 udp 53, ClientIP affinity 10800 s
//                           -> 10.244.1.8:5353, 10.244.2.9:5353, 10.244.3.10:5353
// default/empty   ClusterIP 10.96.0.40 tcp 443, no endpoints: rejected
NatPlan smallPlan() {
  NatPlan p;
  p.podCidr = *Ipv4Prefix::parse("10.244.0.0/16");
  p.masquerade = svc::MasqueradeMode::kOffCluster;
  const auto tcp = svc::Protocol::kTcp;
  const auto udp = svc::Protocol::kUdp;
  p.vips = {{ip("10.96.0.10"), tcp, 80, balance(2), "default/web:80"},
            {ip("10.96.0.20"), tcp, 80, balance(1), "default/np:80"},
            {ip("10.96.0.30"), udp, 53, balance(3, 10800), "default/sticky:53"},
            {ip("10.96.0.40"), tcp, 443, Target{}, "default/empty:443"}};
  p.nodePorts = {{tcp, 30080, balance(1, 0, true), "default/np:80 nodePort"}};
  p.slots = {
      {ip("10.96.0.10"), tcp, 80, 0, ip("10.244.1.5"), 8080, "default/web:80 -> 10.244.1.5:8080"},
      {ip("10.96.0.10"), tcp, 80, 1, ip("10.244.2.6"), 8080, "default/web:80 -> 10.244.2.6:8080"},
      {ip("10.96.0.20"), tcp, 80, 0, ip("10.244.0.7"), 8080, "default/np:80 -> 10.244.0.7:8080"},
      {ip("10.96.0.30"), udp, 53, 0, ip("10.244.1.8"), 5353, "sticky 0"},
      {ip("10.96.0.30"), udp, 53, 1, ip("10.244.2.9"), 5353, "sticky 1"},
      {ip("10.96.0.30"), udp, 53, 2, ip("10.244.3.10"), 5353, "sticky 2"},
      {Ipv4{}, tcp, 30080, 0, ip("10.244.0.7"), 8080, "default/np:80 nodePort -> 10.244.0.7"}};
  p.slotCounts = {1, 2, 3};
  p.hairpin = {ip("10.244.0.7")};
  return p;
}

// An element flattened for comparison: key as text, verdict, chain, value (addr, port), comment.
using Flat = std::tuple<std::string, int32_t, std::string, std::string, std::string>;

std::vector<Flat> flat(const DesiredIndex& d, SetId id) {
  const SetLayout& l = setLayout(id);
  std::vector<Flat> out;
  for (const auto& [key, e] : d.elems(static_cast<size_t>(id))) {
    const std::string value =
        l.data.empty() ? "" : Ipv4{e.value[0]}.toString() + ":" + std::to_string(e.value[1]);
    out.emplace_back(keyToString(l, key), e.verdict, std::string(e.chain), value, e.comment);
  }
  return out;
}

TEST(NftLayout, ChainsOfTheTargetsInUseThenTheBaseChains) {
  const DesiredIndex d = DesiredIndex::of(smallPlan());
  std::vector<std::string> names;
  for (const ChainSpec& c : d.chains()) {
    names.push_back(c.name);
  }
  // Slot counts 1, 2, 3 (lb_ and nplb_ each), the affinity chains of 3 slots and of 10800 s,
  // the masquerading NodePort's variant; no *_keep chain (no policy Local here).
  const std::vector<std::string> want = {"lb_1",
                                         "nplb_1",
                                         "lb_2",
                                         "nplb_2",
                                         "lb_3",
                                         "nplb_3",
                                         "lbaff_3",
                                         "nplbaff_3",
                                         "affrec_10800",
                                         "npaffrec_10800",
                                         "affinity_record",
                                         "nplb_1_masq",
                                         "svc_reject",
                                         "filter_prerouting",
                                         "filter_output",
                                         "nat_prerouting",
                                         "nat_output",
                                         "nat_postrouting",
                                         "nat_input"};
  EXPECT_EQ(names, want);

  const ChainSpec* masq = testing::findChain(d.chains(), "nplb_1_masq");
  ASSERT_NE(masq, nullptr);
  ASSERT_EQ(masq->rules.size(), 1u);
  EXPECT_EQ(testing::render(masq->rules[0]),
            "[ ct load mark => reg 8 ]\n"
            "[ bitwise reg 8 = ( reg 8 & 0xfffffffd ) ^ 0x00000002 ]\n"
            "[ ct set mark with reg 8 ]\n"
            "[ immediate reg 0 goto -> nplb_1 ]\n");
  const ChainSpec* rec = testing::findChain(d.chains(), "affrec_10800");
  ASSERT_NE(rec, nullptr);
  ASSERT_EQ(rec->rules.size(), 3u);
  EXPECT_NE(testing::render(rec->rules[1])
                .find("[ dynset update reg_key 8 set affinity sreg_data 12 timeout 10800000ms ]"),
            std::string::npos)
      << testing::render(rec->rules[1]);
}

TEST(NftLayout, ServiceMapsGotoTheSharedChains) {
  const DesiredIndex d = DesiredIndex::of(smallPlan());
  EXPECT_EQ(flat(d, SetId::kServices),
            (std::vector<Flat>{
                {"10.96.0.10 . tcp . 80", NFT_GOTO, "lb_2", "", "default/web:80"},
                {"10.96.0.20 . tcp . 80", NFT_GOTO, "lb_1", "", "default/np:80"},
                {"10.96.0.30 . udp . 53", NFT_GOTO, "lbaff_3", "", "default/sticky:53"},
            }));
  EXPECT_EQ(flat(d, SetId::kNodePorts),
            (std::vector<Flat>{
                {"tcp . 30080", NFT_GOTO, "nplb_1_masq", "", "default/np:80 nodePort"},
            }));
  // Without endpoints: in the reject map (decided in the filter chains), not in services.
  EXPECT_EQ(flat(d, SetId::kRejectServices),
            (std::vector<Flat>{
                {"10.96.0.40 . tcp . 443", NFT_GOTO, "svc_reject", "", "default/empty:443"},
            }));
  EXPECT_TRUE(flat(d, SetId::kRejectNodePorts).empty());
  // Affinity: the service key again, to the recording chain of its timeout.
  EXPECT_EQ(flat(d, SetId::kAffinityServices),
            (std::vector<Flat>{
                {"10.96.0.30 . udp . 53", NFT_GOTO, "affrec_10800", "", "default/sticky:53"},
            }));
  EXPECT_TRUE(flat(d, SetId::kAffinityNodePorts).empty());
}

TEST(NftLayout, EndpointsMapHasOneElementPerSlot) {
  const DesiredIndex d = DesiredIndex::of(smallPlan());
  // Sorted by key: 0.0.0.0 (the NodePort) first.
  EXPECT_EQ(flat(d, SetId::kEndpoints),
            (std::vector<Flat>{
                {"0.0.0.0 . tcp . 30080 . 0", 0, "", "10.244.0.7:8080",
                 "default/np:80 nodePort -> 10.244.0.7"},
                {"10.96.0.10 . tcp . 80 . 0", 0, "", "10.244.1.5:8080",
                 "default/web:80 -> 10.244.1.5:8080"},
                {"10.96.0.10 . tcp . 80 . 1", 0, "", "10.244.2.6:8080",
                 "default/web:80 -> 10.244.2.6:8080"},
                {"10.96.0.20 . tcp . 80 . 0", 0, "", "10.244.0.7:8080",
                 "default/np:80 -> 10.244.0.7:8080"},
                {"10.96.0.30 . udp . 53 . 0", 0, "", "10.244.1.8:5353", "sticky 0"},
                {"10.96.0.30 . udp . 53 . 1", 0, "", "10.244.2.9:5353", "sticky 1"},
                {"10.96.0.30 . udp . 53 . 2", 0, "", "10.244.3.10:5353", "sticky 2"},
            }));
  EXPECT_EQ(flat(d, SetId::kHairpin),
            (std::vector<Flat>{{"10.244.0.7 . 10.244.0.7", 0, "", "", ""}}));
  EXPECT_EQ(d.elementCount(), 3u + 1u + 1u + 1u + 7u + 1u);
}

TEST(NftLayout, ElementBytesAreTheRegistersTheRulesFill) {
  const DesiredIndex d = DesiredIndex::of(smallPlan());
  const SetLayout& l = setLayout(SetId::kEndpoints);
  const auto& endpoints = d.elems(static_cast<size_t>(SetId::kEndpoints));
  auto it = endpoints.find(ElemKey{{ip("10.96.0.30").value, 17, 53, 2}});
  ASSERT_NE(it, endpoints.end());
  uint8_t key[16];
  ASSERT_EQ(encode(l.key, it->first.w, key), 16u);
  // ip daddr (reg32_00), l4proto and 3 zero bytes (reg32_01), th dport and 2 zero bytes
  // (reg32_02), numgen's slot as a host-order u32 (reg32_03).
  const uint32_t slot = 2;
  uint8_t slotBytes[4];
  std::memcpy(slotBytes, &slot, 4);
  const std::vector<uint8_t> wantKey = {
      0x0a, 0x60, 0x00, 0x1e, 0x11,         0x00,         0x00,         0x00,
      0x00, 0x35, 0x00, 0x00, slotBytes[0], slotBytes[1], slotBytes[2], slotBytes[3]};
  EXPECT_EQ(std::vector<uint8_t>(key, key + 16), wantKey);
  uint8_t value[16];
  const std::array<uint32_t, 4> v{it->second.value[0], it->second.value[1], 0, 0};
  ASSERT_EQ(encode(l.data, v, value), 8u);
  // 10.244.3.10 . 5353 (0x14e9): what `dnat ip addr_min reg 12 proto_min reg 13` reads.
  EXPECT_EQ(std::vector<uint8_t>(value, value + 8),
            (std::vector<uint8_t>{0x0a, 0xf4, 0x03, 0x0a, 0x14, 0xe9, 0x00, 0x00}));
}

TEST(NftLayout, RemovingTheFragmentLeavesNothingButTheChainsEveryTableHas) {
  const NatPlan plan = smallPlan();
  DesiredIndex d(plan.masquerade, plan.podCidr);
  d.add(plan);
  d.remove(plan);
  EXPECT_EQ(d.elementCount(), 0u);
  std::vector<std::string> names;
  for (const ChainSpec& c : d.chains()) {
    names.push_back(c.name);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"affinity_record", "svc_reject", "filter_prerouting",
                                             "filter_output", "nat_prerouting", "nat_output",
                                             "nat_postrouting", "nat_input"}));
}

}  // namespace
}  // namespace ovl::nft
