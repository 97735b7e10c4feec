#include "model/yaml_reader.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>
#include <yaml-cpp/depthguard.h>

#include <cerrno>
#include <charconv>
#include <iterator>

#include "common/fd.h"
#include "model/validators.h"

namespace ovl {

namespace {

constexpr std::string_view kBooleans[] = {"false", "true"};
constexpr size_t kMaxFileSize = 64u << 20;  // far above any real cluster file

}  // namespace

std::string joinNames(FieldNames names) {
  std::string out;
  for (auto name : names) {
    if (!out.empty()) {
      out += ", ";
    }
    out += name;
  }
  return out;
}

bool contains(FieldNames names, std::string_view name) {
  for (auto n : names) {
    if (n == name) {
      return true;
    }
  }
  return false;
}

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      return fmt::format("'{}'", n.Scalar());
    case YAML::NodeType::Sequence:
      return "a sequence";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

std::string joinPath(const std::string& prefix, std::string_view key) {
  return prefix.empty() ? std::string(key) : fmt::format("{}.{}", prefix, key);
}

Result<std::string> readConfigFile(const std::string& path) {
  UniqueFd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!file.valid()) {
    return Error::sys(errno, "cannot open the file");
  }
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(file.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return Error::sys(errno, "cannot read the file");
    }
    if (n == 0) {
      return text;
    }
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxFileSize) {
      return Error::msg(fmt::format("the file is larger than {} MiB", kMaxFileSize >> 20));
    }
  }
}

std::vector<ConfigIssue> Reader::takeIssuesSince(size_t from) {
  std::vector<ConfigIssue> out(std::make_move_iterator(issues_.begin() + from),
                               std::make_move_iterator(issues_.end()));
  issues_.resize(from);
  return out;
}

std::optional<YAML::Node> Reader::load(const std::string& text) {
  try {
    return YAML::Load(text);
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp 0.7 gives this one the message "bad file"; say what it means.
    issue(markOf(e.mark), "",
          fmt::format("invalid YAML: nested too deeply (the limit is {} levels)", e.depth()));
  } catch (const YAML::Exception& e) {
    issue(markOf(e.mark), "", fmt::format("invalid YAML: {}", e.msg));
  }
  return std::nullopt;
}

Fields Reader::fields(const YAML::Node& map, const std::string& path, FieldNames known) {
  Fields out;
  for (const auto& kv : map) {
    const YAML::Node& key = kv.first;
    if (!key.IsScalar()) {
      issue(key, path,
            fmt::format("expected field names ({}), got {} as a key", joinNames(known),
                        describe(key)));
      continue;
    }
    if (!contains(known, key.Scalar())) {
      issue(key, joinPath(path, key.Scalar()),
            fmt::format("unknown field '{}'; known fields are {}", key.Scalar(), joinNames(known)));
      continue;
    }
    auto [pos, inserted] = out.try_emplace(key.Scalar(), Entry{key, kv.second});
    if (!inserted) {
      issue(key, joinPath(path, key.Scalar()),
            fmt::format("field '{}' is given twice; the first is at {}", key.Scalar(),
                        markOf(pos->second.key).toString()));
    }
  }
  return out;
}

const YAML::Node* Reader::require(const Fields& entries, const YAML::Node& map,
                                  const std::string& path, std::string_view key,
                                  std::string_view expected) {
  if (const YAML::Node* v = find(entries, key)) {
    return v;
  }
  auto it = entries.find(key);
  issue(it != entries.end() ? it->second.key : map, joinPath(path, key),
        fmt::format("missing required field '{}'; expected {}", key, expected));
  return nullptr;
}

std::optional<std::string> Reader::text(const YAML::Node& v, const std::string& field,
                                        std::string_view expected) {
  if (!v.IsScalar()) {
    issue(v, field, fmt::format("expected {}, got {}", expected, describe(v)));
    return std::nullopt;
  }
  return v.Scalar();
}

std::optional<int64_t> Reader::integer(const YAML::Node& v, const std::string& field, int64_t min,
                                       int64_t max) {
  if (!v.IsScalar() || !isDecimal(v.Scalar())) {
    issue(v, field, fmt::format("expected an integer in {}..{}, got {}", min, max, describe(v)));
    return std::nullopt;
  }
  const std::string& digits = v.Scalar();
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc{} || ptr != digits.data() + digits.size() ||
      value < static_cast<uint64_t>(min) || value > static_cast<uint64_t>(max)) {
    issue(v, field,
          fmt::format("{} is out of range; expected an integer in {}..{}", digits, min, max));
    return std::nullopt;
  }
  return static_cast<int64_t>(value);
}

std::optional<Ipv4> Reader::ipv4(const YAML::Node& v, const std::string& field) {
  auto str = text(v, field, "an IPv4 address such as 192.168.50.1");
  if (!str) {
    return std::nullopt;
  }
  auto ip = Ipv4::parse(*str);
  if (!ip) {
    issue(v, field,
          fmt::format("'{}' is not an IPv4 address; expected one such as 192.168.50.1", *str));
  }
  return ip;
}

std::optional<Ipv4Prefix> Reader::networkPrefix(const YAML::Node& v, const std::string& field,
                                                std::string_view example) {
  std::string expected = fmt::format("an IPv4 CIDR such as {}", example);
  auto str = text(v, field, expected);
  if (!str) {
    return std::nullopt;
  }
  auto prefix = Ipv4Prefix::parse(*str);
  if (!prefix) {
    issue(v, field, fmt::format("'{}' is not an IPv4 CIDR; expected {}", *str, expected));
    return std::nullopt;
  }
  if (!prefix->isNetworkAddress()) {
    issue(v, field,
          fmt::format("{} is not a network address; did you mean {}?", *str,
                      Ipv4Prefix{prefix->network(), prefix->len}.toString()));
    return std::nullopt;
  }
  return prefix;
}

std::optional<MacAddr> Reader::unicastMac(const YAML::Node& v, const std::string& field) {
  constexpr std::string_view kExpected = "a unicast MAC address such as 0a:58:0a:f4:01:01";
  auto str = text(v, field, kExpected);
  if (!str) {
    return std::nullopt;
  }
  auto mac = MacAddr::parse(*str);
  if (!mac) {
    issue(v, field, fmt::format("'{}' is not a MAC address; expected {}", *str, kExpected));
    return std::nullopt;
  }
  if (mac->isZero()) {
    issue(v, field, fmt::format("{} is the all-zero MAC; expected {}", *str, kExpected));
    return std::nullopt;
  }
  if ((mac->bytes[0] & 0x01) != 0) {
    issue(v, field,
          fmt::format("{} is a multicast MAC (the low bit of the first byte is set); expected {}",
                      *str, kExpected));
    return std::nullopt;
  }
  return mac;
}

std::optional<std::string> Reader::nodeName(const YAML::Node& v, const std::string& field) {
  auto name = text(v, field, "a node name");
  if (name && !isValidNodeName(*name)) {
    issue(v, field,
          fmt::format("invalid node name '{}'; expected lower-case letters, digits, '-' and "
                      "'.', starting and ending with a letter or digit, at most {} characters",
                      *name, kMaxNodeNameLength));
    return std::nullopt;
  }
  return name;
}

std::optional<size_t> Reader::keyword(const YAML::Node& v, const std::string& field,
                                      FieldNames options, std::string_view what, bool anyCase) {
  const std::string expected =
      fmt::format("one of {}{}", joinNames(options), anyCase ? " (in any case)" : "");
  auto str = text(v, field, expected);
  if (!str) {
    return std::nullopt;
  }
  for (size_t i = 0; i < options.size(); ++i) {
    if (anyCase ? equalsIgnoringCase(options[i], *str) : options[i] == *str) {
      return i;
    }
  }
  issue(v, field, fmt::format("unknown {} '{}'; expected {}", what, *str, expected));
  return std::nullopt;
}

std::optional<bool> Reader::boolean(const YAML::Node& v, const std::string& field) {
  auto index = keyword(v, field, kBooleans, "boolean", /*anyCase=*/true);
  if (!index) {
    return std::nullopt;
  }
  return *index == 1;
}

std::optional<std::string> Reader::label(const YAML::Node& v, const std::string& field,
                                         std::string_view what, size_t max) {
  auto name = text(v, field, what);
  if (name && !isDnsLabel(*name, max)) {
    issue(v, field,
          fmt::format("invalid {} '{}'; expected lower-case letters, digits and '-', starting "
                      "and ending with a letter or digit, at most {} characters",
                      what, *name, max));
    return std::nullopt;
  }
  return name;
}

std::optional<std::string> Reader::interfaceName(const YAML::Node& v, const std::string& field) {
  auto name = text(v, field, "an interface name");
  if (name && !isValidInterfaceName(*name)) {
    issue(v, field,
          fmt::format("invalid interface name '{}'; expected 1..{} characters without '/', "
                      "':' or whitespace, and not '.' or '..'",
                      *name, kMaxInterfaceNameLength));
    return std::nullopt;
  }
  return name;
}

}  // namespace ovl
