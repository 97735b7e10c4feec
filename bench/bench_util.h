// Helpers for ovl's benchmarks: throwaway namespaces, timing, and the summary that prints
// every figure next to its peer with the machine noise (median, min, max of all runs).
#pragma once

#include <string>
#include <vector>

namespace ovl::bench {

// Runs a shell command (benchmarks may use the iproute2 CLIs as peers); aborts on failure.
void sh(const std::string& cmd);
// Wall time of a shell command, in milliseconds.
double timeShMs(const std::string& cmd);

// A network namespace made for one measurement, entered by this thread while it lives and
// deleted when it goes, also on an early exit.
class ScopedNetns {
 public:
  explicit ScopedNetns(const std::string& name, bool enter);
  ~ScopedNetns();
  ScopedNetns(const ScopedNetns&) = delete;
  ScopedNetns& operator=(const ScopedNetns&) = delete;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  int origFd_ = -1;
};

struct Stats {
  double median = 0, min = 0, max = 0;
  static Stats of(std::vector<double> v);
};

// "label: median X ms (min A, max B, n=N)".
std::string describe(const std::string& label, const std::vector<double>& samples);

double nowMs();

// The peak resident set (VmHWM) of process `pid` in KiB, -1 when it cannot be read.
long vmHwmKb(int pid);

// `nft list table ip ovl`'s output made loadable again by `nft -f` (rewritten in place, the
// same objects and elements); returns what was rewritten. See bench_util.cpp for why.
std::string makeNftReloadable(const std::string& path);

}  // namespace ovl::bench
