#include "cli/status_command.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/exit_code.h"
#include "cli/global_options.h"
#include "cli/local_node.h"
#include "cli/output.h"
#include "common/fd.h"
#include "common/local_state.h"
#include "netlink/netlink.h"

namespace ovl::cli {

namespace {

using nlohmann::ordered_json;

constexpr auto kHealthTimeout = std::chrono::milliseconds(2000);
constexpr size_t kMaxHealthBody = 1 << 20;  // the agent's answer is a few KiB

struct StatusOptions {
  std::string config = kDefaultAgentConfig;
  std::string format = "table";
};

// Waits until fd is ready for `events`, within what is left of the deadline.
bool waitFor(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) {
    return false;
  }
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, static_cast<int>(left.count())) == 1;
}

// GET /readyz from the agent's health address (IPv4:port), plain HTTP/1.0, bounded in time and
// size. The status code does not matter: 503 (not ready) carries the same JSON.
Result<nlohmann::json> askAgent(const std::string& address) {
  const auto colon = address.rfind(':');
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  const int port = colon == std::string::npos ? 0 : std::atoi(address.c_str() + colon + 1);
  if (port <= 0 || port > 65535 ||
      ::inet_pton(AF_INET, address.substr(0, colon).c_str(), &sa.sin_addr) != 1) {
    return Error::msg(fmt::format("healthAddress '{}' is not IPv4:port", address));
  }
  sa.sin_port = htons(static_cast<uint16_t>(port));
  const auto deadline = std::chrono::steady_clock::now() + kHealthTimeout;
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) {
    return Error::sys(errno, "socket");
  }
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0 &&
      errno != EINPROGRESS) {
    return Error::sys(errno, "no answer on " + address);
  }
  int err = 0;
  socklen_t len = sizeof err;
  if (!waitFor(fd.get(), POLLOUT, deadline) ||
      ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
    return Error::sys(err != 0 ? err : ETIMEDOUT, "no answer on " + address);
  }
  const std::string request = "GET /readyz HTTP/1.0\r\nHost: ovl\r\n\r\n";
  if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return Error::sys(errno, "send to " + address);
  }
  std::string response;
  char buf[4096];
  while (response.size() < kMaxHealthBody) {
    if (!waitFor(fd.get(), POLLIN, deadline)) {
      return Error::sys(ETIMEDOUT, "no whole answer from " + address);
    }
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0) {
      return Error::sys(errno, "read from " + address);
    }
    if (n == 0) {
      break;
    }
    response.append(buf, static_cast<size_t>(n));
  }
  const auto body = response.find("\r\n\r\n");
  auto j = nlohmann::json::parse(body == std::string::npos ? "" : response.substr(body + 4),
                                 nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Error::msg(fmt::format("{} answered, but not with the agent's JSON", address));
  }
  return j;
}

// A device as the kernel holds it, or null when it is not there.
ordered_json device(nl::Netlink& netlink, const std::string& name) {
  if (name.empty()) {
    return nullptr;
  }
  auto link = netlink.linkByName(name);
  if (!link || !*link) {
    return nullptr;
  }
  const nl::Link& l = **link;
  ordered_json d{{"name", l.name}, {"up", l.up}, {"mtu", l.mtu}};
  if (l.vxlan) {
    d["vni"] = l.vxlan->vni;
    d["port"] = l.vxlan->port;
    d["local"] = l.vxlan->local ? l.vxlan->local->toString() : "";
    auto routes = netlink.routes(l.index);
    auto fdb = netlink.fdb(l.index);
    auto neighbours = netlink.neighbours(l.index);
    d["peerEntries"] = {{"routes", routes ? routes->size() : 0},
                        {"fdb", fdb ? fdb->size() : 0},
                        {"neighbours", neighbours ? neighbours->size() : 0}};
  }
  return d;
}

// The VTEP's name: what the agent said, else agent.yaml's, else the one VXLAN device whose name
// has the default form ("ovl.<vni>").
std::string vtepName(nl::Netlink& netlink, const AgentConfig& cfg, const nlohmann::json& agent) {
  if (agent.is_object() && agent.value("vtep", "") != "") {
    return agent["vtep"];
  }
  if (!cfg.vtepName.empty()) {
    return cfg.vtepName;
  }
  auto links = netlink.links();
  std::string found;
  for (const auto& l : links ? *links : std::vector<nl::Link>{}) {
    if (l.kind == "vxlan" && l.name.starts_with(AgentConfig::kDefaultVtepPrefix)) {
      if (!found.empty()) {
        return "";  // more than one: cannot tell
      }
      found = l.name;
    }
  }
  return found;
}

ordered_json agentPart(const AgentConfig& cfg, const Result<nlohmann::json>& answer) {
  if (cfg.healthAddress.empty()) {
    return {{"running", nullptr}, {"problem", "healthAddress is off in agent.yaml"}};
  }
  if (!answer) {
    return {{"running", false},
            {"problem", fmt::format("the agent is not running: {}", answer.error().message)}};
  }
  const auto& a = *answer;
  ordered_json out{{"running", true}};
  for (const char* key : {"ready", "version", "node", "datastore", "lastConverged", "lastPassMs",
                          "peers", "services", "endpoints", "lastError"}) {
    out[key] = a.contains(key) ? a[key] : nullptr;
  }
  out["configIssues"] = a.value("configIssues", nlohmann::json::array()).size();
  out["findings"] = a.value("findings", nlohmann::json::array());
  return out;
}

// 0: the agent is ready and found nothing; 1: not running, not ready, a finding or a device
// missing or down.
int exitCodeOf(const ordered_json& s) {
  const auto& a = s["agent"];
  const bool agentOk =
      a["running"] == true && a["ready"] == true && a["findings"].empty() && a["configIssues"] == 0;
  const auto up = [](const ordered_json& d) { return d.is_object() && d["up"] == true; };
  return agentOk && up(s["vtep"]) && up(s["bridge"]) ? 0 : kExitFailure;
}

std::string text(const ordered_json& v) {
  if (v.is_null()) {
    return "-";
  }
  return v.is_string() ? v.get<std::string>() : v.dump();
}

void printTable(const ordered_json& s) {
  const auto& a = s["agent"];
  std::printf("node:        %s\n", text(s["node"]).c_str());
  if (a["running"] != true) {
    std::printf("agent:       %s\n", text(a["problem"]).c_str());
  } else {
    std::printf("agent:       %s, version %s\n", a["ready"] == true ? "ready" : "NOT READY",
                text(a["version"]).c_str());
    std::printf("datastore:   %s (%s)\n", text(s["datastore"]).c_str(),
                text(a["datastore"]).c_str());
    const std::string took =
        a["lastPassMs"].is_number() ? fmt::format("{:.1f}", a["lastPassMs"].get<double>()) : "-";
    std::printf("last pass:   %s converged, took %s ms%s\n", text(a["lastConverged"]).c_str(),
                took.c_str(),
                a["lastError"] == "" ? "" : ("; error: " + text(a["lastError"])).c_str());
    std::printf("programmed:  %s peers, %s services, %s endpoints\n", text(a["peers"]).c_str(),
                text(a["services"]).c_str(), text(a["endpoints"]).c_str());
    std::printf("findings:    %zu (ovlctl diagnose explains them); config issues: %s\n",
                a["findings"].size(), text(a["configIssues"]).c_str());
  }
  for (const char* key : {"vtep", "bridge"}) {
    const auto& d = s[key];
    if (!d.is_object()) {
      std::printf("%-12s missing\n", (std::string(key) + ":").c_str());
      continue;
    }
    std::string extra;
    if (d.contains("vni")) {
      extra = fmt::format(
          ", vni {}, port {}, local {}, peer entries: {} routes, {} fdb, {} "
          "neighbours",
          text(d["vni"]), text(d["port"]), text(d["local"]), text(d["peerEntries"]["routes"]),
          text(d["peerEntries"]["fdb"]), text(d["peerEntries"]["neighbours"]));
    }
    std::printf("%-12s %s %s, mtu %s%s\n", (std::string(key) + ":").c_str(),
                text(d["name"]).c_str(), d["up"] == true ? "up" : "DOWN", text(d["mtu"]).c_str(),
                extra.c_str());
  }
}

int runStatus(const StatusOptions& o) {
  AgentConfigResult acr = readAgentConfig(o.config);
  if (!acr.issues.empty()) {
    for (const auto& line : issueLines(acr.issues)) {
      std::fprintf(stderr, "ovlctl status: %s\n", line.c_str());
    }
    return kExitInvalid;
  }
  const AgentConfig& cfg = acr.config;
  auto netlink = nl::Netlink::create();
  if (!netlink) {
    std::fprintf(stderr, "ovlctl status: %s\n", netlink.error().message.c_str());
    return kExitInvalid;
  }
  const auto answer = cfg.healthAddress.empty() ? Result<nlohmann::json>(Error::msg("off"))
                                                : askAgent(cfg.healthAddress);
  ordered_json s{{"node", cfg.nodeName},
                 {"datastore", cfg.datastore},
                 {"agent", agentPart(cfg, answer)},
                 {"vtep", device(*netlink, vtepName(*netlink, cfg, answer ? *answer : nullptr))},
                 {"bridge", device(*netlink, cfg.bridgeName)}};
  if (auto node = readFile(cfg.stateDir + "/" + NodeState::kFileName); node) {
    auto j = nlohmann::json::parse(*node, nullptr, false);
    s["nodeState"] = j.is_discarded() ? ordered_json(nullptr) : ordered_json(j);
  }
  if (o.format == "table") {
    printTable(s);
  } else {
    printDocument(s, o.format);
  }
  return exitCodeOf(s);
}

}  // namespace

void addStatusCommand(CLI::App& app, GlobalOptions& g) {
  auto o = std::make_shared<StatusOptions>();
  auto* cmd = app.add_subcommand(
      "status",
      "this node at a glance, from the agent's health endpoint and the kernel (also when the "
      "agent is down); exit 0 ready and healthy, 1 problems, 2 could not check");
  selectable(*cmd, g, Uses{kDataFormats, false}, [o, &g] {
    o->config = g.config;
    o->format = g.output;
    return runStatus(*o);
  });
}

}  // namespace ovl::cli
