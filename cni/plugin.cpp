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

std::string legacyEndpointPath(const NodeState& node, const Call& call) {
  return node.endpointsDir + "/" + LocalEndpoint::legacyFileName(call.containerId, call.ifname);
}

// The registration of `call` at `path`, when the file there holds it (an old-format name may
// hold another container's: "x.y"+"z" and "x"+"y.z" shared one).
std::optional<LocalEndpoint> registrationAt(const std::string& path, const Call& call) {
  auto text = readFile(path, kMaxRegistrationBytes);
  if (!text) {
    return std::nullopt;
  }
  auto reg = LocalEndpoint::parse(*text, path);
  if (!reg || reg->containerId != call.containerId || reg->ifname != call.ifname) {
    return std::nullopt;
  }
  return *reg;
}

// Removes the old-format registration of `call` left by an ovl-cni before the upgrade, only
// when it is this interface's.
Status removeLegacyRegistration(const NodeState& node, const Call& call) {
  const std::string legacy = legacyEndpointPath(node, call);
  if (registrationAt(legacy, call) && ::unlink(legacy.c_str()) != 0 && errno != ENOENT) {
    return Error::sys(errno, "remove " + legacy);
  }
  return okStatus();
}

Status registerEndpoint(const NodeState& node, const Call& call, const std::string& service,
                        Ipv4 ip) {
  std::error_code ec;
  std::filesystem::create_directories(node.endpointsDir, ec);
  if (ec) {
    return Error{ec.value(), fmt::format("create {}: {}", node.endpointsDir, ec.message())};
  }
  LocalEndpoint e{service, ip, node.node, call.containerId, call.ifname};
  if (auto st = writeFileAtomic(endpointPath(node, call), e.toJson()); !st) {
    return st;
  }
  return removeLegacyRegistration(node, call);
}

Status unregisterEndpoint(const NodeState& node, const Call& call) {
  const std::string path = endpointPath(node, call);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Error::sys(errno, "remove " + path);
  }
  return removeLegacyRegistration(node, call);
}

// ADD ----------------------------------------------------------------------------------------

// What already exists for an ADD's (container, interface) when it comes.
enum class Existing {
  kNone,            // nothing alive: a first ADD, or its namespace is gone
  kSameNamespace,   // attached in CNI_NETNS already: a repeated ADD
  kUnrecordedOnly,  // attached, namespace not recorded (an allocation older than the record)
};

struct Placement {
  Ipv4 ip;
  Existing existing = Existing::kNone;
};

CniError attachedElsewhereError(const Call& call, Ipv4 ip, const std::string& why) {
  return CniError{Code::kAttachedElsewhere,
                  fmt::format("container {} interface {} is already attached with {} (host end "
                              "{}) {}; ADD into CNI_NETNS {} refused and the first attachment "
                              "left as it is: DEL it first",
                              call.containerId, call.ifname, ip.toString(),
                              hostIfname(call.containerId, call.ifname), why, call.netns),
                  ""};
}

// The holder's address, allocated or found under the IPAM lock, and under the same lock whether
// the holder is attached in another namespace (then refused, nothing written). The host end tells
// whether an earlier attachment is alive: a veth pair dies with the namespace holding its end.
Answer<Placement> place(IpamStore& store, const Call& call, const NodeState& node,
                        const std::string& netnsId) {
  const Holder who{call.containerId, call.ifname};
  Placement p;
  std::optional<CniError> refused;
  auto st = store.update([&](IpamState& s) -> Status {
    auto held = findAllocation(s, who);
    auto alive = hostEndExists(hostIfname(call.containerId, call.ifname));
    if (!alive) {
      return alive.error();
    }
    if (held && *alive) {
      auto recorded = s.sandboxes.find(*held);
      if (recorded == s.sandboxes.end()) {
        p.existing = Existing::kUnrecordedOnly;
      } else if (recorded->second == netnsId) {
        p.existing = Existing::kSameNamespace;
      } else {
        refused = attachedElsewhereError(call, *held, "in another network namespace");
        return Error{EEXIST, refused->msg};
      }
    }
    auto got = allocate(s, node.subnet, node.gateway, who);
    if (!got) {
      return got.error();
    }
    p.ip = *got;
    if (p.existing != Existing::kUnrecordedOnly) {
      s.sandboxes[*got] = netnsId;  // an unrecorded one only once it is found in CNI_NETNS
    }
    return okStatus();
  });
  if (refused) {
    return *refused;
  }
  if (!st) {
    const Code code = st.error().code == ENOSPC   ? Code::kPoolExhausted
                      : st.error().code == EAGAIN ? Code::kTryAgainLater
                                                  : Code::kIo;
    return fromError(code, st.error(), "allocate an address");
  }
  return p;
}

// An attachment that exists already: its veth pair when it is complete in CNI_NETNS (a repeated
// ADD answers with it, changing nothing), nullopt when it must be made again, or the refusal.
Answer<std::optional<Attached>> existingAttachment(IpamStore& store, const Call& call,
                                                   const PodAttachment& att, const Placement& p,
                                                   const std::string& netnsId) {
  if (p.existing == Existing::kNone) {
    return std::optional<Attached>();
  }
  if (checkPod(att)) {
    if (auto cur = readAttached(att)) {
      if (p.existing == Existing::kUnrecordedOnly) {
        (void)store.update([&](IpamState& s) {
          s.sandboxes[p.ip] = netnsId;
          return okStatus();
        });
      }
      return std::optional<Attached>(*cur);
    }
  }
  if (p.existing == Existing::kUnrecordedOnly) {
    return attachedElsewhereError(call, p.ip, "and CNI_NETNS does not hold it");
  }
  return std::optional<Attached>();  // same namespace, but damaged: made again
}

Answer<json> add(const Call& call, const NetConf& conf, const std::optional<std::string>& service) {
  auto nodeOr = loadNodeState(conf, Code::kTryAgainLater);
  if (auto* e = std::get_if<CniError>(&nodeOr)) {
    return *e;
  }
  const NodeState node = std::get<NodeState>(nodeOr);
  auto netnsId = netnsIdentity(call.netns);
  if (!netnsId) {
    return fromError(Code::kContainerUnknown, netnsId.error());
  }
  auto store = IpamStore::open(conf.dataDir, conf.name);
  if (!store) {
    return fromError(Code::kIo, store.error());
  }
  auto placed = place(*store, call, node, *netnsId);
  if (auto* e = std::get_if<CniError>(&placed)) {
    return *e;
  }
  const Placement p = std::get<Placement>(placed);
  const Holder who{call.containerId, call.ifname};
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
                          Ipv4Prefix{p.ip, node.subnet.len},
                          node.gateway,
                          node.mtu};
  auto existing = existingAttachment(*store, call, att, p, *netnsId);
  if (auto* e = std::get_if<CniError>(&existing)) {
    return *e;
  }
  auto attached = std::get<std::optional<Attached>>(existing);
  if (!attached) {
    auto made = attachPod(att);
    if (!made) {
      releaseIp();
      return fromError(codeForAttach(made.error()), made.error(),
                       fmt::format("attach {} of container {}", call.ifname, call.containerId));
    }
    attached = *made;
  }
  if (service) {
    if (auto st = registerEndpoint(node, call, *service, p.ip); !st) {
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

// Whether (container, interface) is attached alive in another namespace than CNI_NETNS: a DEL
// for CNI_NETNS (a runtime cleaning up after a refused ADD) then has nothing of ovl's to remove.
bool attachedElsewhere(const Call& call, const NetConf& conf) {
  auto netnsId = netnsIdentity(call.netns);
  auto store = IpamStore::open(conf.dataDir, conf.name);
  if (!netnsId || !store) {
    return false;
  }
  auto state = store->read();
  if (!state) {
    return false;
  }
  auto held = findAllocation(*state, Holder{call.containerId, call.ifname});
  if (!held) {
    return false;
  }
  auto recorded = state->sandboxes.find(*held);
  if (recorded == state->sandboxes.end() || recorded->second == *netnsId) {
    return false;
  }
  auto alive = hostEndExists(hostIfname(call.containerId, call.ifname));
  return alive && *alive;
}

std::optional<CniError> del(const Call& call, const NetConf& conf) {
  if (!call.netns.empty() && attachedElsewhere(call, conf)) {
    return std::nullopt;
  }
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
    auto reg = registrationAt(endpointPath(node, call), call);
    if (!reg) {
      reg = registrationAt(legacyEndpointPath(node, call), call);
    }
    if (!reg || reg->service != *service || reg->ip != address->addr) {
      return CniError{Code::kCheckFailed,
                      fmt::format("{}/{} is not registered as an endpoint of {} with {} in {}",
                                  call.containerId, call.ifname, *service, address->addr.toString(),
                                  endpointPath(node, call)),
                      ""};
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
      auto text = readFile(entry.path(), kMaxRegistrationBytes);
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

Result<std::string> readStdin(int fd, bool* tooLarge, size_t limit) {
  std::string out;
  char buf[65536];
  *tooLarge = false;
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return Error::sys(errno, "read stdin");
    }
    if (n == 0) {
      return out;
    }
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > limit) {
      // The rest stays unread: the writer gets EPIPE, which runtimes expect of a plugin that
      // has answered.
      *tooLarge = true;
      out.resize(limit);
      return out;
    }
  }
}

Outcome runPlugin(const Invocation& in) {
  if (in.stdinError) {
    return errorOutcome(*in.stdinError, kSupportedVersions.back());
  }
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
  // Before anything is touched: DEL too would delete the node's own CNI_IFNAME.
  if (!call.netns.empty()) {
    if (auto st = checkNotOwnNetns(call.netns); !st) {
      return errorOutcome(fromError(Code::kInvalidEnvironment, st.error()), conf.cniVersion);
    }
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
