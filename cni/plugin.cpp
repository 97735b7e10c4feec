#include "cni/plugin.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <variant>

#include <fmt/format.h>

#include "cni/ipam.h"
#include "cni/pod_network.h"
#include "common/local_state.h"

namespace ovl::cni {

namespace {

using nlohmann::json;

// A command's value or the CNI error to answer with.
template <typename T>
using Answer = std::variant<T, CniError>;

CniError fromError(Code code, const Error& e, const std::string& context = "") {
  return CniError{code, context.empty() ? e.message : context + ": " + e.message, ""};
}

Answer<NodeState> loadNodeState(const NetConf& conf, Code missingCode) {
  auto text = readFile(conf.nodeState);
  if (!text) {
    return CniError{missingCode,
                    fmt::format("node state {} is not readable: is ovl-agent running and "
                                "converged on this node?",
                                conf.nodeState),
                    text.error().message};
  }
  auto st = NodeState::parse(*text, conf.nodeState);
  if (!st) {
    return CniError{missingCode, st.error().message, ""};
  }
  return *st;
}

Code codeForAttach(const Error& e) {
  switch (e.code) {
    case ENODEV:
      return Code::kTryAgainLater;  // the bridge is not there yet
    case ENOENT:
      return Code::kContainerUnknown;  // CNI_NETNS does not exist
    default:
      return Code::kKernel;
  }
}

std::string endpointPath(const NodeState& node, const Call& call) {
  return node.endpointsDir + "/" + LocalEndpoint::fileName(call.containerId, call.ifname);
}

Status registerEndpoint(const NodeState& node, const Call& call, const std::string& service,
                        Ipv4 ip) {
  std::error_code ec;
  std::filesystem::create_directories(node.endpointsDir, ec);
  if (ec) {
    return Error{ec.value(), fmt::format("create {}: {}", node.endpointsDir, ec.message())};
  }
  LocalEndpoint e{service, ip, node.node, call.containerId, call.ifname};
  return writeFileAtomic(endpointPath(node, call), e.toJson());
}

Status unregisterEndpoint(const NodeState& node, const Call& call) {
  const std::string path = endpointPath(node, call);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Error::sys(errno, "remove " + path);
  }
  return okStatus();
}

// ADD ----------------------------------------------------------------------------------------

Answer<json> add(const Call& call, const NetConf& conf, const std::optional<std::string>& service) {
  auto nodeOr = loadNodeState(conf, Code::kTryAgainLater);
  if (auto* e = std::get_if<CniError>(&nodeOr)) {
    return *e;
  }
  const NodeState node = std::get<NodeState>(nodeOr);
  auto store = IpamStore::open(conf.dataDir, conf.name);
  if (!store) {
    return fromError(Code::kIo, store.error());
  }
  const Holder who{call.containerId, call.ifname};
  Ipv4 ip;
  if (auto st = store->update([&](IpamState& s) -> Status {
        auto got = allocate(s, node.subnet, node.gateway, who);
        if (!got) {
          return got.error();
        }
        ip = *got;
        return okStatus();
      });
      !st) {
    const Code code = st.error().code == ENOSPC   ? Code::kPoolExhausted
                      : st.error().code == EAGAIN ? Code::kTryAgainLater
                                                  : Code::kIo;
    return fromError(code, st.error(), "allocate an address");
  }
  auto releaseIp = [&] {
    (void)store->update([&](IpamState& s) {
      release(s, who);
      return okStatus();
    });
  };

  const PodAttachment att{call.netns,
                          call.ifname,
                          hostIfname(call.containerId, call.ifname),
                          node.bridge,
                          Ipv4Prefix{ip, node.subnet.len},
                          node.gateway,
                          node.mtu};
  auto attached = attachPod(att);
  if (!attached) {
    releaseIp();
    return fromError(codeForAttach(attached.error()), attached.error(),
                     fmt::format("attach {} of container {}", call.ifname, call.containerId));
  }
  if (service) {
    if (auto st = registerEndpoint(node, call, *service, ip); !st) {
      (void)detachPod(call.netns, call.ifname, att.hostIfname);
      releaseIp();
      return fromError(Code::kIo, st.error(), "register as an endpoint of " + *service);
    }
  }
  CniResult r;
  r.interfaces.push_back(
      Interface{attached->host.name, attached->host.mac.toString(), attached->host.mtu, ""});
  r.interfaces.push_back(Interface{attached->container.name, attached->container.mac.toString(),
                                   attached->container.mtu, call.netns});
  r.ips.push_back(IpConfig{att.address, node.gateway, 1});
  r.routes.push_back(RouteConfig{Ipv4Prefix{Ipv4{0}, 0}, node.gateway});
  return encodeResult(r, conf.cniVersion, conf.prevResult);
}

// DEL ----------------------------------------------------------------------------------------

std::optional<CniError> del(const Call& call, const NetConf& conf) {
  if (auto st = detachPod(call.netns, call.ifname, hostIfname(call.containerId, call.ifname));
      !st) {
    return fromError(Code::kKernel, st.error(),
                     fmt::format("detach {} of container {}", call.ifname, call.containerId));
  }
  auto store = IpamStore::open(conf.dataDir, conf.name);
  if (!store) {
    return fromError(Code::kIo, store.error());
  }
  if (auto st = store->update([&](IpamState& s) {
        release(s, Holder{call.containerId, call.ifname});
        return okStatus();
      });
      !st) {
    return fromError(st.error().code == EAGAIN ? Code::kTryAgainLater : Code::kIo, st.error(),
                     "release the address");
  }
  // Without node.json (the agent's state is gone) there is no registration to remove either.
  auto nodeOr = loadNodeState(conf, Code::kIo);
  if (auto* node = std::get_if<NodeState>(&nodeOr)) {
    if (auto st = unregisterEndpoint(*node, call); !st) {
      return fromError(Code::kIo, st.error());
    }
  }
  return std::nullopt;
}

// CHECK --------------------------------------------------------------------------------------

std::optional<CniError> check(const Call& call, const NetConf& conf,
                              const std::optional<std::string>& service) {
  if (!conf.prevResult) {
    return CniError{Code::kInvalidConfig, "CHECK needs prevResult in the network config", ""};
  }
  ParsedResult prev;
  if (auto e = parseResult(*conf.prevResult, &prev)) {
    return e;
  }
  std::optional<Ipv4Prefix> address;
  for (const auto& ip : prev.ips) {
    if (ip.interface && prev.interfaces[static_cast<size_t>(*ip.interface)].name == call.ifname &&
        !prev.interfaces[static_cast<size_t>(*ip.interface)].sandbox.empty()) {
      address = ip.address;
    }
  }
  if (!address) {
    return CniError{Code::kInvalidConfig,
                    fmt::format("prevResult has no IPv4 address for {} in a sandbox", call.ifname),
                    ""};
  }
  auto nodeOr = loadNodeState(conf, Code::kTryAgainLater);
  if (auto* e = std::get_if<CniError>(&nodeOr)) {
    return *e;
  }
  const NodeState node = std::get<NodeState>(nodeOr);
  auto store = IpamStore::open(conf.dataDir, conf.name);
  if (!store) {
    return fromError(Code::kIo, store.error());
  }
  auto state = store->read();
  if (!state) {
    return fromError(Code::kIo, state.error());
  }
  auto held = findAllocation(*state, Holder{call.containerId, call.ifname});
  if (!held || *held != address->addr) {
    return CniError{Code::kCheckFailed,
                    fmt::format("the IPAM store of network {} does not record {} for {}/{}",
                                conf.name, address->addr.toString(), call.containerId, call.ifname),
                    ""};
  }
  const PodAttachment att{call.netns,  call.ifname, hostIfname(call.containerId, call.ifname),
                          node.bridge, *address,    node.gateway,
                          node.mtu};
  if (auto st = checkPod(att); !st) {
    return fromError(Code::kCheckFailed, st.error());
  }
  if (service) {
    auto text = readFile(endpointPath(node, call));
    auto reg = text ? LocalEndpoint::parse(*text, endpointPath(node, call))
                    : Result<LocalEndpoint>(text.error());
    if (!reg || reg->service != *service || reg->ip != address->addr) {
      return CniError{
          Code::kCheckFailed,
          fmt::format("{}/{} is not registered as an endpoint of {} with {}", call.containerId,
                      call.ifname, *service, address->addr.toString()),
          reg ? "" : reg.error().message};
    }
  }
  return std::nullopt;
}

// GC -----------------------------------------------------------------------------------------

std::optional<CniError> gc(const NetConf& conf) {
  if (!conf.validAttachments) {
    return CniError{Code::kInvalidConfig,
                    "GC needs cni.dev/valid-attachments in the network config", ""};
  }
  std::set<Holder> valid;
  for (const auto& [id, ifname] : *conf.validAttachments) {
    valid.insert(Holder{id, ifname});
  }
  auto store = IpamStore::open(conf.dataDir, conf.name);
  if (!store) {
    return fromError(Code::kIo, store.error());
  }
  std::vector<std::pair<Ipv4, Holder>> freed;
  if (auto st = store->update([&](IpamState& s) {
        freed = collectGarbage(s, valid);
        return okStatus();
      });
      !st) {
    return fromError(st.error().code == EAGAIN ? Code::kTryAgainLater : Code::kIo, st.error());
  }
  for (const auto& [ip, h] : freed) {
    // The namespace is gone or no longer the runtime's: only the host end may be left.
    if (auto st = detachPod("", h.ifname, hostIfname(h.containerId, h.ifname)); !st) {
      return fromError(Code::kKernel, st.error());
    }
  }
  auto nodeOr = loadNodeState(conf, Code::kIo);
  if (auto* node = std::get_if<NodeState>(&nodeOr)) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(node->endpointsDir, ec)) {
      auto text = readFile(entry.path());
      if (!text) {
        continue;
      }
      auto reg = LocalEndpoint::parse(*text, entry.path());
      // The directory may be shared by the nodes: only this node's registrations are its own.
      if (reg && reg->node == node->node &&
          !valid.contains(Holder{reg->containerId, reg->ifname})) {
        std::filesystem::remove(entry.path(), ec);
      }
    }
  }
  return std::nullopt;
}

Outcome errorOutcome(const CniError& e, const std::string& version) {
  return Outcome{e.toJson(version) + "\n", 1};
}

}  // namespace

Outcome runPlugin(const Invocation& in) {
  const std::string errVersion = versionForError(in.stdinText);
  Call call;
  if (auto e = parseCall(in.env, &call)) {
    return errorOutcome(*e, errVersion);
  }
  if (call.command == Command::kVersion) {
    std::string v = errVersion;
    if (std::find(kSupportedVersions.begin(), kSupportedVersions.end(), v) ==
        kSupportedVersions.end()) {
      v = kSupportedVersions.back();
    }
    return Outcome{versionJson(v) + "\n", 0};
  }
  NetConf conf;
  if (auto e = parseNetConf(in.stdinText, &conf)) {
    return errorOutcome(*e, errVersion);
  }
  std::optional<std::string> service;
  if (call.command == Command::kAdd || call.command == Command::kCheck) {
    service = serviceLabel(conf, call, in.envService);
    if (service) {
      if (auto why = checkServiceName(*service); !why.empty()) {
        return errorOutcome(
            CniError{Code::kInvalidEnvironment, "service label (CNI_ARGS OVL_SERVICE) " + why, ""},
            conf.cniVersion);
      }
    }
  }
  switch (call.command) {
    case Command::kAdd: {
      auto r = add(call, conf, service);
      if (auto* e = std::get_if<CniError>(&r)) {
        return errorOutcome(*e, conf.cniVersion);
      }
      return Outcome{std::get<json>(r).dump() + "\n", 0};
    }
    case Command::kDel:
      if (auto e = del(call, conf)) {
        return errorOutcome(*e, conf.cniVersion);
      }
      return Outcome{"", 0};
    case Command::kCheck:
      if (auto e = check(call, conf, service)) {
        return errorOutcome(*e, conf.cniVersion);
      }
      return Outcome{"", 0};
    case Command::kStatus: {
      auto nodeOr = loadNodeState(conf, Code::kPluginNotAvailable);
      if (auto* e = std::get_if<CniError>(&nodeOr)) {
        return errorOutcome(*e, conf.cniVersion);
      }
      return Outcome{"", 0};
    }
    case Command::kGc:
      if (auto e = gc(conf)) {
        return errorOutcome(*e, conf.cniVersion);
      }
      return Outcome{"", 0};
    case Command::kVersion:
      break;
  }
  return Outcome{"", 0};
}

}  // namespace ovl::cni
