#include "model/validators.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

namespace ovl {

bool isValidNodeName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNodeNameLength) {
    return false;
  }
  // Kubernetes' DNS-1123 subdomain: labels joined by '.', so "a..b" and "a.-b" are not names.
  size_t start = 0;
  for (;;) {
    const size_t dot = name.find('.', start);
    const std::string_view part =
        name.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (!isDnsLabel(part, kMaxNodeNameLength)) {
      return false;
    }
    if (dot == std::string_view::npos) {
      return true;
    }
    start = dot + 1;
  }
}

bool isDnsLabel(std::string_view name, size_t max) {
  if (name.empty() || name.size() > max) {
    return false;
  }
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  for (char c : name) {
    if (!alnum(c) && c != '-') {
      return false;
    }
  }
  return alnum(name.front()) && alnum(name.back());
}

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return lower(x) == lower(y); });
}

const char* specialAddress(Ipv4 ip) {
  const uint32_t v = ip.value;
  if ((v >> 24) == 0) {
    return "in 0.0.0.0/8 (this host on this network)";
  }
  if ((v >> 24) == 127) {
    return "a loopback address (127.0.0.0/8)";
  }
  if ((v >> 16) == 0xa9fe) {
    return "a link-local address (169.254.0.0/16)";
  }
  if ((v >> 28) == 0xe) {
    return "a multicast address (224.0.0.0/4)";
  }
  if (v == UINT32_MAX) {
    return "the broadcast address";
  }
  return nullptr;
}

std::optional<std::string> unusableUnderlayIp(Ipv4 ip, const std::optional<Ipv4Prefix>& podCidr,
                                              const std::optional<Ipv4Prefix>& serviceCidr) {
  const uint32_t v = ip.value;
  if (v == UINT32_MAX) {
    return "the broadcast address (255.255.255.255, in 240.0.0.0/4)";
  }
  if (const char* why = specialAddress(ip)) {
    return why;
  }
  if ((v >> 28) == 0xf) {
    return "a reserved address (240.0.0.0/4)";
  }
  if (podCidr && podCidr->contains(ip)) {
    return fmt::format("inside network.podCIDR {}", podCidr->toString());
  }
  if (serviceCidr && serviceCidr->contains(ip)) {
    return fmt::format("inside network.serviceCIDR {}", serviceCidr->toString());
  }
  return std::nullopt;
}

bool isValidInterfaceName(std::string_view name) {
  if (name.empty() || name.size() > kMaxInterfaceNameLength || name == "." || name == "..") {
    return false;
  }
  for (char c : name) {
    if (c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
        c == '\f') {
      return false;
    }
  }
  return true;
}

bool isDecimal(std::string_view text) {
  if (text.empty()) {
    return false;
  }
  for (char c : text) {
    if (c < '0' || c > '9') {
      return false;
    }
  }
  return true;
}

bool isValidHealthAddress(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return false;
  }
  auto port = text.substr(colon + 1);
  uint32_t value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  return Ipv4::parse(text.substr(0, colon)).has_value() && isDecimal(port) && ec == std::errc{} &&
         ptr == port.data() + port.size() && value >= 1 && value <= kMaxPort;
}

}  // namespace ovl
