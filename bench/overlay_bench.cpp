// Overlay programming, ovl against iproute2, side by side in one run:
//  - cold: a node with N remote peers (3 objects each: neighbour, FDB entry, route) on an
//    empty VTEP; ovl's reconciler (read back + pipelined netlink batch) against
//    `ip -batch` (neighbours + routes) + `bridge -batch` (FDB) loading the very same objects;
//  - one node added on top of N: ovl's incremental pass against `ip -batch` + `bridge -batch`
//    of that node's three objects.
// Each run uses fresh namespaces; the figures are medians with min and max over all runs.
#include <unistd.h>

#include <cstdio>
#include <fstream>
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

// The iproute2 batch files for peers [from, to).
void writeBatches(const std::string& ipFile, const std::string& bridgeFile, int from, int to) {
  std::ofstream ip(ipFile), br(bridgeFile);
  for (int i = from; i < to; ++i) {
    Node n = nodeAt(i);
    std::string vtepIp = n.podSubnet.network().toString();
    std::string mac = n.effectiveVtepMac().toString();
    ip << fmt::format("neigh replace {} lladdr {} dev ovl.1 nud permanent\n", vtepIp, mac);
    br << fmt::format("fdb append {} dev ovl.1 dst {} self permanent\n", mac,
                      n.underlayIp.toString());
  }
  for (int i = from; i < to; ++i) {
    Node n = nodeAt(i);
    ip << fmt::format("route replace {} via {} dev ovl.1 onlink\n", n.podSubnet.toString(),
                      n.podSubnet.network().toString());
  }
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
  const std::string tag = fmt::format("ovlb{}", getpid());
  const std::string ipFile = "/tmp/" + tag + "-ip.batch";
  const std::string brFile = "/tmp/" + tag + "-bridge.batch";
  const std::string ipOne = "/tmp/" + tag + "-ip1.batch";
  const std::string brOne = "/tmp/" + tag + "-bridge1.batch";
  writeBatches(ipFile, brFile, 1, peers + 1);
  writeBatches(ipOne, brOne, peers + 1, peers + 2);
  const Cluster cold = clusterOf(peers);
  const Cluster plusOne = clusterOf(peers + 1);
  const PlanNames names{"ovl.1", "ovlbr0"};
  const OverlayPlan coldPlan = *planOverlay(cold, "node0", names);
  const OverlayPlan plusOnePlan = *planOverlay(plusOne, "node0", names);

  std::vector<double> ovlCold, ipCold, ovlAdd, ipAdd, ovlNoop;
  for (int run = 0; run < runs; ++run) {
    {
      ScopedNetns ns(fmt::format("{}-o{}", tag, run), true);
      underlay(ns.name());
      auto kernel = NetlinkOverlayKernel::create();
      if (!kernel) {
        std::fprintf(stderr, "%s\n", kernel.error().message.c_str());
        return 1;
      }
      OverlayReconciler rec(*kernel, "ul0");
      double t0 = bench::nowMs();
      auto r = rec.reconcile(coldPlan, true);
      ovlCold.push_back(bench::nowMs() - t0);
      if (!r.ok()) {
        std::fprintf(stderr, "ovl cold: %s\n", r.errors[0].message.c_str());
        return 1;
      }
      t0 = bench::nowMs();
      r = rec.reconcile(plusOnePlan, false);
      ovlAdd.push_back(bench::nowMs() - t0);
      t0 = bench::nowMs();
      auto noop = rec.reconcile(plusOnePlan, true);
      ovlNoop.push_back(bench::nowMs() - t0);
      if (!r.ok() || !noop.ok() || noop.opsApplied != 0) {
        std::fprintf(stderr, "ovl add/resync failed\n");
        return 1;
      }
      size_t routes = countLines("ip -n " + ns.name() + " route show dev ovl.1");
      if (routes != static_cast<size_t>(peers + 1)) {
        std::fprintf(stderr, "ovl: expected %d routes, kernel holds %zu\n", peers + 1, routes);
        return 1;
      }
    }
    {
      ScopedNetns ns(fmt::format("{}-i{}", tag, run), false);
      underlay(ns.name());
      sh(fmt::format(
          "ip -n {0} link add ovl.1 type vxlan id 1 local 192.168.0.1 dev ul0 dstport 4789 "
          "nolearning && ip -n {0} link set ovl.1 mtu 1450 up && "
          "ip -n {0} addr add 10.0.0.0/32 dev ovl.1",
          ns.name()));
      ipCold.push_back(bench::timeShMs(fmt::format(
          "ip -n {0} -batch {1} && bridge -n {0} -batch {2}", ns.name(), ipFile, brFile)));
      ipAdd.push_back(bench::timeShMs(fmt::format(
          "ip -n {0} -batch {1} && bridge -n {0} -batch {2}", ns.name(), ipOne, brOne)));
      size_t routes = countLines("ip -n " + ns.name() + " route show dev ovl.1");
      if (routes != static_cast<size_t>(peers + 1)) {
        std::fprintf(stderr, "iproute2: expected %d routes, kernel holds %zu\n", peers + 1, routes);
        return 1;
      }
    }
  }
  for (const auto& f : {ipFile, brFile, ipOne, brOne}) {
    std::remove(f.c_str());
  }

  auto med = [](const std::vector<double>& v) { return bench::Stats::of(v).median; };
  std::printf("overlay programming, %d remote nodes (%d objects), %d runs\n", peers, 3 * peers,
              runs);
  std::printf("%s\n", describe("cold: ovl reconcile (read back + batch)", ovlCold).c_str());
  std::printf("%s\n", describe("cold: ip -batch + bridge -batch (same objects)", ipCold).c_str());
  std::printf("%s\n", describe("one node added: ovl incremental pass", ovlAdd).c_str());
  std::printf("%s\n", describe("one node added: ip -batch + bridge -batch", ipAdd).c_str());
  std::printf("%s\n", describe("full re-read pass, nothing to change: ovl", ovlNoop).c_str());
  std::printf("ratio cold ovl / iproute2:            %.2f  (target <= 1.20)\n",
              med(ovlCold) / med(ipCold));
  std::printf("ratio one node ovl / iproute2:        %.3f\n", med(ovlAdd) / med(ipAdd));
  std::printf("one node added, ovl median:           %.3f ms (target <= 2 ms)\n", med(ovlAdd));
  return 0;
}
