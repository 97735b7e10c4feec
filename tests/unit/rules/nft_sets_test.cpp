// The sets and maps of table `ip ovl`: key and data types as nft's concatenated datatypes
// (each component shifted by 6 bits: ipv4_addr 7, inet_proto 12, inet_service 13, mark 19),
// lengths (4 bytes per component), flags and size.
#include "rules/nft_sets.h"

#include <gtest/gtest.h>
#include <linux/netfilter/nf_tables.h>

namespace ovl::nft {
namespace {

constexpr uint32_t kAddrProtoPort = (7u << 12) | (12u << 6) | 13u;  // 29453
constexpr uint32_t kProtoPort = (12u << 6) | 13u;                   // 781
constexpr uint32_t kAddrPort = (7u << 6) | 13u;                     // 461

TEST(NftSets, EveryLayoutInIdOrder) {
  const auto& all = setLayouts();
  const char* names[] = {"services",    "nodeports", "reject_services",   "reject_nodeports",
                         "endpoints",   "hairpin",   "affinity_services", "affinity_nodeports",
                         "vxlan_peers", "affinity"};
  ASSERT_EQ(all.size(), std::size(names));
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_STREQ(all[i].name, names[i]);
    EXPECT_EQ(static_cast<size_t>(all[i].id), i);
    EXPECT_EQ(&setLayout(all[i].id), &all[i]);
  }
  EXPECT_EQ(kSyncedSetCount, kSetCount - 1) << "affinity, filled by the kernel, comes last";
}

TEST(NftSets, VxlanPeersIsAPlainSetOfAddresses) {
  const SetLayout& l = setLayout(SetId::kVxlanPeers);
  EXPECT_EQ(l.keyType(), 7u);  // ipv4_addr
  EXPECT_EQ(l.keyLen(), 4u);
  EXPECT_FALSE(l.verdict);
  EXPECT_TRUE(l.data.empty());
  EXPECT_EQ(l.flags, 0u);
  EXPECT_EQ(l.size, 0u);
}

TEST(NftSets, VerdictMapsOfServiceKeys) {
  for (SetId id : {SetId::kServices, SetId::kRejectServices, SetId::kAffinityServices}) {
    const SetLayout& l = setLayout(id);
    EXPECT_EQ(l.keyType(), kAddrProtoPort) << l.name;
    EXPECT_EQ(l.keyLen(), 12u) << l.name;
    EXPECT_TRUE(l.verdict) << l.name;
    EXPECT_EQ(l.dataType(), static_cast<uint32_t>(NFT_DATA_VERDICT)) << l.name;
    EXPECT_EQ(l.flags, static_cast<uint32_t>(NFT_SET_MAP)) << l.name;
    EXPECT_EQ(l.size, 0u) << l.name;
  }
  for (SetId id : {SetId::kNodePorts, SetId::kRejectNodePorts, SetId::kAffinityNodePorts}) {
    const SetLayout& l = setLayout(id);
    EXPECT_EQ(l.keyType(), kProtoPort) << l.name;
    EXPECT_EQ(l.keyLen(), 8u) << l.name;
    EXPECT_TRUE(l.verdict) << l.name;
    EXPECT_EQ(l.dataType(), static_cast<uint32_t>(NFT_DATA_VERDICT)) << l.name;
    EXPECT_EQ(l.flags, static_cast<uint32_t>(NFT_SET_MAP)) << l.name;
  }
}

TEST(NftSets, EndpointsHairpinAndAffinity) {
  const SetLayout& endpoints = setLayout(SetId::kEndpoints);
  EXPECT_EQ(endpoints.keyType(), (kAddrProtoPort << 6) | 19u);  // . mark (the numgen slot)
  EXPECT_EQ(endpoints.keyLen(), 16u);
  EXPECT_FALSE(endpoints.verdict);
  EXPECT_EQ(endpoints.dataType(), kAddrPort);
  EXPECT_EQ(endpoints.dataLen(), 8u);
  EXPECT_EQ(endpoints.flags, static_cast<uint32_t>(NFT_SET_MAP));

  const SetLayout& hairpin = setLayout(SetId::kHairpin);
  EXPECT_EQ(hairpin.keyType(), (7u << 6) | 7u);  // ipv4_addr . ipv4_addr
  EXPECT_EQ(hairpin.keyLen(), 8u);
  EXPECT_EQ(hairpin.dataLen(), 0u);
  EXPECT_EQ(hairpin.flags, 0u) << "a plain set";

  const SetLayout& affinity = setLayout(SetId::kAffinity);
  EXPECT_EQ(affinity.keyType(), (7u << 18) | kAddrProtoPort);  // saddr . daddr . proto . port
  EXPECT_EQ(affinity.keyLen(), 16u);
  EXPECT_EQ(affinity.dataType(), kAddrPort);
  EXPECT_EQ(affinity.dataLen(), 8u);
  EXPECT_EQ(affinity.flags, static_cast<uint32_t>(NFT_SET_MAP | NFT_SET_TIMEOUT | NFT_SET_EVAL));
  EXPECT_EQ(affinity.size, 65536u) << "bounded: the packet path fills it";
}

}  // namespace
}  // namespace ovl::nft
