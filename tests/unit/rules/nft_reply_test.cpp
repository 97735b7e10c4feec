// The read-back's reply parsers (rules/nft_reply.h) on crafted messages: what the fuzz harness
// found (libnftnl's exit() on an attribute of an unexpected size, a comment read past its end)
// stays fixed in the normal build too.
#include "rules/nft_reply.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <memory>
#include <vector>

namespace ovl::nft {
namespace {

// An nf_tables message of `type` in family ip, in a buffer of its own.
struct Msg {
  std::vector<char> buf = std::vector<char>(4096);
  nlmsghdr* h;
  explicit Msg(uint16_t type) {
    h = mnl_nlmsg_put_header(buf.data());
    h->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | type;
    auto* g = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(h, sizeof(nfgenmsg)));
    g->nfgen_family = NFPROTO_IPV4;
  }
};

TEST(NftReply, ReadsABaseChainOfItsTable) {
  Msg m(NFT_MSG_NEWCHAIN);
  mnl_attr_put_strz(m.h, NFTA_CHAIN_TABLE, "ovl");
  mnl_attr_put_strz(m.h, NFTA_CHAIN_NAME, "prerouting");
  mnl_attr_put_u64(m.h, NFTA_CHAIN_HANDLE, htobe64(7));
  nlattr* hook = mnl_attr_nest_start(m.h, NFTA_CHAIN_HOOK);
  mnl_attr_put_u32(m.h, NFTA_HOOK_HOOKNUM, htonl(NF_INET_PRE_ROUTING));
  mnl_attr_put_u32(m.h, NFTA_HOOK_PRIORITY, htonl(static_cast<uint32_t>(-100)));
  mnl_attr_nest_end(m.h, hook);
  mnl_attr_put_strz(m.h, NFTA_CHAIN_TYPE, "nat");
  auto c = chainReply(m.h, "ovl");
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(c->has_value());
  EXPECT_EQ((*c)->name, "prerouting");
  ASSERT_TRUE((*c)->base.has_value());
  EXPECT_EQ(*(*c)->base, (BaseHook{NF_INET_PRE_ROUTING, -100, "nat", NF_ACCEPT}));
  auto other = chainReply(m.h, "filter");
  ASSERT_TRUE(other);
  EXPECT_FALSE(other->has_value());
}

TEST(NftReply, AttributeOfAnUnexpectedSizeIsNoExit) {
  // libnftnl's parser called exit() on this 4-byte handle (it expects 8).
  Msg m(NFT_MSG_NEWCHAIN);
  mnl_attr_put_strz(m.h, NFTA_CHAIN_TABLE, "ovl");
  mnl_attr_put_strz(m.h, NFTA_CHAIN_NAME, "svc");
  mnl_attr_put_u32(m.h, NFTA_CHAIN_HANDLE, 1);
  auto c = chainReply(m.h, "ovl");
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(c->has_value());
  EXPECT_EQ((*c)->name, "svc");
  EXPECT_FALSE((*c)->base.has_value());
}

TEST(NftReply, ChainWithoutANameIsAnError) {
  Msg m(NFT_MSG_NEWCHAIN);
  mnl_attr_put_strz(m.h, NFTA_CHAIN_TABLE, "ovl");
  auto c = chainReply(m.h, "ovl");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("chain of table ip ovl: no name"), std::string::npos)
      << c.error().message;
}

TEST(NftReply, RuleCommentRunningPastItsEndIsNotRead) {
  Msg m(NFT_MSG_NEWRULE);
  mnl_attr_put_strz(m.h, NFTA_RULE_TABLE, "ovl");
  mnl_attr_put_strz(m.h, NFTA_RULE_CHAIN, "svc");
  // A comment (type 0) claiming 200 bytes in a 6-byte user data attribute.
  const uint8_t udata[] = {0, 200, 'a', 'b', 'c', 'd'};
  mnl_attr_put(m.h, NFTA_RULE_USERDATA, sizeof udata, udata);
  auto r = ruleReply(m.h, "ovl");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->chain, "svc");
  EXPECT_EQ((*r)->comment, "");
  const uint8_t good[] = {0, 4, 'w', 'e', 'b', 0};
  EXPECT_EQ(parseComment(good, sizeof good, 0), "web");
}

TEST(NftReply, SetWithoutItsKeyShapeIsAnError) {
  Msg m(NFT_MSG_NEWSET);
  mnl_attr_put_strz(m.h, NFTA_SET_TABLE, "ovl");
  mnl_attr_put_strz(m.h, NFTA_SET_NAME, "services");
  mnl_attr_put_u16(m.h, NFTA_SET_KEY_LEN, 12);  // 2 bytes: not a u32
  EXPECT_FALSE(setReply(m.h, "ovl"));
  Msg ok(NFT_MSG_NEWSET);
  mnl_attr_put_strz(ok.h, NFTA_SET_TABLE, "ovl");
  mnl_attr_put_strz(ok.h, NFTA_SET_NAME, "services");
  mnl_attr_put_u32(ok.h, NFTA_SET_KEY_TYPE, htonl(1));
  mnl_attr_put_u32(ok.h, NFTA_SET_KEY_LEN, htonl(12));
  mnl_attr_put_u32(ok.h, NFTA_SET_FLAGS, htonl(NFT_SET_MAP));
  auto s = setReply(ok.h, "ovl");
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_TRUE(s->has_value());
  EXPECT_EQ((*s)->keyLen, 12u);
  EXPECT_EQ((*s)->flags, static_cast<uint32_t>(NFT_SET_MAP));
}

TEST(NftReply, RuleCounterIsReadFromItsExpressions) {
  // What readVxlanDropCounter reports: the first counter expression's packets and bytes; a
  // counter whose values are not 64 bits is no counter.
  auto rule = [](bool goodCounter) {
    auto m = std::make_unique<Msg>(NFT_MSG_NEWRULE);
    mnl_attr_put_strz(m->h, NFTA_RULE_TABLE, "ovl");
    mnl_attr_put_strz(m->h, NFTA_RULE_CHAIN, "vxlan_input");
    nlattr* list = mnl_attr_nest_start(m->h, NFTA_RULE_EXPRESSIONS);
    nlattr* meta = mnl_attr_nest_start(m->h, NFTA_LIST_ELEM);
    mnl_attr_put_strz(m->h, NFTA_EXPR_NAME, "meta");
    mnl_attr_nest_end(m->h, meta);
    nlattr* ctr = mnl_attr_nest_start(m->h, NFTA_LIST_ELEM);
    mnl_attr_put_strz(m->h, NFTA_EXPR_NAME, "counter");
    nlattr* data = mnl_attr_nest_start(m->h, NFTA_EXPR_DATA);
    if (goodCounter) {
      mnl_attr_put_u64(m->h, NFTA_COUNTER_PACKETS, htobe64(6));
      mnl_attr_put_u64(m->h, NFTA_COUNTER_BYTES, htobe64(600));
    } else {
      mnl_attr_put_u32(m->h, NFTA_COUNTER_PACKETS, htonl(6));
    }
    mnl_attr_nest_end(m->h, data);
    mnl_attr_nest_end(m->h, ctr);
    mnl_attr_nest_end(m->h, list);
    return m;
  };
  auto good = rule(true);
  auto r = ruleReply(good->h, "ovl");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(r->has_value());
  ASSERT_TRUE((*r)->counter.has_value());
  EXPECT_EQ((*r)->counter->packets, 6u);
  EXPECT_EQ((*r)->counter->bytes, 600u);
  auto bad = rule(false);
  auto b = ruleReply(bad->h, "ovl");
  ASSERT_TRUE(b) << b.error().message;
  ASSERT_TRUE(b->has_value());
  EXPECT_FALSE((*b)->counter.has_value());
}

}  // namespace
}  // namespace ovl::nft
