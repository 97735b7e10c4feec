// The boundary between the overlay reconciler and the kernel. Production code hands in the
// netlink implementation (netlink_overlay_kernel.h); unit tests hand in an in-memory fake.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "netlink/netlink.h"
#include "overlay/overlay_plan.h"

namespace ovl {

class OverlayKernel {
 public:
  virtual ~OverlayKernel() = default;

  virtual Result<std::vector<nl::Link>> links() = 0;
  virtual Result<std::vector<nl::Address>> addresses() = 0;  // every IPv4 address
  virtual Result<nl::Link> createVxlan(const nl::VxlanSpec& spec) = 0;
  virtual Result<nl::Link> createBridge(const std::string& name, uint32_t mtu) = 0;
  virtual Status deleteLink(int index) = 0;
  virtual Status setUp(int index) = 0;
  virtual Status setMtu(int index, uint32_t mtu) = 0;
  virtual Status setMac(int index, const MacAddr& mac) = 0;
  virtual Status addAddress(const nl::Address& a) = 0;
  virtual Status deleteAddress(const nl::Address& a) = 0;

  // ovl's entries on the VTEP.
  virtual Result<PeerState> peerState(int vtepIndex) = 0;
  // One Status per op, in order; a failing op does not stop the others.
  virtual std::vector<Status> apply(std::span<const nl::Netlink::Op> ops) = 0;
};

}  // namespace ovl
