#include "cli/connectivity_pod.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cni/ipam.h"
#include "cni/pod_network.h"
#include "cni/spec.h"

namespace ovl::cli {

namespace {

using nlohmann::json;

// A new, empty network namespace, open. unshare(2) runs on a thread of its own, which ends at
// once: no thread of this process ever runs inside the pod's namespace.
Result<UniqueFd> newNetns() {
  Result<UniqueFd> out = Error::msg("not run");
  std::thread t([&out] {
    if (::unshare(CLONE_NEWNET) != 0) {
      out = Error::sys(errno, "unshare(CLONE_NEWNET) for the throwaway pod");
      return;
    }
    UniqueFd fd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
      out = Error::sys(errno, "open the throwaway pod's namespace");
      return;
    }
    out = std::move(fd);
  });
  t.join();
  return out;
}

Result<CniSettings> settingsFrom(const json& plugin, const json& top, const std::string& path) {
  CniSettings s;
  s.source = path;
  if (!top.contains("name") || !top["name"].is_string()) {
    return Error::msg(path + ": name: expected the network's name (a string)");
  }
  s.network = top["name"].get<std::string>();
  if (plugin.contains("dataDir")) {
    if (!plugin["dataDir"].is_string()) {
      return Error::msg(path + ": ovl-cni's dataDir: expected a directory (a string)");
    }
    s.dataDir = plugin["dataDir"].get<std::string>();
  }
  return s;
}

}  // namespace

Result<CniSettings> readCniSettings(const std::string& path) {
  if (!std::filesystem::exists(path)) {
    return CniSettings{};
  }
  auto text = readFile(path);
  if (!text) {
    return text.error();
  }
  const json j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Error::msg(path + ": not a JSON object (a CNI .conflist or .conf)");
  }
  if (j.value("type", "") == cni::kPluginType) {
    return settingsFrom(j, j, path);
  }
  if (j.contains("plugins") && j["plugins"].is_array()) {
    for (const auto& p : j["plugins"]) {
      if (p.is_object() && p.value("type", "") == cni::kPluginType) {
        return settingsFrom(p, j, path);
      }
    }
  }
  return Error::msg(
      fmt::format("{}: plugins: expected an entry of type {}", path, cni::kPluginType));
}

bool isStaleHolder(const std::string& containerId) {
  if (!containerId.starts_with(kTestPodPrefix)) {
    return false;
  }
  const std::string rest = containerId.substr(std::string(kTestPodPrefix).size());
  const std::string pid = rest.substr(0, rest.find('-'));
  if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  return !std::filesystem::exists("/proc/" + pid);
}

Status TestPod::allocate(const NodeState& node, const CniSettings& cni) {
  auto store = cni::IpamStore::open(dataDir_, network_);
  if (!store) {
    return store.error();
  }
  const cni::Holder who{id_, kTestPodIfname};
  Ipv4 ip;
  Status st = store->update([&](cni::IpamState& s) -> Status {
    for (auto it = s.allocations.begin(); it != s.allocations.end();) {
      if (isStaleHolder(it->second.containerId)) {
        freedStale_.push_back(fmt::format("{} ({})", it->first.toString(), it->second.containerId));
        it = s.allocations.erase(it);
      } else {
        ++it;
      }
    }
    auto got = cni::allocate(s, node.subnet, node.gateway, who);
    if (!got) {
      return got.error();
    }
    ip = *got;
    return okStatus();
  });
  if (!st) {
    return st.error().withContext(fmt::format("allocate an address in {} ({} network {})",
                                              node.subnet.toString(), cni.source, network_));
  }
  allocated_ = true;
  address_ = Ipv4Prefix{ip, node.subnet.len};
  return okStatus();
}

Status TestPod::releaseAddress() {
  if (!allocated_) {
    return okStatus();
  }
  auto store = cni::IpamStore::open(dataDir_, network_);
  if (!store) {
    return store.error();
  }
  const cni::Holder who{id_, kTestPodIfname};
  Status st = store->update([&](cni::IpamState& s) {
    cni::release(s, who);
    return okStatus();
  });
  if (st) {
    allocated_ = false;
  }
  return st;
}

Result<std::unique_ptr<TestPod>> TestPod::create(const NodeState& node, const CniSettings& cni) {
  std::unique_ptr<TestPod> pod(new TestPod());
  std::mt19937 rng{std::random_device{}()};
  pod->id_ = fmt::format("{}{}-{:08x}", kTestPodPrefix, ::getpid(), rng());
  pod->hostIfname_ = cni::hostIfname(pod->id_, kTestPodIfname);
  pod->dataDir_ = cni.dataDir.empty() ? cni::NetConf::kDefaultDataDir : cni.dataDir;
  pod->network_ = cni.network;
  auto ns = newNetns();
  if (!ns) {
    return ns.error();
  }
  pod->netns_ = std::move(*ns);
  if (Status st = pod->allocate(node, cni); !st) {
    return st.error();
  }
  const cni::PodAttachment att{fmt::format("/proc/self/fd/{}", pod->netns_.get()),
                               kTestPodIfname,
                               pod->hostIfname_,
                               node.bridge,
                               pod->address_,
                               node.gateway,
                               node.mtu};
  pod->vethMayExist_ = true;
  auto attached = cni::attachPod(att);
  if (!attached) {
    (void)pod->remove();
    return attached.error().withContext("attach the throwaway pod to " + node.bridge);
  }
  return pod;
}

Status TestPod::remove() {
  Status result = okStatus();
  if (vethMayExist_) {
    // The host end takes the pod's end with it; attachPod removes its own half-made pair.
    if (Status st = cni::detachPod("", kTestPodIfname, hostIfname_); !st) {
      result = st.error().withContext("remove the veth " + hostIfname_);
    } else {
      vethMayExist_ = false;
    }
  }
  if (Status st = releaseAddress(); !st && result) {
    result = st.error().withContext("free the address " + address_.toString());
  }
  netns_.reset();
  return result;
}

TestPod::~TestPod() {
  (void)remove();
}

}  // namespace ovl::cli
