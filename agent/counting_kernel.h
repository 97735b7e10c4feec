// CountingOverlayKernel: the overlay kernel (overlay/overlay_kernel.h) as the loop's reconciler
// sees it, forwarding every call and counting the ones the kernel refused in the agent's metrics
// (ovl_kernel_errors_total{subsystem="overlay"}). Outcomes the reconciler accepts as success
// are not errors: a delete of what is already gone, an address that is already there.
#pragma once

#include <cerrno>

#include "agent/metrics.h"
#include "overlay/overlay_kernel.h"

namespace ovl {

class CountingOverlayKernel final : public OverlayKernel {
 public:
  CountingOverlayKernel(OverlayKernel& kernel, AgentMetrics& metrics)
      : kernel_(kernel), metrics_(metrics) {}

  Result<std::vector<nl::Link>> links() override { return counted(kernel_.links()); }
  Result<std::vector<nl::Address>> addresses() override { return counted(kernel_.addresses()); }
  Result<nl::Link> createVxlan(const nl::VxlanSpec& spec) override {
    return counted(kernel_.createVxlan(spec));
  }
  Result<nl::Link> createBridge(const std::string& name, uint32_t mtu) override {
    return counted(kernel_.createBridge(name, mtu));
  }
  Status deleteLink(int index) override { return counted(kernel_.deleteLink(index)); }
  Status setUp(int index) override { return counted(kernel_.setUp(index)); }
  Status setMtu(int index, uint32_t mtu) override { return counted(kernel_.setMtu(index, mtu)); }
  Status setMac(int index, const MacAddr& mac) override {
    return counted(kernel_.setMac(index, mac));
  }
  Status addAddress(const nl::Address& a) override {
    return counted(kernel_.addAddress(a), EEXIST);
  }
  Status deleteAddress(const nl::Address& a) override {
    return counted(kernel_.deleteAddress(a), EADDRNOTAVAIL);
  }
  Result<PeerState> peerState(int vtepIndex) override {
    return counted(kernel_.peerState(vtepIndex));
  }
  std::vector<Status> apply(std::span<const nl::Netlink::Op> ops) override {
    auto results = kernel_.apply(ops);
    size_t failed = ops.size() > results.size() ? ops.size() - results.size() : 0;  // unanswered
    for (size_t i = 0; i < results.size() && i < ops.size(); ++i) {
      using K = nl::Netlink::Op::Kind;
      const bool isDelete = ops[i].kind == K::kDeleteRoute || ops[i].kind == K::kDeleteFdb ||
                            ops[i].kind == K::kDeleteNeighbour;
      const int gone = results[i] ? 0 : results[i].error().code;
      if (!results[i] && !(isDelete && (gone == ENOENT || gone == ESRCH))) {
        ++failed;
      }
    }
    metrics_.kernelErrors(AgentMetrics::Subsystem::kOverlay, failed);
    return results;
  }

 private:
  template <typename R>
  R counted(R result, int accepted = 0) {
    if (!result && (accepted == 0 || result.error().code != accepted)) {
      metrics_.kernelErrors(AgentMetrics::Subsystem::kOverlay, 1);
    }
    return result;
  }

  OverlayKernel& kernel_;
  AgentMetrics& metrics_;
};

}  // namespace ovl
