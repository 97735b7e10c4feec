// Private to rules/: the nf_tables expressions ovl's rules are made of, one builder per
// expression kind (payload, meta, ct, cmp, bitwise, lookup, dynset, numgen, nat, reject, fib),
// and the few compound matches the chains share. Each appends to a rule, which owns what it gets.
#pragma once

#include <linux/netfilter/nf_tables.h>

#include <cstdint>
#include <optional>
#include <string>

#include "rules/nft_handles.h"

namespace ovl::nft::expr {

// 32-bit register n (NFT_REG32_00 + n).
constexpr uint32_t R(int n) {
  return NFT_REG32_00 + n;
}

void payload(nftnl_rule* r, uint32_t base, uint32_t offset, uint32_t len, uint32_t dreg);
// ip saddr / ip daddr: network header offset 12 / 16, 4 bytes.
void ipSaddr(nftnl_rule* r, uint32_t dreg);
void ipDaddr(nftnl_rule* r, uint32_t dreg);
// th dport: transport header offset 2, 2 bytes (the kernel zeroes the register's other 2 bytes;
// non-first fragments have no transport header and end the rule).
void thDport(nftnl_rule* r, uint32_t dreg);
void meta(nftnl_rule* r, uint32_t key, uint32_t dreg);
// meta l4proto: 1 byte; the kernel's nft_reg_store8 zeroes the rest of the register.
void l4proto(nftnl_rule* r, uint32_t dreg);
void immData(nftnl_rule* r, uint32_t dreg, const void* data, uint32_t len);
void immVerdict(nftnl_rule* r, int32_t verdict, const std::string& chain);
void cmp(nftnl_rule* r, uint32_t sreg, uint32_t op, const void* data, uint32_t len);
void bitwise(nftnl_rule* r, uint32_t reg, const void* mask, const void* xorv, uint32_t len);
void ctLoad(nftnl_rule* r, uint32_t key, uint32_t dreg);
void ctSet(nftnl_rule* r, uint32_t key, uint32_t sreg);
// ct mark set ct mark | bits  ==  (mark & ~bits) ^ bits
void ctMarkOr(nftnl_rule* r, uint32_t bits);
// ct status & dnat != 0: a connection some DNAT rule translated. The mark tests below come
// after it, so that ct mark bits someone else sets on connections ovl never DNATed are not
// taken for ovl's (ct status is host-order u32, as nft writes `ct status dnat`).
void ctStatusDnat(nftnl_rule* r);
// ct mark & bits == bits
void ctMarkHas(nftnl_rule* r, uint32_t bits);
// ct mark & mask == value
void ctMarkIs(nftnl_rule* r, uint32_t mask, uint32_t value);
// ct original <key> (ip daddr: NFT_CT_DST_IP; proto-dst: NFT_CT_PROTO_DST, 2 bytes).
void ctOriginal(nftnl_rule* r, uint32_t key, uint32_t dreg);
// meta l4proto == proto (reg32_00 as scratch).
void l4protoIs(nftnl_rule* r, uint8_t proto);
void dynsetUpdate(nftnl_rule* r, const char* set, uint32_t keyReg, uint32_t dataReg,
                  uint64_t timeoutMs);
void lookup(nftnl_rule* r, const char* set, uint32_t sreg, std::optional<uint32_t> dreg);
// The register is not in the set (`!= @set`).
void lookupNot(nftnl_rule* r, const char* set, uint32_t sreg);
// An anonymous counter on the rule (packets and bytes that reached it).
void counter(nftnl_rule* r);
void numgenRandom(nftnl_rule* r, uint32_t modulus, uint32_t dreg);
void dnat(nftnl_rule* r, uint32_t addrReg, uint32_t portReg);
void masquerade(nftnl_rule* r);
void reject(nftnl_rule* r, uint32_t type, uint8_t code);
// fib daddr type local, and ip daddr != 127.0.0.0/8: NodePorts answer on the node's own
// addresses but not on loopback.
void localNotLoopback(nftnl_rule* r);
// The service key: ip daddr . l4proto . th dport in reg32_00..02 (nodePort: 0.0.0.0 for daddr).
void serviceKey(nftnl_rule* r, bool nodePort, int first);

}  // namespace ovl::nft::expr
