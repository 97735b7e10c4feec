// Private to rules/: the netlink wire form NatTable reads and writes itself rather than through
// libnftnl objects (set elements are the bulk of a sync, and are packed many to a message):
// request headers, attribute tables, and one set element written and parsed by its layout.
#pragma once

#include <arpa/inet.h>  // before the linux/ headers: glibc first, so linux/in.h defers to it
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include <array>
#include <cstdint>
#include <vector>

#include "rules/nft_elements.h"
#include "rules/nft_sets.h"
#include "rules/nft_socket.h"

namespace ovl::nft {

// Parses the attributes nested in attr into tb[type].
template <size_t N>
void parseAttrs(const nlattr* attr, std::array<const nlattr*, N>& tb) {
  tb.fill(nullptr);
  mnl_attr_parse_nested(
      attr,
      [](const nlattr* a, void* data) -> int {
        auto* t = static_cast<std::array<const nlattr*, N>*>(data);
        const uint16_t type = mnl_attr_get_type(a);
        if (type < N) {
          (*t)[type] = a;
        }
        return MNL_CB_OK;
      },
      &tb);
}
// The attributes of nlh after its nfgenmsg into tb[type].
template <size_t N>
void parseMsgAttrs(const nlmsghdr* nlh, std::array<const nlattr*, N>& tb) {
  tb.fill(nullptr);
  mnl_attr_parse(
      nlh, sizeof(nfgenmsg),
      [](const nlattr* a, void* data) -> int {
        auto* t = static_cast<std::array<const nlattr*, N>*>(data);
        const uint16_t type = mnl_attr_get_type(a);
        if (type < N) {
          (*t)[type] = a;
        }
        return MNL_CB_OK;
      },
      &tb);
}

// A request header: NFT_MSG_<type> in family ip (or `family`), in a fresh 4 KiB buffer.
nlmsghdr* requestHeader(std::vector<char>& buf, NftSocket& sock, uint16_t type, uint16_t flags,
                        uint16_t family = NFPROTO_IPV4);

// An element's key (NFTA_SET_ELEM_KEY), for deletes.
void putKey(nlmsghdr* nlh, const SetLayout& l, const ElemKey& k);
// An element's key, data (verdict or values) and comment, for adds.
void putElement(nlmsghdr* nlh, const SetLayout& l, const DesiredElem& e);
// Parses one NFTA_LIST_ELEM; false when it does not fit the layout.
bool parseElement(const nlattr* attr, const SetLayout& l, ElemKey& key, KernelElem& out);

}  // namespace ovl::nft
