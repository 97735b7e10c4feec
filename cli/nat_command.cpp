#include "cli/nat_command.h"

#include <fmt/format.h>

#include <cstdio>

#include "cli/exit_code.h"
#include "cli/output.h"
#include "rules/nft_socket.h"

namespace ovl::cli {

namespace {

// The table's name: the agent always programs `ip ovl` (NatTable::create's default).
constexpr const char* kTable = "ovl";

// always: _masq chains; never: _keep (externalTrafficPolicy Local keeps the client's address);
// default: nat_postrouting's rule, as the cluster's network.masquerade says.
std::string masqueradeOf(const KernelFrontend& f) {
  if (f.action != "balance") {
    return "-";
  }
  if (f.masquerade) {
    return "always";
  }
  return f.keepSource ? "never" : "default";
}

std::string text(const nlohmann::ordered_json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::vector<Column> columns() {
  return {
      {"SERVICE", [](const auto& r) { return text(r["service"]); }},
      {"PORT", [](const auto& r) { return text(r["port"]); }},
      {"FRONTEND", [](const auto& r) { return text(r["frontend"]); }},
      {"ACTION", [](const auto& r) { return text(r["action"]); }},
      {"AFFINITY",
       [](const auto& r) {
         return r["affinitySeconds"].is_null()
                    ? std::string("-")
                    : fmt::format("ClientIP {}s", text(r["affinitySeconds"]));
       }},
      {"MASQUERADE", [](const auto& r) { return text(r["masquerade"]); }},
      {"ENDPOINTS",
       [](const auto& r) {
         std::string out;
         for (const auto& e : r["endpoints"]) {
           const auto slots = e["slots"].template get<uint32_t>();
           out += fmt::format("{}{}{}", out.empty() ? "" : ",", text(e["address"]),
                              slots > 1 ? fmt::format("(x{})", slots) : "");
         }
         return out.empty() ? std::string("<none>") : out;
       }},
  };
}

// The etcd flags given to `service list --kernel`, which reads no datastore.
bool etcdFlagsGiven(const GlobalOptions& g) {
  return !g.endpoints.empty() || !g.caFile.empty() || !g.certFile.empty() || !g.keyFile.empty() ||
         !g.prefix.empty();
}

}  // namespace

nlohmann::ordered_json frontendsToJson(const std::vector<KernelFrontend>& frontends) {
  auto records = nlohmann::ordered_json::array();
  for (const auto& f : frontends) {
    auto endpoints = nlohmann::ordered_json::array();
    for (const auto& e : f.endpoints) {
      endpoints.push_back({{"address", e.address}, {"slots", e.slots}});
    }
    records.push_back(
        {{"service", f.service.empty() ? "-" : f.service},
         {"port", f.port},
         {"type", f.nodePort ? "NodePort" : "IP"},
         {"frontend", f.frontend},
         {"action", f.action},
         {"slots", f.slots},
         {"affinitySeconds", f.affinitySeconds ? nlohmann::ordered_json(*f.affinitySeconds)
                                               : nlohmann::ordered_json(nullptr)},
         {"masquerade", masqueradeOf(f)},
         {"endpoints", endpoints}});
  }
  return records;
}

int listKernelServices(const GlobalOptions& g) {
  if (etcdFlagsGiven(g)) {
    std::fprintf(stderr,
                 "ovlctl: --kernel reads this node's nftables table, not etcd: the etcd flags "
                 "(--endpoints, --cacert, --cert, --key, --prefix) do not apply\n");
    return kExitInvalid;
  }
  auto sock = nft::NftSocket::create();
  if (!sock) {
    std::fprintf(stderr, "ovlctl: nftables: %s\n", sock.error().message.c_str());
    return kExitInvalid;
  }
  auto table = readKernelTable(*sock, kTable);
  if (!table) {
    std::fprintf(stderr, "ovlctl: %s\n", table.error().message.c_str());
    return kExitInvalid;
  }
  if (!table->exists) {
    std::fprintf(stderr,
                 "ovlctl: table ip %s does not exist in this network namespace: ovl-agent has "
                 "not programmed any service here (is it running? `ovlctl status`)\n",
                 kTable);
    if (g.output != "table") {
      printRecords(nlohmann::ordered_json::array(), columns(), g.output);
    }
    return kExitFailure;
  }
  printRecords(frontendsToJson(groupFrontends(*table)), columns(), g.output);
  return 0;
}

void addNatCommand(CLI::App& app, GlobalOptions& g) {
  auto* group = app.add_subcommand("nat", "the service NAT this node's kernel holds");
  requireCommand(*group);
  auto* list = group->add_subcommand(
      "list",
      "what nftables table `ip ovl` holds, per service frontend: action, affinity, masquerade and "
      "endpoints (read from the kernel only: any datastore, agent up or down); exit 0 listed, "
      "1 no table, 2 could not read");
  selectable(*list, g, Uses{kDataFormats, false}, [&g] { return listKernelServices(g); });
}

}  // namespace ovl::cli
