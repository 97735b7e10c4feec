// The rtnetlink replies (netlink/messages.h): the input is one message as the receive loop hands
// it over (its nlmsg_len set to the input's length, as NLMSG_OK guarantees for a real one). Every
// parser sees it, as a dump or a notification of any kind may arrive on the socket; each must
// ignore a message of another type and refuse a malformed one without reading past it.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "netlink/messages.h"

namespace {

size_t parseAll(const nlmsghdr* h) {
  namespace d = ovl::nl::detail;
  size_t seen = 0;
  std::vector<ovl::nl::Link> links;
  (void)d::parseLink(h, &links);
  for (const ovl::nl::Link& l : links) {
    seen += l.toString().size();
  }
  if (auto port = d::parseBridgePort(h); port && *port) {
    seen += static_cast<size_t>((*port)->index);
  }
  std::vector<ovl::nl::Address> addrs;
  (void)d::parseAddress(h, std::nullopt, &addrs);
  seen += addrs.size();
  if (auto n = d::parseNeighbour(h); n) {
    if (auto p = d::permanentNeighbourOf(n->get())) {
      seen += p->toString().size();
    }
    if (auto f = d::fdbEntryOf(n->get())) {
      seen += f->toString().size();
    }
  }
  if (auto r = d::parseRoute(h); r && *r) {
    seen += (*r)->toString().size();
  }
  if (auto a = d::parseRouteAnswer(h); a) {
    seen += static_cast<size_t>(a->oif);
  }
  if (auto e = d::toEvent(h)) {
    seen += e->toString().size();
  }
  return seen;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < sizeof(nlmsghdr) || size > UINT32_MAX) {
    return -1;  // not a message: keep it out of the corpus
  }
  // A buffer as the receive loop holds a message: its bytes, then zeros up to the next 4-byte
  // boundary (the kernel pads every message and attribute, and the parsers read up to there),
  // and nothing more, so that AddressSanitizer sees any read past it.
  const size_t padded = (size + 3) & ~size_t{3};
  std::unique_ptr<uint8_t[]> buf(new uint8_t[padded]());
  std::memcpy(buf.get(), data, size);
  auto* h = reinterpret_cast<nlmsghdr*>(buf.get());
  h->nlmsg_len = static_cast<uint32_t>(size);
  return parseAll(h) == static_cast<size_t>(-1) ? 1 : 0;
}
