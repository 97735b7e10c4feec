// Bridge ports: a port's settings as the bridge sees them travel in AF_BRIDGE link messages
// (IFLA_PROTINFO with nested IFLA_BRPORT_* attributes, as `bridge link` sends and reads them);
// they are built and read here attribute by attribute.
#include "netlink/netlink.h"

#include "netlink/libnl.h"  // before any other libnl header: see the name clash there

#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <array>
#include <cerrno>
#include <utility>

#include "netlink/messages.h"
#include "netlink/request.h"

namespace ovl::nl {

using detail::devName;

namespace detail {

Result<MsgPtr> hairpinRequest(int index, bool on) {
  ifinfomsg ifi{};
  ifi.ifi_family = AF_BRIDGE;
  ifi.ifi_index = index;
  auto msg = simpleRequest(RTM_SETLINK, 0, &ifi, sizeof(ifi));
  if (!msg) {
    return msg;
  }
  nlattr* info = nla_nest_start(msg->get(), IFLA_PROTINFO | NLA_F_NESTED);
  if (info == nullptr || nla_put_u8(msg->get(), IFLA_BRPORT_MODE, on ? 1 : 0) < 0) {
    return Error::sys(ENOMEM, "build netlink message");
  }
  nla_nest_end(msg->get(), info);
  return msg;
}

// What libnl checks each attribute against (length, a string's terminating NUL), so that a short
// one is refused instead of read past.
const std::array<nla_policy, IFLA_MAX + 1>& linkPolicy() {
  static const auto policy = [] {
    std::array<nla_policy, IFLA_MAX + 1> p{};
    p[IFLA_MASTER].type = NLA_U32;
    p[IFLA_IFNAME].type = NLA_STRING;
    p[IFLA_PROTINFO].type = NLA_NESTED;
    return p;
  }();
  return policy;
}
const std::array<nla_policy, IFLA_BRPORT_MAX + 1>& portPolicy() {
  static const auto policy = [] {
    std::array<nla_policy, IFLA_BRPORT_MAX + 1> p{};
    p[IFLA_BRPORT_MODE].type = NLA_U8;
    return p;
  }();
  return policy;
}

Result<std::optional<BridgePort>> parseBridgePort(const nlmsghdr* h) {
  if (h->nlmsg_type != RTM_NEWLINK) {
    return std::optional<BridgePort>();
  }
  const auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
  nlattr* tb[IFLA_MAX + 1] = {};
  if (int err = nlmsg_parse(const_cast<nlmsghdr*>(h), sizeof(ifinfomsg), tb, IFLA_MAX,
                            linkPolicy().data());
      err < 0) {
    return nlError(err, "parse bridge port");
  }
  if (tb[IFLA_MASTER] == nullptr) {
    return std::optional<BridgePort>();  // the bridge itself
  }
  BridgePort p;
  p.index = ifi->ifi_index;
  p.master = static_cast<int>(nla_get_u32(tb[IFLA_MASTER]));
  if (tb[IFLA_IFNAME] != nullptr) {
    p.name = nla_get_string(tb[IFLA_IFNAME]);
  }
  if (tb[IFLA_PROTINFO] != nullptr) {
    nlattr* pt[IFLA_BRPORT_MAX + 1] = {};
    if (nla_parse_nested(pt, IFLA_BRPORT_MAX, tb[IFLA_PROTINFO], portPolicy().data()) == 0 &&
        pt[IFLA_BRPORT_MODE] != nullptr) {
      p.hairpin = nla_get_u8(pt[IFLA_BRPORT_MODE]) != 0;
    }
  }
  return std::optional<BridgePort>(std::move(p));
}

}  // namespace detail

Status Netlink::setHairpin(int index, bool on) {
  const std::string what =
      "set bridge port " + devName(index) + " hairpin " + std::string(on ? "on" : "off");
  return detail::run(sock_.get(), detail::hairpinRequest(index, on), what);
}

Result<std::optional<bool>> Netlink::hairpin(int index) {
  // The kernel has no single get for a port's settings: they come with the AF_BRIDGE dump.
  auto ports = bridgePorts();
  if (!ports) {
    return ports.error().withContext("get bridge port " + devName(index));
  }
  for (const BridgePort& p : *ports) {
    if (p.index == index) {
      return std::optional<bool>(p.hairpin);
    }
  }
  return std::optional<bool>();
}

Result<std::vector<BridgePort>> Netlink::bridgePorts() {
  std::vector<BridgePort> out;
  auto st = detail::runDump(
      sock_.get(), "dump bridge ports",
      [] {
        ifinfomsg ifi{};
        ifi.ifi_family = AF_BRIDGE;
        return detail::simpleRequest(RTM_GETLINK, NLM_F_DUMP, &ifi, sizeof(ifi));
      },
      [&](const nlmsghdr* h) -> Status {
        auto port = detail::parseBridgePort(h);
        if (!port) {
          return port.error();
        }
        if (*port) {
          out.push_back(std::move(**port));
        }
        return okStatus();
      },
      [&] { out.clear(); });
  if (!st) {
    return st.error();
  }
  return out;
}

}  // namespace ovl::nl
