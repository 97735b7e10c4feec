#include "rules/vxlan_allow.h"

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "rules/nat_plan.h"
#include "rules/nft_expr.h"
#include "rules/nft_handles.h"
#include "rules/nft_socket.h"
#include "rules/nft_wire.h"

namespace ovl::nat {

namespace {

constexpr const char* kRulePrefix = "ovl: vxlan allow-list";

}  // namespace

VxlanAllowPlan planVxlanAllow(const Cluster& cluster) {
  VxlanAllowPlan plan;
  plan.port = cluster.network.port;
  std::map<Ipv4, std::vector<std::string>> byIp;
  for (const Node& n : cluster.nodes) {
    byIp[n.underlayIp].push_back(n.name);
  }
  for (auto& [ip, names] : byIp) {
    std::sort(names.begin(), names.end());
    std::string comment = fmt::format("{}", fmt::join(names, ", "));
    if (comment.size() > kMaxComment) {
      comment.resize(kMaxComment);  // what nft keeps, so the read-back compares equal
    }
    plan.sources.push_back(VxlanSource{ip, std::move(comment)});
  }
  return plan;
}

nft::ChainSpec vxlanChainSpec(uint16_t port) {
  using namespace nft::expr;  // NOLINT: the rule body reads as the nft expressions it builds
  nft::ChainSpec c{kVxlanChain, nft::BaseHook{NF_INET_LOCAL_IN, kVxlanPriority, "filter"}, {}};
  c.rules.push_back(
      nft::hashedRule(fmt::format("{} udp dport {}", kRulePrefix, port), [port](nftnl_rule* r) {
        l4protoIs(r, IPPROTO_UDP);
        thDport(r, R(0));
        const uint16_t be = htons(port);
        cmp(r, R(0), NFT_CMP_EQ, &be, sizeof be);
        ipSaddr(r, R(0));
        lookupNot(r, "vxlan_peers", R(0));
        counter(r);
        immVerdict(r, NF_DROP, "");
      }));
  return c;
}

Result<std::optional<VxlanDropCounter>> readVxlanDropCounter(nft::NftSocket& sock,
                                                             const std::string& table) {
  std::vector<char> buf;
  nlmsghdr* nlh = nft::requestHeader(buf, sock, NFT_MSG_GETRULE, NLM_F_DUMP);
  mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, table.c_str());
  mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, kVxlanChain);
  std::optional<VxlanDropCounter> found;
  Status s = sock.request(nlh, [&](const nlmsghdr* m) -> Status {
    nft::RuleHandle r(nftnl_rule_alloc());
    if (nftnl_rule_nlmsg_parse(m, r.get()) < 0) {
      return Error::msg("cannot parse a rule of chain " + std::string(kVxlanChain));
    }
    uint32_t len = 0;
    const void* ud = nftnl_rule_get_data(r.get(), NFTNL_RULE_USERDATA, &len);
    if (ud == nullptr ||
        nft::parseComment(ud, len, NFTNL_UDATA_RULE_COMMENT).rfind(kRulePrefix, 0) != 0) {
      return okStatus();  // not ours
    }
    nftnl_expr_foreach(
        r.get(),
        [](nftnl_expr* e, void* data) -> int {
          const char* name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
          if (name != nullptr && std::strcmp(name, "counter") == 0) {
            auto& out = *static_cast<std::optional<VxlanDropCounter>*>(data);
            out = VxlanDropCounter{nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS),
                                   nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_BYTES)};
          }
          return 0;
        },
        &found);
    return okStatus();
  });
  if (!s) {
    if (s.error().code == ENOENT) {
      return std::optional<VxlanDropCounter>{};  // no table or no chain
    }
    return s.error().withContext(
        fmt::format("read the counter of chain {} in table ip {}", kVxlanChain, table));
  }
  return found;
}

}  // namespace ovl::nat
