#include "cli/global_options.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>

#include "cli/local_node.h"

namespace ovl::cli {

namespace {

constexpr const char* kEtcdFlags[] = {"--endpoints", "--cacert", "--cert", "--key", "--prefix"};

const CLI::App& rootOf(const CLI::App& cmd) {
  const CLI::App* app = &cmd;
  while (app->get_parent() != nullptr) {
    app = app->get_parent();
  }
  return *app;
}

// "service list" for the command `cmd`.
std::string pathOf(const CLI::App& cmd) {
  std::string path = cmd.get_name();
  for (const CLI::App* p = cmd.get_parent(); p != nullptr && p->get_parent() != nullptr;
       p = p->get_parent()) {
    path = p->get_name() + " " + path;
  }
  return path;
}

void checkFlags(const CLI::App& cmd, GlobalOptions& g, const Uses& uses) {
  const CLI::App& root = rootOf(cmd);
  const std::string name = "ovlctl " + pathOf(cmd);
  if (g.output.empty()) {
    g.output = uses.formats.empty() ? "" : uses.formats.front();
  } else if (uses.formats.empty()) {
    throw CLI::ValidationError("--output",
                               fmt::format("{} prints no data to format: it takes no -o", name));
  } else if (std::find(uses.formats.begin(), uses.formats.end(), g.output) == uses.formats.end()) {
    throw CLI::ValidationError("--output", fmt::format("{} takes -o {}; got '{}'", name,
                                                       fmt::join(uses.formats, "|"), g.output));
  }
  if (!uses.etcd) {
    for (const char* flag : kEtcdFlags) {
      if (root.count(flag) > 0) {
        throw CLI::ValidationError(
            flag, fmt::format("{} does not use etcd; the etcd flags are for the service, node "
                              "and network commands",
                              name));
      }
    }
  }
  g.configGiven = root.count("--config") > 0;
}

std::vector<std::string> commandNames(const CLI::App& group) {
  std::vector<std::string> names;
  for (const CLI::App* c : group.get_subcommands({})) {
    names.push_back(c->get_name());
  }
  return names;
}

}  // namespace

void addGlobalOptions(CLI::App& app, GlobalOptions& g) {
  g.config = kDefaultAgentConfig;
  // Every command created after this passes the flags it does not know up to the app.
  app.fallthrough();
  app.add_option("-c,--config", g.config, "agent configuration (agent.yaml)")
      ->capture_default_str();
  app.add_option("-o,--output", g.output,
                 "output format: table, json or yaml (diagnose: text or json; default: table, "
                 "diagnose text)")
      ->check(CLI::IsMember({"table", "json", "yaml", "text"}));
  app.add_option("--endpoints", g.endpoints, "etcd endpoints, host:port[,host:port...]")
      ->delimiter(',');
  app.add_option("--cacert", g.caFile, "CA of the etcd servers' certificates (TLS)");
  app.add_option("--cert", g.certFile, "client certificate for etcd (mTLS)");
  app.add_option("--key", g.keyFile, "the client certificate's key");
  app.add_option("--prefix", g.prefix, "etcd key prefix (default /ovl)");
}

void requireCommand(CLI::App& group) {
  // Not require_subcommand(1): CLI11 would report a missing command before an unknown word, so
  // `ovlctl bogus` would say "A subcommand is required" instead of naming "bogus".
  group.require_subcommand(0, 1);
  group.callback([&group] {
    if (group.get_subcommands().empty()) {
      throw CLI::RequiredError(fmt::format("a command ({})", fmt::join(commandNames(group), ", ")));
    }
  });
}

void selectable(CLI::App& cmd, GlobalOptions& g, Uses uses, std::function<int()> run) {
  // CLI11 lists only a command's own options in its help: name the global ones it takes.
  std::string footer = "Global flags (before or after the command): -c,--config FILE";
  if (!uses.formats.empty()) {
    footer += fmt::format(", -o,--output {}", fmt::join(uses.formats, "|"));
  }
  if (uses.etcd) {
    footer += ", --endpoints, --cacert, --cert, --key, --prefix";
  }
  cmd.footer(footer + " (see ovlctl --help)");
  cmd.callback([&cmd, &g, uses = std::move(uses), run = std::move(run)] {
    checkFlags(cmd, g, uses);
    g.command = pathOf(cmd);
    g.run = run;
  });
}

EtcdOptions etcdOptionsOf(const GlobalOptions& g) {
  EtcdOptions o;
  std::error_code ec;
  if (g.configGiven || (g.endpoints.empty() && std::filesystem::exists(g.config, ec))) {
    o.config = g.config;
  }
  o.endpoints = g.endpoints;
  o.caFile = g.caFile;
  o.certFile = g.certFile;
  o.keyFile = g.keyFile;
  o.prefix = g.prefix;
  return o;
}

}  // namespace ovl::cli
