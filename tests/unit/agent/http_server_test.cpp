// agent/http_server.h on 127.0.0.1 (any free port): answers, refusals, the deadline from the
// accept, the bound on connections with the oldest closed first.
#include "agent/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/fd.h"

namespace ovl {
namespace {

using namespace std::chrono_literals;

UniqueFd connectTo(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa), 0);
  return fd;
}

void sendAll(const UniqueFd& fd, const std::string& s) {
  ASSERT_EQ(::send(fd.get(), s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size()));
}

// Everything until the server closes, or until `wait` passes ("<timeout>" appended then).
std::string readAll(const UniqueFd& fd, std::chrono::milliseconds wait = 3000ms) {
  std::string out;
  const auto end = std::chrono::steady_clock::now() + wait;
  char buf[4096];
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    pollfd p{fd.get(), POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) != 1) {
      return out + "<timeout>";
    }
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n <= 0) {
      return out;
    }
    out.append(buf, static_cast<size_t>(n));
  }
}

std::string get(uint16_t port, const std::string& request) {
  auto fd = connectTo(port);
  sendAll(fd, request);
  return readAll(fd);
}

std::unique_ptr<HttpServer> startServer(HttpServerLimits limits = {}) {
  std::map<std::string, HttpHandler> routes;
  routes["/ok"] = [] { return HttpResponse{200, "application/json", "{\"a\":1}\n"}; };
  routes["/down"] = [] { return HttpResponse{503, "application/json", "{}\n"}; };
  auto s = HttpServer::start("127.0.0.1:0", std::move(routes), limits);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return s.ok() ? std::move(*s) : nullptr;
}

TEST(HttpServer, AnswersGetWithStatusTypeLengthAndClose) {
  auto s = startServer();
  ASSERT_TRUE(s);
  EXPECT_EQ(get(s->port(), "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 8\r\n"
            "Connection: close\r\n\r\n{\"a\":1}\n");
  EXPECT_EQ(get(s->port(), "GET /down?verbose HTTP/1.0\n\n").substr(0, 33),
            "HTTP/1.1 503 Service Unavailable\r");
  const auto head = get(s->port(), "HEAD /ok HTTP/1.1\r\n\r\n");
  EXPECT_NE(head.find("Content-Length: 8\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("{\"a\""), std::string::npos) << head;
}

TEST(HttpServer, RefusesOtherMethodsPathsAndMalformedLines) {
  auto s = startServer();
  ASSERT_TRUE(s);
  const auto post = get(s->port(), "POST /ok HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(post.rfind("HTTP/1.1 405 ", 0), 0u) << post;
  EXPECT_NE(post.find("Allow: GET, HEAD\r\n"), std::string::npos) << post;
  const auto missing = get(s->port(), "GET /nope HTTP/1.1\r\n\r\n");
  EXPECT_EQ(missing.rfind("HTTP/1.1 404 ", 0), 0u) << missing;
  EXPECT_NE(missing.find("/down, /ok"), std::string::npos) << missing;
  EXPECT_EQ(get(s->port(), "hello\r\n\r\n").rfind("HTTP/1.1 400 ", 0), 0u);
}

TEST(HttpServer, RequestHeadOverTheLimitIs431) {
  HttpServerLimits limits;
  limits.maxRequestBytes = 1024;
  auto s = startServer(limits);
  ASSERT_TRUE(s);
  const auto out =
      get(s->port(), "GET /ok HTTP/1.1\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 431 ", 0), 0u) << out.substr(0, 80);
}

TEST(HttpServer, ASlowClientIsClosedAtTheDeadlineFromItsAccept) {
  HttpServerLimits limits;
  limits.requestDeadline = 300ms;
  auto s = startServer(limits);
  ASSERT_TRUE(s);
  auto fd = connectTo(s->port());
  const auto start = std::chrono::steady_clock::now();
  // A byte every 50 ms: each arrives well within any per-read timeout, yet the whole request
  // never comes.
  for (int i = 0; i < 20; ++i) {
    if (::send(fd.get(), "G", 1, MSG_NOSIGNAL) != 1) {
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(readAll(fd, 2000ms), "");
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 1000ms);
}

TEST(HttpServer, AtTheBoundTheOldestIsClosedAndTheNewcomerServed) {
  HttpServerLimits limits;
  limits.maxConnections = 8;
  auto s = startServer(limits);
  ASSERT_TRUE(s);
  ASSERT_EQ(s->maxConnections(), 8u);
  std::vector<UniqueFd> idle;
  for (int i = 0; i < 8; ++i) {
    idle.push_back(connectTo(s->port()));
  }
  std::this_thread::sleep_for(100ms);  // all eight accepted, all silent
  const auto out = get(s->port(), "GET /ok HTTP/1.1\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 200 ", 0), 0u) << out;
  EXPECT_EQ(readAll(idle[0], 500ms), "") << "the oldest idle connection was not closed";
  EXPECT_EQ(readAll(idle[7], 200ms), "<timeout>") << "a newer one was closed";
}

// The server side of OutOfDescriptorsAcceptDoesNotWedge, in a child process so that its
// descriptor table is its own: told by a byte on `cmd` to take every descriptor but `spare`
// ('f'), or to give them all back ('r'); it answers each command with a byte on `ack`.
// The descriptors open in this process; SIZE_MAX when none is free even to count them.
size_t openDescriptors() {
  std::error_code ec;
  size_t n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return ec ? SIZE_MAX : n;
}

[[noreturn]] void runStarvedServer(int cmd, int ack) {
  auto s = HttpServer::start("127.0.0.1:0", {{"/ok", [] {
                                                return HttpResponse{200, "text/plain", "ok\n"};
                                              }}});
  if (!s.ok()) {
    ::_exit(3);
  }
  const uint16_t port = (*s)->port();
  if (::write(ack, &port, sizeof port) != sizeof port) {
    ::_exit(3);
  }
  // The descriptors open with no connection held by the server.
  const size_t idle = openDescriptors();
  std::vector<UniqueFd> filler;
  char c = 0;
  while (::read(cmd, &c, 1) == 1) {
    if (c == 'r') {
      filler.clear();
    } else {
      const size_t spare = static_cast<size_t>(c - '0');
      // For "none of the server's connections open", wait until it has closed the last one
      // (it holds a connection after its answer until the client closes).
      for (int i = 0; spare == 0 && i < 300 && openDescriptors() > idle + filler.size(); ++i) {
        std::this_thread::sleep_for(10ms);
      }
      for (UniqueFd f; (f = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC))).valid();) {
        filler.push_back(std::move(f));
      }
      filler.resize(filler.size() - std::min(spare, filler.size()));
    }
    if (::write(ack, &c, 1) != 1) {
      ::_exit(3);
    }
  }
  ::_exit(0);
}

// Out of descriptors (EMFILE) the listener must not stay readable with nothing accepted: with
// connections of its own open, the server closes the oldest for the newcomer; with none (the
// rest of the process took them all), it takes the newcomer with its reserve descriptor and
// closes it; either way the client hears something at once, and the server answers again when
// descriptors are back.
TEST(HttpServer, OutOfDescriptorsAcceptDoesNotWedge) {
  int toChild[2];
  int fromChild[2];
  ASSERT_EQ(::pipe2(toChild, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(fromChild, O_CLOEXEC), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(toChild[1]);  // else the child never sees the end of its commands
    ::close(fromChild[0]);
    rlimit low{64, 64};
    ::setrlimit(RLIMIT_NOFILE, &low);
    runStarvedServer(toChild[0], fromChild[1]);
  }
  UniqueFd cmd(toChild[1]);
  UniqueFd ack(fromChild[0]);
  ::close(toChild[0]);
  ::close(fromChild[1]);
  uint16_t port = 0;
  ASSERT_EQ(::read(ack.get(), &port, sizeof port), static_cast<ssize_t>(sizeof port));
  auto command = [&](char c) {
    char back = 0;
    ASSERT_EQ(::write(cmd.get(), &c, 1), 1);
    ASSERT_EQ(::read(ack.get(), &back, 1), 1);
  };
  command('1');  // one descriptor left: for one connection
  auto first = connectTo(port);
  std::this_thread::sleep_for(100ms);
  auto second = connectTo(port);
  sendAll(second, "GET /ok HTTP/1.1\r\n\r\n");
  const auto out = readAll(second, 1000ms);
  EXPECT_EQ(out.rfind("HTTP/1.1 200 ", 0), 0u) << out;
  EXPECT_EQ(readAll(first, 1000ms), "") << "the oldest was not closed to free a descriptor";
  first.reset();
  second.reset();
  command('0');  // none left, none of the server's connections open
  auto third = connectTo(port);
  EXPECT_EQ(readAll(third, 1000ms), "") << "accept wedged: the newcomer neither served nor closed";
  // And again: the reserve was taken back after its first use.
  auto fourth = connectTo(port);
  EXPECT_EQ(readAll(fourth, 1000ms), "") << "the reserve descriptor was lost after one use";
  command('r');
  const auto again = get(port, "GET /ok HTTP/1.1\r\n\r\n");
  EXPECT_EQ(again.rfind("HTTP/1.1 200 ", 0), 0u) << again;
  cmd.reset();
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST(HttpServer, RefusesABadAddressAndAPortInUse) {
  auto bad = HttpServer::start("localhost:80", {});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("expected IPv4:port"), std::string::npos);
  auto s = startServer();
  ASSERT_TRUE(s);
  auto again = HttpServer::start("127.0.0.1:" + std::to_string(s->port()), {});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, EADDRINUSE);
}

}  // namespace
}  // namespace ovl
