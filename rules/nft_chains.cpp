#include "rules/nft_chains.h"

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tuple_common.h>
#include <linux/netfilter/nf_tables.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>

#include <array>
#include <utility>

#include <fmt/format.h>

#include "rules/nft_expr.h"

namespace ovl::nft {

using namespace expr;  // NOLINT: the rule bodies below read as the nft expressions they build

// The hash is FNV-1a 64 of the netlink payload as sent, folded to 8 hex digits. (A rule that
// someone else replaces in place keeping its comment, hash included, is not noticed: the
// kernel dumps expressions in its own form, so the read-back cannot be hashed the same way.)
RuleSpec hashedRule(std::string comment, std::function<void(nftnl_rule*)> build) {
  RuleHandle scratch(nftnl_rule_alloc());
  build(scratch.get());
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nftnl_rule_nlmsg_build_payload(nlh, scratch.get());
  const auto* bytes = static_cast<const uint8_t*>(mnl_nlmsg_get_payload(nlh));
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < mnl_nlmsg_get_payload_len(nlh); ++i) {
    h = (h ^ bytes[i]) * 0x100000001b3ULL;
  }
  comment += fmt::format(" #{:08x}", static_cast<uint32_t>(h ^ (h >> 32)));
  return RuleSpec{std::move(comment), std::move(build)};
}

std::string lbChain(bool nodePort, uint32_t slots) {
  return fmt::format("{}_{}", nodePort ? "nplb" : "lb", slots);
}
std::string lbAffChain(bool nodePort, uint32_t slots) {
  return fmt::format("{}_{}", nodePort ? "nplbaff" : "lbaff", slots);
}
std::string affRecChain(bool nodePort, uint32_t timeout) {
  return fmt::format("{}_{}", nodePort ? "npaffrec" : "affrec", timeout);
}

std::string targetChain(bool nodePort, uint32_t slots, bool affinity, bool masquerade,
                        bool keepSource) {
  std::string name = affinity ? lbAffChain(nodePort, slots) : lbChain(nodePort, slots);
  if (masquerade) {
    name += "_masq";
  } else if (keepSource) {
    name += "_keep";
  }
  return name;
}

namespace {

RuleSpec rule(std::string comment, std::function<void(nftnl_rule*)> build) {
  return hashedRule(std::move(comment), std::move(build));
}

constexpr std::array<svc::Protocol, 3> kProtocols = {svc::Protocol::kTcp, svc::Protocol::kUdp,
                                                     svc::Protocol::kSctp};

// ---- jump targets ------------------------------------------------------------------------

// The service's key with a slot drawn at random (numgen mod slots), looked up in `endpoints`,
// and DNAT to the address and port found.
void dnatToRandomSlot(nftnl_rule* r, bool nodePort, uint32_t slots) {
  serviceKey(r, nodePort, 0);
  numgenRandom(r, slots, R(3));
  lookup(r, "endpoints", R(0), R(4));
  dnat(r, R(4), R(5));
}

ChainSpec lbChainSpec(bool nodePort, uint32_t slots) {
  const std::string name = lbChain(nodePort, slots);
  ChainSpec c{name, std::nullopt, {}};
  c.rules.push_back(rule("ovl: " + name + " dnat", [nodePort, slots](nftnl_rule* r) {
    ctMarkOr(r, kMarkService);
    dnatToRandomSlot(r, nodePort, slots);
  }));
  return c;
}

// lb_<N> with ClientIP affinity: the client's recorded endpoint if there is one, else random.
ChainSpec lbAffChainSpec(bool nodePort, uint32_t slots) {
  const std::string name = lbAffChain(nodePort, slots);
  ChainSpec c{name, std::nullopt, {}};
  c.rules.push_back(rule("ovl: " + name + " affinity", [nodePort](nftnl_rule* r) {
    ctMarkOr(r, kMarkService | (nodePort ? kMarkNodePortAffinity : kMarkAffinity));
    ipSaddr(r, R(0));
    serviceKey(r, nodePort, 1);
    lookup(r, "affinity", R(0), R(4));
    dnat(r, R(4), R(5));
  }));
  c.rules.push_back(rule("ovl: " + name + " dnat", [nodePort, slots](nftnl_rule* r) {
    dnatToRandomSlot(r, nodePort, slots);
  }));
  return c;
}

// Records the endpoint conntrack chose for a new affinity connection, for `timeout` seconds.
// One rule per protocol: nft prints `ct original proto-dst` in a concatenation only when a
// protocol match gives it a type.
ChainSpec affRecChainSpec(bool nodePort, uint32_t timeout) {
  const std::string name = affRecChain(nodePort, timeout);
  ChainSpec c{name, std::nullopt, {}};
  for (svc::Protocol proto : kProtocols) {
    c.rules.push_back(rule(fmt::format("ovl: {} {}", name, svc::toString(proto)),
                           [nodePort, timeout, proto](nftnl_rule* r) {
                             l4protoIs(r, static_cast<uint8_t>(proto));
                             ipSaddr(r, R(0));
                             if (nodePort) {
                               const uint32_t zero = 0;
                               immData(r, R(1), &zero, 4);
                             } else {
                               ctOriginal(r, NFT_CT_DST_IP, R(1));
                             }
                             l4proto(r, R(2));
                             ctOriginal(r, NFT_CT_PROTO_DST, R(3));
                             ipDaddr(r, R(4));
                             thDport(r, R(5));
                             dynsetUpdate(r, "affinity", R(0), R(4), uint64_t{timeout} * 1000);
                           }));
  }
  return c;
}

// affinity_record: the service of a new affinity connection, by its conntrack original tuple,
// -> goto affrec_<T> / npaffrec_<T>.
ChainSpec affinityRecordChainSpec() {
  ChainSpec c{"affinity_record", std::nullopt, {}};
  for (bool nodePort : {false, true}) {
    for (svc::Protocol proto : kProtocols) {
      c.rules.push_back(rule(fmt::format("ovl: affinity record {}{}", nodePort ? "nodeport " : "",
                                         svc::toString(proto)),
                             [nodePort, proto](nftnl_rule* r) {
                               l4protoIs(r, static_cast<uint8_t>(proto));
                               ctMarkHas(r, nodePort ? kMarkNodePortAffinity : kMarkAffinity);
                               int next = 0;
                               if (!nodePort) {
                                 ctOriginal(r, NFT_CT_DST_IP, R(next++));
                               }
                               l4proto(r, R(next++));
                               ctOriginal(r, NFT_CT_PROTO_DST, R(next++));
                               lookup(r, nodePort ? "affinity_nodeports" : "affinity_services",
                                      R(0), NFT_REG_VERDICT);
                             }));
    }
  }
  return c;
}

// ct mark & (kMarkAffinity | kMarkNodePortAffinity) != 0 jump affinity_record, after
// `ct status dnat` unless the chain has checked that already.
RuleSpec affinityJumpRule(bool checkDnat) {
  return rule("ovl: affinity", [checkDnat](nftnl_rule* r) {
    if (checkDnat) {
      ctStatusDnat(r);
    }
    ctLoad(r, NFT_CT_MARK, R(0));
    const uint32_t bits = kMarkAffinity | kMarkNodePortAffinity;
    const uint32_t zero = 0;
    bitwise(r, R(0), &bits, &zero, 4);
    cmp(r, R(0), NFT_CMP_NEQ, &zero, 4);
    immVerdict(r, NFT_JUMP, "affinity_record");
  });
}

// `<target>_keep`: external traffic with policy Local; the masquerade rules skip it.
ChainSpec keepChainSpec(const std::string& target) {
  const std::string name = target + "_keep";
  ChainSpec c{name, std::nullopt, {}};
  c.rules.push_back(rule("ovl: " + name + " mark", [target](nftnl_rule* r) {
    ctMarkOr(r, kMarkKeepSource);
    immVerdict(r, NFT_GOTO, target);
  }));
  return c;
}

ChainSpec masqChainSpec(const std::string& target) {
  const std::string name = target + "_masq";
  ChainSpec c{name, std::nullopt, {}};
  c.rules.push_back(rule("ovl: " + name + " mark", [target](nftnl_rule* r) {
    ctMarkOr(r, kMarkMasquerade);
    immVerdict(r, NFT_GOTO, target);
  }));
  return c;
}

// One vmap rule: <key> vmap @set. A NodePort's key is first looked up alone (the map as a
// set): a FIB lookup costs far more than a hash lookup, and nearly every connection that gets
// here is to no NodePort, so only those to a NodePort's protocol and port pay for the FIB.
RuleSpec vmapRule(const std::string& comment, bool nodePort, const char* set) {
  return rule(comment, [nodePort, set](nftnl_rule* r) {
    if (nodePort) {
      l4proto(r, R(0));
      thDport(r, R(1));
      lookup(r, set, R(0), std::nullopt);
      localNotLoopback(r);
      l4proto(r, R(0));
      thDport(r, R(1));
    } else {
      ipDaddr(r, R(0));
      l4proto(r, R(1));
      thDport(r, R(2));
    }
    lookup(r, set, R(0), NFT_REG_VERDICT);
  });
}

ChainSpec rejectChainSpec() {
  ChainSpec c{"svc_reject", std::nullopt, {}};
  c.rules.push_back(rule("ovl: reject tcp", [](nftnl_rule* r) {
    l4proto(r, R(0));
    const uint8_t tcp = IPPROTO_TCP;
    cmp(r, R(0), NFT_CMP_EQ, &tcp, 1);
    reject(r, NFT_REJECT_TCP_RST, 0);
  }));
  c.rules.push_back(rule("ovl: reject other", [](nftnl_rule* r) {
    reject(r, NFT_REJECT_ICMP_UNREACH, ICMP_PORT_UNREACH);
  }));
  return c;
}

// Jump targets: lb chains, their affinity variants and the affinity recording chains, then the
// masq / keep variants, then the reject chain.
void addTargetChains(const ChainsInUse& inUse, std::vector<ChainSpec>& out) {
  for (uint32_t n : inUse.slots) {
    if (n == 0) {
      continue;
    }
    out.push_back(lbChainSpec(false, n));
    out.push_back(lbChainSpec(true, n));
  }
  for (uint32_t n : inUse.affSlots) {
    out.push_back(lbAffChainSpec(false, n));
    out.push_back(lbAffChainSpec(true, n));
  }
  for (uint32_t timeout : inUse.affTimeouts) {
    out.push_back(affRecChainSpec(false, timeout));
    out.push_back(affRecChainSpec(true, timeout));
  }
  out.push_back(affinityRecordChainSpec());
  for (const auto& target : inUse.masq) {
    out.push_back(masqChainSpec(target));
  }
  for (const auto& target : inUse.keep) {
    out.push_back(keepChainSpec(target));
  }
  out.push_back(rejectChainSpec());
}

// ---- base chains -------------------------------------------------------------------------

// The source masquerade of DNATed connections, as network.masquerade says (none: no rule).
std::optional<RuleSpec> masqueradeRule(svc::MasqueradeMode mode, Ipv4Prefix podCidr) {
  switch (mode) {
    case svc::MasqueradeMode::kOffCluster: {
      const Ipv4Prefix cidr = podCidr;
      return rule("ovl: masquerade off-cluster " + cidr.toString() + " unless keep-source",
                  [cidr](nftnl_rule* r) {
                    ctMarkIs(r, kMarkService | kMarkKeepSource, kMarkService);
                    ipSaddr(r, R(0));
                    const uint32_t mask = htonl(cidr.mask());
                    const uint32_t zero = 0;
                    bitwise(r, R(0), &mask, &zero, 4);
                    const uint32_t net = htonl(cidr.network().value);
                    cmp(r, R(0), NFT_CMP_NEQ, &net, 4);
                    masquerade(r);
                  });
    }
    case svc::MasqueradeMode::kAll:
      return rule("ovl: masquerade all unless keep-source", [](nftnl_rule* r) {
        ctMarkIs(r, kMarkService | kMarkKeepSource, kMarkService);
        masquerade(r);
      });
    case svc::MasqueradeMode::kNone:
      break;
  }
  return std::nullopt;
}

// The first packet of every connection the node forwards or sends passes nat_postrouting, and
// every rule there concerns connections a DNAT translated (ovl's service chains, so also the
// hairpin pairs: an endpoint reaches itself only through its service). The others leave at
// the first rule, and the rules after it need not test `ct status dnat` again; its ct mark
// tests then only see marks on connections some DNAT translated, as before.
ChainSpec natPostroutingChainSpec(svc::MasqueradeMode mode, Ipv4Prefix podCidr) {
  ChainSpec c{"nat_postrouting", BaseHook{NF_INET_POST_ROUTING, 100, "nat"}, {}};
  c.rules.push_back(rule("ovl: not DNATed passes", [](nftnl_rule* r) {
    ctLoad(r, NFT_CT_STATUS, R(0));
    const uint32_t bit = IPS_DST_NAT;
    const uint32_t zero = 0;
    bitwise(r, R(0), &bit, &zero, 4);
    cmp(r, R(0), NFT_CMP_EQ, &zero, 4);
    immVerdict(r, NF_ACCEPT, "");
  }));
  // New affinity connections are recorded before any masquerade (masquerade ends the chain).
  c.rules.push_back(affinityJumpRule(false));
  c.rules.push_back(rule("ovl: masquerade marked", [](nftnl_rule* r) {
    ctMarkHas(r, kMarkMasquerade);
    masquerade(r);
  }));
  c.rules.push_back(rule("ovl: hairpin", [](nftnl_rule* r) {
    ipSaddr(r, R(0));
    ipDaddr(r, R(1));
    lookup(r, "hairpin", R(0), std::nullopt);
    masquerade(r);
  }));
  if (std::optional<RuleSpec> m = masqueradeRule(mode, podCidr)) {
    c.rules.push_back(std::move(*m));
  }
  return c;
}

// ct state established,related accept: the filter chains see every packet, and a service
// without endpoints refuses connections, which their first packet opens (conntrack's state is
// new, or invalid or untracked, which are checked too). Without it every packet of every
// connection of the node paid two map lookups and a FIB lookup here.
RuleSpec establishedRule() {
  return rule("ovl: established and related pass", [](nftnl_rule* r) {
    ctLoad(r, NFT_CT_STATE, R(0));
    const uint32_t bits = NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED);
    const uint32_t zero = 0;
    bitwise(r, R(0), &bits, &zero, 4);
    cmp(r, R(0), NFT_CMP_NEQ, &zero, 4);
    immVerdict(r, NF_ACCEPT, "");
  });
}

void addBaseChains(svc::MasqueradeMode mode, Ipv4Prefix podCidr, std::vector<ChainSpec>& out) {
  // Rejects are decided in filter chains (reject is only valid there), before dstnat, so the
  // nat path never sees a service without endpoints.
  for (const auto& [name, hook] : {std::pair{"filter_prerouting", NF_INET_PRE_ROUTING},
                                   std::pair{"filter_output", NF_INET_LOCAL_OUT}}) {
    ChainSpec c{name, BaseHook{static_cast<uint32_t>(hook), -110, "filter"}, {}};
    c.rules.push_back(establishedRule());
    c.rules.push_back(vmapRule("ovl: reject services", false, "reject_services"));
    c.rules.push_back(vmapRule("ovl: reject nodeports", true, "reject_nodeports"));
    out.push_back(std::move(c));
  }
  for (const auto& [name, hook] : {std::pair{"nat_prerouting", NF_INET_PRE_ROUTING},
                                   std::pair{"nat_output", NF_INET_LOCAL_OUT}}) {
    ChainSpec c{name, BaseHook{static_cast<uint32_t>(hook), -100, "nat"}, {}};
    c.rules.push_back(vmapRule("ovl: services", false, "services"));
    c.rules.push_back(vmapRule("ovl: nodeports", true, "nodeports"));
    out.push_back(std::move(c));
  }
  out.push_back(natPostroutingChainSpec(mode, podCidr));
  // Connections to an endpoint on this node's own addresses never reach postrouting.
  ChainSpec input{"nat_input", BaseHook{NF_INET_LOCAL_IN, 100, "nat"}, {}};
  input.rules.push_back(affinityJumpRule(true));
  out.push_back(std::move(input));
}

}  // namespace

std::vector<ChainSpec> chainSpecs(const ChainsInUse& inUse, svc::MasqueradeMode mode,
                                  Ipv4Prefix podCidr) {
  std::vector<ChainSpec> out;
  addTargetChains(inUse, out);
  addBaseChains(mode, podCidr, out);
  return out;
}

}  // namespace ovl::nft
