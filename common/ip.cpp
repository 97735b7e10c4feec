#include "common/ip.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <charconv>

namespace ovl {

std::optional<Ipv4> Ipv4::parse(std::string_view text) {
  // inet_pton is strict about the dotted-quad form (no leading zeros tricks, no short forms).
  if (text.size() > 15) {
    return std::nullopt;
  }
  std::string s(text);
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) {
    return std::nullopt;
  }
  return Ipv4{ntohl(a.s_addr)};
}

Ipv4 Ipv4::fromNetworkOrder(uint32_t be) {
  return Ipv4{ntohl(be)};
}
uint32_t Ipv4::networkOrder() const {
  return htonl(value);
}

std::string Ipv4::toString() const {
  return fmt::format("{}.{}.{}.{}", value >> 24, (value >> 16) & 0xff, (value >> 8) & 0xff,
                     value & 0xff);
}

std::optional<Ipv4Prefix> Ipv4Prefix::parse(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    return std::nullopt;
  }
  auto ip = Ipv4::parse(text.substr(0, slash));
  auto lenText = text.substr(slash + 1);
  unsigned len = 0;
  auto [ptr, ec] = std::from_chars(lenText.data(), lenText.data() + lenText.size(), len);
  if (!ip || lenText.empty() || ec != std::errc{} || ptr != lenText.data() + lenText.size() ||
      len > 32) {
    return std::nullopt;
  }
  return Ipv4Prefix{*ip, static_cast<uint8_t>(len)};
}

std::string Ipv4Prefix::toString() const {
  return fmt::format("{}/{}", addr.toString(), len);
}

std::optional<MacAddr> MacAddr::parse(std::string_view text) {
  if (text.size() != 17) {
    return std::nullopt;
  }
  MacAddr mac;
  for (size_t i = 0; i < 6; ++i) {
    if (i > 0 && text[i * 3 - 1] != ':') {
      return std::nullopt;
    }
    unsigned v = 0;
    auto part = text.substr(i * 3, 2);
    auto [ptr, ec] = std::from_chars(part.data(), part.data() + 2, v, 16);
    if (ec != std::errc{} || ptr != part.data() + 2) {
      return std::nullopt;
    }
    mac.bytes[i] = static_cast<uint8_t>(v);
  }
  return mac;
}

MacAddr MacAddr::fromIdentity(std::string_view identity) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a 64: fixed here, so the MAC never changes
  for (char c : std::string_view("ovl-vtep:")) {
    h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ULL;
  }
  for (char c : identity) {
    h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ULL;
  }
  // FNV-1a's low bits change little between names that differ in one character (node1,
  // node2): the splitmix64 finalizer spreads every input bit over all 48 bits taken.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  MacAddr mac;
  for (size_t i = 0; i < 6; ++i) {
    mac.bytes[i] = static_cast<uint8_t>(h >> (8 * i));
  }
  mac.bytes[0] = static_cast<uint8_t>((mac.bytes[0] & 0xfe) | 0x02);  // unicast, locally admin.
  return mac;
}

std::string MacAddr::toString() const {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", bytes[0], bytes[1], bytes[2],
                     bytes[3], bytes[4], bytes[5]);
}

}  // namespace ovl
