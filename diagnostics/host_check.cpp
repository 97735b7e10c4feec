// The host's settings the overlay depends on: IPv4 forwarding, the tx checksum offload that
// some kernels get wrong on VXLAN, the conntrack table's fill, and hairpin on the pod bridge's
// ports when br_netfilter is active.
#include "diagnostics/checks.h"

#include <sys/utsname.h>

#include <string>

#include <fmt/format.h>

#include "diagnostics/ethtool.h"

namespace ovl::diag {

namespace {

std::string kernelRelease(const std::string& configured) {
  if (!configured.empty()) {
    return configured;
  }
  utsname u{};
  return ::uname(&u) == 0 ? std::string(u.release) : std::string();
}

}  // namespace

// ---- forwarding ---------------------------------------------------------------------------

void checkForwarding(const CheckContext& c, Report& r) {
  r.checksRun.push_back("ip_forward");
  auto fwd = c.fs.readInt("sys/net/ipv4/ip_forward");
  if (!fwd) {
    r.notChecked.push_back("ip_forward: " + fwd.error().message);
    return;
  }
  if (*fwd == 0) {
    Finding f;
    f.check = "ip_forward";
    f.severity = Severity::kError;
    f.subject = "net.ipv4.ip_forward";
    f.title = "IPv4 forwarding is off";
    f.explanation =
        "Pod traffic is forwarded between the pod bridge and the VTEP (and NodePort traffic "
        "between the underlay and the VTEP); with forwarding off the kernel drops all of it.";
    f.evidence.push_back({"net.ipv4.ip_forward", "0"});
    f.fixCommand = "sysctl -w net.ipv4.ip_forward=1";
    r.findings.push_back(std::move(f));
    return;
  }
  for (const auto& name : {c.m.plan->vtepName, c.m.plan->bridgeName}) {
    if (c.link(name) == nullptr) {
      continue;
    }
    auto v = c.fs.readInt(confPath(name, "forwarding"));
    if (v && *v == 0) {
      Finding f;
      f.check = "ip_forward";
      f.severity = Severity::kError;
      f.subject = name;
      f.title = fmt::format("forwarding is off on {}", name);
      f.explanation = "Packets arriving on this interface are not forwarded to pods or peers.";
      f.fixCommand = fmt::format("sysctl -w {}=1", confKey(name, "forwarding"));
      r.findings.push_back(std::move(f));
    }
  }
}

// ---- tx checksum offload --------------------------------------------------------------------

void checkTxChecksum(const CheckContext& c, Report& r) {
  r.checksRun.push_back("tx_checksum");
  const std::string release = kernelRelease(c.cfg.kernelRelease);
  const std::string& vtep = c.m.plan->vtepName;
  if (!kernelHasVxlanChecksumBug(release) || c.link(vtep) == nullptr) {
    return;
  }
  auto on = txChecksum(vtep);
  if (!on) {
    r.notChecked.push_back("tx_checksum: " + on.error().message);
    return;
  }
  if (!*on) {
    return;
  }
  Finding f;
  f.check = "tx_checksum";
  f.severity = Severity::kWarning;
  f.subject = vtep;
  f.title = "tx checksum offload is on, and this kernel has the VXLAN checksum bug";
  f.explanation = fmt::format(
      "Kernel {} (before 5.7) can send VXLAN packets whose outer UDP checksum is wrong once they "
      "are NATed; the peer drops them, and service traffic between nodes stalls for about a "
      "minute at a time. Turning tx checksum offload off on the VTEP avoids it.",
      release);
  f.evidence.push_back({"kernel", release});
  f.evidence.push_back({"tx checksum offload", "on"});
  f.fixCommand = fmt::format("ethtool -K {} tx off", vtep);
  f.fixable = true;
  f.fix = Fix{Fix::Kind::kTxChecksumOff, vtep};
  r.findings.push_back(std::move(f));
}

// ---- conntrack ----------------------------------------------------------------------------

void checkConntrack(const CheckContext& c, Report& r) {
  auto count = c.fs.readInt("sys/net/netfilter/nf_conntrack_count");
  auto max = c.fs.readInt("sys/net/netfilter/nf_conntrack_max");
  if (!count || !max || *max <= 0) {
    return;  // conntrack not loaded: nothing fills up
  }
  r.checksRun.push_back("conntrack");
  if (*count * 10 <= *max * 9) {
    return;
  }
  Finding f;
  f.check = "conntrack";
  f.severity = Severity::kError;
  f.subject = "nf_conntrack";
  f.title = fmt::format("the conntrack table is {}% full", *count * 100 / *max);
  f.explanation =
      "Every service connection needs a conntrack entry for its NAT; when the table is full the "
      "kernel drops new connections (\"nf_conntrack: table full, dropping packet\").";
  f.evidence.push_back({"nf_conntrack_count", std::to_string(*count)});
  f.evidence.push_back({"nf_conntrack_max", std::to_string(*max)});
  f.fixCommand = fmt::format("sysctl -w net.netfilter.nf_conntrack_max={}", *max * 2);
  r.findings.push_back(std::move(f));
}

// ---- hairpin ------------------------------------------------------------------------------

void checkHairpin(const CheckContext& c, Report& r) {
  auto brnf = c.fs.readInt("sys/net/bridge/bridge-nf-call-iptables");
  if (!brnf || *brnf == 0) {
    return;  // br_netfilter not loaded or not calling netfilter: routing handles hairpin
  }
  r.checksRun.push_back("hairpin");
  const nl::Link* bridge = c.link(c.m.plan->bridgeName);
  if (bridge == nullptr) {
    return;
  }
  auto ports = c.nl.bridgePorts();
  if (!ports) {
    r.notChecked.push_back("hairpin: " + ports.error().message);
    return;
  }
  for (const auto& p : *ports) {
    if (p.master != bridge->index || p.hairpin) {
      continue;
    }
    Finding f;
    f.check = "hairpin";
    f.severity = Severity::kWarning;
    f.subject = p.name;
    f.title = fmt::format("bridge port {} has hairpin off while br_netfilter is active", p.name);
    f.explanation = fmt::format(
        "With bridge-nf-call-iptables=1 a pod's packet to a service is DNATed while being "
        "bridged; when the pod lands on itself the frame must leave through the port it came in "
        "on, which the bridge does only with hairpin on. Otherwise a pod behind {} cannot reach "
        "itself through its own service.",
        p.name);
    f.evidence.push_back({"net.bridge.bridge-nf-call-iptables", std::to_string(*brnf)});
    f.fixCommand = fmt::format("bridge link set dev {} hairpin on", p.name);
    f.fixable = true;
    f.fix = Fix{Fix::Kind::kHairpinOn, p.name};
    r.findings.push_back(std::move(f));
  }
}

}  // namespace ovl::diag
