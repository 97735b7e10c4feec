// Shared by the unit and kernel tests (tests/fakes/: test support, no product code): readable
// gtest failure output for the netlink value types (found by ADL).
#pragma once

#include <ostream>

#include "netlink/types.h"

namespace ovl::nl {

inline void PrintTo(const Route& v, std::ostream* os) {
  *os << v.toString();
}
inline void PrintTo(const Neighbour& v, std::ostream* os) {
  *os << v.toString();
}
inline void PrintTo(const FdbEntry& v, std::ostream* os) {
  *os << v.toString();
}
inline void PrintTo(const Address& v, std::ostream* os) {
  *os << v.toString();
}
inline void PrintTo(const Link& v, std::ostream* os) {
  *os << v.toString();
}
inline void PrintTo(const BridgePort& v, std::ostream* os) {
  *os << v.toString();
}
inline void PrintTo(const RouteAnswer& v, std::ostream* os) {
  *os << v.toString();
}

}  // namespace ovl::nl
