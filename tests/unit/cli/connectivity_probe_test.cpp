// cli/connectivity_probe: the ICMP checksum, the errors' wording, and runProbes against
// loopback (TCP accepted and refused, UDP answered, refused and silent, a stop request).
#include "cli/connectivity_probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <thread>

namespace ovl::cli {
namespace {

using std::chrono::milliseconds;

const Ipv4 kLoopback{0x7f000001};

TEST(ConnectivityProbe, InternetChecksumOfRfc1071Example) {
  // RFC 1071 section 3: the sum of these words is ddf2, so the checksum is 220d.
  const std::array<uint8_t, 8> data = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  const uint16_t sum = internetChecksum(data.data(), data.size());
  std::array<uint8_t, 2> bytes{};
  std::memcpy(bytes.data(), &sum, 2);
  EXPECT_EQ(bytes[0], 0x22);
  EXPECT_EQ(bytes[1], 0x0d);
  // A packet with its checksum in place sums to zero, also with an odd length.
  std::array<uint8_t, 7> odd = {0x08, 0x00, 0x00, 0x00, 0x12, 0x34, 0x56};
  const uint16_t c = internetChecksum(odd.data(), odd.size());
  std::memcpy(odd.data() + 2, &c, 2);
  EXPECT_EQ(internetChecksum(odd.data(), odd.size()), 0);
}

TEST(ConnectivityProbe, ErrorsSayWhatHappened) {
  EXPECT_EQ(probeError(ECONNREFUSED), "connection refused");
  EXPECT_EQ(probeError(ENETUNREACH), "network unreachable (no route to it)");
  EXPECT_NE(probeError(EHOSTUNREACH).find("host unreachable"), std::string::npos);
  EXPECT_NE(probeError(EPERM).find("firewall"), std::string::npos);
}

// A socket bound to 127.0.0.1 on a free port; its port.
UniqueFd bound(int type, uint16_t& port) {
  UniqueFd fd(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  socklen_t len = sizeof sa;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len);
  port = ntohs(sa.sin_port);
  return fd;
}

TEST(ConnectivityProbe, TcpAndUdpOnLoopback) {
  uint16_t listening = 0, closed = 0, udpSilent = 0, udpClosed = 0;
  UniqueFd server = bound(SOCK_STREAM, listening);
  ASSERT_EQ(::listen(server.get(), 4), 0);
  {
    UniqueFd gone = bound(SOCK_STREAM, closed);  // a port nothing listens on once closed
    UniqueFd goneUdp = bound(SOCK_DGRAM, udpClosed);
  }
  UniqueFd silent = bound(SOCK_DGRAM, udpSilent);
  const std::vector<ProbeLeg> legs = {{ProbeKind::kTcp, kLoopback, listening, -1},
                                      {ProbeKind::kTcp, kLoopback, closed, -1},
                                      {ProbeKind::kUdp, kLoopback, udpClosed, -1},
                                      {ProbeKind::kUdp, kLoopback, udpSilent, -1}};
  std::vector<size_t> order;
  const auto run = runProbes(legs, milliseconds(300), -1,
                             [&](size_t i, const LegResult&) { order.push_back(i); });
  ASSERT_FALSE(run.interrupted);
  ASSERT_EQ(run.results.size(), 4u);
  EXPECT_EQ(run.results[0].outcome, Outcome::kOk) << run.results[0].error;
  EXPECT_EQ(run.results[1].outcome, Outcome::kFail);
  EXPECT_EQ(run.results[1].error, "connection refused");
  EXPECT_EQ(run.results[2].outcome, Outcome::kFail);
  EXPECT_EQ(run.results[2].error, "connection refused");
  EXPECT_EQ(run.results[3].outcome, Outcome::kInconclusive);
  EXPECT_NE(run.results[3].error.find("no reply within 300 ms"), std::string::npos);
  EXPECT_GE(run.results[3].ms, 300);
  EXPECT_LT(run.results[0].ms, 300);
  EXPECT_EQ(order.size(), 4u);
  EXPECT_EQ(order.back(), 3u);  // the silent one ends last, at the timeout
}

TEST(ConnectivityProbe, UdpReplyPasses) {
  uint16_t port = 0;
  UniqueFd echo = bound(SOCK_DGRAM, port);
  std::thread t([&] {
    char buf[64];
    sockaddr_in from{};
    socklen_t len = sizeof from;
    const ssize_t n =
        ::recvfrom(echo.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n > 0) {
      ::sendto(echo.get(), buf, static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), len);
    }
  });
  const auto run = runProbes({{ProbeKind::kUdp, kLoopback, port, -1}}, milliseconds(2000), -1,
                             [](size_t, const LegResult&) {});
  t.join();
  ASSERT_EQ(run.results.size(), 1u);
  EXPECT_EQ(run.results[0].outcome, Outcome::kOk) << run.results[0].error;
}

TEST(ConnectivityProbe, StopRequestEndsTheRunAtOnce) {
  uint16_t port = 0;
  UniqueFd silent = bound(SOCK_DGRAM, port);
  UniqueFd stop(::eventfd(0, EFD_CLOEXEC));
  std::thread t([&] {
    std::this_thread::sleep_for(milliseconds(50));
    const uint64_t one = 1;
    EXPECT_EQ(::write(stop.get(), &one, sizeof one), 8);
  });
  const auto start = std::chrono::steady_clock::now();
  const auto run = runProbes({{ProbeKind::kUdp, kLoopback, port, -1}}, milliseconds(5000),
                             stop.get(), [](size_t, const LegResult&) {});
  t.join();
  EXPECT_TRUE(run.interrupted);
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(2000));
  ASSERT_EQ(run.results.size(), 1u);
  EXPECT_EQ(run.results[0].outcome, Outcome::kSkipped);
}

}  // namespace
}  // namespace ovl::cli
