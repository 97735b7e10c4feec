#include "cli/connectivity_probe.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>

#include <fmt/format.h>

namespace ovl::cli {

namespace {

using Clock = std::chrono::steady_clock;

// Echo requests and UDP datagrams are sent again at this interval until the timeout: the first
// one may be lost while a neighbour entry on the way is resolved.
constexpr auto kResend = std::chrono::milliseconds(250);
constexpr const char* kUdpPayload = "ovlctl connectivity probe\n";

struct LegState {
  UniqueFd fd;
  Clock::time_point start;  // when this leg's socket was made: its time is its own
  uint16_t icmpId = 0;
  uint16_t seq = 0;
  Clock::time_point nextSend;
  bool done = false;
  LegResult result;
};

sockaddr_in sockaddrOf(Ipv4 ip, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = ip.networkOrder();
  sa.sin_port = htons(port);
  return sa;
}

double msSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

void finish(LegState& s, Outcome o, std::string error = "") {
  s.done = true;
  s.result = LegResult{o, msSince(s.start), std::move(error)};
  s.fd.reset();
}

// Sends the next datagram of an ICMP or UDP leg; an immediate error ends the leg.
void sendNext(const ProbeLeg& leg, LegState& s) {
  ssize_t n = 0;
  if (leg.kind == ProbeKind::kIcmp) {
    std::array<uint8_t, sizeof(icmphdr) + 16> packet{};
    icmphdr h{};
    h.type = ICMP_ECHO;
    h.un.echo.id = htons(s.icmpId);
    h.un.echo.sequence = htons(++s.seq);
    std::memcpy(packet.data(), &h, sizeof h);
    std::memcpy(packet.data() + sizeof h, "ovlctl-connect.", 16);
    const uint16_t sum = internetChecksum(packet.data(), packet.size());
    std::memcpy(packet.data() + offsetof(icmphdr, checksum), &sum, sizeof sum);
    n = ::send(s.fd.get(), packet.data(), packet.size(), MSG_NOSIGNAL);
  } else {
    n = ::send(s.fd.get(), kUdpPayload, std::strlen(kUdpPayload), MSG_NOSIGNAL);
  }
  if (n < 0 && errno != EAGAIN && errno != ENOBUFS) {
    finish(s, Outcome::kFail, probeError(errno));
    return;
  }
  s.nextSend = Clock::now() + kResend;
}

// Opens the leg's socket and starts it (connect, first datagram).
void startLeg(const ProbeLeg& leg, LegState& s, std::mt19937& rng) {
  s.start = Clock::now();
  const int type = leg.kind == ProbeKind::kTcp   ? SOCK_STREAM
                   : leg.kind == ProbeKind::kUdp ? SOCK_DGRAM
                                                 : SOCK_RAW;
  const int proto = leg.kind == ProbeKind::kIcmp ? IPPROTO_ICMP : 0;
  auto fd = socketIn(leg.netnsFd, AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  if (!fd) {
    finish(s, Outcome::kFail, "cannot open the probe's socket: " + fd.error().message);
    return;
  }
  s.fd = std::move(*fd);
  // A connected raw socket only receives what its peer sends: echo replies of other pings
  // running on the host are not ours to read.
  const sockaddr_in sa = sockaddrOf(leg.ip, leg.kind == ProbeKind::kIcmp ? 0 : leg.port);
  if (::connect(s.fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0 &&
      errno != EINPROGRESS) {
    finish(s, Outcome::kFail, probeError(errno));
    return;
  }
  if (leg.kind == ProbeKind::kTcp) {
    return;  // POLLOUT tells when the handshake is done or refused
  }
  s.icmpId = static_cast<uint16_t>(rng());
  sendNext(leg, s);
}

// An echo reply to our id among what the raw socket holds.
bool gotEchoReply(LegState& s) {
  std::array<uint8_t, 1500> buf{};
  for (;;) {
    const ssize_t n = ::recv(s.fd.get(), buf.data(), buf.size(), 0);
    if (n <= 0) {
      return false;
    }
    const size_t ihl = static_cast<size_t>(buf[0] & 0x0f) * 4;
    if (static_cast<size_t>(n) < ihl + sizeof(icmphdr)) {
      continue;
    }
    icmphdr h{};
    std::memcpy(&h, buf.data() + ihl, sizeof h);
    if (h.type == ICMP_ECHOREPLY && ntohs(h.un.echo.id) == s.icmpId) {
      return true;
    }
  }
}

void onReadable(const ProbeLeg& leg, LegState& s, short revents) {
  if (leg.kind == ProbeKind::kTcp) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(s.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    finish(s, err == 0 ? Outcome::kOk : Outcome::kFail, err == 0 ? "" : probeError(err));
    return;
  }
  if (leg.kind == ProbeKind::kIcmp) {
    if (gotEchoReply(s)) {
      finish(s, Outcome::kOk);
    }
    return;
  }
  char buf[512];
  const ssize_t n = ::recv(s.fd.get(), buf, sizeof buf, 0);
  if (n >= 0) {
    finish(s, Outcome::kOk);
  } else if (errno != EAGAIN || (revents & POLLERR) != 0) {
    // A connected UDP socket reports the ICMP port unreachable as ECONNREFUSED.
    finish(s, Outcome::kFail, probeError(errno == EAGAIN ? EIO : errno));
  }
}

void timeOut(const ProbeLeg& leg, LegState& s, long ms) {
  if (leg.kind == ProbeKind::kUdp) {
    finish(s, Outcome::kInconclusive,
           fmt::format("no reply within {} ms and no ICMP port unreachable: UDP has no "
                       "handshake, so a lost datagram and a listener that does not answer look "
                       "the same (a refusal would have shown)",
                       ms));
  } else {
    finish(s, Outcome::kFail, fmt::format("no answer within {} ms", ms));
  }
}

}  // namespace

Result<UniqueFd> socketIn(int netnsFd, int domain, int type, int protocol) {
  if (netnsFd < 0) {
    UniqueFd fd(::socket(domain, type, protocol));
    if (!fd.valid()) {
      return Error::sys(errno, "socket");
    }
    return fd;
  }
  UniqueFd self(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!self.valid()) {
    return Error::sys(errno, "open /proc/thread-self/ns/net");
  }
  if (::setns(netnsFd, CLONE_NEWNET) != 0) {
    return Error::sys(errno, "enter the pod's network namespace");
  }
  UniqueFd fd(::socket(domain, type, protocol));
  const int err = errno;
  if (::setns(self.get(), CLONE_NEWNET) != 0) {
    std::abort();  // this thread would go on in the pod's namespace: never continue
  }
  if (!fd.valid()) {
    return Error::sys(err, "socket in the pod's network namespace");
  }
  return fd;
}

uint16_t internetChecksum(const uint8_t* data, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) {
    uint16_t word = 0;
    std::memcpy(&word, data + i, 2);  // summed in network order, stored back the same way
    sum += word;
  }
  if (len % 2 == 1) {
    uint16_t last = 0;
    std::memcpy(&last, data + len - 1, 1);
    sum += last;
  }
  while ((sum >> 16) != 0) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<uint16_t>(~sum);
}

std::string probeError(int err) {
  switch (err) {
    case ECONNREFUSED:
      return "connection refused";
    case ENETUNREACH:
      return "network unreachable (no route to it)";
    case EHOSTUNREACH:
      return "host unreachable (no neighbour answered, or an ICMP host unreachable)";
    case ETIMEDOUT:
      return "timed out";
    case EPERM:
    case EACCES:
      return fmt::format("refused by a firewall rule ({})", std::strerror(err));
    default:
      return std::strerror(err);
  }
}

ProbeRun runProbes(const std::vector<ProbeLeg>& legs, std::chrono::milliseconds timeout, int stopFd,
                   const std::function<void(size_t, const LegResult&)>& onDone) {
  const auto start = Clock::now();
  const auto deadline = start + timeout;
  std::mt19937 rng{std::random_device{}()};
  std::vector<LegState> state(legs.size());
  std::vector<bool> reported(legs.size(), false);
  ProbeRun run;
  auto report = [&] {
    for (size_t i = 0; i < legs.size(); ++i) {
      if (state[i].done && !reported[i]) {
        reported[i] = true;
        onDone(i, state[i].result);
      }
    }
  };
  for (size_t i = 0; i < legs.size(); ++i) {
    startLeg(legs[i], state[i], rng);
  }
  report();
  for (;;) {
    std::vector<pollfd> fds;
    std::vector<size_t> which;
    auto wake = deadline;
    for (size_t i = 0; i < legs.size(); ++i) {
      if (state[i].done) {
        continue;
      }
      const short events = legs[i].kind == ProbeKind::kTcp ? POLLOUT : POLLIN;
      fds.push_back(pollfd{state[i].fd.get(), events, 0});
      which.push_back(i);
      if (legs[i].kind != ProbeKind::kTcp) {
        wake = std::min(wake, state[i].nextSend);
      }
    }
    if (fds.empty()) {
      break;
    }
    if (stopFd >= 0) {
      fds.push_back(pollfd{stopFd, POLLIN, 0});
    }
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(wake - Clock::now());
    const int n =
        ::poll(fds.data(), fds.size(), static_cast<int>(std::max<int64_t>(0, left.count())));
    if (n < 0 && errno != EINTR) {
      break;
    }
    if (stopFd >= 0 && (fds.back().revents & POLLIN) != 0) {
      run.interrupted = true;
      break;
    }
    for (size_t k = 0; k < which.size(); ++k) {
      if (fds[k].revents != 0) {
        onReadable(legs[which[k]], state[which[k]], fds[k].revents);
      }
    }
    const auto now = Clock::now();
    for (size_t i = 0; i < legs.size(); ++i) {
      if (state[i].done) {
        continue;
      }
      if (now >= deadline) {
        timeOut(legs[i], state[i], static_cast<long>(timeout.count()));
      } else if (legs[i].kind != ProbeKind::kTcp && now >= state[i].nextSend) {
        sendNext(legs[i], state[i]);
      }
    }
    report();
  }
  for (auto& s : state) {
    run.results.push_back(s.done ? s.result : LegResult{});
  }
  return run;
}

}  // namespace ovl::cli
