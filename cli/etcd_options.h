// What the etcd-backed ovlctl commands share: how to reach etcd (agent.yaml's etcd section, or
// flags, which win).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/exit_code.h"
#include "common/result.h"
#include "datastore/etcd_keys.h"
#include "etcd/client.h"
#include "model/config.h"

namespace ovl::cli {

struct EtcdOptions {
  std::string config;  // agent.yaml, whose etcd section the flags override; "" = flags only
  std::vector<std::string> endpoints;
  std::string caFile;
  std::string certFile;
  std::string keyFile;
  std::string prefix;
};
struct GlobalOptions;

// A command group of ovlctl whose commands talk to etcd ("service", "node", "network"): one of
// its subcommands is required.
CLI::App* addEtcdGroup(CLI::App& app, const std::string& name, const std::string& description);
// One of its subcommands: it takes the etcd flags (into `etcd`, before `run`) and, when `format`
// is given, -o table|json|yaml (into *format); `run`'s return is ovlctl's exit code.
CLI::App* addEtcdCommand(CLI::App& group, const std::string& name, const std::string& description,
                         GlobalOptions& g, EtcdOptions& etcd, std::string* format,
                         std::function<int()> run);

struct EtcdConnection {
  std::unique_ptr<etcd::Client> client;
  EtcdKeys keys;
};
// EINVAL: the options or agent.yaml are not usable (the message says why).
Result<EtcdConnection> connectEtcd(const EtcdOptions& o);

// Prints the error; returns its exit code: kExitInvalid for EINVAL, else kExitFailure.
int reportError(const Error& e);

// The text of a file given with -f; nullopt (after saying why on stderr) when unreadable.
std::optional<std::string> readInputFile(const std::string& path);
// One line on stderr per issue, after `prefix`.
void printIssues(const std::vector<ConfigIssue>& issues, const char* prefix);

}  // namespace ovl::cli
