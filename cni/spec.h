// The CNI protocol (specification 1.1.0; 1.0.0 configurations accepted): the environment, the
// network configuration on stdin, the result and the error on stdout. Pure: no I/O here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/ip.h"

namespace ovl::cni {

inline constexpr const char* kPluginType = "ovl-cni";
// The versions this plugin speaks; a result is written in the configuration's version.
inline const std::vector<std::string> kSupportedVersions = {"1.0.0", "1.1.0"};

// Error codes reserved by the specification (section "Error"), and ovl's own (>= 100).
enum class Code : int {
  kIncompatibleVersion = 1,
  kUnsupportedField = 2,
  kContainerUnknown = 3,
  kInvalidEnvironment = 4,
  kIo = 5,
  kDecode = 6,
  kInvalidConfig = 7,
  kTryAgainLater = 11,
  kPluginNotAvailable = 50,  // STATUS
  kKernel = 100,             // the kernel refused a change (msg names the object)
  kPoolExhausted = 101,      // no free address in the node's subnet
  kCheckFailed = 102,        // CHECK found the container's network not as ADD left it
  kAttachedElsewhere = 103,  // ADD of a (container, interface) attached in another namespace
};

struct CniError {
  Code code = Code::kInvalidConfig;
  std::string msg;      // short
  std::string details;  // longer, optional
  // {"cniVersion", "code", "msg", "details"}
  std::string toJson(const std::string& cniVersion) const;
};

enum class Command { kAdd, kDel, kCheck, kVersion, kStatus, kGc };

// The CNI_* environment variables, as given.
struct Env {
  std::string command;
  std::string containerId;
  std::string netns;
  std::string ifname;
  std::string args;  // CNI_ARGS: "K=V;K=V"
  std::string path;
};

// The validated environment of one call. Which variables are required depends on the command
// (ADD/CHECK: all but CNI_ARGS; DEL: not CNI_NETNS; VERSION, STATUS, GC: only CNI_COMMAND).
struct Call {
  Command command = Command::kVersion;
  std::string containerId;
  std::string netns;  // may be empty on DEL
  std::string ifname;
  std::map<std::string, std::string> args;
};
std::optional<CniError> parseCall(const Env& env, Call* out);

// Container IDs: non-empty, [A-Za-z0-9][A-Za-z0-9_.-]*, at most kMaxContainerIdLength characters
// (runtimes use 64; the bound keeps "<id>@<ifname>.json" and its temporary name under the 255
// bytes of a file name). Interface names:
// 1..15 characters, no '/', ':', whitespace, not "." or "..". Network names as container IDs.
// Each returns "" when valid, else what is wrong.
inline constexpr size_t kMaxContainerIdLength = 200;
std::string checkContainerId(const std::string& id);
std::string checkIfname(const std::string& ifname);
std::string checkNetworkName(const std::string& name);

// CNI_ARGS "A=1;B=2" -> {A: 1, B: 2}; an element without '=' is an error.
std::optional<std::map<std::string, std::string>> parseCniArgs(const std::string& args);

// The network configuration ovl-cni reads (the plugin's object of a conflist, with the
// runtime's additions).
struct NetConf {
  static constexpr const char* kDefaultNodeState = "/run/ovl/node.json";
  static constexpr const char* kDefaultDataDir = "/var/lib/cni/ovl";

  std::string cniVersion;
  std::string name;
  std::string type;
  std::string nodeState = kDefaultNodeState;  // the agent's node.json
  std::string dataDir = kDefaultDataDir;      // IPAM store: <dataDir>/<name>/
  std::optional<std::string> service;         // runtimeConfig.ovlService
  std::optional<nlohmann::json> prevResult;
  // GC: cni.dev/valid-attachments (containerID, ifname); nullopt when not given.
  std::optional<std::set<std::pair<std::string, std::string>>> validAttachments;
};
// The error's message names the field and what was expected.
std::optional<CniError> parseNetConf(const std::string& stdinText, NetConf* out);
// The version to answer an error in: the configuration's when it is readable, else the newest.
std::string versionForError(const std::string& stdinText);

// The service an interface registers as an endpoint of: runtimeConfig.ovlService, else
// CNI_ARGS OVL_SERVICE, else `fallback` (the OVL_SERVICE environment variable of the caller).
std::optional<std::string> serviceLabel(const NetConf& conf, const Call& call,
                                        const std::optional<std::string>& fallback);

// --- result --------------------------------------------------------------------------------

struct Interface {
  std::string name;
  std::string mac;
  uint32_t mtu = 0;     // written from 1.1.0 on
  std::string sandbox;  // "" for host-side interfaces
};

struct IpConfig {
  Ipv4Prefix address;  // the interface's address with the subnet's length
  std::optional<Ipv4> gateway;
  std::optional<int> interface;  // index into interfaces
};

struct RouteConfig {
  Ipv4Prefix dst;
  std::optional<Ipv4> gw;
};

struct CniResult {
  std::vector<Interface> interfaces;
  std::vector<IpConfig> ips;
  std::vector<RouteConfig> routes;
};

// The result in `cniVersion`'s format. With a prevResult (ovl-cni chained after another
// plugin), its interfaces, ips, routes and dns come first and ovl's are appended (ips'
// interface indices shifted accordingly).
nlohmann::json encodeResult(const CniResult& r, const std::string& cniVersion,
                            const std::optional<nlohmann::json>& prevResult);

// The parts of a (prev)result CHECK verifies: ips whose interface is `ifname` in a sandbox.
struct ParsedResult {
  std::vector<Interface> interfaces;
  std::vector<IpConfig> ips;
  std::vector<RouteConfig> routes;
};
std::optional<CniError> parseResult(const nlohmann::json& j, ParsedResult* out);

// VERSION's answer.
std::string versionJson(const std::string& cniVersion);

}  // namespace ovl::cni
