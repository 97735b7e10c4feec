// OverlayKernel over ovl's netlink layer, in the network namespace it was created in.
#pragma once

#include "overlay/overlay_kernel.h"

namespace ovl {

class NetlinkOverlayKernel final : public OverlayKernel {
 public:
  static Result<NetlinkOverlayKernel> create();

  Result<std::vector<nl::Link>> links() override { return nl_.links(); }
  Result<std::vector<nl::Address>> addresses() override { return nl_.addresses(); }
  Result<nl::Link> createVxlan(const nl::VxlanSpec& spec) override { return nl_.createVxlan(spec); }
  Result<nl::Link> createBridge(const std::string& name, uint32_t mtu) override {
    return nl_.createBridge(name, mtu);
  }
  Status deleteLink(int index) override { return nl_.deleteLink(index); }
  Status setUp(int index) override { return nl_.setUp(index); }
  Status setMtu(int index, uint32_t mtu) override { return nl_.setMtu(index, mtu); }
  Status setMac(int index, const MacAddr& mac) override { return nl_.setMac(index, mac); }
  Status addAddress(const nl::Address& a) override { return nl_.addAddress(a); }
  Status deleteAddress(const nl::Address& a) override { return nl_.deleteAddress(a); }
  Result<PeerState> peerState(int vtepIndex) override;
  std::vector<Status> apply(std::span<const nl::Netlink::Op> ops) override {
    return nl_.applyBatch(ops);
  }

 private:
  explicit NetlinkOverlayKernel(nl::Netlink n) : nl_(std::move(n)) {}
  nl::Netlink nl_;
};

}  // namespace ovl
