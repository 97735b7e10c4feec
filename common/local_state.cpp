#include "common/local_state.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/fd.h"
#include "common/json_bounds.h"

namespace ovl {

namespace {

using nlohmann::json;

// A value quoted in a message: at most 64 bytes of it. Only called on depth-checked documents.
std::string shortDump(const json& j) {
  std::string s = j.dump();
  if (s.size() <= 64) {
    return s;
  }
  return fmt::format("{}... ({} bytes)", s.substr(0, 64), s.size());
}

// The string member `key` of object `j`, or an error naming source and key.
Result<std::string> stringField(const json& j, const char* key, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end()) {
    return Error::msg(fmt::format("{}: missing field '{}'", source, key));
  }
  if (!it->is_string()) {
    return Error::msg(
        fmt::format("{}: field '{}' must be a string, got {}", source, key, shortDump(*it)));
  }
  return it->get<std::string>();
}

Result<json> parseObject(const std::string& text, const std::string& source) {
  // The files are root's, but a reader that recursed on a hostile one would die of it.
  if (checkJsonDepth(text).exceeded) {
    return Error::msg(
        fmt::format("{}: nests arrays and objects deeper than {} levels", source, kMaxJsonDepth));
  }
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Error::msg(fmt::format("{}: not a JSON object", source));
  }
  return j;
}

bool isDnsLabel(const std::string& s) {
  if (s.empty() || s.size() > 63) {
    return false;
  }
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return false;
    }
  }
  return s.front() != '-' && s.back() != '-';
}

}  // namespace

std::string NodeState::toJson() const {
  json j = {{"node", node},
            {"subnet", subnet.toString()},
            {"gateway", gateway.toString()},
            {"mtu", mtu},
            {"bridge", bridge},
            {"endpointsDir", endpointsDir}};
  return j.dump(2) + "\n";
}

Result<NodeState> NodeState::parse(const std::string& text, const std::string& source) {
  auto j = parseObject(text, source);
  if (!j) {
    return j.error();
  }
  NodeState s;
  auto node = stringField(*j, "node", source);
  auto subnet = stringField(*j, "subnet", source);
  auto gateway = stringField(*j, "gateway", source);
  auto bridge = stringField(*j, "bridge", source);
  auto dir = stringField(*j, "endpointsDir", source);
  for (const auto* r : {&node, &subnet, &gateway, &bridge, &dir}) {
    if (!*r) {
      return r->error();
    }
  }
  s.node = *node;
  s.bridge = *bridge;
  s.endpointsDir = *dir;
  auto p = Ipv4Prefix::parse(*subnet);
  if (!p || p->len > 30) {
    return Error::msg(
        fmt::format("{}: subnet '{}' is not an IPv4 prefix of length <= 30", source, *subnet));
  }
  s.subnet = *p;
  auto gw = Ipv4::parse(*gateway);
  if (!gw || !s.subnet.contains(*gw)) {
    return Error::msg(fmt::format("{}: gateway '{}' is not an IPv4 address in {}", source, *gateway,
                                  s.subnet.toString()));
  }
  s.gateway = *gw;
  auto mtu = j->find("mtu");
  if (mtu == j->end() || !mtu->is_number_unsigned() || mtu->get<uint64_t>() < 68 ||
      mtu->get<uint64_t>() > 65535) {
    return Error::msg(fmt::format("{}: field 'mtu' must be an integer 68..65535", source));
  }
  s.mtu = mtu->get<uint32_t>();
  return s;
}

std::string LocalEndpoint::toJson() const {
  json j = {{"service", service},
            {"ip", ip.toString()},
            {"node", node},
            {"containerID", containerId},
            {"ifname", ifname}};
  return j.dump(2) + "\n";
}

Result<LocalEndpoint> LocalEndpoint::parse(const std::string& text, const std::string& source) {
  auto j = parseObject(text, source);
  if (!j) {
    return j.error();
  }
  LocalEndpoint e;
  auto service = stringField(*j, "service", source);
  auto ip = stringField(*j, "ip", source);
  auto node = stringField(*j, "node", source);
  auto id = stringField(*j, "containerID", source);
  auto ifname = stringField(*j, "ifname", source);
  for (const auto* r : {&service, &ip, &node, &id, &ifname}) {
    if (!*r) {
      return r->error();
    }
  }
  if (auto why = checkServiceName(*service); !why.empty()) {
    return Error::msg(fmt::format("{}: service: {}", source, why));
  }
  auto addr = Ipv4::parse(*ip);
  if (!addr) {
    return Error::msg(fmt::format("{}: ip '{}' is not an IPv4 address", source, *ip));
  }
  e.service = *service;
  e.ip = *addr;
  e.node = *node;
  e.containerId = *id;
  e.ifname = *ifname;
  return e;
}

std::string LocalEndpoint::fileName(const std::string& containerId, const std::string& ifname) {
  // '@' and '%' escaped in the ID, so the first '@' of a name is the separator: no two
  // (ID, interface) pairs share a name, whatever either holds.
  std::string id;
  for (char c : containerId) {
    if (c == '%') {
      id += "%25";
    } else if (c == '@') {
      id += "%40";
    } else {
      id += c;
    }
  }
  return id + "@" + ifname + ".json";
}

std::string LocalEndpoint::legacyFileName(const std::string& containerId,
                                          const std::string& ifname) {
  return containerId + "." + ifname + ".json";
}

bool LocalEndpoint::namedBy(const std::string& name) const {
  return name == fileName(containerId, ifname) || name == legacyFileName(containerId, ifname);
}

std::string checkServiceName(const std::string& service) {
  auto slash = service.find('/');
  if (slash == std::string::npos) {
    return fmt::format("'{}' is not namespace/name", service);
  }
  const std::string ns = service.substr(0, slash);
  const std::string name = service.substr(slash + 1);
  if (!isDnsLabel(ns) || !isDnsLabel(name)) {
    return fmt::format(
        "'{}': namespace and name must be DNS labels (lower-case letters, digits and '-', at "
        "most 63 characters, starting and ending with a letter or digit)",
        service);
  }
  return "";
}

Result<std::string> readFile(const std::string& path, size_t maxBytes) {
  // O_NONBLOCK: a FIFO put in place of a state file must not block the open.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) {
    return Error::sys(errno, "read " + path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return Error::sys(errno, "stat " + path);
  }
  if (!S_ISREG(st.st_mode)) {
    return Error{EINVAL, fmt::format("read {}: not a regular file", path)};
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return Error::sys(errno, "read " + path);
    }
    if (n == 0) {
      return out;
    }
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > maxBytes) {
      return Error{EFBIG, fmt::format("read {}: larger than {} bytes", path, maxBytes)};
    }
  }
}

Status writeFileAtomic(const std::string& path, const std::string& content) {
  const std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) {
    return Error::sys(errno, "create " + tmp);
  }
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      int err = errno;
      ::unlink(tmp.c_str());
      return Error::sys(err, "write " + tmp);
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Error::sys(err, "fsync " + tmp);
  }
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Error::sys(err, "rename " + tmp + " to " + path);
  }
  return okStatus();
}

}  // namespace ovl
