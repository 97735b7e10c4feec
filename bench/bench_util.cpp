#include "bench/bench_util.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

namespace ovl::bench {

void sh(const std::string& cmd) {
  if (std::system(cmd.c_str()) != 0) {
    throw std::runtime_error("command failed: " + cmd);
  }
}

double nowMs() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double timeShMs(const std::string& cmd) {
  double t0 = nowMs();
  sh(cmd);
  return nowMs() - t0;
}

ScopedNetns::ScopedNetns(const std::string& name, bool enter) : name_(name) {
  sh("ip netns add " + name_);
  sh("ip -n " + name_ + " link set lo up");
  if (enter) {
    origFd_ = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    int fd = ::open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
    if (origFd_ < 0 || fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
      throw std::runtime_error("cannot enter namespace " + name_);
    }
    ::close(fd);
  }
}

ScopedNetns::~ScopedNetns() {
  if (origFd_ >= 0) {
    (void)::setns(origFd_, CLONE_NEWNET);
    ::close(origFd_);
  }
  // Best effort: the namespace may already be gone.
  if (std::system(("ip netns del " + name_ + " 2>/dev/null").c_str()) != 0) {
    return;
  }
}

Stats Stats::of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  Stats s;
  if (v.empty()) {
    return s;
  }
  s.min = v.front();
  s.max = v.back();
  s.median = v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  return s;
}

std::string describe(const std::string& label, const std::vector<double>& samples) {
  Stats s = Stats::of(samples);
  return fmt::format("{:<58} median {:9.3f} ms  (min {:9.3f}, max {:9.3f}, n={})", label, s.median,
                     s.min, s.max, samples.size());
}

// `nft list table ip ovl` does not reload as printed: ovl builds its bytecode with libnftnl,
// and nft 1.0.x cannot parse back (a) a numgen result in the `mark`-typed slot of the
// `endpoints` key, nor (b) the constant 0.0.0.0 that the NodePort chains put in a
// concatenation (printed "0x0 [invalid type]"). The smallest rewrite that loads the same
// objects and elements: the map's key declared by `typeof` (same key layout and length), and
// the constant written as `ip daddr & 0.0.0.0` (one extra bitwise op in nplb_<N> only). Returns
// what was rewritten.
std::string makeNftReloadable(const std::string& path) {
  std::string text;
  {
    std::ifstream in(path);
    std::ostringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  auto replaceAll = [&](const std::string& from, const std::string& to) {
    size_t n = 0;
    for (size_t pos = 0; (pos = text.find(from, pos)) != std::string::npos; pos += to.size()) {
      text.replace(pos, from.size(), to);
      ++n;
    }
    return n;
  };
  size_t types = replaceAll(
      "type ipv4_addr . inet_proto . inet_service . mark : ipv4_addr . inet_service",
      "typeof ip daddr . meta l4proto . th dport . numgen random mod 2 : ip daddr . th dport");
  size_t consts =
      replaceAll("dnat ip to 0x0 [invalid type] . ", "dnat ip to ip daddr & 0.0.0.0 . ");
  std::ofstream out(path);
  out << text;
  return fmt::format("{} map type declaration(s) as typeof, {} constant(s) in nplb chains", types,
                     consts);
}

long vmHwmKb(int pid) {
  std::ifstream f(fmt::format("/proc/{}/status", pid));
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("VmHWM:", 0) == 0) {
      return std::atol(line.c_str() + 6);
    }
  }
  return -1;
}

}  // namespace ovl::bench
