#include "diagnostics/nft_inspect.h"

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "rules/nft_handles.h"
#include "rules/nft_socket.h"

namespace ovl::diag {

namespace {

const char* familyName(uint32_t f) {
  switch (f) {
    case NFPROTO_IPV4:
      return "ip";
    case NFPROTO_INET:
      return "inet";
    default:
      return nullptr;  // not inspected
  }
}

const char* hookName(uint32_t hook) {
  switch (hook) {
    case NF_INET_PRE_ROUTING:
      return "prerouting";
    case NF_INET_LOCAL_IN:
      return "input";
    case NF_INET_FORWARD:
      return "forward";
    case NF_INET_LOCAL_OUT:
      return "output";
    case NF_INET_POST_ROUTING:
      return "postrouting";
  }
  return "?";
}

std::string getStr(const nftnl_chain* c, uint16_t attr) {
  const char* s = nftnl_chain_get_str(c, attr);
  return s != nullptr ? s : "";
}

// What a register holds, as far as this reader follows it.
struct RegSource {
  enum class Kind { kUnknown, kL4proto, kDport, kAddr, kIfname } kind = Kind::kUnknown;
  uint32_t mask = 0xffffffff;  // kAddr: host order
};
using Registers = std::map<uint32_t, RegSource>;

// Up to 4 bytes of expression data (an address or a prefix of it), zero-padded, as the network
// order word they start.
uint32_t networkOrderWord(const void* data, uint32_t len) {
  uint8_t bytes[4] = {};
  std::memcpy(bytes, data, len);
  uint32_t be = 0;
  std::memcpy(&be, bytes, 4);
  return be;
}

// payload: a load of the IPv4 protocol, an address (or its leading bytes), or the transport
// destination port.
void readPayload(nftnl_expr* e, Registers& regs) {
  using K = RegSource::Kind;
  const uint32_t base = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_BASE);
  const uint32_t off = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET);
  const uint32_t len = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_LEN);
  RegSource s;
  if (base == NFT_PAYLOAD_NETWORK_HEADER && off == 9 && len == 1) {
    s.kind = K::kL4proto;
  } else if (base == NFT_PAYLOAD_NETWORK_HEADER && (off == 12 || off == 16) && len >= 1 &&
             len <= 4) {
    // nft loads only the whole bytes of a prefix (10.244.0.0/16: 2 bytes, no bitwise).
    s.kind = K::kAddr;
    s.mask = len == 4 ? 0xffffffffU : ~(0xffffffffU >> (8 * len));
  } else if (base == NFT_PAYLOAD_TRANSPORT_HEADER && off == 2 && len == 2) {
    s.kind = K::kDport;
  }
  regs[nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_DREG)] = s;
}

// meta: a load of the L4 protocol, an interface name or the family.
void readMeta(nftnl_expr* e, Registers& regs) {
  using K = RegSource::Kind;
  if (!nftnl_expr_is_set(e, NFTNL_EXPR_META_DREG)) {
    return;  // meta set: not a condition
  }
  const uint32_t key = nftnl_expr_get_u32(e, NFTNL_EXPR_META_KEY);
  RegSource s;
  if (key == NFT_META_L4PROTO) {
    s.kind = K::kL4proto;
  } else if (key == NFT_META_IIFNAME || key == NFT_META_OIFNAME) {
    s.kind = K::kIfname;
  } else if (key == NFT_META_NFPROTO) {
    s.kind = K::kUnknown;  // inet family: "meta nfproto ipv4"; compared below
  }
  regs[nftnl_expr_get_u32(e, NFTNL_EXPR_META_DREG)] = s;
  if (key == NFT_META_NFPROTO) {
    regs[nftnl_expr_get_u32(e, NFTNL_EXPR_META_DREG)].mask = 0;  // marker: neutral
  }
}

// bitwise: a mask on a loaded address narrows its prefix; on anything else it is not followed.
void readBitwise(nftnl_expr* e, Registers& regs) {
  using K = RegSource::Kind;
  RegSource s = regs[nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_SREG)];
  uint32_t len = 0;
  const void* mask = nftnl_expr_get_data(e, NFTNL_EXPR_BITWISE_MASK, &len);
  if (s.kind == K::kAddr && mask != nullptr && len >= 1 && len <= 4) {
    s.mask = ntohl(networkOrderWord(mask, len)) & s.mask;
  } else {
    s.kind = K::kUnknown;
  }
  regs[nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_DREG)] = s;
}

// cmp: an equality on a followed register becomes the rule's condition; anything else makes the
// rule's match unknown.
void readCmp(nftnl_expr* e, Registers& regs, NftRule& rule) {
  using K = RegSource::Kind;
  const RegSource s = regs[nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_SREG)];
  uint32_t len = 0;
  const auto* d = static_cast<const uint8_t*>(nftnl_expr_get_data(e, NFTNL_EXPR_CMP_DATA, &len));
  const bool eq = nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_OP) == NFT_CMP_EQ;
  if (s.kind == K::kUnknown && s.mask == 0) {
    return;  // meta nfproto: ipv4 traffic passes it
  }
  if (!eq || d == nullptr) {
    rule.unknownCondition = true;
  } else if (s.kind == K::kL4proto && len == 1) {
    rule.l4proto = d[0];
  } else if (s.kind == K::kDport && len == 2) {
    rule.dport = static_cast<uint16_t>((d[0] << 8) | d[1]);
  } else if (s.kind == K::kAddr && len >= 1 && len <= 4) {
    uint8_t plen = 0;
    for (uint32_t m = s.mask; m & 0x80000000U; m <<= 1) {
      ++plen;
    }
    rule.addrs.push_back(Ipv4Prefix{Ipv4::fromNetworkOrder(networkOrderWord(d, len)), plen});
  } else if (s.kind == K::kIfname) {
    rule.ifnames.emplace_back(reinterpret_cast<const char*>(d),
                              strnlen(reinterpret_cast<const char*>(d), len));
  } else {
    rule.unknownCondition = true;
  }
}

// immediate: the verdict, when it writes the verdict register.
void readImmediate(nftnl_expr* e, NftRule& rule) {
  if (nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_DREG) == NFT_REG_VERDICT) {
    const int32_t v = static_cast<int32_t>(nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT));
    rule.verdict = v == NF_DROP     ? Verdict::kDrop
                   : v == NF_ACCEPT ? Verdict::kAccept
                                    : Verdict::kOther;
  }
}

// A rule's expressions, in order, reduced to its known conditions and its verdict.
void interpret(nftnl_rule* r, NftRule& out) {
  struct State {
    Registers regs;
    NftRule* rule;
  } state{{}, &out};
  nftnl_expr_foreach(
      r,
      [](nftnl_expr* e, void* data) -> int {
        auto& st = *static_cast<State*>(data);
        const std::string name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
        if (name == "payload") {
          readPayload(e, st.regs);
        } else if (name == "meta") {
          readMeta(e, st.regs);
        } else if (name == "bitwise") {
          readBitwise(e, st.regs);
        } else if (name == "cmp") {
          readCmp(e, st.regs, *st.rule);
        } else if (name == "immediate") {
          readImmediate(e, *st.rule);
        } else if (name == "reject") {
          st.rule->verdict = Verdict::kDrop;
        } else if (name != "counter" && name != "log") {
          st.rule->unknownCondition = true;  // lookup, ct, limit, range, ...
        }
        return 0;
      },
      &state);
}

template <typename Fn>
Status dump(nft::NftSocket& sock, uint16_t type, const std::string& what, Fn onMsg) {
  std::vector<char> buf(4096, 0);
  nlmsghdr* nlh =
      nftnl_nlmsg_build_hdr(buf.data(), type, NFPROTO_UNSPEC, NLM_F_DUMP, sock.nextSeq());
  Status s = sock.request(nlh, onMsg);
  if (!s) {
    return s.error().withContext(what);
  }
  return okStatus();
}

// Does a packet of this kind satisfy the rule's known conditions? yes / no / maybe.
enum class Match { kYes, kNo, kMaybe };

Match matchVxlan(const NftRule& r, uint16_t port) {
  if ((r.l4proto && *r.l4proto != IPPROTO_UDP) || (r.dport && *r.dport != port)) {
    return Match::kNo;
  }
  return r.unknownCondition || !r.addrs.empty() || !r.ifnames.empty() ? Match::kMaybe : Match::kYes;
}

Match matchPod(const NftRule& r, const Ipv4Prefix& podCidr,
               const std::vector<std::string>& ifaces) {
  bool podSpecific = false;
  for (const auto& a : r.addrs) {
    if (!a.overlaps(podCidr)) {
      return Match::kNo;
    }
    podSpecific = true;
  }
  for (const auto& n : r.ifnames) {
    if (std::find(ifaces.begin(), ifaces.end(), n) == ifaces.end()) {
      return Match::kNo;
    }
    podSpecific = true;
  }
  if (!r.conditional()) {
    return Match::kYes;
  }
  return podSpecific && !r.unknownCondition && !r.l4proto && !r.dport ? Match::kYes : Match::kMaybe;
}

std::string chainName(const NftChain& c) {
  if (c.legacy) {
    return fmt::format("iptables-legacy table {} chain {}", c.table, c.name);
  }
  return fmt::format("table {} {} chain {}", c.family, c.table, c.name);
}

std::string acceptPortCommand(const NftChain& c, uint16_t port) {
  if (c.legacy) {
    return fmt::format("iptables-legacy -t {} -I {} -p udp --dport {} -j ACCEPT", c.table, c.name,
                       port);
  }
  return fmt::format("nft insert rule {} {} {} udp dport {} accept", c.family, c.table, c.name,
                     port);
}

std::string acceptPodsCommand(const NftChain& c, const Ipv4Prefix& podCidr) {
  const std::string cidr = podCidr.toString();
  if (c.legacy) {
    return fmt::format(
        "iptables-legacy -t {0} -I {1} -s {2} -j ACCEPT; iptables-legacy -t {0} "
        "-I {1} -d {2} -j ACCEPT",
        c.table, c.name, cidr);
  }
  return fmt::format(
      "nft insert rule {0} {1} {2} ip saddr {3} accept; nft insert rule {0} {1} "
      "{2} ip daddr {3} accept",
      c.family, c.table, c.name, cidr);
}

}  // namespace

std::string NftRule::describe() const {
  std::vector<std::string> parts;
  if (l4proto) {
    parts.push_back(fmt::format("l4proto {}", *l4proto == IPPROTO_UDP ? std::string("udp")
                                              : *l4proto == IPPROTO_TCP
                                                  ? std::string("tcp")
                                                  : std::to_string(*l4proto)));
  }
  if (dport) {
    parts.push_back(fmt::format("dport {}", *dport));
  }
  for (const auto& a : addrs) {
    parts.push_back("ip addr " + a.toString());
  }
  for (const auto& n : ifnames) {
    parts.push_back("ifname " + n);
  }
  if (unknownCondition) {
    parts.push_back("(other conditions)");
  }
  const char* v = verdict == Verdict::kDrop     ? "drop"
                  : verdict == Verdict::kAccept ? "accept"
                  : verdict == Verdict::kOther  ? "jump/goto/return"
                                                : "no verdict";
  return fmt::format("table {} {} chain {} rule handle {}: {}{}{}", family, table, chain, handle,
                     fmt::join(parts, " "), parts.empty() ? "" : " ", v);
}

Result<NftRuleset> readRuleset(nft::NftSocket& sock) {
  NftRuleset rs;
  Status s = dump(sock, NFT_MSG_GETCHAIN, "list nftables chains", [&](const nlmsghdr* m) {
    nft::ChainHandle c(nftnl_chain_alloc());
    if (!c || nftnl_chain_nlmsg_parse(m, c.get()) < 0) {
      return okStatus();
    }
    const char* fam = familyName(nftnl_chain_get_u32(c.get(), NFTNL_CHAIN_FAMILY));
    if (fam == nullptr) {
      return okStatus();
    }
    NftChain ch;
    ch.family = fam;
    ch.table = getStr(c.get(), NFTNL_CHAIN_TABLE);
    ch.name = getStr(c.get(), NFTNL_CHAIN_NAME);
    if (nftnl_chain_is_set(c.get(), NFTNL_CHAIN_HOOKNUM)) {
      ch.hook = nftnl_chain_get_u32(c.get(), NFTNL_CHAIN_HOOKNUM);
      ch.type = getStr(c.get(), NFTNL_CHAIN_TYPE);
      ch.priority = nftnl_chain_get_s32(c.get(), NFTNL_CHAIN_PRIO);
      if (nftnl_chain_is_set(c.get(), NFTNL_CHAIN_POLICY)) {
        ch.policy = nftnl_chain_get_u32(c.get(), NFTNL_CHAIN_POLICY);
      }
    }
    rs.chains.push_back(std::move(ch));
    return okStatus();
  });
  if (!s) {
    return s.error();
  }
  s = dump(sock, NFT_MSG_GETRULE, "list nftables rules", [&](const nlmsghdr* m) {
    nft::RuleHandle r(nftnl_rule_alloc());
    if (!r || nftnl_rule_nlmsg_parse(m, r.get()) < 0) {
      return okStatus();
    }
    const char* fam = familyName(nftnl_rule_get_u32(r.get(), NFTNL_RULE_FAMILY));
    if (fam == nullptr) {
      return okStatus();
    }
    NftRule rule;
    rule.family = fam;
    rule.table = nftnl_rule_get_str(r.get(), NFTNL_RULE_TABLE);
    rule.chain = nftnl_rule_get_str(r.get(), NFTNL_RULE_CHAIN);
    rule.handle = nftnl_rule_get_u64(r.get(), NFTNL_RULE_HANDLE);
    interpret(r.get(), rule);
    for (auto& ch : rs.chains) {
      if (ch.family == rule.family && ch.table == rule.table && ch.name == rule.chain) {
        ch.rules.push_back(std::move(rule));  // the dump lists rules in chain order
        break;
      }
    }
    return okStatus();
  });
  if (!s) {
    return s.error();
  }
  return rs;
}

std::vector<Finding> vxlanPortDrops(const NftRuleset& rs, uint16_t port,
                                    const std::string& ownTable) {
  std::vector<Finding> out;
  for (const auto& c : rs.chains) {
    if (!c.hook || (*c.hook != NF_INET_LOCAL_IN && *c.hook != NF_INET_PRE_ROUTING) ||
        (!c.legacy && c.family == "ip" && c.table == ownTable)) {
      continue;
    }
    bool accepted = false;
    for (const auto& r : c.rules) {
      const Match m = matchVxlan(r, port);
      if (m == Match::kNo) {
        continue;
      }
      if (r.verdict == Verdict::kAccept && (m == Match::kYes || r.dport == port)) {
        accepted = true;
        break;
      }
      if (r.verdict == Verdict::kDrop && (m == Match::kYes || r.dport == port)) {
        Finding f;
        f.check = "vxlan_port";
        f.severity = m == Match::kYes ? Severity::kError : Severity::kWarning;
        f.subject = chainName(c);
        f.title = fmt::format("a rule {} VXLAN packets (udp dport {})",
                              m == Match::kYes ? "drops" : "may drop", port);
        f.explanation = fmt::format(
            "Every overlay packet from a peer arrives as UDP to port {} on the {} hook; this rule "
            "drops it before the VXLAN device sees it, so no pod traffic arrives from peers.",
            port, hookName(*c.hook));
        f.evidence.push_back({"rule", r.describe()});
        f.fixCommand = acceptPortCommand(c, port);
        out.push_back(std::move(f));
        accepted = true;  // reported once per chain
        break;
      }
    }
    if (!accepted && c.policy == NF_DROP) {
      Finding f;
      f.check = "vxlan_port";
      f.severity = Severity::kError;
      f.subject = chainName(c);
      f.title = fmt::format("policy drop and no rule accepts VXLAN (udp dport {})", port);
      f.explanation = fmt::format(
          "The chain's policy drops what no rule accepts, and no rule accepts UDP to port {}: "
          "overlay packets from peers are dropped on the {} hook.",
          port, hookName(*c.hook));
      f.fixCommand = acceptPortCommand(c, port);
      out.push_back(std::move(f));
    }
  }
  return out;
}

std::vector<Finding> forwardDrops(const NftRuleset& rs, const Ipv4Prefix& podCidr,
                                  const std::vector<std::string>& ifaces,
                                  const std::string& ownTable) {
  std::vector<Finding> out;
  for (const auto& c : rs.chains) {
    if (!c.hook || *c.hook != NF_INET_FORWARD ||
        (!c.legacy && c.family == "ip" && c.table == ownTable)) {
      continue;
    }
    bool decided = false;
    for (const auto& r : c.rules) {
      const Match m = matchPod(r, podCidr, ifaces);
      if (m != Match::kYes) {
        continue;
      }
      if (r.verdict == Verdict::kAccept) {
        decided = true;
        break;
      }
      if (r.verdict == Verdict::kDrop) {
        Finding f;
        f.check = "forward_drop";
        f.severity = Severity::kError;
        f.subject = chainName(c);
        f.title = "a FORWARD rule drops pod traffic";
        f.explanation = fmt::format(
            "Pod traffic to and from {} is forwarded between the pod bridge and the VTEP; this "
            "rule drops it.",
            podCidr.toString());
        f.evidence.push_back({"rule", r.describe()});
        f.fixCommand = acceptPodsCommand(c, podCidr);
        out.push_back(std::move(f));
        decided = true;
        break;
      }
    }
    if (!decided && c.policy == NF_DROP) {
      Finding f;
      f.check = "forward_drop";
      f.severity = Severity::kError;
      f.subject = chainName(c);
      f.title = "FORWARD policy drop and no rule accepts pod traffic";
      f.explanation = fmt::format(
          "The forward hook's policy drops what no rule accepts, and no rule accepts traffic of "
          "the pod network {} (by address or by the interfaces {}): pods cannot reach other "
          "nodes or services.",
          podCidr.toString(), fmt::join(ifaces, ", "));
      f.fixCommand = acceptPodsCommand(c, podCidr);
      out.push_back(std::move(f));
    }
  }
  return out;
}

}  // namespace ovl::diag
