// The chains and their rules, as the nf_tables expressions they are built of. The expected text
// is what each rule means, written out in libnftnl's notation (see nft_render.h for registers
// and byte order): reg 8..13 are reg32_00..05, reg 0 the verdict register.
#include "rules/nft_chains.h"

#include <gtest/gtest.h>
#include <linux/netfilter.h>

#include <string>
#include <vector>

#include "tests/unit/rules/nft_render.h"

namespace ovl::nft {
namespace {

using testing::commentName;
using testing::findChain;
using testing::render;

// The service key of a VIP: ip daddr . meta l4proto . th dport in reg32_00..02.
const std::string kVipKey =
    "[ payload load 4b @ network header + 16 => reg 8 ]\n"
    "[ meta load l4proto => reg 9 ]\n"
    "[ payload load 2b @ transport header + 2 => reg 10 ]\n";
// ct status & dnat (bit 5, 0x20) != 0.
const std::string kDnatted =
    "[ ct load status => reg 8 ]\n"
    "[ bitwise reg 8 = ( reg 8 & 0x00000020 ) ^ 0x00000000 ]\n"
    "[ cmp neq reg 8 0x00000000 ]\n";
// fib daddr type local (RTN_LOCAL = 2), and ip daddr & 255.0.0.0 != 127.0.0.0.
const std::string kLocalNotLoopback =
    "[ fib daddr type => reg 8 ]\n"
    "[ cmp eq reg 8 0x00000002 ]\n"
    "[ payload load 4b @ network header + 16 => reg 8 ]\n"
    "[ bitwise reg 8 = ( reg 8 & 0x000000ff ) ^ 0x00000000 ]\n"
    "[ cmp neq reg 8 0x0000007f ]\n";
// ct mark set ct mark | bits, as (mark & ~bits) ^ bits.
std::string markOr(const std::string& notBits, const std::string& bits) {
  return "[ ct load mark => reg 8 ]\n"
         "[ bitwise reg 8 = ( reg 8 & " +
         notBits + " ) ^ " + bits +
         " ]\n"
         "[ ct set mark with reg 8 ]\n";
}

ChainsInUse oneOfEach() {
  ChainsInUse in;
  in.slots = {2};
  in.affSlots = {2};
  in.affTimeouts = {300};
  in.masq = {"lb_2"};
  in.keep = {"nplb_2"};
  return in;
}

std::vector<ChainSpec> chains(svc::MasqueradeMode mode = svc::MasqueradeMode::kOffCluster) {
  return chainSpecs(oneOfEach(), mode, *Ipv4Prefix::parse("10.244.0.0/16"));
}

const RuleSpec& onlyRule(const std::vector<ChainSpec>& all, const std::string& name) {
  const ChainSpec* c = findChain(all, name);
  EXPECT_NE(c, nullptr) << name;
  EXPECT_EQ(c->rules.size(), 1u) << name;
  return c->rules.at(0);
}

TEST(NftChains, NamesOfTheSharedChains) {
  EXPECT_EQ(lbChain(false, 3), "lb_3");
  EXPECT_EQ(lbChain(true, 3), "nplb_3");
  EXPECT_EQ(lbAffChain(false, 3), "lbaff_3");
  EXPECT_EQ(lbAffChain(true, 3), "nplbaff_3");
  EXPECT_EQ(affRecChain(false, 10800), "affrec_10800");
  EXPECT_EQ(affRecChain(true, 10800), "npaffrec_10800");
  EXPECT_EQ(targetChain(false, 2, false, false, false), "lb_2");
  EXPECT_EQ(targetChain(true, 2, true, true, false), "nplbaff_2_masq");
  EXPECT_EQ(targetChain(true, 2, false, false, true), "nplb_2_keep");
  EXPECT_EQ(targetChain(false, 2, false, true, true), "lb_2_masq") << "masquerade wins";
}

TEST(NftChains, JumpTargetsBeforeTheirUsersAndBaseChainsLast) {
  std::vector<std::string> names;
  for (const ChainSpec& c : chains()) {
    names.push_back(c.name);
    const bool hooked = c.name.rfind("nat_", 0) == 0 || c.name.rfind("filter_", 0) == 0;
    EXPECT_EQ(c.base.has_value(), hooked) << c.name;
  }
  const std::vector<std::string> want = {
      "lb_2",           "nplb_2",       "lbaff_2",           "nplbaff_2",
      "affrec_300",     "npaffrec_300", "affinity_record",   "lb_2_masq",
      "nplb_2_keep",    "svc_reject",   "filter_prerouting", "filter_output",
      "nat_prerouting", "nat_output",   "nat_postrouting",   "nat_input"};
  EXPECT_EQ(names, want);
}

TEST(NftChains, BaseChainsHookAndPriority) {
  const auto all = chains();
  auto hook = [&](const std::string& name) { return findChain(all, name)->base.value(); };
  EXPECT_EQ(hook("filter_prerouting"), (BaseHook{NF_INET_PRE_ROUTING, -110, "filter", 1}));
  EXPECT_EQ(hook("filter_output"), (BaseHook{NF_INET_LOCAL_OUT, -110, "filter", 1}));
  EXPECT_EQ(hook("nat_prerouting"), (BaseHook{NF_INET_PRE_ROUTING, -100, "nat", 1}));
  EXPECT_EQ(hook("nat_output"), (BaseHook{NF_INET_LOCAL_OUT, -100, "nat", 1}));
  EXPECT_EQ(hook("nat_postrouting"), (BaseHook{NF_INET_POST_ROUTING, 100, "nat", 1}));
  EXPECT_EQ(hook("nat_input"), (BaseHook{NF_INET_LOCAL_IN, 100, "nat", 1}));
}

TEST(NftChains, BalanceChainsMarkThenDnatToTheSlotsEndpoint) {
  const auto all = chains();
  // ct mark |= service (1); key in reg32_00..02; numgen random mod 2 into reg32_03; endpoints
  // map: the 16-byte key from reg32_00 -> addr . port in reg32_04 / reg32_05; dnat to them.
  const std::string balance =
      "[ numgen reg 11 = random mod 2 ]\n"
      "[ lookup reg 8 set endpoints dreg 12 ]\n"
      "[ nat dnat ip addr_min reg 12 proto_min reg 13 ]\n";
  const RuleSpec& lb = onlyRule(all, "lb_2");
  EXPECT_EQ(commentName(lb), "ovl: lb_2 dnat");
  EXPECT_EQ(render(lb), markOr("0xfffffffe", "0x00000001") + kVipKey + balance);
  // NodePorts: 0.0.0.0 in place of the destination address.
  const std::string nodePortKey =
      "[ immediate reg 8 0x00000000 ]\n"
      "[ meta load l4proto => reg 9 ]\n"
      "[ payload load 2b @ transport header + 2 => reg 10 ]\n";
  EXPECT_EQ(render(onlyRule(all, "nplb_2")),
            markOr("0xfffffffe", "0x00000001") + nodePortKey + balance);

  // Affinity: mark service | affinity (0x4; NodePorts 0x8), look the client up in `affinity`
  // (ip saddr . service key, reg32_00..03), and only then balance (without marking again).
  const ChainSpec* aff = findChain(all, "lbaff_2");
  ASSERT_NE(aff, nullptr);
  ASSERT_EQ(aff->rules.size(), 2u);
  EXPECT_EQ(commentName(aff->rules[0]), "ovl: lbaff_2 affinity");
  EXPECT_EQ(render(aff->rules[0]), markOr("0xfffffffa", "0x00000005") +
                                       "[ payload load 4b @ network header + 12 => reg 8 ]\n"
                                       "[ payload load 4b @ network header + 16 => reg 9 ]\n"
                                       "[ meta load l4proto => reg 10 ]\n"
                                       "[ payload load 2b @ transport header + 2 => reg 11 ]\n"
                                       "[ lookup reg 8 set affinity dreg 12 ]\n"
                                       "[ nat dnat ip addr_min reg 12 proto_min reg 13 ]\n");
  EXPECT_EQ(commentName(aff->rules[1]), "ovl: lbaff_2 dnat");
  EXPECT_EQ(render(aff->rules[1]), kVipKey + balance);
  const ChainSpec* npAff = findChain(all, "nplbaff_2");
  ASSERT_NE(npAff, nullptr);
  ASSERT_EQ(npAff->rules.size(), 2u);
  EXPECT_EQ(render(npAff->rules[0]), markOr("0xfffffff6", "0x00000009") +
                                         "[ payload load 4b @ network header + 12 => reg 8 ]\n"
                                         "[ immediate reg 9 0x00000000 ]\n"
                                         "[ meta load l4proto => reg 10 ]\n"
                                         "[ payload load 2b @ transport header + 2 => reg 11 ]\n"
                                         "[ lookup reg 8 set affinity dreg 12 ]\n"
                                         "[ nat dnat ip addr_min reg 12 proto_min reg 13 ]\n");
  EXPECT_EQ(render(npAff->rules[1]), nodePortKey + balance);
}

TEST(NftChains, MasqAndKeepVariantsMarkAndGotoTheirTarget) {
  const auto all = chains();
  const RuleSpec& masq = onlyRule(all, "lb_2_masq");
  EXPECT_EQ(commentName(masq), "ovl: lb_2_masq mark");
  EXPECT_EQ(render(masq),
            markOr("0xfffffffd", "0x00000002") + "[ immediate reg 0 goto -> lb_2 ]\n");
  const RuleSpec& keep = onlyRule(all, "nplb_2_keep");
  EXPECT_EQ(commentName(keep), "ovl: nplb_2_keep mark");
  EXPECT_EQ(render(keep),
            markOr("0xffffffef", "0x00000010") + "[ immediate reg 0 goto -> nplb_2 ]\n");
}

TEST(NftChains, RejectAnswersTcpWithResetAndTheRestWithPortUnreachable) {
  const auto all = chains();
  const ChainSpec* c = findChain(all, "svc_reject");
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->rules.size(), 2u);
  EXPECT_EQ(commentName(c->rules[0]), "ovl: reject tcp");
  // NFT_REJECT_TCP_RST is type 1; NFT_REJECT_ICMP_UNREACH type 0 with code 3 (port unreachable).
  EXPECT_EQ(render(c->rules[0]),
            "[ meta load l4proto => reg 8 ]\n"
            "[ cmp eq reg 8 0x00000006 ]\n"
            "[ reject type 1 code 0 ]\n");
  EXPECT_EQ(commentName(c->rules[1]), "ovl: reject other");
  EXPECT_EQ(render(c->rules[1]), "[ reject type 0 code 3 ]\n");
}

TEST(NftChains, AffinityIsRecordedFromTheConntrackOriginalTuplePerProtocol) {
  const auto all = chains();
  const ChainSpec* rec = findChain(all, "affrec_300");
  ASSERT_NE(rec, nullptr);
  ASSERT_EQ(rec->rules.size(), 3u);
  const std::vector<std::pair<std::string, std::string>> protos = {
      {"tcp", "0x00000006"}, {"udp", "0x00000011"}, {"sctp", "0x00000084"}};
  for (size_t i = 0; i < protos.size(); ++i) {
    EXPECT_EQ(commentName(rec->rules[i]), "ovl: affrec_300 " + protos[i].first);
    // key: ip saddr . ct original ip daddr . l4proto . ct original proto-dst (reg32_00..03);
    // data: ip daddr . th dport after DNAT (reg32_04..05); timeout 300 s.
    EXPECT_EQ(render(rec->rules[i]),
              "[ meta load l4proto => reg 8 ]\n"
              "[ cmp eq reg 8 " +
                  protos[i].second +
                  " ]\n"
                  "[ payload load 4b @ network header + 12 => reg 8 ]\n"
                  "[ ct load dst_ip => reg 9 , dir original ]\n"
                  "[ meta load l4proto => reg 10 ]\n"
                  "[ ct load proto_dst => reg 11 , dir original ]\n"
                  "[ payload load 4b @ network header + 16 => reg 12 ]\n"
                  "[ payload load 2b @ transport header + 2 => reg 13 ]\n"
                  "[ dynset update reg_key 8 set affinity sreg_data 12 timeout 300000ms ]\n");
  }
  const ChainSpec* npRec = findChain(all, "npaffrec_300");
  ASSERT_NE(npRec, nullptr);
  ASSERT_EQ(npRec->rules.size(), 3u);
  EXPECT_EQ(render(npRec->rules[1]),
            "[ meta load l4proto => reg 8 ]\n"
            "[ cmp eq reg 8 0x00000011 ]\n"
            "[ payload load 4b @ network header + 12 => reg 8 ]\n"
            "[ immediate reg 9 0x00000000 ]\n"
            "[ meta load l4proto => reg 10 ]\n"
            "[ ct load proto_dst => reg 11 , dir original ]\n"
            "[ payload load 4b @ network header + 16 => reg 12 ]\n"
            "[ payload load 2b @ transport header + 2 => reg 13 ]\n"
            "[ dynset update reg_key 8 set affinity sreg_data 12 timeout 300000ms ]\n");

  // affinity_record: per protocol, the mark bit of its kind, then the service by the original
  // tuple in affinity_services (verdict register 0), NodePorts without the address.
  const ChainSpec* record = findChain(all, "affinity_record");
  ASSERT_NE(record, nullptr);
  ASSERT_EQ(record->rules.size(), 6u);
  EXPECT_EQ(commentName(record->rules[0]), "ovl: affinity record tcp");
  EXPECT_EQ(render(record->rules[0]),
            "[ meta load l4proto => reg 8 ]\n"
            "[ cmp eq reg 8 0x00000006 ]\n"
            "[ ct load mark => reg 8 ]\n"
            "[ bitwise reg 8 = ( reg 8 & 0x00000004 ) ^ 0x00000000 ]\n"
            "[ cmp eq reg 8 0x00000004 ]\n"
            "[ ct load dst_ip => reg 8 , dir original ]\n"
            "[ meta load l4proto => reg 9 ]\n"
            "[ ct load proto_dst => reg 10 , dir original ]\n"
            "[ lookup reg 8 set affinity_services dreg 0 ]\n");
  EXPECT_EQ(commentName(record->rules[5]), "ovl: affinity record nodeport sctp");
  EXPECT_EQ(render(record->rules[5]),
            "[ meta load l4proto => reg 8 ]\n"
            "[ cmp eq reg 8 0x00000084 ]\n"
            "[ ct load mark => reg 8 ]\n"
            "[ bitwise reg 8 = ( reg 8 & 0x00000008 ) ^ 0x00000000 ]\n"
            "[ cmp eq reg 8 0x00000008 ]\n"
            "[ meta load l4proto => reg 8 ]\n"
            "[ ct load proto_dst => reg 9 , dir original ]\n"
            "[ lookup reg 8 set affinity_nodeports dreg 0 ]\n");
}

TEST(NftChains, HooksLookTheServiceUpInTheVerdictMaps) {
  const auto all = chains();
  for (const auto& [chain, services, nodeports] :
       {std::tuple{"filter_prerouting", "reject_services", "reject_nodeports"},
        std::tuple{"filter_output", "reject_services", "reject_nodeports"},
        std::tuple{"nat_prerouting", "services", "nodeports"},
        std::tuple{"nat_output", "services", "nodeports"}}) {
    const ChainSpec* c = findChain(all, chain);
    ASSERT_NE(c, nullptr) << chain;
    // The filter chains check the first packet of a connection only (conntrack's state is
    // then new, or invalid or untracked): established and related packets leave at once.
    const bool filter = std::string(chain).rfind("filter_", 0) == 0;
    ASSERT_EQ(c->rules.size(), filter ? 3u : 2u) << chain;
    size_t first = 0;
    if (filter) {
      EXPECT_EQ(commentName(c->rules[0]), "ovl: established and related pass");
      EXPECT_EQ(render(c->rules[0]),
                "[ ct load state => reg 8 ]\n"
                "[ bitwise reg 8 = ( reg 8 & 0x00000006 ) ^ 0x00000000 ]\n"
                "[ cmp neq reg 8 0x00000000 ]\n"
                "[ immediate reg 0 accept ]\n");
      first = 1;
    }
    EXPECT_EQ(render(c->rules[first]), kVipKey + "[ lookup reg 8 set " + services + " dreg 0 ]\n")
        << chain;
    // The NodePort key alone first (a hash lookup), the FIB only for a NodePort's port.
    const std::string npKey =
        "[ meta load l4proto => reg 8 ]\n"
        "[ payload load 2b @ transport header + 2 => reg 9 ]\n";
    EXPECT_EQ(render(c->rules[first + 1]), npKey + "[ lookup reg 8 set " + nodeports + " ]\n" +
                                               kLocalNotLoopback + npKey + "[ lookup reg 8 set " +
                                               nodeports + " dreg 0 ]\n")
        << chain;
  }
}

TEST(NftChains, PostroutingRecordsAffinityThenMasqueradesAsConfigured) {
  const std::string markJump =
      "[ ct load mark => reg 8 ]\n"
      "[ bitwise reg 8 = ( reg 8 & 0x0000000c ) ^ 0x00000000 ]\n"
      "[ cmp neq reg 8 0x00000000 ]\n"
      "[ immediate reg 0 jump -> affinity_record ]\n";
  // ct mark & (service | keep-source) == service.
  const std::string serviceNotKept =
      "[ ct load mark => reg 8 ]\n"
      "[ bitwise reg 8 = ( reg 8 & 0x00000011 ) ^ 0x00000000 ]\n"
      "[ cmp eq reg 8 0x00000001 ]\n";

  const auto offCluster = chains(svc::MasqueradeMode::kOffCluster);
  const ChainSpec* post = findChain(offCluster, "nat_postrouting");
  ASSERT_NE(post, nullptr);
  ASSERT_EQ(post->rules.size(), 5u);
  // Connections no DNAT translated leave first; the rules after it need not test it again.
  EXPECT_EQ(commentName(post->rules[0]), "ovl: not DNATed passes");
  EXPECT_EQ(render(post->rules[0]),
            "[ ct load status => reg 8 ]\n"
            "[ bitwise reg 8 = ( reg 8 & 0x00000020 ) ^ 0x00000000 ]\n"
            "[ cmp eq reg 8 0x00000000 ]\n"
            "[ immediate reg 0 accept ]\n");
  const std::vector<RuleSpec> rules(post->rules.begin() + 1, post->rules.end());
  EXPECT_EQ(commentName(rules[0]), "ovl: affinity");
  EXPECT_EQ(render(rules[0]), markJump);
  EXPECT_EQ(commentName(rules[1]), "ovl: masquerade marked");
  EXPECT_EQ(render(rules[1]),
            "[ ct load mark => reg 8 ]\n"
            "[ bitwise reg 8 = ( reg 8 & 0x00000002 ) ^ 0x00000000 ]\n"
            "[ cmp eq reg 8 0x00000002 ]\n"
            "[ masq ]\n");
  EXPECT_EQ(commentName(rules[2]), "ovl: hairpin");
  EXPECT_EQ(render(rules[2]),
            "[ payload load 4b @ network header + 12 => reg 8 ]\n"
            "[ payload load 4b @ network header + 16 => reg 9 ]\n"
            "[ lookup reg 8 set hairpin ]\n"
            "[ masq ]\n");
  // ip saddr & 255.255.0.0 != 10.244.0.0 (bytes 0a f4 00 00).
  EXPECT_EQ(commentName(rules[3]), "ovl: masquerade off-cluster 10.244.0.0/16 unless keep-source");
  EXPECT_EQ(render(rules[3]), serviceNotKept +
                                  "[ payload load 4b @ network header + 12 => reg 8 ]\n"
                                  "[ bitwise reg 8 = ( reg 8 & 0x0000ffff ) ^ 0x00000000 ]\n"
                                  "[ cmp neq reg 8 0x0000f40a ]\n"
                                  "[ masq ]\n");
  const ChainSpec* input = findChain(offCluster, "nat_input");
  ASSERT_NE(input, nullptr);
  ASSERT_EQ(input->rules.size(), 1u);
  // nat_input has no such first rule: its affinity jump tests ct status dnat itself.
  EXPECT_EQ(render(input->rules[0]), kDnatted + markJump);

  const auto all = chains(svc::MasqueradeMode::kAll);
  post = findChain(all, "nat_postrouting");
  ASSERT_EQ(post->rules.size(), 5u);
  EXPECT_EQ(commentName(post->rules[4]), "ovl: masquerade all unless keep-source");
  EXPECT_EQ(render(post->rules[4]), serviceNotKept + "[ masq ]\n");

  const auto none = chains(svc::MasqueradeMode::kNone);
  post = findChain(none, "nat_postrouting");
  ASSERT_EQ(post->rules.size(), 4u) << "no masquerade rule";
  EXPECT_EQ(commentName(post->rules[3]), "ovl: hairpin");
}

TEST(NftChains, EveryRuleCommentEndsWithTheHashOfItsBody) {
  for (const ChainSpec& c : chains()) {
    for (const RuleSpec& r : c.rules) {
      EXPECT_EQ(r.comment, hashedRule(commentName(r), r.build).comment) << c.name;
    }
  }
}

TEST(HashedRule, CommentNamesTheBodySoAChangedBodyIsAnotherRule) {
  auto counter = [](nftnl_rule* r) { nftnl_rule_add_expr(r, nftnl_expr_alloc("counter")); };
  auto notrack = [](nftnl_rule* r) { nftnl_rule_add_expr(r, nftnl_expr_alloc("notrack")); };
  const RuleSpec a = hashedRule("ovl: x", counter);
  EXPECT_EQ(a.comment.rfind("ovl: x #", 0), 0u) << a.comment;
  EXPECT_EQ(a.comment.size(), std::string("ovl: x #").size() + 8) << a.comment;
  EXPECT_EQ(hashedRule("ovl: x", counter).comment, a.comment) << "deterministic";
  EXPECT_NE(hashedRule("ovl: x", notrack).comment, a.comment);
}

}  // namespace
}  // namespace ovl::nft
