#include "rules/nft_wire.h"

#include <arpa/inet.h>
#include <linux/netfilter/nf_tables.h>

#include <algorithm>
#include <cstring>

namespace ovl::nft {

nlmsghdr* requestHeader(std::vector<char>& buf, NftSocket& sock, uint16_t type, uint16_t flags,
                        uint16_t family) {
  buf.assign(4096, 0);
  return nftnl_nlmsg_build_hdr(buf.data(), type, family, flags, sock.nextSeq());
}

void putKey(nlmsghdr* nlh, const SetLayout& l, const ElemKey& k) {
  uint8_t bytes[16];
  const size_t n = encode(l.key, k.w, bytes);
  nlattr* nest = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);
  mnl_attr_put(nlh, NFTA_DATA_VALUE, n, bytes);
  mnl_attr_nest_end(nlh, nest);
}

void putElement(nlmsghdr* nlh, const SetLayout& l, const DesiredElem& e) {
  putKey(nlh, l, e.key);
  if (l.verdict) {
    nlattr* data = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_DATA);
    nlattr* verdict = mnl_attr_nest_start(nlh, NFTA_DATA_VERDICT);
    mnl_attr_put_u32(nlh, NFTA_VERDICT_CODE, htonl(static_cast<uint32_t>(e.data.verdict)));
    if (!e.data.chain.empty()) {
      char name[NFT_CHAIN_MAXNAMELEN];
      const size_t n = std::min(e.data.chain.size(), sizeof(name) - 1);
      std::memcpy(name, e.data.chain.data(), n);
      name[n] = '\0';
      mnl_attr_put_strz(nlh, NFTA_VERDICT_CHAIN, name);
    }
    mnl_attr_nest_end(nlh, verdict);
    mnl_attr_nest_end(nlh, data);
  } else if (!l.data.empty()) {
    uint8_t bytes[16];
    const std::array<uint32_t, 4> w{e.data.value[0], e.data.value[1], 0, 0};
    const size_t n = encode(l.data, w, bytes);
    nlattr* data = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_DATA);
    mnl_attr_put(nlh, NFTA_DATA_VALUE, n, bytes);
    mnl_attr_nest_end(nlh, data);
  }
  if (!e.comment.empty()) {
    // Userdata TLV as nft writes it: type NFTNL_UDATA_SET_ELEM_COMMENT, length, NUL-terminated
    // text (nft keeps comments below 128 bytes).
    uint8_t ud[2 + 128];
    const size_t n = std::min<size_t>(e.comment.size(), 127);
    ud[0] = NFTNL_UDATA_SET_ELEM_COMMENT;
    ud[1] = static_cast<uint8_t>(n + 1);
    std::memcpy(ud + 2, e.comment.data(), n);
    ud[2 + n] = '\0';
    mnl_attr_put(nlh, NFTA_SET_ELEM_USERDATA, n + 3, ud);
  }
}

bool parseElement(const nlattr* attr, const SetLayout& l, ElemKey& key, KernelElem& out) {
  std::array<const nlattr*, NFTA_SET_ELEM_MAX + 1> tb;
  parseAttrs(attr, tb);
  if (tb[NFTA_SET_ELEM_KEY] == nullptr) {
    return false;
  }
  std::array<const nlattr*, NFTA_DATA_MAX + 1> k;
  parseAttrs(tb[NFTA_SET_ELEM_KEY], k);
  if (k[NFTA_DATA_VALUE] == nullptr ||
      !decode(l.key, mnl_attr_get_payload(k[NFTA_DATA_VALUE]),
              mnl_attr_get_payload_len(k[NFTA_DATA_VALUE]), key.w)) {
    return false;
  }
  int32_t verdict = 0;
  std::string_view chainName;
  if (tb[NFTA_SET_ELEM_DATA] != nullptr) {
    std::array<const nlattr*, NFTA_DATA_MAX + 1> data;
    parseAttrs(tb[NFTA_SET_ELEM_DATA], data);
    if (data[NFTA_DATA_VERDICT] != nullptr) {
      std::array<const nlattr*, NFTA_VERDICT_MAX + 1> v;
      parseAttrs(data[NFTA_DATA_VERDICT], v);
      // Checked before read: a short code or an unterminated chain name would be read past.
      const nlattr* code = v[NFTA_VERDICT_CODE];
      if (code != nullptr && mnl_attr_validate(code, MNL_TYPE_U32) >= 0) {
        verdict = static_cast<int32_t>(ntohl(mnl_attr_get_u32(code)));
      }
      const nlattr* chain = v[NFTA_VERDICT_CHAIN];
      if (chain != nullptr && mnl_attr_validate(chain, MNL_TYPE_NUL_STRING) >= 0) {
        chainName = mnl_attr_get_str(chain);
      }
    } else if (data[NFTA_DATA_VALUE] != nullptr) {
      std::array<uint32_t, 4> w{};
      if (!decode(l.data, mnl_attr_get_payload(data[NFTA_DATA_VALUE]),
                  mnl_attr_get_payload_len(data[NFTA_DATA_VALUE]), w)) {
        return false;
      }
      out.value = {w[0], w[1]};
    }
  }
  std::string comment;
  if (tb[NFTA_SET_ELEM_USERDATA] != nullptr) {
    comment = parseComment(mnl_attr_get_payload(tb[NFTA_SET_ELEM_USERDATA]),
                           mnl_attr_get_payload_len(tb[NFTA_SET_ELEM_USERDATA]),
                           NFTNL_UDATA_SET_ELEM_COMMENT);
  }
  out.hash = KernelElem::hashOf(verdict, chainName, comment);
  return true;
}

}  // namespace ovl::nft
