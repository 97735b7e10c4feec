// The nftables replies of the table read-back (rules/nft_reply.h): the input is one message as
// the dump's receive loop hands it over (nlmsg_len set to the input's length). It is read as a
// chain, a rule and a set of table `ovl`, and as the elements of every synced set's layout.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>

#include <linux/netlink.h>

#include "rules/nft_reply.h"
#include "rules/nft_sets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < sizeof(nlmsghdr) || size > UINT32_MAX) {
    return -1;
  }
  // A buffer as the receive loop holds a message: its bytes, then zeros up to the next 4-byte
  // boundary (the kernel pads every message and attribute, and the parsers read up to there),
  // and nothing more, so that AddressSanitizer sees any read past it.
  const size_t padded = (size + 3) & ~size_t{3};
  std::unique_ptr<uint8_t[]> buf(new uint8_t[padded]());
  std::memcpy(buf.get(), data, size);
  auto* h = reinterpret_cast<nlmsghdr*>(buf.get());
  h->nlmsg_len = static_cast<uint32_t>(size);
  size_t seen = 0;
  if (auto c = ovl::nft::chainReply(h, "ovl"); c && *c) {
    seen += (*c)->name.size();
  }
  if (auto r = ovl::nft::ruleReply(h, "ovl"); r && *r) {
    seen += (*r)->chain.size() + (*r)->comment.size();
  }
  if (auto s = ovl::nft::setReply(h, "ovl"); s && *s) {
    seen += (*s)->name.size();
  }
  for (size_t i = 0; i < ovl::nft::kSyncedSetCount; ++i) {
    ovl::nft::KernelElems elems;
    (void)ovl::nft::elementsReply(h, ovl::nft::setLayout(static_cast<ovl::nft::SetId>(i)), elems);
    seen += elems.size();
  }
  return seen == static_cast<size_t>(-1) ? 1 : 0;
}
