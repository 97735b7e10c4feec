#include "rules/nft_layout.h"

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tuple_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include <fmt/format.h>

namespace ovl::nft {
namespace {

using nat::NatPlan;
using nat::Target;

// nftables' datatype numbers (nftables src/datatype.h); concatenations shift by TYPE_BITS.
constexpr uint32_t kTypeBits = 6;
constexpr uint32_t kTypeIpAddr = 7;
constexpr uint32_t kTypeInetProto = 12;
constexpr uint32_t kTypeInetService = 13;
constexpr uint32_t kTypeMark = 19;

uint32_t componentType(Component c) {
  switch (c) {
    case Component::kAddr:
      return kTypeIpAddr;
    case Component::kProto:
      return kTypeInetProto;
    case Component::kPort:
      return kTypeInetService;
    case Component::kSlot:
      return kTypeMark;
  }
  return 0;
}

uint32_t concatType(const std::vector<Component>& comps) {
  uint32_t t = 0;
  for (Component c : comps) {
    t = (t << kTypeBits) | componentType(c);
  }
  return t;
}

using C = Component;
const std::array<SetLayout, kSetCount> kLayouts = {{
    {SetId::kServices, "services", {C::kAddr, C::kProto, C::kPort}, {}, true, NFT_SET_MAP, 0},
    {SetId::kNodePorts, "nodeports", {C::kProto, C::kPort}, {}, true, NFT_SET_MAP, 0},
    {SetId::kRejectServices,
     "reject_services",
     {C::kAddr, C::kProto, C::kPort},
     {},
     true,
     NFT_SET_MAP,
     0},
    {SetId::kRejectNodePorts, "reject_nodeports", {C::kProto, C::kPort}, {}, true, NFT_SET_MAP, 0},
    {SetId::kEndpoints,
     "endpoints",
     {C::kAddr, C::kProto, C::kPort, C::kSlot},
     {C::kAddr, C::kPort},
     false,
     NFT_SET_MAP,
     0},
    {SetId::kHairpin, "hairpin", {C::kAddr, C::kAddr}, {}, false, 0, 0},
    {SetId::kAffinityServices,
     "affinity_services",
     {C::kAddr, C::kProto, C::kPort},
     {},
     true,
     NFT_SET_MAP,
     0},
    {SetId::kAffinityNodePorts,
     "affinity_nodeports",
     {C::kProto, C::kPort},
     {},
     true,
     NFT_SET_MAP,
     0},
    // Filled by the kernel (dynset update); bounded: a full map only stops recording new clients.
    {SetId::kAffinity,
     "affinity",
     {C::kAddr, C::kAddr, C::kProto, C::kPort},
     {C::kAddr, C::kPort},
     false,
     NFT_SET_MAP | NFT_SET_TIMEOUT | NFT_SET_EVAL,
     65536},
}};

// ---- expressions -------------------------------------------------------------------------

constexpr uint32_t R(int n) {
  return NFT_REG32_00 + n;
}

void add(nftnl_rule* r, nftnl_expr* e) {
  nftnl_rule_add_expr(r, e);  // the rule owns it from here
}

void payload(nftnl_rule* r, uint32_t base, uint32_t offset, uint32_t len, uint32_t dreg) {
  nftnl_expr* e = nftnl_expr_alloc("payload");
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
  add(r, e);
}
// ip saddr / ip daddr: network header offset 12 / 16, 4 bytes.
void ipSaddr(nftnl_rule* r, uint32_t dreg) {
  payload(r, NFT_PAYLOAD_NETWORK_HEADER, 12, 4, dreg);
}
void ipDaddr(nftnl_rule* r, uint32_t dreg) {
  payload(r, NFT_PAYLOAD_NETWORK_HEADER, 16, 4, dreg);
}
// th dport: transport header offset 2, 2 bytes (the kernel zeroes the register's other 2 bytes;
// non-first fragments have no transport header and end the rule).
void thDport(nftnl_rule* r, uint32_t dreg) {
  payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, dreg);
}
void meta(nftnl_rule* r, uint32_t key, uint32_t dreg) {
  nftnl_expr* e = nftnl_expr_alloc("meta");
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
  add(r, e);
}
// meta l4proto: 1 byte; the kernel's nft_reg_store8 zeroes the rest of the register.
void l4proto(nftnl_rule* r, uint32_t dreg) {
  meta(r, NFT_META_L4PROTO, dreg);
}
void immData(nftnl_rule* r, uint32_t dreg, const void* data, uint32_t len) {
  nftnl_expr* e = nftnl_expr_alloc("immediate");
  nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, dreg);
  nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len);
  add(r, e);
}
void immVerdict(nftnl_rule* r, int32_t verdict, const std::string& chain) {
  nftnl_expr* e = nftnl_expr_alloc("immediate");
  nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
  nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, static_cast<uint32_t>(verdict));
  if (!chain.empty()) {
    nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain.c_str());
  }
  add(r, e);
}
void cmp(nftnl_rule* r, uint32_t sreg, uint32_t op, const void* data, uint32_t len) {
  nftnl_expr* e = nftnl_expr_alloc("cmp");
  nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, sreg);
  nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
  nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
  add(r, e);
}
void bitwise(nftnl_rule* r, uint32_t reg, const void* mask, const void* xorv, uint32_t len) {
  nftnl_expr* e = nftnl_expr_alloc("bitwise");
  nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, reg);
  nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, reg);
  nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
  nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
  nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, xorv, len);
  add(r, e);
}
void ctLoad(nftnl_rule* r, uint32_t key, uint32_t dreg) {
  nftnl_expr* e = nftnl_expr_alloc("ct");
  nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
  nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, dreg);
  add(r, e);
}
void ctSet(nftnl_rule* r, uint32_t key, uint32_t sreg) {
  nftnl_expr* e = nftnl_expr_alloc("ct");
  nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
  nftnl_expr_set_u32(e, NFTNL_EXPR_CT_SREG, sreg);
  add(r, e);
}
// ct mark set ct mark | bits  ==  (mark & ~bits) ^ bits
void ctMarkOr(nftnl_rule* r, uint32_t bits) {
  ctLoad(r, NFT_CT_MARK, R(0));
  const uint32_t mask = ~bits;
  bitwise(r, R(0), &mask, &bits, 4);
  ctSet(r, NFT_CT_MARK, R(0));
}
// ct status & dnat != 0: a connection some DNAT rule translated. The mark tests below come
// after it, so that ct mark bits someone else sets on connections ovl never DNATed are not
// taken for ovl's (ct status is host-order u32, as nft writes `ct status dnat`).
void ctStatusDnat(nftnl_rule* r) {
  ctLoad(r, NFT_CT_STATUS, R(0));
  const uint32_t bit = IPS_DST_NAT;
  const uint32_t zero = 0;
  bitwise(r, R(0), &bit, &zero, 4);
  cmp(r, R(0), NFT_CMP_NEQ, &zero, 4);
}
// ct mark & bits == bits
void ctMarkHas(nftnl_rule* r, uint32_t bits) {
  ctLoad(r, NFT_CT_MARK, R(0));
  const uint32_t zero = 0;
  bitwise(r, R(0), &bits, &zero, 4);
  cmp(r, R(0), NFT_CMP_EQ, &bits, 4);
}
// ct mark & mask == value
void ctMarkIs(nftnl_rule* r, uint32_t mask, uint32_t value) {
  ctLoad(r, NFT_CT_MARK, R(0));
  const uint32_t zero = 0;
  bitwise(r, R(0), &mask, &zero, 4);
  cmp(r, R(0), NFT_CMP_EQ, &value, 4);
}
// ct original <key> (ip daddr: NFT_CT_DST_IP; proto-dst: NFT_CT_PROTO_DST, 2 bytes).
void ctOriginal(nftnl_rule* r, uint32_t key, uint32_t dreg) {
  nftnl_expr* e = nftnl_expr_alloc("ct");
  nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
  nftnl_expr_set_u8(e, NFTNL_EXPR_CT_DIR, IP_CT_DIR_ORIGINAL);
  nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, dreg);
  add(r, e);
}
// meta l4proto == proto (reg32_00 as scratch).
void l4protoIs(nftnl_rule* r, uint8_t proto) {
  l4proto(r, R(0));
  cmp(r, R(0), NFT_CMP_EQ, &proto, 1);
}
void dynsetUpdate(nftnl_rule* r, const char* set, uint32_t keyReg, uint32_t dataReg,
                  uint64_t timeoutMs) {
  nftnl_expr* e = nftnl_expr_alloc("dynset");
  nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, set);
  nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
  nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, keyReg);
  nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_DATA, dataReg);
  nftnl_expr_set_u64(e, NFTNL_EXPR_DYNSET_TIMEOUT, timeoutMs);
  add(r, e);
}
void lookup(nftnl_rule* r, const char* set, uint32_t sreg, std::optional<uint32_t> dreg) {
  nftnl_expr* e = nftnl_expr_alloc("lookup");
  nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
  nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
  if (dreg) {
    nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, *dreg);
  }
  add(r, e);
}
void numgenRandom(nftnl_rule* r, uint32_t modulus, uint32_t dreg) {
  nftnl_expr* e = nftnl_expr_alloc("numgen");
  nftnl_expr_set_u32(e, NFTNL_EXPR_NG_DREG, dreg);
  nftnl_expr_set_u32(e, NFTNL_EXPR_NG_MODULUS, modulus);
  nftnl_expr_set_u32(e, NFTNL_EXPR_NG_TYPE, NFT_NG_RANDOM);
  nftnl_expr_set_u32(e, NFTNL_EXPR_NG_OFFSET, 0);
  add(r, e);
}
void dnat(nftnl_rule* r, uint32_t addrReg, uint32_t portReg) {
  nftnl_expr* e = nftnl_expr_alloc("nat");
  nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
  nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, NFPROTO_IPV4);
  nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, addrReg);
  nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, portReg);
  add(r, e);
}
void masquerade(nftnl_rule* r) {
  add(r, nftnl_expr_alloc("masq"));
}
void reject(nftnl_rule* r, uint32_t type, uint8_t code) {
  nftnl_expr* e = nftnl_expr_alloc("reject");
  nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, type);
  nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, code);
  add(r, e);
}
// fib daddr type local, and ip daddr != 127.0.0.0/8: NodePorts answer on the node's own
// addresses but not on loopback.
void localNotLoopback(nftnl_rule* r) {
  nftnl_expr* e = nftnl_expr_alloc("fib");
  nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_DADDR);
  nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
  nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, R(0));
  add(r, e);
  const uint32_t local = RTN_LOCAL;
  cmp(r, R(0), NFT_CMP_EQ, &local, 4);
  ipDaddr(r, R(0));
  const uint32_t mask = htonl(0xff000000u);
  const uint32_t zero = 0;
  bitwise(r, R(0), &mask, &zero, 4);
  const uint32_t loopback = htonl(0x7f000000u);
  cmp(r, R(0), NFT_CMP_NEQ, &loopback, 4);
}
// The service key: ip daddr . l4proto . th dport in reg32_00..02 (nodePort: 0.0.0.0 for daddr).
void serviceKey(nftnl_rule* r, bool nodePort, int first) {
  if (nodePort) {
    const uint32_t zero = 0;
    immData(r, R(first), &zero, 4);
  } else {
    ipDaddr(r, R(first));
  }
  l4proto(r, R(first + 1));
  thDport(r, R(first + 2));
}

}  // namespace

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

namespace {

RuleSpec rule(std::string comment, std::function<void(nftnl_rule*)> build) {
  return hashedRule(std::move(comment), std::move(build));
}

const char* protoName(uint32_t p) {
  switch (p) {
    case IPPROTO_TCP:
      return "tcp";
    case IPPROTO_UDP:
      return "udp";
    case IPPROTO_SCTP:
      return "sctp";
    default:
      return nullptr;
  }
}

// ---- chain names ---------------------------------------------------------------------------

std::string lbChain(bool nodePort, uint32_t slots) {
  return fmt::format("{}_{}", nodePort ? "nplb" : "lb", slots);
}

ChainSpec lbChainSpec(bool nodePort, uint32_t slots) {
  const std::string name = lbChain(nodePort, slots);
  ChainSpec c{name, std::nullopt, {}};
  c.rules.push_back(rule("ovl: " + name + " dnat", [nodePort, slots](nftnl_rule* r) {
    ctMarkOr(r, kMarkService);
    serviceKey(r, nodePort, 0);
    numgenRandom(r, slots, R(3));
    lookup(r, "endpoints", R(0), R(4));
    dnat(r, R(4), R(5));
  }));
  return c;
}

std::string lbAffChain(bool nodePort, uint32_t slots) {
  return fmt::format("{}_{}", nodePort ? "nplbaff" : "lbaff", slots);
}
std::string affRecChain(bool nodePort, uint32_t timeout) {
  return fmt::format("{}_{}", nodePort ? "npaffrec" : "affrec", timeout);
}

constexpr std::array<uint8_t, 3> kProtocols = {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP};

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
    serviceKey(r, nodePort, 0);
    numgenRandom(r, slots, R(3));
    lookup(r, "endpoints", R(0), R(4));
    dnat(r, R(4), R(5));
  }));
  return c;
}

// Records the endpoint conntrack chose for a new affinity connection, for `timeout` seconds.
// One rule per protocol: nft prints `ct original proto-dst` in a concatenation only when a
// protocol match gives it a type.
ChainSpec affRecChainSpec(bool nodePort, uint32_t timeout) {
  const std::string name = affRecChain(nodePort, timeout);
  ChainSpec c{name, std::nullopt, {}};
  for (uint8_t proto : kProtocols) {
    c.rules.push_back(rule(fmt::format("ovl: {} {}", name, protoName(proto)),
                           [nodePort, timeout, proto](nftnl_rule* r) {
                             l4protoIs(r, proto);
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
    for (uint8_t proto : kProtocols) {
      c.rules.push_back(rule(
          fmt::format("ovl: affinity record {}{}", nodePort ? "nodeport " : "", protoName(proto)),
          [nodePort, proto](nftnl_rule* r) {
            l4protoIs(r, proto);
            ctMarkHas(r, nodePort ? kMarkNodePortAffinity : kMarkAffinity);
            int next = 0;
            if (!nodePort) {
              ctOriginal(r, NFT_CT_DST_IP, R(next++));
            }
            l4proto(r, R(next++));
            ctOriginal(r, NFT_CT_PROTO_DST, R(next++));
            lookup(r, nodePort ? "affinity_nodeports" : "affinity_services", R(0), NFT_REG_VERDICT);
          }));
    }
  }
  return c;
}

// ct mark & (kMarkAffinity | kMarkNodePortAffinity) != 0 jump affinity_record
RuleSpec affinityJumpRule() {
  return rule("ovl: affinity", [](nftnl_rule* r) {
    ctStatusDnat(r);
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

// One vmap rule: <key> vmap @set.
RuleSpec vmapRule(const std::string& comment, bool nodePort, const char* set) {
  return rule(comment, [nodePort, set](nftnl_rule* r) {
    if (nodePort) {
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

ElemKey vipKey(const nat::VipEntry& v) {
  return ElemKey{{v.ip.value, static_cast<uint32_t>(v.protocol), v.port, 0}};
}
ElemKey nodePortKey(const nat::NodePortEntry& n) {
  return ElemKey{{static_cast<uint32_t>(n.protocol), n.port, 0, 0}};
}

}  // namespace

uint32_t SetLayout::keyType() const {
  return concatType(key);
}
uint32_t SetLayout::dataType() const {
  return verdict ? NFT_DATA_VERDICT : concatType(data);
}

const SetLayout& setLayout(SetId id) {
  return kLayouts[static_cast<size_t>(id)];
}
const std::array<SetLayout, kSetCount>& setLayouts() {
  return kLayouts;
}

size_t encode(const std::vector<Component>& comps, const std::array<uint32_t, 4>& w, uint8_t* out) {
  for (size_t i = 0; i < comps.size(); ++i) {
    uint8_t* reg = out + 4 * i;
    std::memset(reg, 0, 4);
    switch (comps[i]) {
      case Component::kAddr: {
        const uint32_t be = htonl(w[i]);
        std::memcpy(reg, &be, 4);
        break;
      }
      case Component::kProto:
        reg[0] = static_cast<uint8_t>(w[i]);
        break;
      case Component::kPort: {
        const uint16_t be = htons(static_cast<uint16_t>(w[i]));
        std::memcpy(reg, &be, 2);
        break;
      }
      case Component::kSlot:
        std::memcpy(reg, &w[i], 4);
        break;
    }
  }
  return comps.size() * 4;
}

bool decode(const std::vector<Component>& comps, const void* data, size_t len,
            std::array<uint32_t, 4>& w) {
  if (len != comps.size() * 4) {
    return false;
  }
  const auto* in = static_cast<const uint8_t*>(data);
  w = {};
  for (size_t i = 0; i < comps.size(); ++i) {
    const uint8_t* reg = in + 4 * i;
    switch (comps[i]) {
      case Component::kAddr: {
        uint32_t be;
        std::memcpy(&be, reg, 4);
        w[i] = ntohl(be);
        break;
      }
      case Component::kProto:
        w[i] = reg[0];
        break;
      case Component::kPort: {
        uint16_t be;
        std::memcpy(&be, reg, 2);
        w[i] = ntohs(be);
        break;
      }
      case Component::kSlot:
        std::memcpy(&w[i], reg, 4);
        break;
    }
  }
  return true;
}

std::string keyToString(const SetLayout& layout, const ElemKey& key) {
  std::string out;
  for (size_t i = 0; i < layout.key.size(); ++i) {
    if (i > 0) {
      out += " . ";
    }
    const uint32_t v = key.w[i];
    switch (layout.key[i]) {
      case Component::kAddr:
        out += Ipv4{v}.toString();
        break;
      case Component::kProto:
        out += protoName(v) != nullptr ? protoName(v) : std::to_string(v);
        break;
      case Component::kPort:
      case Component::kSlot:
        out += std::to_string(v);
        break;
    }
  }
  return out;
}

UdataHandle commentUdata(std::string_view comment, uint8_t type) {
  // nft keeps comments below 128 bytes (NFT_USERDATA_MAXLEN is 256 for all of the userdata).
  constexpr size_t kMax = 127;
  std::string text(comment.substr(0, kMax));
  UdataHandle buf(nftnl_udata_buf_alloc(256));
  nftnl_udata_put_strz(buf.get(), type, text.c_str());
  return buf;
}

std::string parseComment(const void* data, uint32_t len, uint8_t type) {
  struct Ctx {
    uint8_t type;
    std::string out;
  } ctx{type, {}};
  nftnl_udata_parse(
      data, len,
      [](const nftnl_udata* attr, void* p) -> int {
        auto* c = static_cast<Ctx*>(p);
        if (nftnl_udata_type(attr) == c->type && nftnl_udata_len(attr) > 0) {
          const char* s = static_cast<const char*>(nftnl_udata_get(attr));
          c->out.assign(s, strnlen(s, nftnl_udata_len(attr)));
        }
        return 0;
      },
      &ctx);
  return ctx.out;
}

namespace {
std::atomic<uint64_t> nextIndexId{1};
}  // namespace

DesiredIndex::DesiredIndex(svc::MasqueradeMode masquerade, Ipv4Prefix podCidr)
    : id_(nextIndexId.fetch_add(1)), masquerade_(masquerade), podCidr_(podCidr) {
  intern("svc_reject");
}

DesiredIndex DesiredIndex::of(const NatPlan& plan) {
  DesiredIndex index(plan.masquerade, plan.podCidr);
  index.add(plan);
  return index;
}

void DesiredIndex::add(const NatPlan& fragment) {
  apply(fragment, +1);
}

void DesiredIndex::remove(const NatPlan& fragment) {
  apply(fragment, -1);
}

size_t DesiredIndex::elementCount() const {
  size_t n = 0;
  for (const auto& m : elems_) {
    n += m.size();
  }
  return n;
}

void DesiredIndex::clearDirty() {
  for (auto& d : dirty_) {
    d.clear();
  }
  allDirty_ = false;
}

std::string_view DesiredIndex::intern(std::string name) {
  auto it = names_.find(name);
  if (it == names_.end()) {
    it = names_.insert(std::move(name)).first;
  }
  return *it;
}

void DesiredIndex::put(size_t set, const ElemKey& key, const ElemData& data,
                       std::string_view comment, int delta) {
  ElemMap& m = elems_[set];
  if (!allDirty_) {
    dirty_[set].push_back(key);
  }
  if (delta > 0) {
    Elem& e = m[key];
    ++e.refs;
    e.verdict = data.verdict;
    e.chain = data.chain;
    e.value = data.value;
    if (e.comment != comment) {
      e.comment.assign(comment);
    }
    return;
  }
  auto it = m.find(key);
  if (it != m.end() && --it->second.refs == 0) {
    m.erase(it);
  }
}

void DesiredIndex::apply(const NatPlan& fragment, int delta) {
  // Reference counts of what the chains are built from; a key that comes or goes changes them.
  auto count = [this, delta](auto& counts, const auto& key) {
    if (delta > 0) {
      if (++counts[key] == 1) {
        chainsCache_.reset();
      }
    } else if (auto it = counts.find(key); it != counts.end() && --it->second == 0) {
      counts.erase(it);
      chainsCache_.reset();
    }
  };
  // The element's verdict; false for a reject (the element goes to the reject_* map instead).
  auto targetData = [&](bool nodePort, const Target& target, ElemData& d) -> bool {
    if (target.kind == Target::Kind::kDrop) {
      d.verdict = NF_DROP;
      return true;
    }
    d.verdict = NFT_GOTO;
    if (target.kind == Target::Kind::kReject || target.slots == 0) {
      d.chain = *names_.find("svc_reject");  // a balance target without slots has no endpoint
      return false;
    }
    const bool affinity = target.affinityTimeout > 0;
    count(targets_,
          ChainKey{nodePort, target.slots, target.masquerade, affinity, target.keepSource});
    std::string name =
        affinity ? lbAffChain(nodePort, target.slots) : lbChain(nodePort, target.slots);
    if (target.masquerade) {
      name += "_masq";
    } else if (target.keepSource) {
      name += "_keep";
    }
    d.chain = intern(std::move(name));
    return true;
  };
  // The affinity_* element of a balanced service with affinity: -> goto (np)affrec_<T>.
  auto affinityData = [&](bool nodePort, const Target& target) -> std::optional<ElemData> {
    if (target.kind != Target::Kind::kBalance || target.slots == 0 || target.affinityTimeout == 0) {
      return std::nullopt;
    }
    count(affTimeouts_, target.affinityTimeout);
    ElemData d;
    d.verdict = NFT_GOTO;
    d.chain = intern(affRecChain(nodePort, target.affinityTimeout));
    return d;
  };
  auto set = [](SetId id) { return static_cast<size_t>(id); };

  // A services / nodeports element: balanced or dropped in the main map, rejected in the
  // reject_* map, and with affinity also in the affinity_* map.
  auto entry = [&](bool nodePort, const ElemKey& key, const Target& target,
                   const std::string& comment) {
    ElemData d;
    const bool balanced = targetData(nodePort, target, d);
    const SetId main = nodePort ? SetId::kNodePorts : SetId::kServices;
    const SetId rejected = nodePort ? SetId::kRejectNodePorts : SetId::kRejectServices;
    put(set(balanced ? main : rejected), key, d, comment, delta);
    if (auto a = affinityData(nodePort, target)) {
      put(set(nodePort ? SetId::kAffinityNodePorts : SetId::kAffinityServices), key, *a, comment,
          delta);
    }
  };
  for (const auto& v : fragment.vips) {
    entry(false, vipKey(v), v.target, v.comment);
  }
  for (const auto& n : fragment.nodePorts) {
    entry(true, nodePortKey(n), n.target, n.comment);
  }
  for (const auto& s : fragment.slots) {
    ElemData d;
    d.value = {s.endpoint.value, s.endpointPort};
    put(set(SetId::kEndpoints),
        ElemKey{{s.vip.value, static_cast<uint32_t>(s.protocol), s.port, s.slot}}, d, s.comment,
        delta);
  }
  for (const Ipv4& ip : fragment.hairpin) {
    put(set(SetId::kHairpin), ElemKey{{ip.value, ip.value, 0, 0}}, {}, {}, delta);
  }
  // Never let the list of touched keys outgrow the table: past that, compare everything.
  if (!allDirty_) {
    const size_t bound = 2 * elementCount() + 4096;
    for (const auto& d : dirty_) {
      if (d.size() > bound) {
        allDirty_ = true;
      }
    }
    if (allDirty_) {
      for (auto& d : dirty_) {
        d.clear();
        d.shrink_to_fit();
      }
    }
  }
}

const std::vector<ChainSpec>& DesiredIndex::chains() const {
  if (chainsCache_) {
    return *chainsCache_;
  }
  std::vector<ChainSpec>& out = chainsCache_.emplace();
  // Which lb chains the elements point at: plain, affinity and masquerade variants.
  std::set<uint32_t> slots;
  std::set<uint32_t> affSlots;  // lbaff_<N> / nplbaff_<N>
  std::set<std::string> masq;   // the targets of *_masq chains
  std::set<std::string> keep;   // the targets of *_keep chains
  for (const auto& [key, refs] : targets_) {
    const auto& [nodePort, n, masquerade, affinity, keepSource] = key;
    slots.insert(n);  // the affinity chains balance through lb_<N> too
    if (affinity) {
      affSlots.insert(n);
    }
    const std::string base = affinity ? lbAffChain(nodePort, n) : lbChain(nodePort, n);
    if (masquerade) {
      masq.insert(base);
    } else if (keepSource) {
      keep.insert(base);
    }
  }
  std::set<uint32_t> affTimeouts;
  for (const auto& [timeout, refs] : affTimeouts_) {
    affTimeouts.insert(timeout);
  }

  // Chains: jump targets first (lb chains, then their masq variants, then the reject chain),
  // base chains last.
  for (uint32_t n : slots) {
    if (n == 0) {
      continue;
    }
    out.push_back(lbChainSpec(false, n));
    out.push_back(lbChainSpec(true, n));
  }
  for (uint32_t n : affSlots) {
    out.push_back(lbAffChainSpec(false, n));
    out.push_back(lbAffChainSpec(true, n));
  }
  for (uint32_t timeout : affTimeouts) {
    out.push_back(affRecChainSpec(false, timeout));
    out.push_back(affRecChainSpec(true, timeout));
  }
  out.push_back(affinityRecordChainSpec());
  for (const auto& target : masq) {
    out.push_back(masqChainSpec(target));
  }
  for (const auto& target : keep) {
    out.push_back(keepChainSpec(target));
  }
  {
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
    out.push_back(std::move(c));
  }
  // Rejects are decided in filter chains (reject is only valid there), before dstnat, so the
  // nat path never sees a service without endpoints.
  for (const auto& [name, hook] : {std::pair{"filter_prerouting", NF_INET_PRE_ROUTING},
                                   std::pair{"filter_output", NF_INET_LOCAL_OUT}}) {
    ChainSpec c{name, BaseHook{static_cast<uint32_t>(hook), -110, "filter"}, {}};
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
  {
    // New affinity connections are recorded before any masquerade (masquerade ends the chain).
    ChainSpec c{"nat_postrouting", BaseHook{NF_INET_POST_ROUTING, 100, "nat"}, {}};
    c.rules.push_back(affinityJumpRule());
    c.rules.push_back(rule("ovl: masquerade marked", [](nftnl_rule* r) {
      ctStatusDnat(r);
      ctMarkHas(r, kMarkMasquerade);
      masquerade(r);
    }));
    c.rules.push_back(rule("ovl: hairpin", [](nftnl_rule* r) {
      ipSaddr(r, R(0));
      ipDaddr(r, R(1));
      lookup(r, "hairpin", R(0), std::nullopt);
      masquerade(r);
    }));
    switch (masquerade_) {
      case svc::MasqueradeMode::kOffCluster: {
        const Ipv4Prefix cidr = podCidr_;
        c.rules.push_back(
            rule("ovl: masquerade off-cluster " + cidr.toString() + " unless keep-source",
                 [cidr](nftnl_rule* r) {
                   ctStatusDnat(r);
                   ctMarkIs(r, kMarkService | kMarkKeepSource, kMarkService);
                   ipSaddr(r, R(0));
                   const uint32_t mask = htonl(cidr.mask());
                   const uint32_t zero = 0;
                   bitwise(r, R(0), &mask, &zero, 4);
                   const uint32_t net = htonl(cidr.network().value);
                   cmp(r, R(0), NFT_CMP_NEQ, &net, 4);
                   masquerade(r);
                 }));
        break;
      }
      case svc::MasqueradeMode::kAll:
        c.rules.push_back(rule("ovl: masquerade all unless keep-source", [](nftnl_rule* r) {
          ctStatusDnat(r);
          ctMarkIs(r, kMarkService | kMarkKeepSource, kMarkService);
          masquerade(r);
        }));
        break;
      case svc::MasqueradeMode::kNone:
        break;
    }
    out.push_back(std::move(c));
  }
  {
    // Connections to an endpoint on this node's own addresses never reach postrouting.
    ChainSpec c{"nat_input", BaseHook{NF_INET_LOCAL_IN, 100, "nat"}, {}};
    c.rules.push_back(affinityJumpRule());
    out.push_back(std::move(c));
  }
  return out;
}

// The UDP backends that deleting `del` from the endpoints map takes away: endpoints-map keys
// are vip . proto . port . slot, values endpoint . port; a backend still reached through
// another slot of the same service port stays.
std::vector<conntrack::StaleUdpFlow> removedUdpBackends(const std::vector<ElemKey>& del,
                                                        const std::map<ElemKey, KernelElem>& before,
                                                        const DesiredIndex::ElemMap& after) {
  std::set<conntrack::StaleUdpFlow> out;
  for (const ElemKey& k : del) {
    if (k.w[1] != static_cast<uint32_t>(svc::Protocol::kUdp)) {
      continue;
    }
    auto it = before.find(k);
    if (it == before.end()) {
      continue;
    }
    const conntrack::StaleUdpFlow flow{Ipv4{k.w[0]}, static_cast<uint16_t>(k.w[2]),
                                       Ipv4{it->second.value[0]},
                                       static_cast<uint16_t>(it->second.value[1])};
    bool kept = false;
    for (auto a = after.lower_bound(ElemKey{{k.w[0], k.w[1], k.w[2], 0}});
         !kept && a != after.end() && a->first.w[0] == k.w[0] && a->first.w[1] == k.w[1] &&
         a->first.w[2] == k.w[2];
         ++a) {
      kept = a->second.value == it->second.value;
    }
    if (!kept) {
      out.insert(flow);
    }
  }
  return {out.begin(), out.end()};
}

// Affinity keys are client . daddr . proto . dport (daddr 0.0.0.0 for NodePorts), their data
// endpoint . port; the endpoints map's keys daddr . proto . dport . slot, in the same units.
std::vector<ElemKey> staleAffinity(const std::map<ElemKey, KernelElem>& affinity,
                                   const DesiredIndex::ElemMap& endpoints) {
  std::vector<ElemKey> out;
  for (const auto& [key, elem] : affinity) {
    bool live = false;
    for (auto e = endpoints.lower_bound(ElemKey{{key.w[1], key.w[2], key.w[3], 0}});
         !live && e != endpoints.end() && e->first.w[0] == key.w[1] && e->first.w[1] == key.w[2] &&
         e->first.w[2] == key.w[3];
         ++e) {
      live = e->second.value == elem.value;
    }
    if (!live) {
      out.push_back(key);
    }
  }
  return out;
}

}  // namespace ovl::nft
