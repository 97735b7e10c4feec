#include "agent/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <list>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "common/fd.h"

namespace ovl {

namespace {

using Clock = std::chrono::steady_clock;

// Read, then write the answer, then wait for the client's close (closing with unread bytes
// would reset the connection and could destroy the answer before the client read it).
enum class Phase { kReading, kWriting, kDraining };

struct Conn {
  uint64_t id = 0;  // the epoll key: never reused, so a late event cannot reach a newcomer
  UniqueFd fd;
  Clock::time_point deadline;
  Phase phase = Phase::kReading;
  std::string in;
  std::string out;
  size_t sent = 0;
};

std::string_view reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return status >= 500 ? "Internal Server Error" : "Unknown";
  }
}

// Built without fmt on purpose: it runs when the process may be out of descriptors, and
// UBSan's vptr check on fmt's buffer needs a pipe of its own to probe memory, so under the
// sanitizer a format there reports a false "invalid vptr" and aborts (the EMFILE unit test).
std::string render(const HttpResponse& r, bool head) {
  std::string out =
      "HTTP/1.1 " + std::to_string(r.status) + " " + std::string(reason(r.status)) + "\r\n";
  if (!r.contentType.empty()) {
    out += "Content-Type: " + r.contentType + "\r\n";
  }
  if (r.status == 405) {
    out += "Allow: GET, HEAD\r\n";
  }
  out += "Content-Length: " + std::to_string(r.body.size()) + "\r\nConnection: close\r\n\r\n";
  if (!head) {
    out += r.body;
  }
  return out;
}

HttpResponse plain(int status, std::string_view text) {
  return {status, "text/plain; charset=utf-8", std::string(text) + "\n"};
}

// The end of the request head (after the empty line), or npos while it is incomplete.
size_t headEnd(std::string_view in) {
  const size_t crlf = in.find("\r\n\r\n");
  const size_t lf = in.find("\n\n");
  if (crlf != std::string_view::npos && (lf == std::string_view::npos || crlf < lf)) {
    return crlf + 4;
  }
  return lf == std::string_view::npos ? std::string_view::npos : lf + 2;
}

int msUntil(Clock::time_point t) {
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(t - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(ms, 0, 60'000));
}

}  // namespace

struct HttpServer::Impl {
  UniqueFd listen;
  UniqueFd stop;  // eventfd: the destructor wakes the loop
  UniqueFd epoll;
  UniqueFd reserve;  // /dev/null, given up to accept-and-close when descriptors run out
  std::map<std::string, HttpHandler> routes;
  HttpServerLimits limits;
  // In the order of their deadlines: every connection in `reading` got the same time from its
  // accept, every one in `writing` the same from its request, so the front expires first and
  // is the one to close for a newcomer.
  std::list<Conn> reading;
  std::list<Conn> writing;
  std::unordered_map<uint64_t, std::list<Conn>::iterator> byId;
  uint64_t nextId = kFirstConnId;
  // Set when accepting is impossible for now (no descriptor even for the reserve, no kernel
  // memory): the listener leaves the epoll set until then instead of waking it in a busy loop.
  std::optional<Clock::time_point> acceptPausedUntil;

  static constexpr uint64_t kListenId = 0;
  static constexpr uint64_t kStopId = 1;
  static constexpr uint64_t kFirstConnId = 2;

  size_t open() const { return reading.size() + writing.size(); }
  void run();
  void acceptAll();
  void pauseAccepting();
  void resumeAccepting();
  int nextTimeout() const;
  bool acceptOne();
  // Whether a connection waits in the listener's queue (without taking a descriptor).
  bool connectionPending() const;
  void evictOldest();
  void expire();
  void onEvent(std::list<Conn>::iterator it, uint32_t events);
  bool readRequest(std::list<Conn>::iterator it);
  HttpResponse answer(std::string_view head, bool& headOnly);
  void respond(std::list<Conn>::iterator it, const HttpResponse& r, bool headOnly);
  bool flush(std::list<Conn>::iterator it);
  void close(std::list<Conn>::iterator it);
  void closeFront(std::list<Conn>& list);
  void watch(Conn& c, uint32_t events, int op);
};

void HttpServer::Impl::watch(Conn& c, uint32_t events, int op) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = c.id;
  ::epoll_ctl(epoll.get(), op, c.fd.get(), &ev);
}

void HttpServer::Impl::close(std::list<Conn>::iterator it) {
  // Closing the descriptor removes it from the epoll set.
  byId.erase(it->id);
  (it->phase == Phase::kReading ? reading : writing).erase(it);
}

void HttpServer::Impl::closeFront(std::list<Conn>& list) {
  byId.erase(list.front().id);
  list.pop_front();
}

void HttpServer::Impl::evictOldest() {
  if (!reading.empty()) {
    closeFront(reading);
  } else if (!writing.empty()) {
    closeFront(writing);
  }
}

void HttpServer::Impl::expire() {
  const auto now = Clock::now();
  while (!reading.empty() && reading.front().deadline <= now) {
    closeFront(reading);
  }
  while (!writing.empty() && writing.front().deadline <= now) {
    closeFront(writing);
  }
}

// One accept. False when there is nothing (more) to accept now.
bool HttpServer::Impl::acceptOne() {
  int fd = ::accept4(listen.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno == EMFILE || errno == ENFILE) {
      // The kernel reserves the descriptor before it looks at the queue, so EMFILE comes also
      // when no one is waiting: then there is nothing to make room for (evicting would close a
      // connection just accepted, for no one).
      if (!connectionPending()) {
        return false;
      }
      // Out of descriptors: free one of ours, or (none of ours open) take the pending
      // connection with the reserve and close it, so the listener does not stay readable
      // forever with nothing accepted (a busy loop that serves no one).
      if (open() > 0) {
        evictOldest();
        return true;
      }
      if (reserve.valid()) {
        reserve.reset();
        // Closed before the reserve is taken again, which needs that very descriptor.
        const bool dropped =
            UniqueFd(::accept4(listen.get(), nullptr, nullptr, SOCK_CLOEXEC)).valid();
        reserve.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        if (dropped) {
          return true;
        }
      }
      pauseAccepting();
      return false;
    }
    if (errno == ENOBUFS || errno == ENOMEM) {
      pauseAccepting();
      return false;
    }
    // EAGAIN: nothing pending. ECONNABORTED and the like: that one is gone, try the next.
    return errno != EAGAIN && errno != EWOULDBLOCK;
  }
  if (open() >= limits.maxConnections) {
    evictOldest();
  }
  auto it = reading.emplace(reading.end());
  it->id = nextId++;
  it->fd.reset(fd);
  it->deadline = Clock::now() + limits.requestDeadline;
  byId.emplace(it->id, it);
  watch(*it, EPOLLIN, EPOLL_CTL_ADD);
  // A probe sends its request with the connect: answer it now, before a flood of newer
  // connections can push it out.
  onEvent(it, EPOLLIN);
  return true;
}

bool HttpServer::Impl::connectionPending() const {
  pollfd p{listen.get(), POLLIN, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & POLLIN) != 0;
}

void HttpServer::Impl::pauseAccepting() {
  ::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, listen.get(), nullptr);
  acceptPausedUntil = Clock::now() + std::chrono::milliseconds(100);
}

void HttpServer::Impl::resumeAccepting() {
  if (!acceptPausedUntil || *acceptPausedUntil > Clock::now()) {
    return;
  }
  acceptPausedUntil.reset();
  if (!reserve.valid()) {
    reserve.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kListenId;
  ::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, listen.get(), &ev);
}

// Until the first deadline (of a connection, or of a pause in accepting); -1: none.
int HttpServer::Impl::nextTimeout() const {
  std::optional<Clock::time_point> first = acceptPausedUntil;
  for (const auto* list : {&reading, &writing}) {
    if (!list->empty() && (!first || list->front().deadline < *first)) {
      first = list->front().deadline;
    }
  }
  return first ? msUntil(*first) : -1;
}

void HttpServer::Impl::acceptAll() {
  // Bounded per wake-up, so connections already open get their turn between bursts.
  for (int i = 0; i < 256 && acceptOne(); ++i) {
  }
}

// Reads what arrived. True when the connection is still open.
bool HttpServer::Impl::readRequest(std::list<Conn>::iterator it) {
  std::array<char, 4096> buf;
  // Bounded per event (epoll reports the rest again): a client streaming bytes at a draining
  // connection cannot hold the thread.
  for (int round = 0; round < 8; ++round) {
    const ssize_t n = ::recv(it->fd.get(), buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return true;
    }
    if (n <= 0) {
      close(it);
      return false;
    }
    if (it->phase == Phase::kDraining) {
      continue;  // the answer is out; discard until the client closes
    }
    it->in.append(buf.data(), static_cast<size_t>(n));
    const size_t end = headEnd(it->in);
    if (end != std::string::npos && end <= limits.maxRequestBytes) {
      bool headOnly = false;
      const auto r = answer(std::string_view(it->in).substr(0, end), headOnly);
      respond(it, r, headOnly);
      return true;
    }
    if (it->in.size() > limits.maxRequestBytes) {
      respond(it, plain(431, fmt::format("request head over {} bytes", limits.maxRequestBytes)),
              false);
      return true;
    }
  }
  return true;
}

HttpResponse HttpServer::Impl::answer(std::string_view head, bool& headOnly) {
  const std::string_view line = head.substr(0, head.find_first_of("\r\n"));
  const size_t sp1 = line.find(' ');
  const size_t sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 <= sp1 || !line.substr(sp2 + 1).starts_with("HTTP/1.")) {
    return plain(400, "expected a request line: METHOD PATH HTTP/1.x");
  }
  const std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  target = target.substr(0, target.find('?'));
  auto route = routes.find(std::string(target));
  if (route == routes.end()) {
    std::string paths;
    for (const auto& [path, handler] : routes) {
      paths += (paths.empty() ? "" : ", ") + path;
    }
    return plain(404, "no such path; this endpoint serves " + paths);
  }
  if (method != "GET" && method != "HEAD") {
    return plain(405, "only GET and HEAD");
  }
  headOnly = method == "HEAD";
  try {
    return route->second();
  } catch (const std::exception& e) {
    return plain(500, e.what());
  }
}

void HttpServer::Impl::respond(std::list<Conn>::iterator it, const HttpResponse& r, bool headOnly) {
  it->out = render(r, headOnly);
  it->in.clear();
  it->in.shrink_to_fit();
  it->phase = Phase::kWriting;
  it->deadline = Clock::now() + limits.responseDeadline;
  writing.splice(writing.end(), reading, it);
  if (flush(it)) {
    // While writing, not EPOLLIN: bytes the client sends meanwhile would wake the loop for
    // nothing until the answer is out.
    watch(*it, it->phase == Phase::kWriting ? uint32_t{EPOLLOUT} : uint32_t{EPOLLIN},
          EPOLL_CTL_MOD);
  }
}

// Sends what the socket takes. True when the connection is still open.
bool HttpServer::Impl::flush(std::list<Conn>::iterator it) {
  while (it->sent < it->out.size()) {
    const ssize_t n =
        ::send(it->fd.get(), it->out.data() + it->sent, it->out.size() - it->sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return true;
      }
      if (errno == EINTR) {
        continue;
      }
      close(it);
      return false;
    }
    it->sent += static_cast<size_t>(n);
  }
  it->out.clear();
  it->out.shrink_to_fit();
  it->phase = Phase::kDraining;
  ::shutdown(it->fd.get(), SHUT_WR);
  return true;
}

void HttpServer::Impl::onEvent(std::list<Conn>::iterator it, uint32_t events) {
  if (it->phase == Phase::kWriting) {
    if ((events & (EPOLLHUP | EPOLLERR)) != 0) {
      close(it);  // the client is gone; nothing left to answer
    } else if ((events & EPOLLOUT) != 0 && flush(it) && it->phase == Phase::kDraining) {
      watch(*it, EPOLLIN, EPOLL_CTL_MOD);
    }
    return;
  }
  if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) {
    readRequest(it);
  }
}

void HttpServer::Impl::run() {
  std::array<epoll_event, 256> events;
  while (true) {
    const int n = ::epoll_wait(epoll.get(), events.data(), events.size(), nextTimeout());
    for (int i = 0; i < n; ++i) {
      const uint64_t id = events[i].data.u64;
      if (id == kStopId) {
        return;
      }
      if (id == kListenId) {
        acceptAll();
        continue;
      }
      // Still open? An earlier event of this batch (an eviction) may have closed it.
      if (auto found = byId.find(id); found != byId.end()) {
        onEvent(found->second, events[i].events);
      }
    }
    expire();
    resumeAccepting();
  }
}

namespace {

Result<sockaddr_in> parseAddress(const std::string& address) {
  const auto colon = address.rfind(':');
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  unsigned port = 0;
  const char* p = address.c_str() + (colon == std::string::npos ? 0 : colon + 1);
  const char* end = address.c_str() + address.size();
  auto [ptr, ec] = std::from_chars(p, end, port);
  if (colon == std::string::npos || ec != std::errc{} || ptr != end || port > 65535 ||
      ::inet_pton(AF_INET, address.substr(0, colon).c_str(), &sa.sin_addr) != 1) {
    return Error::msg(fmt::format("healthAddress '{}': expected IPv4:port", address));
  }
  sa.sin_port = htons(static_cast<uint16_t>(port));
  return sa;
}

Result<UniqueFd> listenOn(const std::string& address, const sockaddr_in& sa) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    return Error::sys(errno, fmt::format("healthAddress {}: socket", address));
  }
  // SO_REUSEADDR only (a restart while old connections linger); not SO_REUSEPORT, which would
  // let a second agent share the port and answer for the first.
  int yes = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
    const int err = errno;
    if (err == EACCES) {
      return Error{err, fmt::format("healthAddress {}: cannot listen: permission denied: "
                                    "ovl-agent needs CAP_NET_BIND_SERVICE for a port below 1024 "
                                    "(or use one above, such as the default 9765)",
                                    address)};
    }
    return Error::sys(err, fmt::format("healthAddress {}: cannot listen", address));
  }
  if (::listen(fd.get(), SOMAXCONN) != 0) {
    return Error::sys(errno, fmt::format("healthAddress {}: cannot listen", address));
  }
  return fd;
}

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::start(const std::string& address,
                                                      std::map<std::string, HttpHandler> routes,
                                                      HttpServerLimits limits) {
  auto sa = parseAddress(address);
  if (!sa) {
    return sa.error();
  }
  auto fd = listenOn(address, *sa);
  if (!fd) {
    return fd.error();
  }
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->impl_ = std::make_unique<Impl>();
  Impl& impl = *server->impl_;
  impl.listen = std::move(*fd);
  impl.routes = std::move(routes);
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY) {
    limits.maxConnections =
        std::min<size_t>(limits.maxConnections, std::max<size_t>(8, nofile.rlim_cur / 4));
  }
  impl.limits = limits;
  impl.epoll.reset(::epoll_create1(EPOLL_CLOEXEC));
  impl.stop.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  impl.reserve.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!impl.epoll.valid() || !impl.stop.valid()) {
    return Error::sys(errno, fmt::format("healthAddress {}: epoll", address));
  }
  for (auto [f, id] :
       {std::pair{impl.listen.get(), Impl::kListenId}, std::pair{impl.stop.get(), Impl::kStopId}}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = id;
    if (::epoll_ctl(impl.epoll.get(), EPOLL_CTL_ADD, f, &ev) != 0) {
      return Error::sys(errno, fmt::format("healthAddress {}: epoll", address));
    }
  }
  sockaddr_in bound{};
  socklen_t len = sizeof bound;
  ::getsockname(impl.listen.get(), reinterpret_cast<sockaddr*>(&bound), &len);
  server->port_ = ntohs(bound.sin_port);
  server->thread_ = std::thread([&impl] { impl.run(); });
  return server;
}

size_t HttpServer::maxConnections() const {
  return impl_->limits.maxConnections;
}

HttpServer::~HttpServer() {
  if (impl_ && thread_.joinable()) {
    const uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(impl_->stop.get(), &one, sizeof one);
    thread_.join();
  }
}

}  // namespace ovl
