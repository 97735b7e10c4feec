#include "rules/nft_elements.h"

#include <arpa/inet.h>

#include <cstring>

#include "common/ip.h"
#include "model/service.h"

namespace ovl::nft {

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
        // Read back, the protocol is one byte (decode); a wider value is only ever a number.
        out += v <= 0xff ? svc::toString(static_cast<svc::Protocol>(v)) : std::to_string(v);
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
  // The user data is a list of (type: 1 byte, length: 1 byte, value). Walked here rather than
  // with nftnl_udata_parse(), which does not check that a value ends inside the buffer.
  const auto* b = static_cast<const uint8_t*>(data);
  std::string out;
  for (uint32_t off = 0; off + 2 <= len;) {
    const uint8_t t = b[off];
    const uint32_t n = b[off + 1];
    if (off + 2 + n > len) {
      break;  // truncated: the rest is not a value
    }
    if (t == type && n > 0) {
      const auto* s = reinterpret_cast<const char*>(b + off + 2);
      out.assign(s, strnlen(s, n));
    }
    off += 2 + n;
  }
  return out;
}

}  // namespace ovl::nft
