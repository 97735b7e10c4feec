// Elements on the wire: each component one 32-bit register (addresses and ports in network
// order, the protocol as one byte, the numgen slot in host order), and back; keys for messages;
// comments as nft stores them in userdata.
#include "rules/nft_elements.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "model/service.h"

namespace ovl::nft {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes encoded(const std::vector<Component>& comps, const std::array<uint32_t, 4>& w) {
  uint8_t out[16];
  const size_t n = encode(comps, w, out);
  return Bytes(out, out + n);
}

TEST(NftElements, EndpointsKeyAndValueBytes) {
  const SetLayout& l = setLayout(SetId::kEndpoints);
  const uint32_t slot = 0x01020304;
  Bytes slotBytes(4);
  std::memcpy(slotBytes.data(), &slot, 4);  // host order, as numgen writes its register
  Bytes key = {0x0a, 0x60, 0x00, 0x0a,      // 10.96.0.10
               0x06, 0x00, 0x00, 0x00,      // tcp
               0x00, 0x50, 0x00, 0x00};     // 80
  key.insert(key.end(), slotBytes.begin(), slotBytes.end());
  const std::array<uint32_t, 4> w = {0x0a60000a, 6, 80, slot};
  EXPECT_EQ(encoded(l.key, w), key);
  EXPECT_EQ(encoded(l.data, {0x0af40206, 8080, 0, 0}),
            (Bytes{0x0a, 0xf4, 0x02, 0x06, 0x1f, 0x90, 0x00, 0x00}));  // 10.244.2.6 . 8080

  std::array<uint32_t, 4> back{};
  ASSERT_TRUE(decode(l.key, key.data(), key.size(), back));
  EXPECT_EQ(back, w);
  EXPECT_FALSE(decode(l.key, key.data(), 12, back)) << "a length the layout does not have";
}

TEST(NftElements, NodePortKeyIsProtocolAndPort) {
  const SetLayout& l = setLayout(SetId::kNodePorts);
  EXPECT_EQ(encoded(l.key, {17, 30053, 0, 0}),
            (Bytes{0x11, 0x00, 0x00, 0x00, 0x75, 0x65, 0x00, 0x00}));  // udp . 30053
}

TEST(NftElements, KeysForMessages) {
  EXPECT_EQ(keyToString(setLayout(SetId::kServices), ElemKey{{0x0a60000a, 6, 80, 0}}),
            "10.96.0.10 . tcp . 80");
  EXPECT_EQ(keyToString(setLayout(SetId::kNodePorts), ElemKey{{132, 30000, 0, 0}}), "sctp . 30000");
  EXPECT_EQ(keyToString(setLayout(SetId::kNodePorts), ElemKey{{99, 5, 0, 0}}), "99 . 5")
      << "a protocol ovl never programs is shown as its number";
  EXPECT_EQ(keyToString(setLayout(SetId::kEndpoints), ElemKey{{0, 17, 53, 2}}),
            "0.0.0.0 . udp . 53 . 2");
}

TEST(NftElements, CommentsRoundTripThroughUserdataClippedAt127Bytes) {
  UdataHandle ud = commentUdata("ovl: lb_2 dnat", NFTNL_UDATA_RULE_COMMENT);
  EXPECT_EQ(parseComment(nftnl_udata_buf_data(ud.get()), nftnl_udata_buf_len(ud.get()),
                         NFTNL_UDATA_RULE_COMMENT),
            "ovl: lb_2 dnat");
  EXPECT_EQ(parseComment(nftnl_udata_buf_data(ud.get()), nftnl_udata_buf_len(ud.get()),
                         NFTNL_UDATA_RULE_COMMENT + 1),
            "")
      << "another userdata type";
  const std::string longer(200, 'x');
  UdataHandle clipped = commentUdata(longer, NFTNL_UDATA_RULE_COMMENT);
  EXPECT_EQ(parseComment(nftnl_udata_buf_data(clipped.get()), nftnl_udata_buf_len(clipped.get()),
                         NFTNL_UDATA_RULE_COMMENT),
            std::string(127, 'x'));
}

TEST(NftElements, KernelElemComparesWithTheWantedOne) {
  const DesiredElem want{ElemKey{{1, 2, 3, 0}}, ElemData{-4, "lb_2", {}}, "default/web:80"};
  KernelElem have = KernelElem::from(want);
  EXPECT_TRUE(have.sameAs(want));
  have = KernelElem::from(DesiredElem{want.key, ElemData{-4, "lb_3", {}}, want.comment});
  EXPECT_FALSE(have.sameAs(want)) << "another chain";
  have = KernelElem::from(DesiredElem{want.key, ElemData{-3, "lb_2", {}}, want.comment});
  EXPECT_FALSE(have.sameAs(want)) << "another verdict";
  have = KernelElem::from(DesiredElem{want.key, want.data, "default/web:81"});
  EXPECT_FALSE(have.sameAs(want)) << "a new comment replaces the element";
  // The chain's and the comment's bytes are not simply concatenated.
  have = KernelElem::from(DesiredElem{want.key, ElemData{-4, "default/web:80", {}}, "lb_2"});
  EXPECT_FALSE(have.sameAs(want)) << "chain and comment swapped";
}

}  // namespace
}  // namespace ovl::nft
