// What nftables (and iptables-legacy) do to ovl's traffic: other tables dropping the VXLAN port
// or pod traffic in FORWARD, and ovl's own table compared with what the services plan wants.
#include "diagnostics/checks.h"

#include <sstream>
#include <string>
#include <vector>

#include "diagnostics/iptables_legacy.h"
#include "diagnostics/nft_inspect.h"
#include "rules/nat_planner.h"
#include "rules/nft_socket.h"
#include "rules/vxlan_allow.h"

namespace ovl::diag {

namespace {

// Why a check could not run; a refusal says which privilege it lacks (an operator's ovlctl
// diagnose without root: nftables and iptables answer only to CAP_NET_ADMIN, even for reading).
std::string whyNot(const Error& e) {
  if (e.code == EPERM || e.code == EACCES) {
    return e.message +
           ": permission denied: reading nftables and iptables needs CAP_NET_ADMIN (run "
           "ovlctl diagnose as root)";
  }
  return e.message;
}

// The VXLAN port and FORWARD analyses of one ruleset (nftables' or iptables-legacy's).
void addDrops(const CheckContext& c, const NftRuleset& rs, Report& r) {
  const NetworkConfig& net = c.m.network;
  for (auto& f : vxlanPortDrops(rs, net.port, c.cfg.nftTable)) {
    r.findings.push_back(std::move(f));
  }
  for (auto& f :
       forwardDrops(rs, net.podCidr, {c.m.plan->vtepName, c.m.plan->bridgeName}, c.cfg.nftTable)) {
    r.findings.push_back(std::move(f));
  }
}

// Other tables, nftables' and iptables-legacy's, that drop ovl's traffic.
void checkOtherTables(const CheckContext& c, nft::NftSocket& sock, Report& r) {
  auto rs = readRuleset(sock);
  if (!rs) {
    r.notChecked.push_back("nftables: " + whyNot(rs.error()));
  } else {
    r.checksRun.push_back("vxlan_port");
    r.checksRun.push_back("forward_drop");
    addDrops(c, *rs, r);
  }
  // iptables-legacy: its tables are invisible to nftables; libip4tc reads them.
  if (auto names = c.fs.read("net/ip_tables_names"); names && !names->empty()) {
    std::vector<std::string> tables;
    std::istringstream in(*names);
    for (std::string t; in >> t;) {
      tables.push_back(t);
    }
    auto legacy = readLegacyRuleset(tables);
    if (legacy) {
      addDrops(c, *legacy, r);
    } else {
      r.notChecked.push_back("iptables-legacy: " + whyNot(legacy.error()));
    }
  }
}

// ovl's own table against the NatPlan of the cluster's services (the plan the agent programs).
void checkOwnTable(const CheckContext& c, const Cluster& cl, nft::NftSocket& sock, Report& r) {
  r.checksRun.push_back("nft_table");
  auto own = readOwnTable(sock, c.cfg.nftTable);
  if (!own) {
    r.notChecked.push_back("nft_table: " + whyNot(own.error()));
    return;
  }
  const auto natPlan = nat::planNat(
      cl.services, nat::planInputs(cl.network, c.m.plan->nodeName, c.m.plan->podSubnet));
  const nat::VxlanAllowPlan allow = nat::planVxlanAllow(cl);
  for (auto& f : compareOwnTable(desiredOwnTable(natPlan, allow), *own, c.cfg.nftTable)) {
    r.findings.push_back(std::move(f));
  }
  if (!own->exists) {
    return;  // reported above
  }
  r.checksRun.push_back("vxlan_allow");
  auto counter = nat::readVxlanDropCounter(sock, c.cfg.nftTable);
  if (!counter) {
    r.notChecked.push_back("vxlan_allow: " + counter.error().message);
    return;
  }
  for (auto& f : vxlanAllowFindings(*counter, allow, c.cfg.nftTable)) {
    r.findings.push_back(std::move(f));
  }
}

}  // namespace

void checkNftables(const CheckContext& c, Report& r) {
  auto sock = nft::NftSocket::create();
  if (!sock) {
    r.notChecked.push_back("nftables: " + whyNot(sock.error()));
    return;
  }
  checkOtherTables(c, *sock, r);
  if (c.m.cluster != nullptr) {
    checkOwnTable(c, *c.m.cluster, *sock, r);
  }
}

}  // namespace ovl::diag
