#include "cli/etcd_options.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "cli/global_options.h"
#include "cli/local_node.h"
#include "datastore/etcd_datastore.h"
#include "model/config.h"

namespace ovl::cli {

CLI::App* addEtcdGroup(CLI::App& app, const std::string& name, const std::string& description) {
  auto* group = app.add_subcommand(name, description);
  requireCommand(*group);
  return group;
}

CLI::App* addEtcdCommand(CLI::App& group, const std::string& name, const std::string& description,
                         GlobalOptions& g, EtcdOptions& etcd, std::string* format,
                         std::function<int()> run) {
  auto* cmd = group.add_subcommand(name, description);
  Uses uses{format != nullptr ? kDataFormats : std::vector<std::string>{}, true};
  selectable(*cmd, g, std::move(uses), [&g, &etcd, format, run = std::move(run)] {
    etcd = etcdOptionsOf(g);
    if (format != nullptr) {
      *format = g.output;
    }
    return run();
  });
  return cmd;
}

std::optional<std::string> readInputFile(const std::string& path) {
  // As the agent reads its files: a regular file of at most 64 MiB.
  Result<std::string> text = readConfigFile(path);
  if (!text) {
    std::fprintf(stderr, "%s: %s\n", clipValue(path, 256).c_str(), text.error().message.c_str());
    return std::nullopt;
  }
  return std::move(*text);
}

void printIssues(const std::vector<ConfigIssue>& issues, const char* prefix) {
  for (const auto& line : issueLines(issues)) {
    std::fprintf(stderr, "%s%s\n", prefix, line.c_str());
  }
}

int reportError(const Error& e) {
  std::fprintf(stderr, "%s\n", e.message.c_str());
  return e.code == EINVAL ? kExitInvalid : kExitFailure;
}

Result<EtcdConnection> connectEtcd(const EtcdOptions& o) {
  EtcdConfig etcd;
  if (!o.config.empty()) {
    AgentConfigResult acr = readAgentConfig(o.config);
    if (!acr.issues.empty()) {
      std::string text;
      for (const auto& line : issueLines(acr.issues)) {
        text += "\n  " + line;
      }
      return Error{EINVAL, fmt::format("{} is not usable:{}", o.config, text)};
    }
    if (acr.config.datastore != "etcd") {
      return Error{EINVAL, fmt::format("{} uses datastore '{}'; these commands need etcd", o.config,
                                       acr.config.datastore)};
    }
    etcd = acr.config.etcd;
  }
  if (!o.endpoints.empty()) {
    etcd.endpoints.clear();
    for (std::string ep : o.endpoints) {
      for (std::string_view scheme : {"http://", "https://"}) {
        if (ep.starts_with(scheme)) {
          ep.erase(0, scheme.size());
        }
      }
      etcd.endpoints.push_back(ep);
    }
  }
  if (etcd.endpoints.empty()) {
    return Error{EINVAL, "no etcd endpoints: give --endpoints host:port or -c agent.yaml"};
  }
  for (auto [flag, target] :
       {std::pair{&o.caFile, &etcd.caFile}, std::pair{&o.certFile, &etcd.certFile},
        std::pair{&o.keyFile, &etcd.keyFile}}) {
    if (!flag->empty()) {
      *target = *flag;
    }
  }
  if (!o.prefix.empty()) {
    etcd.prefix = o.prefix;
  }
  auto client = etcd::Client::create(etcdClientOptions(etcd));
  if (!client) {
    return client.error();
  }
  return EtcdConnection{std::move(*client), EtcdKeys{etcd.prefix}};
}

}  // namespace ovl::cli
