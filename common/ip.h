// Value types for the addresses ovl deals in: IPv4 addresses and prefixes, and MAC addresses.
// The overlay is IPv4 today (as flannel's vxlan backend is by default).
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ovl {

struct Ipv4 {
  uint32_t value = 0;  // host byte order

  static std::optional<Ipv4> parse(std::string_view text);
  static Ipv4 fromNetworkOrder(uint32_t be);
  uint32_t networkOrder() const;
  std::string toString() const;
  bool isUnspecified() const { return value == 0; }

  auto operator<=>(const Ipv4&) const = default;
};

struct Ipv4Prefix {
  Ipv4 addr;
  uint8_t len = 0;

  // "a.b.c.d/n". The address need not be the network address: see isNetworkAddress().
  static std::optional<Ipv4Prefix> parse(std::string_view text);
  uint32_t mask() const { return len == 0 ? 0 : ~uint32_t{0} << (32 - len); }
  Ipv4 network() const { return Ipv4{addr.value & mask()}; }
  bool isNetworkAddress() const { return addr.value == network().value; }
  bool contains(Ipv4 ip) const { return (ip.value & mask()) == network().value; }
  bool contains(const Ipv4Prefix& other) const { return other.len >= len && contains(other.addr); }
  bool overlaps(const Ipv4Prefix& other) const { return contains(other) || other.contains(*this); }
  std::string toString() const;

  auto operator<=>(const Ipv4Prefix&) const = default;
};

struct MacAddr {
  std::array<uint8_t, 6> bytes{};

  static std::optional<MacAddr> parse(std::string_view text);  // "aa:bb:cc:dd:ee:ff"
  // A locally administered unicast MAC derived from an identity string (a node name). The same
  // identity always gives the same MAC, across restarts, reboots and ovl versions (FNV-1a 64, then
  // the splitmix64 finalizer).
  static MacAddr fromIdentity(std::string_view identity);
  std::string toString() const;
  bool isZero() const { return bytes == std::array<uint8_t, 6>{}; }

  auto operator<=>(const MacAddr&) const = default;
};

}  // namespace ovl
