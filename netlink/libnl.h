// Private to netlink/: the one way netlink/*.cpp include libnl-3.
//
// Name clash: ovl's own headers are netlink/netlink.h and netlink/types.h, and the build puts
// the project root (-I) ahead of libnl's -isystem /usr/include/libnl3, so libnl's internal
// `#include <netlink/netlink.h>` and `<netlink/types.h>` find ovl's headers instead of libnl's.
// libnl's two headers are therefore included first by their unambiguous path; their include
// guards then make the later shadowed includes harmless (ovl's headers are #pragma once and
// self-contained).
#pragma once

// clang-format off
#include <libnl3/netlink/types.h>
#include <libnl3/netlink/netlink.h>
// clang-format on

#include <netlink/addr.h>
#include <netlink/attr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/object.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/link/vxlan.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>
