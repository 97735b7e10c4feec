// rules/ at scale, without a datastore in the loop: time and peak memory of service NAT for
// S ClusterIP services x E endpoints, against the same steps with 100 services, the two sizes
// alternating run by run (which goes first alternates too). Each (size, run) is a fresh child
// process in a fresh network namespace, so that its peak RSS (VmHWM) is its own. Steps:
//  plan      NatState::setServices of the S services (planNat per service into the index);
//  sync      the first NatTable::sync: every element written in one batch;
//  read-back the view forgotten (as after a restart or someone else's change), then a sync:
//            the kernel's table dumped and compared, nothing to write;
//  change    one endpoint of one service replaced (upsert + incremental sync), K times.
// Memory: the process's RSS once the services exist (the input, as a datastore would hold it),
// and the peak above that over the steps (VmHWM is reset through /proc/self/clear_refs first),
// i.e. what rules/ costs on top of the services themselves. Nothing here touches the host's
// network: each child works in a namespace made for it and deleted after it.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "bench/bench_util.h"
#include "model/service.h"
#include "rules/nat_state.h"
#include "rules/nat_table.h"

namespace {

using namespace ovl;

constexpr int kChanges = 20;
constexpr size_t kSteps = 11;  // numbers a child reports, in this order:
const char* const kStepNames[kSteps] = {"plan (NatState::setServices)",
                                        "first sync (every element)",
                                        "read-back sync (nothing to write)",
                                        "one change (median of 20)",
                                        "RSS with the services only (MB)",
                                        "peak RSS above that: plan+sync (MB)",
                                        "peak RSS above that: all steps (MB)",
                                        "elements in the kernel",
                                        "  plan, CPU time (user+sys)",
                                        "  first sync, CPU time (user+sys)",
                                        "  first sync, batch (MB)"};

Ipv4 ip4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return Ipv4{(a << 24) | (b << 16) | (c << 8) | d};
}

// Service i: cluster IP 10.96.0.10 + i; endpoint j: 10.(100 + k / 65536).(k / 256).(k % 256)
// with k = i * E + j, distinct for every service and endpoint at these sizes.
std::vector<svc::Service> makeServices(int count, int endpoints) {
  std::vector<svc::Service> v;
  v.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    svc::Service s;
    s.ns = "bench";
    s.name = fmt::format("svc-{}", i);
    s.clusterIps = {Ipv4{ip4(10, 96, 0, 10).value + static_cast<uint32_t>(i)}};
    s.ports = {svc::ServicePort{"http", svc::Protocol::kTcp, 80, 8080, std::nullopt}};
    for (int j = 0; j < endpoints; ++j) {
      const auto k = static_cast<uint32_t>(i * endpoints + j);
      svc::Endpoint ep;
      ep.ip = ip4(10, 100 + k / 65536, (k / 256) % 256, k % 256);
      ep.node = "node2";  // not this node: no hairpin elements
      s.endpoints.push_back(ep);
    }
    v.push_back(std::move(s));
  }
  return v;
}

double statusKb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) {
      return std::stod(line.substr(std::string(field).size()));
    }
  }
  throw std::runtime_error(std::string("no ") + field + " in /proc/self/status");
}

// This process's CPU time, user and system (the kernel's work in its syscalls): on a loaded
// machine, wall time also counts the time spent waiting for a core.
double cpuMs() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  const auto ms = [](const timeval& t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
  return ms(u.ru_utime) + ms(u.ru_stime);
}

double mb(double kb) {
  return kb / 1024.0;
}

void check(const Status& s, const char* what) {
  if (!s.ok()) {
    throw std::runtime_error(std::string(what) + ": " + s.error().message);
  }
}

// One size, in this process (a child): the numbers of kStepNames.
std::vector<double> measure(const std::string& ns, int count, int endpoints, bool readBack) {
  auto services = makeServices(count, endpoints);
  bench::ScopedNetns netns(ns, true);
  auto table = nat::NatTable::create();
  if (!table) {
    throw std::runtime_error("NatTable::create: " + table.error().message);
  }
  std::vector<double> out(kSteps);
  const double baseKb = statusKb("VmRSS:");
  std::ofstream("/proc/self/clear_refs") << "5";  // VmHWM := VmRSS
  nat::NatState state(nat::PlanInputs{"node1", *Ipv4Prefix::parse("10.244.0.0/16"),
                                      svc::MasqueradeMode::kOffCluster, std::nullopt});
  double c0 = cpuMs();
  double t0 = bench::nowMs();
  state.setServices(services);
  out[0] = bench::nowMs() - t0;
  out[8] = cpuMs() - c0;
  c0 = cpuMs();
  t0 = bench::nowMs();
  check(table->sync(state.desired()), "first sync");
  out[1] = bench::nowMs() - t0;
  out[9] = cpuMs() - c0;
  out[10] = static_cast<double>(table->lastSync().batchBytes) / (1 << 20);
  out[7] = static_cast<double>(table->lastSync().elementsAdded);
  out[5] = mb(statusKb("VmHWM:") - baseKb);
  if (readBack) {
    table->invalidate();
    t0 = bench::nowMs();
    check(table->sync(state.desired()), "read-back sync");
    out[2] = bench::nowMs() - t0;
    if (!table->lastSync().readBack || table->lastSync().operations != 0) {
      throw std::runtime_error("the read-back sync did not read back, or found a difference");
    }
  }
  std::vector<double> changes;
  for (int c = 0; c < kChanges; ++c) {
    svc::Service s = services[static_cast<size_t>(c * 7919) % services.size()];
    // The last endpoint, by one that sorts last too: one slot changes, not the ones after it.
    s.endpoints.back().ip = ip4(10, 250, 0, static_cast<uint32_t>(2 + c));
    t0 = bench::nowMs();
    state.upsert(std::move(s));
    check(table->sync(state.desired()), "one change");
    changes.push_back(bench::nowMs() - t0);
    if (!table->lastSync().incremental || table->lastSync().elementsAdded != 1) {
      throw std::runtime_error("one change: not incremental, or not one element written");
    }
  }
  out[3] = bench::Stats::of(changes).median;
  out[4] = mb(baseKb);
  out[6] = mb(statusKb("VmHWM:") - baseKb);
  return out;
}

// Runs measure() in a child process; its numbers come back through a pipe.
std::vector<double> inChild(const std::string& ns, int count, int endpoints, bool readBack) {
  int fds[2];
  if (pipe(fds) != 0) {
    throw std::runtime_error("pipe");
  }
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    int rc = 0;
    std::string text;
    try {
      for (double x : measure(ns, count, endpoints, readBack)) {
        text += fmt::format("{} ", x);
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "nat_scale (%d services): %s\n", count, e.what());
      rc = 1;
    }
    const bool written = write(fds[1], text.data(), text.size()) == ssize_t(text.size());
    _exit(rc == 0 && written ? 0 : 1);
  }
  close(fds[1]);
  std::string text;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) {
    text.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error(fmt::format("the child measuring {} services failed", count));
  }
  std::vector<double> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t used = 0;
    out.push_back(std::stod(text.substr(pos), &used));
    pos += used + 1;
  }
  if (out.size() != kSteps) {
    throw std::runtime_error("the child reported " + std::to_string(out.size()) + " numbers");
  }
  return out;
}

void print(int count, const std::vector<std::vector<double>>& samples) {
  std::printf("%d services:\n", count);
  for (size_t k = 0; k < kSteps; ++k) {
    std::vector<double> v;
    for (const auto& s : samples) {
      v.push_back(s[k]);
    }
    const bench::Stats st = bench::Stats::of(v);
    const bool ms = k < 4 || k == 8 || k == 9;
    std::printf("  %-40s median %10.3f%s (min %10.3f, max %10.3f, n=%zu)\n", kStepNames[k],
                st.median, ms ? " ms" : "   ", st.min, st.max, v.size());
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ovl service NAT at scale: time and peak RSS of plan, sync, read-back, change"};
  int services = 100000;
  int small = 100;
  int endpoints = 10;
  int runs = 3;
  bool readBack = true;
  app.add_option("--services", services, "ClusterIP services")->check(CLI::Range(100, 200000));
  app.add_option("--small", small, "the size compared with")->check(CLI::Range(10, 200000));
  app.add_option("--endpoints", endpoints, "endpoints per service")->check(CLI::Range(1, 250));
  app.add_option("--runs", runs, "runs per size")->check(CLI::Range(1, 100));
  // The kernel dumps a set's elements 32 KiB at a time, each part walking the set from its start:
  // at 1.1 million elements the read-back takes minutes, so it can be left out.
  app.add_flag("--read-back,!--no-read-back", readBack, "measure the read-back step");
  CLI11_PARSE(app, argc, argv);
  if (geteuid() != 0) {
    std::fprintf(stderr, "nat_scale needs root (it creates network namespaces)\n");
    return 2;
  }
  std::vector<std::vector<double>> big, little;
  try {
    for (int run = 0; run < runs; ++run) {
      const std::string tag = fmt::format("ovlns{}-{}", getpid(), run);
      if (run % 2 == 0) {
        big.push_back(inChild(tag + "b", services, endpoints, readBack));
        little.push_back(inChild(tag + "s", small, endpoints, readBack));
      } else {
        little.push_back(inChild(tag + "s", small, endpoints, readBack));
        big.push_back(inChild(tag + "b", services, endpoints, readBack));
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nat_scale: %s\n", e.what());
    return 1;
  }
  std::printf("service NAT at scale, %d x %d endpoints against %d x %d, %d runs each%s\n", services,
              endpoints, small, endpoints, runs, readBack ? "" : " (read-back not measured: 0)");
  print(services, big);
  print(small, little);
  auto med = [](const std::vector<std::vector<double>>& s, size_t k) {
    std::vector<double> v;
    for (const auto& x : s) {
      v.push_back(x[k]);
    }
    return bench::Stats::of(v).median;
  };
  std::printf("ratio one change %d / %d services: %.2f (target <= 1.5)\n", services, small,
              med(big, 3) / med(little, 3));
  std::printf("peak RSS above the services, %d services: %.1f MB\n", services, med(big, 6));
  return 0;
}
