// What deleting elements leaves behind: the UDP backends whose conntrack entries go, and the
// affinity entries that still send a client to a removed endpoint.
#include "rules/stale_elements.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "model/service.h"

namespace ovl::nft {
namespace {

Ipv4 ip(const std::string& s) {
  return *Ipv4::parse(s);
}

TEST(RemovedUdpBackends, OnlyUdpBackendsNoSlotStillReaches) {
  using nft::KernelElem;
  const uint32_t udp = static_cast<uint32_t>(svc::Protocol::kUdp);
  const uint32_t tcp = static_cast<uint32_t>(svc::Protocol::kTcp);
  const Ipv4 vip = ip("10.96.0.10");
  const Ipv4 a = ip("10.244.1.5"), b = ip("10.244.2.5");
  auto key = [&](uint32_t proto, uint32_t slot) { return ElemKey{{vip.value, proto, 53, slot}}; };
  auto kernel = [](Ipv4 e) { return KernelElem{{e.value, 5353}, 0}; };
  // Before: udp slots 0 -> a, 1 -> b, 2 -> a; tcp slot 0 -> b.
  const KernelElems before{{key(udp, 0), kernel(a)},
                           {key(udp, 1), kernel(b)},
                           {key(udp, 2), kernel(a)},
                           {key(tcp, 0), kernel(b)}};
  // After: slot 2 gone (a still reached through slot 0), slot 1 gone (b no longer reached over
  // UDP), the tcp slot gone (not UDP: conntrack cleanup is for UDP only).
  DesiredIndex::ElemMap after;
  after[key(udp, 0)] = DesiredIndex::Elem{0, 1, {}, {a.value, 5353}, ""};
  const auto stale =
      nft::removedUdpBackends({key(udp, 1), key(udp, 2), key(tcp, 0)}, before, after);
  ASSERT_EQ(stale.size(), 1u);
  EXPECT_EQ(stale[0].vip, vip);
  EXPECT_EQ(stale[0].port, 53);
  EXPECT_EQ(stale[0].endpoint, b);
  EXPECT_EQ(stale[0].endpointPort, 5353);
  EXPECT_TRUE(nft::removedUdpBackends({}, before, after).empty());
}

TEST(StaleAffinity, EntriesWhoseEndpointTheServiceNoLongerHas) {
  using nft::KernelElem;
  const uint32_t tcp = static_cast<uint32_t>(svc::Protocol::kTcp);
  const Ipv4 vip = ip("10.96.0.10"), other = ip("10.96.0.11");
  const Ipv4 a = ip("10.244.1.5"), b = ip("10.244.2.5"), client = ip("192.168.50.9");
  // endpoints: vip . tcp . 80 . slot -> endpoint . 8080; NodePorts with 0.0.0.0.
  DesiredIndex::ElemMap endpoints;
  endpoints[ElemKey{{vip.value, tcp, 80, 0}}] = DesiredIndex::Elem{0, 1, {}, {a.value, 8080}, ""};
  endpoints[ElemKey{{0, tcp, 30080, 0}}] = DesiredIndex::Elem{0, 1, {}, {a.value, 8080}, ""};
  endpoints[ElemKey{{other.value, tcp, 80, 0}}] = DesiredIndex::Elem{0, 1, {}, {b.value, 8080}, ""};
  // affinity: client . daddr . proto . dport -> endpoint . port
  auto entry = [&](Ipv4 c, Ipv4 d, uint32_t port) {
    return ElemKey{{c.value, d.value, tcp, port}};
  };
  auto to = [](Ipv4 e, uint32_t port) { return KernelElem{{e.value, port}, 0}; };
  const KernelElems affinity{
      {entry(client, vip, 80), to(a, 8080)},               // live
      {entry(ip("192.168.50.10"), vip, 80), to(b, 8080)},  // b serves `other`, not vip: stale
      {entry(client, Ipv4{}, 30080), to(a, 8080)},         // NodePort, live
      {entry(client, vip, 443), to(a, 8080)},              // a port the service no longer has
      {entry(client, other, 80), to(b, 9090)},             // right endpoint, wrong port: stale
  };
  const auto stale = nft::staleAffinity(affinity, endpoints);
  ASSERT_EQ(stale.size(), 3u);
  EXPECT_EQ(stale[0], entry(client, vip, 443));
  EXPECT_EQ(stale[1], entry(client, other, 80));
  EXPECT_EQ(stale[2], entry(ip("192.168.50.10"), vip, 80));
  EXPECT_TRUE(nft::staleAffinity({}, endpoints).empty());
}

}  // namespace
}  // namespace ovl::nft
