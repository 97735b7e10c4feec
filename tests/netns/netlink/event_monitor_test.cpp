// The EventMonitor (netlink/event_monitor.cpp) against the real kernel, in a throwaway
// namespace: notifications of changes made by ovl and by iproute2, each carrying its object, and
// the overflow of the receive buffer.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "netlink/netlink.h"
#include "tests/netns/netlink/netlink_fixture.h"

namespace ovl::nl {
namespace {

TEST_F(NetlinkTest, EventMonitorSeesRouteDeletedBySomeoneElse) {
  const int vtep = makeVtep();
  ASSERT_NE(vtep, 0);
  auto mon = EventMonitor::create();
  ASSERT_TRUE(mon) << mon.error().message;
  ASSERT_TRUE(nl_->replaceRoute(Route{prefix("10.244.2.0/24"), ip("10.244.2.0"), vtep, true}));
  auto first = mon->drain();
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_NE(std::find_if(first->begin(), first->end(),
                         [&](const Event& e) {
                           return e.kind == Event::Kind::kRoute && !e.deleted && e.index == vtep;
                         }),
            first->end());

  sh(ipn() + "route del 10.244.2.0/24 dev vtep");
  bool seen = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!seen && std::chrono::steady_clock::now() < deadline) {
    pollfd p{mon->fd(), POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 0))) <= 0) {
      break;
    }
    auto events = mon->drain();
    ASSERT_TRUE(events) << events.error().message;
    for (const Event& e : *events) {
      // The event carries the route as the dumps read it, so the agent can tell this from
      // its own writes.
      seen = seen || (e.kind == Event::Kind::kRoute && e.deleted && e.index == vtep && e.route &&
                      *e.route == Route{prefix("10.244.2.0/24"), ip("10.244.2.0"), vtep, true});
    }
  }
  EXPECT_TRUE(seen) << "no kRoute deleted event carrying 10.244.2.0/24 for dev #" << vtep;
  auto none = mon->drain();  // nothing pending: returns at once, empty
  ASSERT_TRUE(none);
}

TEST_F(NetlinkTest, EventMonitorSeesLinkAddressNeighbourAndFdbChanges) {
  auto mon = EventMonitor::create();
  ASSERT_TRUE(mon) << mon.error().message;
  const int vtep = makeVtep();
  ASSERT_NE(vtep, 0);
  ASSERT_TRUE(nl_->addAddress(Address{vtep, prefix("10.244.1.0/32")}));
  ASSERT_TRUE(nl_->replaceNeighbour(Neighbour{vtep, ip("10.244.2.0"), mac("02:00:00:00:00:02")}));
  ASSERT_TRUE(nl_->appendFdb(FdbEntry{vtep, mac("02:00:00:00:00:02"), ip("192.168.50.2")}));
  sh("bridge -n " + ns() + " fdb del 02:00:00:00:00:02 dev vtep dst 192.168.50.2 self");

  auto events = mon->drain();
  ASSERT_TRUE(events) << events.error().message;
  auto has = [&](Event::Kind k, bool deleted) {
    return std::find_if(events->begin(), events->end(), [&](const Event& e) {
             return e.kind == k && e.deleted == deleted && e.index == vtep;
           }) != events->end();
  };
  EXPECT_TRUE(has(Event::Kind::kLink, false));
  EXPECT_TRUE(has(Event::Kind::kAddress, false));
  EXPECT_TRUE(has(Event::Kind::kNeighbour, false));
  EXPECT_TRUE(has(Event::Kind::kNeighbour, true));  // the AF_BRIDGE FDB delete
  EXPECT_FALSE(has(Event::Kind::kOverflow, false));
  // Each carries its object, parsed as the dumps parse it.
  const FdbEntry fdb{vtep, mac("02:00:00:00:00:02"), ip("192.168.50.2")};
  const Neighbour neigh{vtep, ip("10.244.2.0"), mac("02:00:00:00:00:02")};
  auto carries = [&](auto pred) {
    return std::find_if(events->begin(), events->end(), pred) != events->end();
  };
  EXPECT_TRUE(carries([&](const Event& e) { return e.deleted && e.fdb == fdb; }));
  EXPECT_TRUE(carries([&](const Event& e) { return !e.deleted && e.fdb == fdb; }));
  EXPECT_TRUE(carries([&](const Event& e) { return !e.deleted && e.neighbour == neigh; }));
  EXPECT_TRUE(carries(
      [&](const Event& e) { return e.kind == Event::Kind::kLink && e.linkName == "vtep"; }));
}

TEST_F(NetlinkTest, EventMonitorReportsOverflowAndKeepsWorking) {
  const int vtep = makeVtep();
  ASSERT_NE(vtep, 0);
  auto mon = EventMonitor::create();
  ASSERT_TRUE(mon) << mon.error().message;
  // Shrink the receive buffer (the kernel rounds it up to its minimum) so that a burst of
  // notifications cannot fit, as happens when the agent falls behind a flood of changes.
  const int tiny = 1;
  ASSERT_EQ(setsockopt(mon->fd(), SOL_SOCKET, SO_RCVBUF, &tiny, sizeof(tiny)), 0);
  std::vector<Netlink::Op> ops;
  for (int i = 0; i < 500; ++i) {
    ops.push_back({Netlink::Op::Kind::kReplaceRoute, {}, {}, peer(vtep, i).route});
  }
  for (const Status& st : nl_->applyBatch(ops)) {
    ASSERT_TRUE(st) << st.error().message;
  }
  auto events = mon->drain();
  ASSERT_TRUE(events) << events.error().message;
  EXPECT_NE(std::find_if(events->begin(), events->end(),
                         [](const Event& e) { return e.kind == Event::Kind::kOverflow; }),
            events->end());
  EXPECT_LT(events->size(), 500u);

  // After the overflow the socket still delivers new notifications.
  sh(ipn() + "route del 10.1.0.0/24 dev vtep");
  events = mon->drain();
  ASSERT_TRUE(events) << events.error().message;
  EXPECT_NE(std::find_if(events->begin(), events->end(),
                         [&](const Event& e) {
                           return e.kind == Event::Kind::kRoute && e.deleted && e.index == vtep;
                         }),
            events->end());
  EXPECT_TRUE(nl_->applyBatch({}).empty());
}

}  // namespace
}  // namespace ovl::nl
