#include "model/yaml_reader.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <iterator>

#include "common/fd.h"
#include "model/cluster_file.h"
#include "model/validators.h"
#include "model/yaml_limits.h"

namespace ovl {

namespace {

constexpr std::string_view kBooleans[] = {"false", "true"};
constexpr size_t kMaxFileSize = 64u << 20;  // far above any real cluster file

// What a non-regular file is, for the message that refuses it.
const char* fileKind(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFCHR:
      return "a character device";
    case S_IFBLK:
      return "a block device";
    case S_IFIFO:
      return "a pipe (FIFO)";
    case S_IFSOCK:
      return "a socket";
    default:
      return "not a regular file";
  }
}

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

std::string describe(const YamlNode& n) {
  if (n.isScalar()) {
    return quoteValue(n.scalar());
  }
  if (n.isSequence()) {
    return "a sequence";
  }
  return n.isMap() ? "a map" : "nothing";
}

std::string joinPath(const std::string& prefix, std::string_view key) {
  return prefix.empty() ? std::string(key) : fmt::format("{}.{}", prefix, key);
}

Result<std::string> readConfigFile(const std::string& path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below); it changes
  // nothing for a regular file.
  UniqueFd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!file.valid()) {
    return Error::sys(errno, "cannot open the file");
  }
  struct stat st {};
  if (::fstat(file.get(), &st) != 0) {
    return Error::sys(errno, "cannot read the file");
  }
  if (S_ISDIR(st.st_mode)) {
    return Error::sys(EISDIR, "cannot read the file");
  }
  // A device or a pipe may never end (/dev/zero) or never start (a FIFO without a writer).
  if (!S_ISREG(st.st_mode)) {
    return Error::msg(fmt::format("cannot read the file: it is {}; expected a regular file",
                                  fileKind(st.st_mode)));
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxFileSize) {
    return Error::msg(fmt::format("the file is {} bytes; expected at most {} MiB", st.st_size,
                                  kMaxFileSize >> 20));
  }
  // Read straight into the string (a large cluster file is read again at every change, so no
  // second copy through a buffer); one byte more than stat said, to see a file that grew.
  std::string text(static_cast<size_t>(st.st_size) + 1, '\0');
  size_t len = 0;
  for (;;) {
    if (len == text.size()) {
      if (len > kMaxFileSize) {  // it grew while being read
        return Error::msg(fmt::format("the file is larger than {} MiB; expected at most {} MiB",
                                      kMaxFileSize >> 20, kMaxFileSize >> 20));
      }
      text.resize(std::min(len * 2, kMaxFileSize + 1));
    }
    const ssize_t n = ::read(file.get(), text.data() + len, text.size() - len);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return Error::sys(errno, "cannot read the file");
    }
    if (n == 0) {
      text.resize(len);
      return text;
    }
    len += static_cast<size_t>(n);
  }
}

std::vector<ConfigIssue> Reader::takeIssuesSince(size_t from) {
  std::vector<ConfigIssue> out(std::make_move_iterator(issues_.begin() + from),
                               std::make_move_iterator(issues_.end()));
  issues_.resize(from);
  return out;
}

std::shared_ptr<YamlTree> Reader::load(std::string_view text, size_t budgetBytes) {
  YamlBuild built = buildYamlTree(text, maxDepth_, budgetBytes);
  if (built.problem) {
    issue(markOf(built.problem->mark), "", std::move(built.problem->message));
    return nullptr;
  }
  return std::move(built.tree);
}

Fields Reader::fields(const YamlNode& map, const std::string& path, FieldNames known) {
  Fields out;
  for (const YamlPair& kv : map.pairs()) {
    const YamlNode& key = kv.first;
    if (!key.isScalar()) {
      issue(key, path,
            fmt::format("expected field names ({}), got {} as a key", joinNames(known),
                        describe(key)));
      continue;
    }
    if (!contains(known, key.scalar())) {
      issue(key, joinPath(path, clipValue(key.scalar())),
            fmt::format("unknown field {}; known fields are {}", quoteValue(key.scalar()),
                        joinNames(known)));
      continue;
    }
    auto [pos, inserted] = out.try_emplace(std::string(key.scalar()), Entry{key, kv.second});
    if (!inserted) {
      issue(key, joinPath(path, key.scalar()),
            fmt::format("field '{}' is given twice; the first is at {}", key.scalar(),
                        markOf(pos->second.key).toString()));
    }
  }
  return out;
}

const YamlNode* Reader::require(const Fields& entries, const YamlNode& map, const std::string& path,
                                std::string_view key, std::string_view expected) {
  if (const YamlNode* v = find(entries, key)) {
    return v;
  }
  auto it = entries.find(key);
  issue(it != entries.end() ? it->second.key : map, joinPath(path, key),
        fmt::format("missing required field '{}'; expected {}", key, expected));
  return nullptr;
}

std::optional<std::string> Reader::text(const YamlNode& v, const std::string& field,
                                        std::string_view expected) {
  if (!v.isScalar()) {
    issue(v, field, fmt::format("expected {}, got {}", expected, describe(v)));
    return std::nullopt;
  }
  return std::string(v.scalar());
}

std::optional<int64_t> Reader::integer(const YamlNode& v, const std::string& field, int64_t min,
                                       int64_t max) {
  if (!v.isScalar() || !isDecimal(v.scalar())) {
    issue(v, field, fmt::format("expected an integer in {}..{}, got {}", min, max, describe(v)));
    return std::nullopt;
  }
  const std::string_view digits = v.scalar();
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc{} || ptr != digits.data() + digits.size() ||
      value < static_cast<uint64_t>(min) || value > static_cast<uint64_t>(max)) {
    issue(v, field,
          fmt::format("{} is out of range; expected an integer in {}..{}", clipValue(digits), min,
                      max));
    return std::nullopt;
  }
  return static_cast<int64_t>(value);
}

std::optional<Ipv4> Reader::ipv4(const YamlNode& v, const std::string& field) {
  auto str = text(v, field, "an IPv4 address such as 192.168.50.1");
  if (!str) {
    return std::nullopt;
  }
  auto ip = Ipv4::parse(*str);
  if (!ip) {
    issue(v, field,
          fmt::format("{} is not an IPv4 address; expected one such as 192.168.50.1",
                      quoteValue(*str)));
  }
  return ip;
}

std::optional<Ipv4Prefix> Reader::networkPrefix(const YamlNode& v, const std::string& field,
                                                std::string_view example) {
  std::string expected = fmt::format("an IPv4 CIDR such as {}", example);
  auto str = text(v, field, expected);
  if (!str) {
    return std::nullopt;
  }
  auto prefix = Ipv4Prefix::parse(*str);
  if (!prefix) {
    issue(v, field, fmt::format("{} is not an IPv4 CIDR; expected {}", quoteValue(*str), expected));
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

std::optional<MacAddr> Reader::unicastMac(const YamlNode& v, const std::string& field) {
  constexpr std::string_view kExpected = "a unicast MAC address such as 0a:58:0a:f4:01:01";
  auto str = text(v, field, kExpected);
  if (!str) {
    return std::nullopt;
  }
  auto mac = MacAddr::parse(*str);
  if (!mac) {
    issue(v, field,
          fmt::format("{} is not a MAC address; expected {}", quoteValue(*str), kExpected));
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

std::optional<std::string> Reader::nodeName(const YamlNode& v, const std::string& field) {
  auto name = text(v, field, "a node name");
  if (name && !isValidNodeName(*name)) {
    issue(v, field,
          fmt::format("invalid node name {}; expected lower-case letters, digits, '-' and "
                      "'.', each part between dots starting and ending with a letter or digit, "
                      "at most {} characters",
                      quoteValue(*name), kMaxNodeNameLength));
    return std::nullopt;
  }
  return name;
}

std::optional<size_t> Reader::keyword(const YamlNode& v, const std::string& field,
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
  issue(v, field, fmt::format("unknown {} {}; expected {}", what, quoteValue(*str), expected));
  return std::nullopt;
}

std::optional<bool> Reader::boolean(const YamlNode& v, const std::string& field) {
  auto index = keyword(v, field, kBooleans, "boolean", /*anyCase=*/true);
  if (!index) {
    return std::nullopt;
  }
  return *index == 1;
}

std::optional<std::string> Reader::label(const YamlNode& v, const std::string& field,
                                         std::string_view what, size_t max) {
  auto name = text(v, field, what);
  if (name && !isDnsLabel(*name, max)) {
    issue(v, field,
          fmt::format("invalid {} {}; expected lower-case letters, digits and '-', starting "
                      "and ending with a letter or digit, at most {} characters",
                      what, quoteValue(*name), max));
    return std::nullopt;
  }
  return name;
}

std::optional<std::string> Reader::interfaceName(const YamlNode& v, const std::string& field) {
  auto name = text(v, field, "an interface name");
  if (name && !isValidInterfaceName(*name)) {
    issue(v, field,
          fmt::format("invalid interface name {}; expected 1..{} characters without '/', "
                      "':' or whitespace, and not '.' or '..'",
                      quoteValue(*name), kMaxInterfaceNameLength));
    return std::nullopt;
  }
  return name;
}

}  // namespace ovl
