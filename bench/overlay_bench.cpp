// Overlay programming, ovl against iproute2, side by side in one run:
//  - cold: a node with N remote peers (3 objects each: neighbour, FDB entry, route) and no
//    overlay yet; ovl's reconciler (read back, VTEP, bridge, addresses, pipelined netlink batch)
//    against `ip -batch` (VTEP, bridge, addresses, neighbours, routes) + `bridge -batch` (FDB)
//    loading the very same objects: both sides create the VTEP and the bridge inside the timer;
//  - one node added on top of N: ovl's incremental pass against `ip -batch` + `bridge -batch` of
//    that node's three objects.
// The iproute2 tools run as long-lived `ip -force -batch -` and `bridge -force -batch -`
// processes, started before the timers and fed over a pipe, so their timers hold the tool's
// parsing and the kernel's work, not a process start (see BatchTool). Each run uses fresh
// namespaces and alternates which side goes first; after it, iproute2 counts the routes,
// permanent neighbours and FDB entries on both sides. Figures: medians with min and max.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "bench/bench_util.h"
#include "overlay/netlink_overlay_kernel.h"
#include "overlay/overlay_reconciler.h"

namespace {

using namespace ovl;
using bench::describe;
using bench::ScopedNetns;
using bench::sh;

// Node i (0 = this node): underlay 192.168.i/250.(i%250+1), pod subnet 10.(i/256).(i%256).0/24.
Node nodeAt(int i) {
  Ipv4 ul{(192u << 24) | (168u << 16) | (static_cast<uint32_t>(i / 250) << 8) |
          static_cast<uint32_t>(i % 250 + 1)};
  Ipv4 net{(10u << 24) | (static_cast<uint32_t>(i / 256) << 16) |
           (static_cast<uint32_t>(i % 256) << 8)};
  return Node{fmt::format("node{}", i), ul, Ipv4Prefix{net, 24}, std::nullopt, {}};
}

Cluster clusterOf(int peers) {
  Cluster c;
  c.network.podCidr = *Ipv4Prefix::parse("10.0.0.0/8");
  for (int i = 0; i <= peers; ++i) {
    c.nodes.push_back(nodeAt(i));
  }
  return c;
}

void underlay(const std::string& ns) {
  sh(fmt::format(
      "ip -n {0} link add ul0 type veth peer name ul0p && ip -n {0} addr add 192.168.0.1/16 dev ul0"
      " && ip -n {0} link set ul0 up && ip -n {0} link set ul0p up",
      ns));
}

// A long-lived `ip -force -batch -` (or `bridge`) in a namespace, fed over a pipe, so that a timed
// batch costs the tool's parsing and the kernel's work but no process start. A batch ends with a
// sentinel that fails at once without touching the overlay (a device that does not exist): the
// tool's "Command failed -:N" for it on stderr, N being the lines sent so far, says that every
// line before it was done (the tool reads its input line by line and stderr is unbuffered).
class BatchTool {
 public:
  BatchTool(const std::string& tool, const std::string& ns) : tool_(tool) {
    int in[2], err[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
      throw std::runtime_error("pipe: " + std::string(std::strerror(errno)));
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(err[1], 2);
      ::execlp(tool.c_str(), tool.c_str(), "-n", ns.c_str(), "-force", "-batch", "-", nullptr);
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(err[1]);
    in_ = in[1];
    err_ = err[0];
  }
  ~BatchTool() {
    ::close(in_);  // end of input: the tool exits
    ::close(err_);
    if (pid_ > 0) {
      ::waitpid(pid_, nullptr, 0);
    }
  }
  BatchTool(const BatchTool&) = delete;
  BatchTool& operator=(const BatchTool&) = delete;

  // Sends `lines` (each ending in '\n') and the sentinel, and returns when the tool has run them
  // all; throws naming the tool and its messages if any line but the sentinel failed.
  void run(const std::string& lines) {
    const std::string out = lines + (tool_ == "ip" ? "link" : "fdb") + " show dev ovlb-none\n";
    sent_ += static_cast<long>(std::count(out.begin(), out.end(), '\n'));
    const std::string done = fmt::format("Command failed -:{}", sent_);
    size_t written = 0;
    std::string messages;
    while (true) {
      pollfd fds[2] = {{err_, POLLIN, 0}, {written < out.size() ? in_ : -1, POLLOUT, 0}};
      if (::poll(fds, 2, 30000) <= 0) {
        throw std::runtime_error(tool_ + " -batch: no answer within 30 s");
      }
      if (fds[1].revents & (POLLOUT | POLLERR)) {
        ssize_t n = ::write(in_, out.data() + written, out.size() - written);
        if (n < 0) {
          throw std::runtime_error(tool_ + " -batch: write: " + std::strerror(errno));
        }
        written += static_cast<size_t>(n);
      }
      if (fds[0].revents & (POLLIN | POLLHUP)) {
        char buf[4096];
        ssize_t n = ::read(err_, buf, sizeof buf);
        if (n <= 0) {
          throw std::runtime_error(tool_ + " -batch exited: " + messages);
        }
        pending_.append(buf, static_cast<size_t>(n));
        for (size_t eol; (eol = pending_.find('\n')) != std::string::npos;) {
          std::string line = pending_.substr(0, eol);
          pending_.erase(0, eol + 1);
          if (line == done) {
            if (messages.find("Command failed") != std::string::npos) {
              throw std::runtime_error(tool_ + " -batch: " + messages);
            }
            return;
          }
          messages += line + "\n";
        }
      }
    }
  }

 private:
  std::string tool_;
  pid_t pid_ = -1;
  int in_ = -1;
  int err_ = -1;
  long sent_ = 0;
  std::string pending_;
};

// iproute2's lines for this node's devices, as ovl's plan has them.
std::string deviceLines(const OverlayPlan& p, uint32_t mtu) {
  return fmt::format(
      "link add {0} address {1} mtu {2} type vxlan id {3} local {4} dev ul0 dstport {5} "
      "nolearning\naddr add {6} dev {0}\nlink set {0} up\n"
      "link add {7} mtu {2} type bridge\naddr add {8} dev {7}\nlink set {7} up\n",
      p.vtepName, p.vtepMac.toString(), mtu, p.vni, p.underlayIp.toString(), p.port,
      p.vtepAddress.toString(), p.bridgeName, p.bridgeAddress.toString());
}

// iproute2's lines for peers [from, to): neighbours then routes for `ip`, FDB for `bridge`.
std::string neighRouteLines(int from, int to) {
  std::string out;
  for (int i = from; i < to; ++i) {
    Node n = nodeAt(i);
    out += fmt::format("neigh replace {} lladdr {} dev ovl.1 nud permanent\n",
                       n.podSubnet.network().toString(), n.effectiveVtepMac().toString());
  }
  for (int i = from; i < to; ++i) {
    Node n = nodeAt(i);
    out += fmt::format("route replace {} via {} dev ovl.1 onlink\n", n.podSubnet.toString(),
                       n.podSubnet.network().toString());
  }
  return out;
}

std::string fdbLines(int from, int to) {
  std::string out;
  for (int i = from; i < to; ++i) {
    Node n = nodeAt(i);
    out += fmt::format("fdb append {} dev ovl.1 dst {} self permanent\n",
                       n.effectiveVtepMac().toString(), n.underlayIp.toString());
  }
  return out;
}

size_t countLines(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  size_t n = 0;
  for (int c; (c = fgetc(p)) != EOF;) {
    n += c == '\n';
  }
  pclose(p);
  return n;
}

// iproute2 as the witness: routes, permanent neighbours and FDB entries with a remote on the
// VTEP, `want` of each.
void checkKernel(const std::string& who, const std::string& ns, int want) {
  const std::pair<const char*, std::string> counts[] = {
      {"routes", "ip -n " + ns + " route show dev ovl.1"},
      {"neighbours", "ip -n " + ns + " neigh show dev ovl.1 nud permanent"},
      {"FDB entries", "bridge -n " + ns + " fdb show dev ovl.1 | grep ' dst '"}};
  for (const auto& [what, cmd] : counts) {
    size_t got = countLines(cmd);
    if (got != static_cast<size_t>(want)) {
      throw std::runtime_error(
          fmt::format("{}: expected {} {} on ovl.1, the kernel holds {}", who, want, what, got));
    }
  }
}

struct Samples {
  std::vector<double> ovlCold, ipCold, ovlAdd, ipAdd, ovlNoop;
};

struct Plans {
  OverlayPlan cold, plusOne;
  int peers;
};

void runOvl(const std::string& tag, const Plans& p, Samples& s) {
  ScopedNetns ns(tag + "-o", true);
  underlay(ns.name());
  auto kernel = NetlinkOverlayKernel::create();
  if (!kernel) {
    throw std::runtime_error(kernel.error().message);
  }
  OverlayReconciler rec(*kernel, "ul0");
  double t0 = bench::nowMs();
  auto r = rec.reconcile(p.cold, true);
  s.ovlCold.push_back(bench::nowMs() - t0);
  if (!r.ok()) {
    throw std::runtime_error("ovl cold: " + r.errors[0].message);
  }
  t0 = bench::nowMs();
  r = rec.reconcile(p.plusOne, false);
  s.ovlAdd.push_back(bench::nowMs() - t0);
  t0 = bench::nowMs();
  auto noop = rec.reconcile(p.plusOne, true);
  s.ovlNoop.push_back(bench::nowMs() - t0);
  if (!r.ok() || !noop.ok() || noop.opsApplied != 0) {
    throw std::runtime_error("ovl add/resync failed");
  }
  checkKernel("ovl", ns.name(), p.peers + 1);
}

void runIproute2(const std::string& tag, const Plans& p, Samples& s) {
  ScopedNetns ns(tag + "-i", false);
  underlay(ns.name());  // a veth: MTU 1500, so ovl's automatic VTEP MTU is 1450
  const std::string coldIp =
      deviceLines(p.cold, 1500 - kVxlanOverhead) + neighRouteLines(1, p.peers + 1);
  const std::string coldFdb = fdbLines(1, p.peers + 1);
  const std::string oneIp = neighRouteLines(p.peers + 1, p.peers + 2);
  const std::string oneFdb = fdbLines(p.peers + 1, p.peers + 2);
  BatchTool ip("ip", ns.name());
  BatchTool bridge("bridge", ns.name());
  double t0 = bench::nowMs();
  ip.run(coldIp);
  bridge.run(coldFdb);
  s.ipCold.push_back(bench::nowMs() - t0);
  t0 = bench::nowMs();
  ip.run(oneIp);
  bridge.run(oneFdb);
  s.ipAdd.push_back(bench::nowMs() - t0);
  checkKernel("iproute2", ns.name(), p.peers + 1);
}

void printResults(int peers, int runs, const Samples& s) {
  auto med = [](const std::vector<double>& v) { return bench::Stats::of(v).median; };
  std::printf("overlay programming, %d remote nodes (%d objects), %d runs, sides alternating\n",
              peers, 3 * peers, runs);
  std::printf(
      "timers: cold, ovl: OverlayReconciler::reconcile with a full read: dumps of links, "
      "addresses and the VTEP's entries, then VTEP, bridge and addresses created and the %d "
      "objects sent in one pipelined netlink batch, every acknowledgement read\n"
      "        cold, iproute2: the same VTEP, bridge, addresses, neighbours and routes written to "
      "a "
      "running `ip -batch -`, then the FDB entries to a running `bridge -batch -`, until each "
      "has run its last line (no process start in the timer)\n"
      "        one node added: ovl's incremental pass (no read back) against its neighbour and "
      "route to the same `ip`, its FDB entry to the same `bridge`\n",
      3 * peers);
  std::printf("%s\n",
              describe("cold: ovl reconcile (read back + devices + batch)", s.ovlCold).c_str());
  std::printf("%s\n", describe("cold: ip -batch + bridge -batch (same objects)", s.ipCold).c_str());
  std::printf("%s\n", describe("one node added: ovl incremental pass", s.ovlAdd).c_str());
  std::printf("%s\n", describe("one node added: ip -batch + bridge -batch", s.ipAdd).c_str());
  std::printf("%s\n", describe("full re-read pass, nothing to change: ovl", s.ovlNoop).c_str());
  std::printf("ratio cold ovl / iproute2:            %.2f  (target <= 1.20)\n",
              med(s.ovlCold) / med(s.ipCold));
  std::printf("ratio one node ovl / iproute2:        %.3f\n", med(s.ovlAdd) / med(s.ipAdd));
  std::printf("one node added, ovl median:           %.3f ms (target <= 2 ms)\n", med(s.ovlAdd));
  std::printf(
      "checked after every run with iproute2: %d routes, %d permanent neighbours and %d "
      "FDB entries on ovl.1, on both sides\n",
      peers + 1, peers + 1, peers + 1);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ovl overlay benchmark: ovl vs ip -batch + bridge -batch"};
  int peers = 5000;
  int runs = 5;
  app.add_option("--peers", peers, "remote nodes")->check(CLI::Range(1, 60000));
  app.add_option("--runs", runs, "runs per figure")->check(CLI::Range(1, 100));
  CLI11_PARSE(app, argc, argv);
  if (geteuid() != 0) {
    std::fprintf(stderr, "overlay_bench needs root (it creates network namespaces)\n");
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);  // a batch tool that dies is reported by BatchTool::run
  const std::string tag = fmt::format("ovlb{}", getpid());
  const PlanNames names{"ovl.1", "ovlbr0"};
  const Plans plans{*planOverlay(clusterOf(peers), "node0", names),
                    *planOverlay(clusterOf(peers + 1), "node0", names), peers};
  Samples s;
  try {
    for (int run = 0; run < runs; ++run) {
      const std::string runTag = fmt::format("{}-{}", tag, run);
      if (run % 2 == 0) {
        runOvl(runTag, plans, s);
        runIproute2(runTag, plans, s);
      } else {
        runIproute2(runTag, plans, s);
        runOvl(runTag, plans, s);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "overlay_bench: %s\n", e.what());
    return 1;
  }
  printResults(peers, runs, s);
  return 0;
}
