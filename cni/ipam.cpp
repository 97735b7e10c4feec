#include "cni/ipam.h"

#include <fcntl.h>
#include <sys/file.h>

#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/json_bounds.h"
#include "common/local_state.h"

namespace ovl::cni {

using nlohmann::json;

namespace {

constexpr const char* kStateFile = "allocations.json";
constexpr std::chrono::milliseconds kLockPoll{2};

}  // namespace

std::string IpamState::toJson() const {
  json a = json::object();
  for (const auto& [ip, h] : allocations) {
    a[ip.toString()] = {{"containerID", h.containerId}, {"ifname", h.ifname}};
    if (auto sb = sandboxes.find(ip); sb != sandboxes.end()) {
      a[ip.toString()]["netns"] = sb->second;
    }
  }
  json j = {{"allocations", a}};
  if (last) {
    j["last"] = last->toString();
  }
  return j.dump(2) + "\n";
}

Result<IpamState> IpamState::parse(const std::string& text, const std::string& source) {
  if (checkJsonDepth(text).exceeded) {
    return Error::msg(fmt::format("{}: nests deeper than {} levels", source, kMaxJsonDepth));
  }
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Error::msg(source + ": not a JSON object");
  }
  IpamState s;
  if (auto it = j.find("last"); it != j.end()) {
    auto ip = it->is_string() ? Ipv4::parse(it->get<std::string>()) : std::nullopt;
    if (!ip) {
      return Error::msg(fmt::format("{}: last: expected an IPv4 address, got {}", source,
                                    it->dump().substr(0, 64)));
    }
    s.last = ip;
  }
  if (auto it = j.find("allocations"); it != j.end()) {
    if (!it->is_object()) {
      return Error::msg(source + ": allocations: expected an object");
    }
    for (const auto& [key, v] : it->items()) {
      auto ip = Ipv4::parse(key);
      if (!ip || !v.is_object() || !v.contains("containerID") || !v["containerID"].is_string() ||
          !v.contains("ifname") || !v["ifname"].is_string()) {
        return Error::msg(fmt::format(
            "{}: allocations: '{}': expected an IPv4 address holding {{containerID, ifname}}",
            source, key));
      }
      s.allocations[*ip] =
          Holder{v["containerID"].get<std::string>(), v["ifname"].get<std::string>()};
      if (auto ns = v.find("netns"); ns != v.end() && ns->is_string()) {
        s.sandboxes[*ip] = ns->get<std::string>();
      }
    }
  }
  return s;
}

std::optional<Ipv4> findAllocation(const IpamState& s, const Holder& who) {
  for (const auto& [ip, h] : s.allocations) {
    if (h == who) {
      return ip;
    }
  }
  return std::nullopt;
}

Result<Ipv4> allocate(IpamState& s, const Ipv4Prefix& subnet, Ipv4 gateway, const Holder& who) {
  for (const auto& [ip, h] : s.allocations) {
    if (h == who && subnet.contains(ip)) {
      return ip;
    }
  }
  const uint32_t first = subnet.network().value + 1;
  const uint32_t lastAddr = subnet.network().value + ~subnet.mask() - 1;  // before broadcast
  if (subnet.len > 30 || lastAddr < first) {
    return Error{ENOSPC, fmt::format("subnet {} has no room for pods", subnet.toString())};
  }
  const uint32_t count = lastAddr - first + 1;
  uint32_t start = first;
  if (s.last && subnet.contains(*s.last) && s.last->value >= first && s.last->value <= lastAddr) {
    start = s.last->value == lastAddr ? first : s.last->value + 1;
  }
  for (uint32_t i = 0; i < count; ++i) {
    const Ipv4 candidate{first + (start - first + i) % count};
    if (candidate == gateway || s.allocations.contains(candidate)) {
      continue;
    }
    s.allocations[candidate] = who;
    s.last = candidate;
    return candidate;
  }
  return Error{ENOSPC, fmt::format("no free address in {}: {} held", subnet.toString(),
                                   s.allocations.size())};
}

std::vector<Ipv4> release(IpamState& s, const Holder& who) {
  std::vector<Ipv4> freed;
  for (auto it = s.allocations.begin(); it != s.allocations.end();) {
    if (it->second == who) {
      freed.push_back(it->first);
      s.sandboxes.erase(it->first);
      it = s.allocations.erase(it);
    } else {
      ++it;
    }
  }
  return freed;
}

std::vector<std::pair<Ipv4, Holder>> collectGarbage(IpamState& s, const std::set<Holder>& valid) {
  std::vector<std::pair<Ipv4, Holder>> freed;
  for (auto it = s.allocations.begin(); it != s.allocations.end();) {
    if (!valid.contains(it->second)) {
      freed.emplace_back(it->first, it->second);
      s.sandboxes.erase(it->first);
      it = s.allocations.erase(it);
    } else {
      ++it;
    }
  }
  return freed;
}

Result<IpamStore> IpamStore::open(const std::string& dataDir, const std::string& network) {
  const std::string dir = dataDir + "/" + network;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return Error{ec.value(), fmt::format("IPAM store {}: cannot create it: {}", dir, ec.message())};
  }
  const std::string path = dir + "/lock";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    return Error::sys(errno, "open " + path);
  }
  return IpamStore(dir, std::move(fd));
}

Status IpamStore::lock(std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    if (::flock(lock_.get(), LOCK_EX | LOCK_NB) == 0) {
      return okStatus();
    }
    if (errno != EWOULDBLOCK && errno != EINTR) {
      return Error::sys(errno, "lock " + dir_ + "/lock");
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Error{EAGAIN, fmt::format("IPAM store {} stayed locked by another invocation for {} "
                                       "ms",
                                       dir_, wait.count())};
    }
    std::this_thread::sleep_for(kLockPoll);
  }
}

void IpamStore::unlock() {
  ::flock(lock_.get(), LOCK_UN);
}

Result<IpamState> IpamStore::load() const {
  const std::string path = dir_ + "/" + kStateFile;
  if (!std::filesystem::exists(path)) {
    return IpamState{};
  }
  auto text = readFile(path);
  if (!text) {
    return text.error();
  }
  return IpamState::parse(*text, path);
}

Status IpamStore::update(const std::function<Status(IpamState&)>& fn,
                         std::chrono::milliseconds wait) {
  if (auto st = lock(wait); !st) {
    return st;
  }
  struct Unlock {
    IpamStore* s;
    ~Unlock() { s->unlock(); }
  } guard{this};
  auto state = load();
  if (!state) {
    return state.error();
  }
  const IpamState before = *state;
  if (auto st = fn(*state); !st) {
    return st;
  }
  if (*state == before) {
    return okStatus();
  }
  return writeFileAtomic(dir_ + "/" + kStateFile, state->toJson());
}

Result<IpamState> IpamStore::read(std::chrono::milliseconds wait) {
  if (auto st = lock(wait); !st) {
    return st.error();
  }
  auto state = load();
  unlock();
  return state;
}

}  // namespace ovl::cni
