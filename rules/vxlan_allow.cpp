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
#include "rules/nft_reply.h"
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
    Result<std::optional<nft::RuleReply>> r = nft::ruleReply(m, table);
    if (!r) {
      return r.error();
    }
    if (*r && (*r)->chain == kVxlanChain && (*r)->comment.rfind(kRulePrefix, 0) == 0 &&
        (*r)->counter) {
      found = VxlanDropCounter{(*r)->counter->packets, (*r)->counter->bytes};
    }
    return okStatus();  // another rule, or not ours
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
