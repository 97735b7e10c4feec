// SystemdNotifier against a datagram socket standing in for systemd's NOTIFY_SOCKET: what it
// sends before and after READY=1, with and without a watchdog.
#include "agent/systemd_notifier.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace ovl {
namespace {

class SystemdNotifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ovl-notify-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/notify";
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    ASSERT_GE(fd_, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path_.copy(addr.sun_path, sizeof addr.sun_path - 1);
    ASSERT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
  }
  void TearDown() override {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::close(fd_);
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  // Every message sent so far, one string each.
  std::vector<std::string> received() {
    std::vector<std::string> out;
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n < 0) {
        return out;
      }
      out.emplace_back(buf, static_cast<size_t>(n));
    }
  }

  std::string dir_, path_;
  int fd_ = -1;
};

TEST_F(SystemdNotifierTest, StartUpProgressExtendsTheTimeoutThenFeedsTheWatchdog) {
  ::setenv("WATCHDOG_USEC", "30000000", 1);
  SystemdNotifier n;
  n.progress("read 100000 services from cluster.yaml");
  n.progress("planned 100000 services");  // within kProgressEvery of the first: not sent
  EXPECT_EQ(received(),
            std::vector<std::string>{"EXTEND_TIMEOUT_USEC=90000000\n"
                                     "STATUS=starting: read 100000 services from cluster.yaml"});

  n.ready();
  n.progress("nftables sync of 100000 services finished");
  n.progress("read 100000 services from cluster.yaml");  // each step: the next may be long too
  EXPECT_EQ(received(), (std::vector<std::string>{"READY=1", "WATCHDOG=1", "WATCHDOG=1"}));

  // The loop's turns are paced: four per WatchdogSec=, the last one sent just now.
  n.watchdog();
  EXPECT_TRUE(received().empty());
  n.status("converged: 1 peers, 100000 services");
  n.stopping();
  EXPECT_EQ(received(),
            (std::vector<std::string>{"STATUS=converged: 1 peers, 100000 services", "STOPPING=1"}));
}

TEST_F(SystemdNotifierTest, WithoutAWatchdogNothingButTheStartUpIsSent) {
  SystemdNotifier n;
  n.watchdog();
  EXPECT_TRUE(received().empty());
  n.progress("datastore started");
  EXPECT_EQ(received().size(), 1u);
  n.ready();
  n.progress("nftables sync of 1 services finished");
  n.watchdog();
  EXPECT_EQ(received(), std::vector<std::string>{"READY=1"});
}

TEST_F(SystemdNotifierTest, OutsideSystemdItSendsNothingAndDoesNotFail) {
  ::unsetenv("NOTIFY_SOCKET");
  ::setenv("WATCHDOG_USEC", "30000000", 1);
  SystemdNotifier n;
  n.progress("datastore started");
  n.ready();
  n.progress("nftables sync of 1 services finished");
  n.watchdog();
  EXPECT_TRUE(received().empty());
}

}  // namespace
}  // namespace ovl
