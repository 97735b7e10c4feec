#include "cli/network_command.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli/etcd_options.h"
#include "cli/output.h"
#include "model/config.h"

namespace ovl::cli {

namespace {

struct NetworkOptions {
  EtcdOptions etcd;
  std::string file;
  bool force = false;
  std::string format;
};

struct StoredCluster {
  std::optional<std::string> network;
  std::vector<etcd::KeyValue> nodes;
  std::vector<etcd::KeyValue> services;
};

Result<StoredCluster> readStored(EtcdConnection& c) {
  StoredCluster s;
  auto config = c.client->range(c.keys.config());
  if (!config) {
    return config.error();
  }
  if (!config->kvs.empty()) {
    s.network = config->kvs[0].value;
  }
  // Everything at the revision the settings were read at: one consistent state.
  const int64_t at = config->revision;
  auto nodes = c.client->range(c.keys.nodes(), etcd::Client::prefixEnd(c.keys.nodes()), at);
  if (!nodes) {
    return nodes.error();
  }
  s.nodes = std::move(nodes->kvs);
  auto services =
      c.client->range(c.keys.services(), etcd::Client::prefixEnd(c.keys.services()), at);
  if (!services) {
    return services.error();
  }
  s.services = std::move(services->kvs);
  return s;
}

// The problems of the stored nodes and services when checked against `network` (the text of
// the config key), as the agents would check them.
std::vector<ConfigIssue> storedProblems(const EtcdConnection& c, const StoredCluster& s,
                                        const std::string& network) {
  ClusterDocuments docs(c.keys.config());
  docs.setNetwork(c.keys.config(), network);
  for (const auto& kv : s.nodes) {
    docs.setNode(kv.key, kv.value);
  }
  for (const auto& kv : s.services) {
    docs.setService(kv.key, kv.value);
  }
  std::vector<ConfigIssue> out;
  for (auto& i : docs.build().issues) {
    if (i.mark.file != c.keys.config()) {
      out.push_back(std::move(i));
    }
  }
  return out;
}

int apply(const NetworkOptions& o) {
  const std::optional<std::string> text = readInputFile(o.file);
  if (!text) {
    return kExitInvalid;
  }
  // The file on its own first, named by its own path.
  {
    ClusterDocuments alone(o.file);
    alone.setNetwork(o.file, *text);
    ClusterLoad load = alone.build();
    if (!load.issues.empty()) {
      printIssues(load.issues, "");
      std::fprintf(stderr, "%zu problem(s) in %s; nothing applied\n", load.issues.size(),
                   o.file.c_str());
      return kExitInvalid;
    }
  }
  auto conn = connectEtcd(o.etcd);
  if (!conn) {
    return reportError(conn.error());
  }
  auto stored = readStored(*conn);
  if (!stored) {
    std::fprintf(stderr, "%s\n", stored.error().message.c_str());
    return kExitFailure;
  }
  if (stored->network && *stored->network == *text) {
    std::printf("network settings unchanged\n");
    return 0;
  }
  // What the new settings would reject among the stored nodes and services (a subnet outside
  // a new podCIDR, a cluster IP outside a new serviceCIDR), beyond what is rejected already:
  // compared by object and field, as the messages name the settings they were checked against.
  auto where = [](const ConfigIssue& i) { return i.mark.file + "\t" + i.field; };
  std::set<std::string> before;
  if (stored->network) {
    for (const auto& i : storedProblems(*conn, *stored, *stored->network)) {
      before.insert(where(i));
    }
  }
  std::vector<ConfigIssue> added;
  std::set<std::string> objects;
  for (auto& i : storedProblems(*conn, *stored, *text)) {
    if (!before.contains(where(i))) {
      objects.insert(i.mark.file);
      added.push_back(std::move(i));
    }
  }
  if (!added.empty()) {
    printIssues(added, o.force ? "warning: " : "");
    if (!o.force) {
      std::fprintf(stderr,
                   "%zu stored object(s) would be rejected by the agents with the settings of %s; "
                   "nothing applied (--force writes them anyway)\n",
                   objects.size(), o.file.c_str());
      return kExitInvalid;
    }
  }
  // Written only if the settings are still those checked against.
  const etcd::Compare unchanged =
      stored->network ? etcd::Compare::valueIs(conn->keys.config(), *stored->network)
                      : etcd::Compare::absent(conn->keys.config());
  auto t = conn->client->txn({unchanged}, {etcd::TxnOp::put(conn->keys.config(), *text)});
  if (!t) {
    std::fprintf(stderr, "%s\n", t.error().message.c_str());
    return kExitFailure;
  }
  if (!t->succeeded) {
    std::fprintf(stderr,
                 "the network settings in etcd changed while %s was checked against them; "
                 "nothing applied (run it again)\n",
                 o.file.c_str());
    return kExitFailure;
  }
  std::printf("network settings %s\n", stored->network ? "configured" : "created");
  return 0;
}

int show(const NetworkOptions& o) {
  auto conn = connectEtcd(o.etcd);
  if (!conn) {
    return reportError(conn.error());
  }
  auto config = conn->client->range(conn->keys.config());
  if (!config) {
    std::fprintf(stderr, "%s\n", config.error().message.c_str());
    return kExitFailure;
  }
  if (config->kvs.empty()) {
    std::fprintf(stderr, "etcd key %s is missing: no network settings are stored\n",
                 conn->keys.config().c_str());
    return kExitFailure;
  }
  ClusterDocuments docs(conn->keys.config());
  docs.setNetwork(conn->keys.config(), config->kvs[0].value);
  ClusterLoad load = docs.build();
  if (load.fatal) {
    printIssues(load.issues, "");
    std::fprintf(stderr,
                 "the stored network settings are invalid: the agents keep their last "
                 "good ones\n");
    return kExitFailure;
  }
  static constexpr const char* kModes[] = {"off-cluster", "all", "none"};
  const NetworkConfig& n = load.cluster.network;
  nlohmann::ordered_json r{
      {"podCIDR", n.podCidr.toString()},
      {"subnetLength", n.subnetLength},
      {"serviceCIDR", n.serviceCidr ? nlohmann::ordered_json(n.serviceCidr->toString())
                                    : nlohmann::ordered_json(nullptr)},
      {"vni", n.vni},
      {"port", n.port},
      {"mtu", n.mtu ? nlohmann::ordered_json(*n.mtu) : nlohmann::ordered_json("auto")},
      {"masquerade", kModes[static_cast<int>(n.masquerade)]}};
  auto text = [](const char* field) {
    return [field](const nlohmann::ordered_json& rec) {
      const auto& v = rec[field];
      return v.is_string() ? v.get<std::string>() : v.is_null() ? std::string("-") : v.dump();
    };
  };
  printRecords(nlohmann::ordered_json::array({r}),
               {{"POD-CIDR", text("podCIDR")},
                {"SUBNET-LENGTH", text("subnetLength")},
                {"SERVICE-CIDR", text("serviceCIDR")},
                {"VNI", text("vni")},
                {"PORT", text("port")},
                {"MTU", text("mtu")},
                {"MASQUERADE", text("masquerade")}},
               o.format);
  return 0;
}

}  // namespace

void addNetworkCommand(CLI::App& app, GlobalOptions& g) {
  auto* cmd = addEtcdGroup(app, "network", "the cluster's network settings stored in etcd");
  auto o = std::make_shared<NetworkOptions>();
  auto* a = addEtcdCommand(
      *cmd, "apply",
      "store the network settings of a file (the cluster file's network section on its own); "
      "the file, and the stored nodes and services against it, are checked first",
      g, o->etcd, nullptr, [o] { return apply(*o); });
  a->add_option("-f,--filename", o->file, "the file")->required();
  a->add_flag("--force", o->force,
              "write even when stored nodes or services would be rejected by the new settings");
  addEtcdCommand(*cmd, "show", "the stored network settings, with their defaults", g, o->etcd,
                 &o->format, [o] { return show(*o); });
}

}  // namespace ovl::cli
