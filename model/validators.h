// Internal to model/: checks of single values shared by the parsers (names, addresses, numbers)
// and the limits they enforce. Pure functions of their arguments; the messages that name a
// field are the parsers'.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/ip.h"

namespace ovl {

constexpr int64_t kMaxPort = 65535;
constexpr size_t kMaxNodeNameLength = 253;      // a DNS name
constexpr size_t kMaxInterfaceNameLength = 15;  // IFNAMSIZ (16) minus the terminating NUL

// A DNS-1123 subdomain, what Kubernetes accepts as a node name: DNS labels ([a-z0-9]([-a-z0-9]*
// [a-z0-9])?) joined by '.', at most 253 characters in all.
bool isValidNodeName(std::string_view name);

// [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most `max` characters: an RFC 1123 label, what Kubernetes
// accepts as a namespace or service name.
bool isDnsLabel(std::string_view name, size_t max);

bool equalsIgnoringCase(std::string_view a, std::string_view b);

// Why `ip` can be neither an external IP nor an endpoint (nothing would ever reach it through
// DNAT, or it would capture traffic that is not the service's), or nullptr when it can.
const char* specialAddress(Ipv4 ip);

// Why `ip` cannot be a node's underlay IP (it would never carry unicast VXLAN packets between
// hosts, or it would be routed into the overlay itself), or nullopt when it can.
std::optional<std::string> unusableUnderlayIp(Ipv4 ip, const std::optional<Ipv4Prefix>& podCidr,
                                              const std::optional<Ipv4Prefix>& serviceCidr);

// What the kernel accepts as a link name (dev_valid_name): 1..15 bytes, no '/', no whitespace,
// not "." or "..".
bool isValidInterfaceName(std::string_view name);

// Decimal digits only: no sign, no fraction, no exponent, no hex, no trailing text.
bool isDecimal(std::string_view text);

// "a.b.c.d:port" with the port in 1..65535.
bool isValidHealthAddress(std::string_view text);

}  // namespace ovl
