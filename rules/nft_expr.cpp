#include "rules/nft_expr.h"

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tuple_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/rtnetlink.h>

namespace ovl::nft::expr {
namespace {

void add(nftnl_rule* r, nftnl_expr* e) {
  nftnl_rule_add_expr(r, e);  // the rule owns it from here
}

}  // namespace

void payload(nftnl_rule* r, uint32_t base, uint32_t offset, uint32_t len, uint32_t dreg) {
  nftnl_expr* e = nftnl_expr_alloc("payload");
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
  add(r, e);
}
void ipSaddr(nftnl_rule* r, uint32_t dreg) {
  payload(r, NFT_PAYLOAD_NETWORK_HEADER, 12, 4, dreg);
}
void ipDaddr(nftnl_rule* r, uint32_t dreg) {
  payload(r, NFT_PAYLOAD_NETWORK_HEADER, 16, 4, dreg);
}
void thDport(nftnl_rule* r, uint32_t dreg) {
  payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, dreg);
}
void meta(nftnl_rule* r, uint32_t key, uint32_t dreg) {
  nftnl_expr* e = nftnl_expr_alloc("meta");
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
  add(r, e);
}
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
void ctMarkOr(nftnl_rule* r, uint32_t bits) {
  ctLoad(r, NFT_CT_MARK, R(0));
  const uint32_t mask = ~bits;
  bitwise(r, R(0), &mask, &bits, 4);
  ctSet(r, NFT_CT_MARK, R(0));
}
void ctStatusDnat(nftnl_rule* r) {
  ctLoad(r, NFT_CT_STATUS, R(0));
  const uint32_t bit = IPS_DST_NAT;
  const uint32_t zero = 0;
  bitwise(r, R(0), &bit, &zero, 4);
  cmp(r, R(0), NFT_CMP_NEQ, &zero, 4);
}
void ctMarkHas(nftnl_rule* r, uint32_t bits) {
  ctLoad(r, NFT_CT_MARK, R(0));
  const uint32_t zero = 0;
  bitwise(r, R(0), &bits, &zero, 4);
  cmp(r, R(0), NFT_CMP_EQ, &bits, 4);
}
void ctMarkIs(nftnl_rule* r, uint32_t mask, uint32_t value) {
  ctLoad(r, NFT_CT_MARK, R(0));
  const uint32_t zero = 0;
  bitwise(r, R(0), &mask, &zero, 4);
  cmp(r, R(0), NFT_CMP_EQ, &value, 4);
}
void ctOriginal(nftnl_rule* r, uint32_t key, uint32_t dreg) {
  nftnl_expr* e = nftnl_expr_alloc("ct");
  nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
  nftnl_expr_set_u8(e, NFTNL_EXPR_CT_DIR, IP_CT_DIR_ORIGINAL);
  nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, dreg);
  add(r, e);
}
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
void lookupNot(nftnl_rule* r, const char* set, uint32_t sreg) {
  nftnl_expr* e = nftnl_expr_alloc("lookup");
  nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
  nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
  nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
  add(r, e);
}
void counter(nftnl_rule* r) {
  add(r, nftnl_expr_alloc("counter"));
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

}  // namespace ovl::nft::expr
