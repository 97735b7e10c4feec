#include "cli/service_command.h"

#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/etcd_options.h"
#include "cli/nat_command.h"
#include "cli/output.h"
#include "model/config.h"

namespace ovl::cli {

namespace {

constexpr size_t kPutsPerTxn = 100;  // etcd allows 128 operations per transaction by default

struct ServiceOptions {
  EtcdOptions etcd;
  std::string file;
  std::vector<std::string> names;
  std::string ns = "default";
  std::string format;
  bool kernel = false;  // --kernel: the nftables table instead of etcd
};

// The network settings and the services stored in etcd, as documents; `skip` holds keys to
// leave out (services a file replaces).
struct Stored {
  ClusterDocuments docs;
  std::map<std::string, std::string> services;  // key -> value
  bool hasNetwork = false;
};

Result<Stored> readStored(EtcdConnection& c) {
  Stored s{ClusterDocuments(c.keys.config()), {}, false};
  auto config = c.client->range(c.keys.config());
  if (!config) {
    return config.error();
  }
  if (!config->kvs.empty()) {
    s.docs.setNetwork(c.keys.config(), config->kvs[0].value);
    s.hasNetwork = true;
  }
  auto services = c.client->rangePrefix(c.keys.services());
  if (!services) {
    return services.error();
  }
  for (const auto& kv : services->kvs) {
    s.services[kv.key] = kv.value;
  }
  return s;
}

struct Opened {
  EtcdConnection conn;
  Stored stored;
};

Result<Opened> openStored(const EtcdOptions& o) {
  auto conn = connectEtcd(o);
  if (!conn) {
    return conn.error();
  }
  auto stored = readStored(*conn);
  if (!stored) {
    return stored.error();
  }
  return Opened{std::move(*conn), std::move(*stored)};
}

int apply(const ServiceOptions& o) {
  const std::optional<std::string> text = readInputFile(o.file);
  if (!text) {
    return kExitInvalid;
  }
  auto opened = openStored(o.etcd);
  if (!opened) {
    return reportError(opened.error());
  }
  EtcdConnection* conn = &opened->conn;
  Stored* stored = &opened->stored;
  if (!stored->hasNetwork) {
    std::fprintf(stderr,
                 "etcd key %s is missing: store the network settings first (services are "
                 "checked against network.serviceCIDR)\n",
                 conn->keys.config().c_str());
    return kExitFailure;
  }
  std::vector<ConfigIssue> issues;
  auto entries = stored->docs.addServiceFile(o.file, *text, issues);
  std::map<std::string, const ClusterDocuments::ServiceEntry*> byKey;
  for (const auto& e : entries) {
    if (!e.id.empty()) {
      byKey[conn->keys.services() + e.id] = &e;
    }
  }
  for (const auto& [key, value] : stored->services) {
    if (!byKey.contains(key)) {
      stored->docs.setService(key, value);  // checked together: one cluster IP per service
    }
  }
  ClusterLoad load = stored->docs.build();
  std::vector<ConfigIssue> others;
  for (auto& i : load.issues) {
    (i.mark.file == o.file ? issues : others).push_back(std::move(i));
  }
  printIssues(others, "warning: stored data skipped: ");
  if (!issues.empty()) {
    printIssues(issues, "");
    std::fprintf(stderr, "%zu problem(s) in %s; nothing applied\n", issues.size(), o.file.c_str());
    return kExitInvalid;
  }
  std::vector<etcd::TxnOp> puts;
  std::vector<std::string> report;
  for (const auto& [key, e] : byKey) {
    auto it = stored->services.find(key);
    if (it != stored->services.end() && it->second == e->text) {
      report.push_back(fmt::format("service {} unchanged", e->id));
      continue;
    }
    report.push_back(fmt::format("service {} {}", e->id,
                                 it == stored->services.end() ? "created" : "configured"));
    puts.push_back(etcd::TxnOp::put(key, e->text));
  }
  for (size_t i = 0; i < puts.size(); i += kPutsPerTxn) {
    std::vector<etcd::TxnOp> batch(
        puts.begin() + static_cast<std::ptrdiff_t>(i),
        puts.begin() + static_cast<std::ptrdiff_t>(std::min(puts.size(), i + kPutsPerTxn)));
    if (auto t = conn->client->txn({}, batch); !t) {
      std::fprintf(stderr, "%s\n", t.error().message.c_str());
      return kExitFailure;
    }
  }
  for (const auto& line : report) {
    std::printf("%s\n", line.c_str());
  }
  return 0;
}

int remove(const ServiceOptions& o) {
  auto conn = connectEtcd(o.etcd);
  if (!conn) {
    return reportError(conn.error());
  }
  int rc = 0;
  for (const auto& name : o.names) {
    const std::string id = name.find('/') == std::string::npos ? o.ns + "/" + name : name;
    auto n = conn->client->deleteRange(conn->keys.services() + id);
    if (!n) {
      std::fprintf(stderr, "%s\n", n.error().message.c_str());
      return kExitFailure;
    }
    if (*n == 0) {
      std::fprintf(stderr, "service %s not found\n", id.c_str());
      rc = kExitFailure;
    } else {
      std::printf("service %s deleted\n", id.c_str());
    }
  }
  return rc;
}

nlohmann::ordered_json toJson(const svc::Service& s) {
  static constexpr const char* kTypes[] = {"ClusterIP", "NodePort", "LoadBalancer"};
  nlohmann::ordered_json ports = nlohmann::ordered_json::array();
  for (const auto& p : s.ports) {
    nlohmann::ordered_json j{{"name", p.name},
                             {"protocol", svc::toString(p.protocol)},
                             {"port", p.port},
                             {"targetPort", p.targetPort != 0 ? p.targetPort : p.port}};
    if (p.nodePort) {
      j["nodePort"] = *p.nodePort;
    }
    ports.push_back(std::move(j));
  }
  nlohmann::ordered_json endpoints = nlohmann::ordered_json::array();
  for (const auto& e : s.endpoints) {
    nlohmann::ordered_json j{{"ip", e.ip.toString()},
                             {"node", e.node},
                             {"ready", e.ready},
                             {"serving", e.serving},
                             {"terminating", e.terminating}};
    if (e.weight) {
      j["weight"] = *e.weight;
    }
    endpoints.push_back(std::move(j));
  }
  std::vector<std::string> clusterIps;
  std::vector<std::string> externalIps;
  for (const auto& ip : s.clusterIps) {
    clusterIps.push_back(ip.toString());
  }
  for (const auto& ip : s.externalIps) {
    externalIps.push_back(ip.toString());
  }
  return nlohmann::ordered_json{{"namespace", s.ns},
                                {"name", s.name},
                                {"type", kTypes[static_cast<int>(s.type)]},
                                {"clusterIPs", clusterIps},
                                {"externalIPs", externalIps},
                                {"ports", ports},
                                {"endpoints", endpoints}};
}

int list(const ServiceOptions& o) {
  auto opened = openStored(o.etcd);
  if (!opened) {
    return reportError(opened.error());
  }
  Stored* stored = &opened->stored;
  for (const auto& [key, value] : stored->services) {
    stored->docs.setService(key, value);
  }
  ClusterLoad load = stored->docs.build();
  printIssues(load.issues, "warning: skipped: ");
  nlohmann::ordered_json records = nlohmann::ordered_json::array();
  for (const auto& s : load.cluster.services) {
    records.push_back(toJson(s));
  }
  auto strings = [](const nlohmann::ordered_json& a) {
    std::string out;
    for (const auto& v : a) {
      out += (out.empty() ? "" : ",") + v.get<std::string>();
    }
    return out.empty() ? std::string("<none>") : out;
  };
  printRecords(
      records,
      {{"NAMESPACE", [](const auto& r) { return r["namespace"].template get<std::string>(); }},
       {"NAME", [](const auto& r) { return r["name"].template get<std::string>(); }},
       {"TYPE", [](const auto& r) { return r["type"].template get<std::string>(); }},
       {"CLUSTER-IP", [&](const auto& r) { return strings(r["clusterIPs"]); }},
       {"EXTERNAL-IP", [&](const auto& r) { return strings(r["externalIPs"]); }},
       {"PORT(S)",
        [](const auto& r) {
          std::string out;
          for (const auto& p : r["ports"]) {
            out += fmt::format(
                "{}{}->{}/{}{}", out.empty() ? "" : ",", p["port"].template get<int>(),
                p["targetPort"].template get<int>(), p["protocol"].template get<std::string>(),
                p.contains("nodePort")
                    ? fmt::format(" (node port {})", p["nodePort"].template get<int>())
                    : "");
          }
          return out;
        }},
       {"ENDPOINTS",
        [](const auto& r) {
          std::string out;
          for (const auto& e : r["endpoints"]) {
            out += (out.empty() ? "" : ",") + e["ip"].template get<std::string>() +
                   (e["ready"].template get<bool>() ? "" : "(not ready)");
          }
          return out.empty() ? std::string("<none>") : out;
        }}},
      o.format);
  return 0;
}

}  // namespace

void addServiceCommand(CLI::App& app, GlobalOptions& g) {
  auto* cmd = addEtcdGroup(app, "service", "the services stored in etcd");
  auto o = std::make_shared<ServiceOptions>();
  auto* a = addEtcdCommand(
      *cmd, "apply",
      "create or update the services of a file: `services:` with a list as in the cluster "
      "file, or one service; checked first, nothing is written if any is invalid",
      g, o->etcd, nullptr, [o] { return apply(*o); });
  a->add_option("-f,--filename", o->file, "the file")->required();
  auto* d = addEtcdCommand(*cmd, "delete", "delete services", g, o->etcd, nullptr,
                           [o] { return remove(*o); });
  d->add_option("names", o->names, "NAME or NAMESPACE/NAME")->required();
  d->add_option("-n,--namespace", o->ns, "namespace of names given without one")
      ->default_val("default");
  auto* l = addEtcdCommand(
      *cmd, "list",
      "list the services with their endpoints (stored in etcd; with --kernel: as this node's "
      "nftables table holds them, as `ovlctl nat list`)",
      g, o->etcd, &o->format, [o, &g] { return o->kernel ? listKernelServices(g) : list(*o); });
  l->add_flag("--kernel", o->kernel,
              "read this node's nftables table `ip ovl` instead of etcd (any datastore)");
}

}  // namespace ovl::cli
