// Conntrack cleanup through libnetfilter_conntrack: deletes the UDP conntrack entries that still
// point at an endpoint that went away, so a client that keeps sending from one socket (no new
// connection, so no new DNAT decision) moves to a live endpoint at once instead of sending into
// the void until the entry times out.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/ip.h"
#include "common/result.h"

struct nfct_handle;

namespace ovl::conntrack {

// UDP traffic DNATed from vip:port to endpoint:endpointPort. vip 0.0.0.0 is a NodePort: any
// original destination address with that original destination port.
struct StaleUdpFlow {
  Ipv4 vip;
  uint16_t port = 0;
  Ipv4 endpoint;
  uint16_t endpointPort = 0;
  auto operator<=>(const StaleUdpFlow&) const = default;
};

// What the agent's loop needs of conntrack; unit tests of the loop use a fake (tests/fakes/).
class UdpFlowCleaner {
 public:
  virtual ~UdpFlowCleaner() = default;
  // Deletes the UDP conntrack entries DNATed to an endpoint of `flows`; returns how many.
  virtual Result<size_t> deleteUdpFlows(const std::vector<StaleUdpFlow>& flows) = 0;
};

// One conntrack netlink handle (nfct_open(CONNTRACK)), bound to the network namespace that was
// current at create(). Move-only.
class Conntrack final : public UdpFlowCleaner {
 public:
  static Result<Conntrack> create();

  Conntrack(Conntrack&&) noexcept = default;
  Conntrack& operator=(Conntrack&&) noexcept = default;
  Conntrack(const Conntrack&) = delete;
  Conntrack& operator=(const Conntrack&) = delete;
  ~Conntrack() = default;

  // Deletes every IPv4 UDP conntrack entry whose original destination is vip:port (any:port for
  // a NodePort) and whose reply source is endpoint:endpointPort, i.e. that was DNATed to an
  // endpoint of `flows`. One dump of the table, then one delete per match. Returns how many
  // entries were deleted (an entry that expired in between is not counted, and not an error).
  Result<size_t> deleteUdpFlows(const std::vector<StaleUdpFlow>& flows) override;

 private:
  struct Closer {
    void operator()(nfct_handle* h) const;
  };
  explicit Conntrack(nfct_handle* h) : h_(h) {}

  std::unique_ptr<nfct_handle, Closer> h_;
};

}  // namespace ovl::conntrack
