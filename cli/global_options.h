// ovlctl's global flags, the same on every command and accepted before or after the command name
// (they are options of the app, and every command falls through to it): -c/--config, -o/--output
// and the etcd flags. Parsing only selects a command (GlobalOptions::run); main() runs it after
// the parse, so that the parsing is tested without running anything.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "cli/etcd_options.h"

namespace ovl::cli {

struct GlobalOptions {
  std::string config;  // -c/--config: agent.yaml (kDefaultAgentConfig unless given)
  bool configGiven = false;
  // -o/--output: after the parse, the selected command's format (its default when not given).
  std::string output;
  std::vector<std::string> endpoints;  // --endpoints host:port,...
  std::string caFile;                  // --cacert
  std::string certFile;                // --cert
  std::string keyFile;                 // --key
  std::string prefix;                  // --prefix
  // Set by the parse: the command selected ("service list") and what running it means.
  std::string command;
  std::function<int()> run;
};

// What a command does with the global flags. A flag it has no use for is refused, so that
// `ovlctl trace -o json` does not silently print text.
struct Uses {
  // The -o values it takes, its default first; empty: its output is not data (no -o).
  std::vector<std::string> formats;
  bool etcd = false;  // the etcd flags
};
inline const std::vector<std::string> kDataFormats = {"table", "json", "yaml"};

void addGlobalOptions(CLI::App& app, GlobalOptions& g);

// Makes `group` (the app, or a group such as "service") need one of its commands; an unknown
// word is reported as such (exit 2).
void requireCommand(CLI::App& group);

// Makes `cmd` a command: when the parse selects it, its global flags are checked against
// `uses` (CLI::ValidationError naming the flag: exit 2) and `run` becomes g.run.
void selectable(CLI::App& cmd, GlobalOptions& g, Uses uses, std::function<int()> run);

// The etcd options of a command that uses etcd: the flags, over agent.yaml's etcd section.
// agent.yaml is read when -c is given, or when the default one exists and --endpoints is not
// given (an etcd command run on a node needs no flags; elsewhere, --endpoints needs no file).
EtcdOptions etcdOptionsOf(const GlobalOptions& g);

}  // namespace ovl::cli
