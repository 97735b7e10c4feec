// Conntrack cleanup against the real kernel: a client keeps sending from one UDP socket to a
// DNATed address; the kernel's conntrack entry pins it to the endpoint of its first datagram even
// after the DNAT rule changes, until deleteUdpFlows() deletes that entry. `conntrack -L` is the
// independent witness.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "rules/conntrack.h"
#include "tests/netns/netns_fixture.h"

namespace ovl::conntrack {
namespace {

Ipv4 ip(const char* text) {
  return *Ipv4::parse(text);
}

sockaddr_in sockAddr(const char* addr, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  inet_pton(AF_INET, addr, &sa.sin_addr);
  return sa;
}

// UDP echo servers in the "pod" namespace: one socket per address, each answering every datagram
// with its own address, so the client can tell which endpoint it reached.
class UdpEchoServers {
 public:
  UdpEchoServers(const std::string& ns, std::vector<std::string> addrs, uint16_t port) {
    std::promise<bool> ready;
    auto started = ready.get_future();
    thread_ = std::thread(
        [this, ns, addrs = std::move(addrs), port, &ready] { serve(ns, addrs, port, ready); });
    ok_ = started.get();
  }
  ~UdpEchoServers() {
    stop_ = true;
    thread_.join();
  }
  bool ok() const { return ok_; }

 private:
  void serve(const std::string& ns, const std::vector<std::string>& addrs, uint16_t port,
             std::promise<bool>& ready) {
    const int nsFd = open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (nsFd < 0 || setns(nsFd, CLONE_NEWNET) != 0) {
      ready.set_value(false);
      return;
    }
    close(nsFd);
    std::vector<pollfd> fds;
    bool bound = true;
    for (const auto& a : addrs) {
      const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      sockaddr_in sa = sockAddr(a.c_str(), port);
      bound = bound && fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
      fds.push_back(pollfd{fd, POLLIN, 0});
    }
    ready.set_value(bound);
    while (bound && !stop_) {
      if (poll(fds.data(), fds.size(), 100) <= 0) {
        continue;
      }
      for (size_t i = 0; i < fds.size(); ++i) {
        if ((fds[i].revents & POLLIN) == 0) {
          continue;
        }
        char buf[64];
        sockaddr_in from{};
        socklen_t len = sizeof(from);
        if (recvfrom(fds[i].fd, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &len) >=
            0) {
          sendto(fds[i].fd, addrs[i].data(), addrs[i].size(), 0, reinterpret_cast<sockaddr*>(&from),
                 len);
        }
      }
    }
    for (const auto& p : fds) {
      if (p.fd >= 0) {
        close(p.fd);
      }
    }
  }

  std::thread thread_;
  std::atomic<bool> stop_{false};
  bool ok_ = false;
};

// A connected UDP socket in the current namespace.
class UdpClient {
 public:
  UdpClient(const char* addr, uint16_t port) : fd_(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in sa = sockAddr(addr, port);
    connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  }
  ~UdpClient() { close(fd_); }
  UdpClient(const UdpClient&) = delete;
  UdpClient& operator=(const UdpClient&) = delete;

  // Sends one datagram and returns the answer (the endpoint's address), "" after 2 s.
  std::string ask() {
    if (send(fd_, "?", 1, 0) != 1) {
      return "";
    }
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 2000) != 1) {
      return "";
    }
    char buf[64];
    const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

 private:
  int fd_;
};

class ConntrackTest : public test::NetnsTest {
 protected:
  void SetUp() override {
    test::NetnsTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    // The "pod": a second namespace behind a veth pair with two endpoint addresses; the test
    // namespace is 10.244.1.1 and routes the service range to the pod side.
    pod_ = addPod({"10.244.1.11", "10.244.1.12"});
  }

  // The witness: UDP conntrack entries of the test namespace, filtered by `args`.
  std::string conntrackList(const std::string& args) {
    return sh("ip netns exec " + ns() + " conntrack -L -p udp " + args + " 2>/dev/null");
  }
  static int lines(const std::string& s) {
    return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
  }

  std::string pod_;
};

TEST_F(ConntrackTest, DeletingTheEntryMovesAStickyUdpClientToTheNewEndpoint) {
  UdpEchoServers servers(pod_, {"10.244.1.11", "10.244.1.12"}, 5353);
  ASSERT_TRUE(servers.ok());
  sh("ip netns exec " + ns() +
     " nft -f - <<'EOF'\n"
     "table ip t {\n"
     "  chain out {\n"
     "    type nat hook output priority -100;\n"
     "    ip daddr 10.96.0.53 udp dport 53 dnat to 10.244.1.11:5353\n"
     "    ip daddr 10.96.0.54 udp dport 53 dnat to 10.244.1.11:5353\n"
     "  }\n"
     "}\n"
     "EOF\n");

  auto ct = Conntrack::create();
  ASSERT_TRUE(ct) << ct.error().message;

  UdpClient client("10.96.0.53", 53);
  UdpClient other("10.96.0.54", 53);      // same endpoint, another service: must be left alone
  UdpClient direct("10.244.1.11", 5353);  // not DNATed: must be left alone
  ASSERT_EQ(client.ask(), "10.244.1.11");
  ASSERT_EQ(other.ask(), "10.244.1.11");
  ASSERT_EQ(direct.ask(), "10.244.1.11");

  // The endpoint goes away: new flows go to .12, but the client's entry pins it to .11.
  sh("ip netns exec " + ns() + " nft flush chain ip t out");
  sh("ip netns exec " + ns() +
     " nft add rule ip t out ip daddr 10.96.0.53 udp dport 53 dnat to 10.244.1.12:5353");
  EXPECT_EQ(client.ask(), "10.244.1.11") << "conntrack keeps the socket on the old endpoint";
  const std::string before = conntrackList("--orig-dst 10.96.0.53 --reply-src 10.244.1.11");
  EXPECT_EQ(lines(before), 1) << before;

  auto n = ct->deleteUdpFlows({StaleUdpFlow{ip("10.96.0.53"), 53, ip("10.244.1.11"), 5353}});
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(lines(conntrackList("--orig-dst 10.96.0.53 --reply-src 10.244.1.11")), 0);
  EXPECT_EQ(lines(conntrackList("--orig-dst 10.96.0.54 --reply-src 10.244.1.11")), 1)
      << "another service's entry to the same endpoint is kept";
  EXPECT_EQ(lines(conntrackList("--orig-dst 10.244.1.11")), 1) << "the direct entry is kept";

  EXPECT_EQ(client.ask(), "10.244.1.12") << "the same socket moves at once";
  EXPECT_EQ(lines(conntrackList("--orig-dst 10.96.0.53 --reply-src 10.244.1.12")), 1);

  // Nothing left to match: 0, and not an error.
  n = ct->deleteUdpFlows({StaleUdpFlow{ip("10.96.0.53"), 53, ip("10.244.1.11"), 5353}});
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 0u);
}

TEST_F(ConntrackTest, NodePortFlowMatchesAnyDestinationAddressWithItsPort) {
  UdpEchoServers servers(pod_, {"10.244.1.11", "10.244.1.12"}, 5353);
  ASSERT_TRUE(servers.ok());
  sh("ip netns exec " + ns() +
     " nft -f - <<'EOF'\n"
     "table ip t {\n"
     "  chain out {\n"
     "    type nat hook output priority -100;\n"
     "    ip daddr 10.96.0.0/24 udp dport 30053 dnat to 10.244.1.11:5353\n"
     "    ip daddr 10.96.0.0/24 udp dport 30054 dnat to 10.244.1.11:5353\n"
     "  }\n"
     "}\n"
     "EOF\n");
  auto ct = Conntrack::create();
  ASSERT_TRUE(ct) << ct.error().message;

  UdpClient a("10.96.0.1", 30053);
  UdpClient b("10.96.0.2", 30053);
  UdpClient otherPort("10.96.0.1", 30054);
  ASSERT_EQ(a.ask(), "10.244.1.11");
  ASSERT_EQ(b.ask(), "10.244.1.11");
  ASSERT_EQ(otherPort.ask(), "10.244.1.11");

  EXPECT_EQ(*ct->deleteUdpFlows({}), 0u);
  auto n = ct->deleteUdpFlows({StaleUdpFlow{Ipv4{}, 30053, ip("10.244.1.11"), 5353}});
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 2u);
  EXPECT_EQ(lines(conntrackList("--reply-src 10.244.1.11")), 1)
      << conntrackList("--reply-src 10.244.1.11");
  EXPECT_EQ(lines(conntrackList("--orig-port-dst 30054")), 1);
}

}  // namespace
}  // namespace ovl::conntrack
