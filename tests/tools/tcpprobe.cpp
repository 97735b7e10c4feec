// ovl-tcpprobe: a tiny TCP traffic tool for the netns/e2e tests and the demo.
//
//   ovl-tcpprobe serve --port P [--bind IP] [--hello NAME]   ("{peer}" in NAME: client address)
//   ovl-tcpprobe connect HOST PORT [--timeout-ms N] [--expect-hello] [--repeat N]
//   ovl-tcpprobe udp-serve --port P [--hello NAME]
//   ovl-tcpprobe udp-stream HOST PORT --seconds S [--interval-ms 50]
//   ovl-tcpprobe stream HOST PORT --seconds S [--interval-ms N] [--status-file F]
//
// Plain POSIX sockets, a thread per accepted connection; deliberately independent of ovl's code.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;  // "--name" -> value ("" for flags)
};

constexpr const char* kUsage =
    "usage: ovl-tcpprobe serve --port P [--bind IP] [--hello NAME]\n"
    "       ovl-tcpprobe connect HOST PORT [--timeout-ms N] [--expect-hello] [--repeat N]\n"
    "       ovl-tcpprobe stream HOST PORT --seconds S [--interval-ms N] [--status-file F]\n";

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "ovl-tcpprobe: %s\n%s", msg.c_str(), kUsage);
  std::exit(2);
}

Args parse_args(int argc, char** argv) {
  static const char* const kFlags[] = {"--expect-hello"};
  Args args;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) {
      args.positional.push_back(a);
    } else if (std::find(std::begin(kFlags), std::end(kFlags), a) != std::end(kFlags)) {
      args.options[a] = "";
    } else if (i + 1 < argc) {
      args.options[a] = argv[++i];
    } else {
      usage_error("option " + a + " needs a value");
    }
  }
  return args;
}

long opt_long(const Args& args, const std::string& name, std::optional<long> def) {
  auto it = args.options.find(name);
  if (it == args.options.end()) {
    if (!def)
      usage_error("missing " + name);
    return *def;
  }
  char* end = nullptr;
  long v = std::strtol(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0' || v < 0)
    usage_error("bad value for " + name);
  return v;
}

long ms_left(Clock::time_point deadline) {
  return std::max<long>(0, std::chrono::duration_cast<Ms>(deadline - Clock::now()).count());
}

bool send_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Connects to HOST:PORT within the deadline. On failure returns -1 and sets `err`.
int connect_to(const std::string& host, const std::string& port, Clock::time_point deadline,
               std::string& err) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    err = std::string("resolve: ") + ::gai_strerror(rc);
    return -1;
  }
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err = std::string("socket: ") + std::strerror(errno);
    ::freeaddrinfo(res);
    return -1;
  }
  int rc = ::connect(fd, res->ai_addr, res->ai_addrlen);
  ::freeaddrinfo(res);
  if (rc < 0 && errno != EINPROGRESS) {
    err = std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  pollfd p{fd, POLLOUT, 0};
  if (rc < 0 && ::poll(&p, 1, static_cast<int>(ms_left(deadline))) <= 0) {
    err = "connect: timed out";
    ::close(fd);
    return -1;
  }
  int soerr = 0;
  socklen_t len = sizeof soerr;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
  if (soerr != 0) {
    err = std::string("connect: ") + std::strerror(soerr);
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// Buffered line reader on a non-blocking socket, each read bounded by a deadline.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {}
  // Returns the line without its '\n', or nullopt with `err` set.
  std::optional<std::string> read_line(Clock::time_point deadline, std::string& err) {
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      pollfd p{fd_, POLLIN, 0};
      int rc = ::poll(&p, 1, static_cast<int>(ms_left(deadline)));
      if (rc < 0 && errno == EINTR)
        continue;
      if (rc == 0) {
        err = "timed out waiting for the echo";
        return std::nullopt;
      }
      char chunk[4096];
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (n < 0) {
        err = std::string("recv: ") + std::strerror(errno);
        return std::nullopt;
      }
      if (n == 0) {
        err = "connection closed by peer";
        return std::nullopt;
      }
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }

 private:
  int fd_;
  std::string buf_;
};

// "{peer}" in the hello line becomes the client's address as this server sees it (so a test
// can tell whether the client's source address was kept or masqueraded).
void echo_conn(int fd, std::string hello) {
  if (auto at = hello.find("{peer}"); at != std::string::npos) {
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    char text[INET_ADDRSTRLEN] = "?";
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) == 0)
      ::inet_ntop(AF_INET, &peer.sin_addr, text, sizeof text);
    hello.replace(at, 6, text);
  }
  if (hello.empty() || send_all(fd, hello + "\n")) {
    char buf[16384];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0 || !send_all(fd, std::string(buf, static_cast<size_t>(n))))
        break;
    }
  }
  ::close(fd);
}

int cmd_serve(const Args& args) {
  long port = opt_long(args, "--port", std::nullopt);
  std::string bind_ip = args.options.count("--bind") ? args.options.at("--bind") : "0.0.0.0";
  std::string hello = args.options.count("--hello") ? args.options.at("--hello") : "";
  sockaddr_storage ss{};
  socklen_t ss_len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET, bind_ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    ss_len = sizeof *v4;
  } else if (::inet_pton(AF_INET6, bind_ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    ss_len = sizeof *v6;
  } else {
    usage_error("bad --bind address " + bind_ip);
  }
  int one = 1;
  int lfd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lfd < 0 || ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      ::bind(lfd, reinterpret_cast<sockaddr*>(&ss), ss_len) < 0 || ::listen(lfd, 1024) < 0) {
    std::fprintf(stderr, "serve: %s:%ld: %s\n", bind_ip.c_str(), port, std::strerror(errno));
    return 1;
  }
  std::fprintf(stderr, "serve: listening on %s:%ld\n", bind_ip.c_str(), port);
  for (;;) {
    int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE)
        continue;
      std::fprintf(stderr, "serve: accept: %s\n", std::strerror(errno));
      return 1;
    }
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::thread(echo_conn, fd, hello).detach();
  }
}

// One connection: optional hello line (printed), then "ping" echoed. "" = success, else why.
std::string connect_once(const std::string& host, const std::string& port, long timeoutMs,
                         bool expectHello) {
  auto deadline = Clock::now() + Ms(timeoutMs);
  std::string err;
  int fd = connect_to(host, port, deadline, err);
  if (fd < 0)
    return err;
  LineReader reader(fd);
  std::optional<std::string> line;
  if (expectHello) {
    line = reader.read_line(deadline, err);
    if (line)
      std::printf("%s\n", line->c_str());
  }
  if (!expectHello || line) {
    if (!send_all(fd, "ping\n")) {
      err = std::string("send: ") + std::strerror(errno);
    } else {
      line = reader.read_line(deadline, err);
      // Without --expect-hello, tolerate (and skip) one hello line before the echo.
      if (line && *line != "ping" && !expectHello) {
        line = reader.read_line(deadline, err);
      }
      if (line && *line != "ping")
        err = "unexpected reply '" + *line + "'";
    }
  }
  ::close(fd);
  return err;
}

int cmd_connect(const Args& args) {
  if (args.positional.size() != 2)
    usage_error("connect needs HOST PORT");
  const std::string& host = args.positional[0];
  const std::string& port = args.positional[1];
  const long timeoutMs = opt_long(args, "--timeout-ms", 2000);
  const long repeat = opt_long(args, "--repeat", 1);
  const bool expectHello = args.options.count("--expect-hello") != 0;
  long failed = 0;
  std::string lastErr;
  for (long i = 0; i < repeat; ++i) {
    std::string err = connect_once(host, port, timeoutMs, expectHello);
    if (!err.empty()) {
      ++failed;
      lastErr = err;
    }
  }
  std::fflush(stdout);
  if (failed > 0) {
    if (repeat > 1)
      std::fprintf(stderr, "connect %s:%s: %ld of %ld failed, last: %s\n", host.c_str(),
                   port.c_str(), failed, repeat, lastErr.c_str());
    else
      std::fprintf(stderr, "connect %s:%s: %s\n", host.c_str(), port.c_str(), lastErr.c_str());
    return 1;
  }
  return 0;
}

void write_status(const std::string& path, long count) {
  if (path.empty())
    return;
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << count << "\n";
  }
  std::rename(tmp.c_str(), path.c_str());
}

int cmd_stream(const Args& args) {
  if (args.positional.size() != 2)
    usage_error("stream needs HOST PORT");
  const std::string& host = args.positional[0];
  const std::string& port = args.positional[1];
  const long seconds = opt_long(args, "--seconds", std::nullopt);
  const auto interval = Ms(std::max(1L, opt_long(args, "--interval-ms", 50)));
  const std::string status_file =
      args.options.count("--status-file") ? args.options.at("--status-file") : "";

  const auto start = Clock::now();
  const auto end = start + std::chrono::seconds(seconds);
  long count = 0;
  long max_gap_ms = 0;
  std::string err;
  write_status(status_file, 0);
  int fd = connect_to(host, port, start + Ms(2000), err);
  if (fd >= 0) {
    LineReader reader(fd);
    auto last_ok = Clock::now();
    auto next_send = last_ok;
    while (err.empty() && Clock::now() < end) {
      std::this_thread::sleep_until(next_send);
      next_send += interval;
      std::string msg = "seq " + std::to_string(count + 1);
      std::optional<std::string> line;
      if (!send_all(fd, msg + "\n")) {
        err = std::string("send: ") + std::strerror(errno);
      } else if (line = reader.read_line(Clock::now() + Ms(1000), err);
                 line && count == 0 && *line != msg) {
        line = reader.read_line(Clock::now() + Ms(1000), err);  // skip a server's hello line
      }
      if (!err.empty()) {
        err += " (message " + std::to_string(count + 1) + ")";
      } else if (*line != msg) {
        err = "expected '" + msg + "', got '" + *line + "'";
      } else {
        auto now = Clock::now();
        max_gap_ms =
            std::max<long>(max_gap_ms, std::chrono::duration_cast<Ms>(now - last_ok).count());
        last_ok = now;
        write_status(status_file, ++count);
      }
    }
    ::close(fd);
  }
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("stream: %ld messages in %.1f s, max gap %ld ms\n", count, elapsed, max_gap_ms);
  if (!err.empty()) {
    std::fprintf(stderr, "stream %s:%s: %s after %ld messages\n", host.c_str(), port.c_str(),
                 err.c_str(), count);
    return 1;
  }
  return 0;
}

}  // namespace

// UDP: a server that answers every datagram with its name, and a client that sends from ONE
// socket (so conntrack keeps one flow) every interval and prints "<ms since start> <answer>"
// for each reply, or "<ms> -" when none came within the interval.
int cmd_udp_serve(const Args& args) {
  long port = opt_long(args, "--port", std::nullopt);
  std::string hello = args.options.count("--hello") ? args.options.at("--hello") : "";
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::fprintf(stderr, "udp-serve: bind port %ld: %s\n", port, std::strerror(errno));
    return 1;
  }
  char buf[2048];
  for (;;) {
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&peer), &len);
    if (n < 0 && errno != EINTR)
      return 1;
    if (n >= 0)
      ::sendto(fd, hello.data(), hello.size(), 0, reinterpret_cast<sockaddr*>(&peer), len);
  }
}

int cmd_udp_stream(const Args& args) {
  if (args.positional.size() != 2)
    usage_error("udp-stream needs HOST PORT");
  const long seconds = opt_long(args, "--seconds", std::nullopt);
  const long interval = opt_long(args, "--interval-ms", 50);
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(std::stol(args.positional[1])));
  if (fd < 0 || ::inet_pton(AF_INET, args.positional[0].c_str(), &to.sin_addr) != 1 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    std::fprintf(stderr, "udp-stream: %s: %s\n", args.positional[0].c_str(), std::strerror(errno));
    return 1;
  }
  const auto start = Clock::now();
  const auto end = start + std::chrono::seconds(seconds);
  while (Clock::now() < end) {
    const auto sent = Clock::now();
    ::send(fd, "ping", 4, 0);
    pollfd p{fd, POLLIN, 0};
    char buf[256];
    std::string answer = "-";
    if (::poll(&p, 1, static_cast<int>(interval)) > 0) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0)
        answer.assign(buf, static_cast<size_t>(n));
    }
    const auto ms = std::chrono::duration_cast<Ms>(Clock::now() - start).count();
    std::printf("%lld %s\n", static_cast<long long>(ms), answer.c_str());
    std::this_thread::sleep_until(sent + Ms(interval));
  }
  return 0;
}

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (argc < 2)
    usage_error("missing command");
  std::string cmd = argv[1];
  Args args = parse_args(argc, argv);
  if (cmd == "serve")
    return cmd_serve(args);
  if (cmd == "connect")
    return cmd_connect(args);
  if (cmd == "stream")
    return cmd_stream(args);
  if (cmd == "udp-serve")
    return cmd_udp_serve(args);
  if (cmd == "udp-stream")
    return cmd_udp_stream(args);
  usage_error("unknown command " + cmd);
}
