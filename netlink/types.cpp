// toString() of the netlink value types, in iproute2's word order so that a log line reads like
// the `ip` command that would show or create the object.
#include "netlink/types.h"

#include <fmt/format.h>

#include "netlink/netlink.h"

namespace ovl::nl {
namespace {

// Appended with fmt::format(" {}", dev(i)), not `" " + dev(i)`: GCC 12 at -O3 reports a false
// -Wrestrict in the operator+(const char*, std::string&&) it inlines (GCC bugs 105329, 105651).
std::string dev(int index) {
  return fmt::format("dev #{}", index);
}

}  // namespace

std::string VxlanInfo::toString() const {
  std::string s = fmt::format("vni {}", vni);
  if (local) {
    s += " local " + local->toString();
  }
  if (underlayIndex) {
    s += fmt::format(" {}", dev(*underlayIndex));
  }
  s += fmt::format(" dstport {}", port);
  s += learning ? " learning" : " nolearning";
  return s;
}

std::string Link::toString() const {
  std::string s = fmt::format("#{} {}", index, name);
  if (!kind.empty()) {
    s += " (" + kind + ")";
  }
  s += fmt::format(" mtu {} {} address {}", mtu, up ? "up" : "down", mac.toString());
  if (master) {
    s += fmt::format(" master #{}", *master);
  }
  if (vxlan) {
    s += " vxlan " + vxlan->toString();
  }
  return s;
}

std::string VethSpec::toString() const {
  std::string s = fmt::format("{} veth peer {} (netns fd {})", name, peerName, peerNetnsFd);
  if (mtu != 0) {
    s += fmt::format(" mtu {}", mtu);
  }
  return s;
}

std::string VxlanSpec::toString() const {
  std::string s = fmt::format("{} vxlan vni {}", name, vni);
  if (!local.isUnspecified()) {
    s += " local " + local.toString();
  }
  if (underlayIndex != 0) {
    s += fmt::format(" {}", dev(underlayIndex));
  }
  s += fmt::format(" dstport {} nolearning", port);
  if (mtu != 0) {
    s += fmt::format(" mtu {}", mtu);
  }
  if (!mac.isZero()) {
    s += " address " + mac.toString();
  }
  return s;
}

std::string Address::toString() const {
  return local.toString() + " " + dev(index);
}

std::string Neighbour::toString() const {
  return fmt::format("{} lladdr {} {}", ip.toString(), mac.toString(), dev(index));
}

std::string FdbEntry::toString() const {
  return fmt::format("{} dst {} {}", mac.toString(), dst.toString(), dev(index));
}

std::string Route::toString() const {
  std::string s = dst.toString();
  if (!gateway.isUnspecified()) {
    s += " via " + gateway.toString();
  }
  s += fmt::format(" {}", dev(index));
  if (onlink) {
    s += " onlink";
  }
  return s;
}

std::string Netlink::Op::toString() const {
  switch (kind) {
    case Kind::kReplaceNeighbour:
      return "replace neighbour " + neighbour.toString();
    case Kind::kDeleteNeighbour:
      return "delete neighbour " + neighbour.toString();
    case Kind::kReplaceFdb:
      return "replace fdb " + fdbEntry.toString();
    case Kind::kDeleteFdb:
      return "delete fdb " + fdbEntry.toString();
    case Kind::kReplaceRoute:
      return "replace route " + route.toString();
    case Kind::kDeleteRoute:
      return "delete route " + route.toString();
  }
  return "unknown op";
}

std::string Event::toString() const {
  const char* what = "link";
  switch (kind) {
    case Kind::kLink:
      what = "link";
      break;
    case Kind::kAddress:
      what = "address";
      break;
    case Kind::kNeighbour:
      what = "neighbour";
      break;
    case Kind::kRoute:
      what = "route";
      break;
    case Kind::kOverflow:
      return "overflow (events lost, re-read the kernel state)";
  }
  std::string object = neighbour           ? neighbour->toString()
                       : fdb               ? "fdb " + fdb->toString()
                       : route             ? route->toString()
                       : !linkName.empty() ? fmt::format("{} {}", linkName, dev(index))
                                           : dev(index);
  return fmt::format("{} {} {}", what, deleted ? "deleted" : "new/changed", object);
}

std::string RouteAnswer::toString() const {
  std::string out = fmt::format("type {} oif {}", type, dev(oif));
  if (gateway) {
    out += " via " + gateway->toString();
  }
  if (prefSrc) {
    out += " src " + prefSrc->toString();
  }
  return out;
}

std::string BridgePort::toString() const {
  return fmt::format("{} {} master {} hairpin {}", name, dev(index), dev(master),
                     hairpin ? "on" : "off");
}

}  // namespace ovl::nl
