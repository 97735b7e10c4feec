#include "overlay/netlink_overlay_kernel.h"

namespace ovl {

Result<NetlinkOverlayKernel> NetlinkOverlayKernel::create() {
  auto n = nl::Netlink::create();
  if (!n) {
    return n.error();
  }
  return NetlinkOverlayKernel(std::move(*n));
}

Result<PeerState> NetlinkOverlayKernel::peerState(int vtepIndex) {
  PeerState s;
  auto neigh = nl_.neighbours(vtepIndex);
  if (!neigh) {
    return neigh.error();
  }
  auto fdb = nl_.fdb(vtepIndex);
  if (!fdb) {
    return fdb.error();
  }
  auto routes = nl_.routes(vtepIndex);
  if (!routes) {
    return routes.error();
  }
  s.neighbours = std::move(*neigh);
  s.fdb = std::move(*fdb);
  s.routes = std::move(*routes);
  return s;
}

}  // namespace ovl
