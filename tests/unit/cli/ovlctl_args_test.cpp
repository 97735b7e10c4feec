// ovlctl's argument parsing (cli/ovlctl_app.h, cli/global_options.h): a table of command lines
// and what the parse makes of them (the command selected and the global flags), or the error
// CLI11 reports (main() turns every parse error into exit status 2). Nothing is run.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cli/global_options.h"
#include "cli/ovlctl_app.h"

namespace ovl::cli {
namespace {

struct Parsed {
  GlobalOptions g;
  std::string error;  // "" = parsed
};

Parsed parse(std::vector<std::string> args) {
  Parsed p;
  CLI::App app{"ovlctl"};
  buildApp(app, p.g);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them reversed
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    p.error = e.what();
  }
  return p;
}

struct Case {
  std::vector<std::string> args;
  std::string command;  // selected command ("" when an error is expected)
  std::string config;
  bool configGiven = false;
  std::string output;
  std::vector<std::string> endpoints;
  std::string error;  // a part of the error message
};

// One case a line: easier to read as a table than as clang-format lays it out.
// clang-format off
const std::vector<Case> kCases = {
    // -c and -o before or after the command name, same result.
    {{"status"}, "status", "/etc/ovl/agent.yaml", false, "table", {}, ""},
    {{"-c", "a.yaml", "status"}, "status", "a.yaml", true, "table", {}, ""},
    {{"status", "-c", "a.yaml"}, "status", "a.yaml", true, "table", {}, ""},
    {{"status", "--config=a.yaml", "-o", "json"}, "status", "a.yaml", true, "json", {}, ""},
    {{"-o", "yaml", "status"}, "status", "/etc/ovl/agent.yaml", false, "yaml", {}, ""},
    // diagnose keeps text|json (its text is its table, so -o table is text).
    {{"diagnose"}, "diagnose", "/etc/ovl/agent.yaml", false, "text", {}, ""},
    {{"diagnose", "-o", "json", "--fix"}, "diagnose", "/etc/ovl/agent.yaml", false, "json", {}, ""},
    {{"-o", "table", "diagnose"}, "diagnose", "/etc/ovl/agent.yaml", false, "table", {}, ""},
    {{"diagnose", "-o", "yaml"}, "", "", false, "", {}, "takes -o text|json|table; got 'yaml'"},
    {{"status", "-o", "text"}, "", "", false, "", {}, "takes -o table|json|yaml; got 'text'"},
    {{"status", "-o", "xml"}, "", "", false, "", {}, "xml not in {table,json,yaml,text}"},
    // trace: positionals around the global flag; its output is not data.
    {{"trace", "10.244.1.2", "-c", "b.yaml", "10.96.0.10:80"}, "trace", "b.yaml", true, "", {}, ""},
    {{"trace", "-o", "json", "1.1.1.1", "2.2.2.2:80"}, "", "", false, "", {}, "takes no -o"},
    // The etcd commands: the etcd flags before or after; -o on the listing commands only.
    {{"service", "list", "--endpoints", "h1:2379,h2:2379", "-o", "json"}, "service list", "/etc/ovl/agent.yaml", false, "json", {"h1:2379", "h2:2379"}, ""},
    {{"--endpoints", "h1:2379", "node", "list"}, "node list", "/etc/ovl/agent.yaml", false, "table", {"h1:2379"}, ""},
    {{"service", "delete", "web", "--endpoints", "h1:2379"}, "service delete", "/etc/ovl/agent.yaml", false, "", {"h1:2379"}, ""},
    {{"network", "show", "-c", "e.yaml", "-o", "yaml"}, "network show", "e.yaml", true, "yaml", {}, ""},
    {{"network", "apply", "-f", "n.yaml", "-o", "json"}, "", "", false, "", {}, "takes no -o"},
    {{"service", "apply", "-f", "s.yaml", "--prefix", "/x"}, "service apply", "/etc/ovl/agent.yaml", false, "", {}, ""},
    // connectivity: table|json, and the etcd flags (with `datastore: etcd`).
    {{"connectivity", "-c", "a.yaml", "-o", "json"}, "connectivity", "a.yaml", true, "json", {}, ""},
    {{"--endpoints", "h1:2379", "connectivity", "--timeout-ms", "500"}, "connectivity", "/etc/ovl/agent.yaml", false, "table", {"h1:2379"}, ""},
    {{"-o", "yaml", "connectivity"}, "", "", false, "", {}, "takes -o table|json; got 'yaml'"},
    // The kernel's table.
    {{"nat", "list", "-o", "json"}, "nat list", "/etc/ovl/agent.yaml", false, "json", {}, ""},
    {{"service", "list", "--kernel"}, "service list", "/etc/ovl/agent.yaml", false, "table", {}, ""},
    // The etcd flags where etcd is not used.
    {{"status", "--endpoints", "h1:2379"}, "", "", false, "", {}, "ovlctl status does not use etcd"},
    {{"--cacert", "ca.pem", "nat", "list"}, "", "", false, "", {}, "--cacert: ovlctl nat list"},
    // Unknown flags and commands are named.
    {{"status", "--bogus"}, "", "", false, "", {}, "--bogus"},
    {{"bogus"}, "", "", false, "", {}, "not expected: bogus"},
    {{"service", "bogus"}, "", "", false, "", {}, "not expected: bogus"},
    {{}, "", "", false, "", {}, "a command (status, diagnose, trace, connectivity, service, nat, node, network)"},
    {{"service"}, "", "", false, "", {}, "a command (apply, delete, list) is required"},
    {{"-c"}, "", "", false, "", {}, "--config"},
};
// clang-format on

TEST(OvlctlArgs, Table) {
  for (const Case& c : kCases) {
    std::string line;
    for (const auto& a : c.args) {
      line += " " + a;
    }
    SCOPED_TRACE("ovlctl" + line);
    Parsed p = parse(c.args);
    if (!c.error.empty()) {
      EXPECT_NE(p.error.find(c.error), std::string::npos) << "error: " << p.error;
      EXPECT_FALSE(p.g.run);
      continue;
    }
    ASSERT_EQ(p.error, "");
    EXPECT_EQ(p.g.command, c.command);
    EXPECT_TRUE(p.g.run);
    EXPECT_EQ(p.g.config, c.config);
    EXPECT_EQ(p.g.configGiven, c.configGiven);
    EXPECT_EQ(p.g.output, c.output);
    EXPECT_EQ(p.g.endpoints, c.endpoints);
  }
}

// agent.yaml's etcd section is used when -c is given, or when the default file exists and no
// --endpoints replaces it.
TEST(OvlctlArgs, EtcdOptionsTakeAgentYamlOnlyWhenMeant) {
  GlobalOptions g;
  g.config = "/nonexistent/agent.yaml";
  EXPECT_EQ(etcdOptionsOf(g).config, "");
  g.configGiven = true;
  EXPECT_EQ(etcdOptionsOf(g).config, "/nonexistent/agent.yaml");
  g.config = "/";  // exists
  g.configGiven = false;
  EXPECT_EQ(etcdOptionsOf(g).config, "/");
  g.endpoints = {"h1:2379"};
  EXPECT_EQ(etcdOptionsOf(g).config, "");
  EXPECT_EQ(etcdOptionsOf(g).endpoints, g.endpoints);
}

}  // namespace
}  // namespace ovl::cli
