#include "agent/local_endpoints.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

namespace ovl {

namespace {

constexpr uint32_t kMask = IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE |
                           IN_DELETE_SELF | IN_MOVE_SELF;

}  // namespace

std::vector<svc::Service> mergeLocalEndpoints(const std::vector<svc::Service>& services,
                                              const std::vector<LocalEndpoint>& registrations,
                                              const Ipv4Prefix& podCidr,
                                              std::vector<std::string>* problems) {
  std::vector<svc::Service> out = services;
  for (const auto& reg : registrations) {
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const svc::Service& s) { return s.id() == reg.service; });
    const std::string who = fmt::format("endpoint registration of {}/{} ({})", reg.containerId,
                                        reg.ifname, reg.ip.toString());
    if (it == out.end()) {
      problems->push_back(fmt::format("{}: no service {}", who, reg.service));
      continue;
    }
    if (!podCidr.contains(reg.ip)) {
      problems->push_back(fmt::format("{}: {} is outside the pod CIDR {}", who, reg.ip.toString(),
                                      podCidr.toString()));
      continue;
    }
    if (std::any_of(it->endpoints.begin(), it->endpoints.end(),
                    [&](const svc::Endpoint& e) { return e.ip == reg.ip; })) {
      problems->push_back(
          fmt::format("{}: {} already lists {}", who, reg.service, reg.ip.toString()));
      continue;
    }
    svc::Endpoint e;
    e.ip = reg.ip;
    e.node = reg.node;
    it->endpoints.push_back(std::move(e));
  }
  return out;
}

Result<LocalEndpoints> LocalEndpoints::create(const std::string& dir) {
  auto watch = DirectoryWatch::create(dir, {kMask, true, "endpoints directory {}"});
  if (!watch) {
    return watch.error();
  }
  return LocalEndpoints(std::move(*watch));
}

bool LocalEndpoints::drain() {
  // ovl-cni writes a temporary file and renames it: only the final names count.
  return watch_.drain(
      [](std::string_view name) { return name.empty() || name.ends_with(".json"); });
}

std::vector<LocalEndpoint> LocalEndpoints::read(std::vector<std::string>* problems) const {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir(), ec)) {
    if (entry.path().extension() == ".json") {
      files.push_back(entry.path());
    }
  }
  if (ec) {
    problems->push_back(fmt::format("read endpoints directory {}: {}", dir(), ec.message()));
  }
  std::sort(files.begin(), files.end());
  std::vector<LocalEndpoint> out;
  for (const auto& f : files) {
    auto text = readFile(f, kMaxRegistrationBytes);
    if (!text) {
      if (text.error().code != ENOENT) {  // ENOENT: removed since the listing (a DEL)
        problems->push_back(text.error().message);
      }
      continue;
    }
    auto reg = LocalEndpoint::parse(*text, f);
    if (!reg) {
      problems->push_back(reg.error().message);
      continue;
    }
    const std::string name = std::filesystem::path(f).filename();
    if (!reg->namedBy(name)) {
      // ovl-cni removes a registration by name: one whose name is not its own would outlive
      // its container, or be removed by another container's DEL.
      problems->push_back(fmt::format("{}: holds {}/{}, whose registration is named {}", f,
                                      reg->containerId, reg->ifname,
                                      LocalEndpoint::fileName(reg->containerId, reg->ifname)));
      continue;
    }
    out.push_back(std::move(*reg));
  }
  return out;
}

Status NodeStatePublisher::publish(const OverlayPlan& plan, bool recheck) {
  NodeState want{plan.nodeName,           Ipv4Prefix{plan.podSubnet.network(), plan.podSubnet.len},
                 plan.bridgeAddress.addr, written_ ? written_->mtu : 0,
                 plan.bridgeName,         endpointsDir_};
  if (written_ && !recheck && *written_ == want) {
    return okStatus();
  }
  auto links = kernel_.links();
  if (!links) {
    return links.error().withContext("write " + path_);
  }
  auto vtep = std::find_if(links->begin(), links->end(),
                           [&](const nl::Link& l) { return l.name == plan.vtepName; });
  if (vtep == links->end()) {
    return Error{ENODEV, fmt::format("write {}: VTEP {} not found", path_, plan.vtepName)};
  }
  want.mtu = vtep->mtu;
  if (written_ && *written_ == want) {
    return okStatus();
  }
  if (auto st = writeFileAtomic(path_, want.toJson()); !st) {
    return st;
  }
  written_ = want;
  return okStatus();
}

}  // namespace ovl
