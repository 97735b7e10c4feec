#include "diagnostics/sysctl.h"

#include <fnmatch.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

namespace ovl::diag {

std::string confKey(const std::string& iface, const std::string& leaf) {
  std::string name = iface;
  std::replace(name.begin(), name.end(), '.', '/');
  return "net.ipv4.conf." + name + "." + leaf;
}

std::string confPath(const std::string& iface, const std::string& leaf) {
  return "sys/net/ipv4/conf/" + iface + "/" + leaf;
}

std::string rpModeName(int value) {
  switch (value) {
    case 0:
      return "off";
    case 1:
      return "strict";
    case 2:
      return "loose";
  }
  return fmt::format("unknown ({})", value);
}

std::string RpFilter::describe(const std::string& ifaceName) const {
  const int eff = effective();
  std::string from = all == iface ? "both" : (all > iface ? "conf/all" : "conf/" + ifaceName);
  return fmt::format("{} ({}): conf/all={}, conf/{}={}; the higher applies, set by {}",
                     rpModeName(eff), eff, all, ifaceName, iface, from);
}

std::string dropInText(std::vector<std::string> ifaces) {
  std::sort(ifaces.begin(), ifaces.end());
  ifaces.erase(std::unique(ifaces.begin(), ifaces.end()), ifaces.end());
  std::string out =
      "# Written by `ovlctl diagnose --fix --persist`: loose reverse-path filtering on the\n"
      "# interfaces where strict rp_filter drops ovl's overlay traffic (see ovlctl diagnose).\n"
      "# Explicit keys, so distribution globs (net.ipv4.conf.*.rp_filter) do not override\n"
      "# them when systemd-sysctl re-applies settings to a re-created interface.\n";
  for (const auto& i : ifaces) {
    out += confKey(i, "rp_filter") + " = 2\n";
  }
  return out;
}

std::vector<std::string> dropInInterfaces(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  const std::string prefix = "net.ipv4.conf.";
  const std::string suffix = ".rp_filter";
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (line.rfind(prefix, 0) != 0 || eq == std::string::npos) {
      continue;
    }
    std::string key = line.substr(0, eq);
    key.erase(key.find_last_not_of(" \t") + 1);
    if (key.size() <= prefix.size() + suffix.size() ||
        key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    std::string name = key.substr(prefix.size(), key.size() - prefix.size() - suffix.size());
    std::replace(name.begin(), name.end(), '/', '.');
    out.push_back(name);
  }
  return out;
}

std::string SysctlDirective::toString() const {
  return fmt::format("{}:{}: {}", file, line, text);
}

namespace {

// sysctl.d's rule: if the first separator is a dot, dots and slashes are swapped; the result
// is the /proc/sys path form.
std::string slashForm(std::string key) {
  const auto first = key.find_first_of("./");
  if (first != std::string::npos && key[first] == '.') {
    for (auto& ch : key) {
      ch = ch == '.' ? '/' : ch == '/' ? '.' : ch;
    }
  }
  return key;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) {
    return "";
  }
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

}  // namespace

std::vector<SysctlDirective> sysctlDirectives(const std::string& text, const std::string& file,
                                              const std::string& iface, const std::string& leaf) {
  std::vector<SysctlDirective> out;
  std::istringstream in(text);
  std::string raw;
  int n = 0;
  const std::string prefix = "net/ipv4/conf/";
  const std::string suffix = "/" + leaf;
  while (std::getline(in, raw)) {
    ++n;
    const std::string line = trim(raw);
    const auto eq = line.find('=');
    if (line.empty() || line[0] == '#' || line[0] == ';' || eq == std::string::npos) {
      continue;
    }
    std::string key = trim(line.substr(0, eq));
    if (!key.empty() && key[0] == '-') {
      key = key.substr(1);
    }
    key = slashForm(key);
    if (key.rfind(prefix, 0) != 0 || key.size() <= prefix.size() + suffix.size() ||
        key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    const std::string name = key.substr(prefix.size(), key.size() - prefix.size() - suffix.size());
    if (name == iface || name == "all" || name == "default" ||
        ::fnmatch(name.c_str(), iface.c_str(), 0) == 0) {
      out.push_back(SysctlDirective{file, n, line});
    }
  }
  return out;
}

const std::vector<std::string>& defaultSysctlSources() {
  static const std::vector<std::string> kSources = {"/etc/sysctl.d", "/run/sysctl.d",
                                                    "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d",
                                                    "/etc/sysctl.conf"};
  return kSources;
}

std::vector<SysctlDirective> findSysctlDirectives(const std::vector<std::string>& sources,
                                                  const std::string& iface,
                                                  const std::string& leaf) {
  std::vector<SysctlDirective> out;
  std::set<std::string> seen;  // /etc/sysctl.d/99-sysctl.conf is a link to /etc/sysctl.conf
  for (const auto& src : sources) {
    std::vector<std::string> files;
    std::error_code ec;
    if (std::filesystem::is_directory(src, ec)) {
      for (const auto& e : std::filesystem::directory_iterator(src, ec)) {
        if (e.path().extension() == ".conf") {
          files.push_back(e.path().string());
        }
      }
      std::sort(files.begin(), files.end());
    } else if (std::filesystem::is_regular_file(src, ec)) {
      files.push_back(src);
    }
    for (const auto& f : files) {
      if (!seen.insert(std::filesystem::weakly_canonical(f, ec).string()).second) {
        continue;
      }
      std::ifstream in(f);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      for (auto& d : sysctlDirectives(text, f, iface, leaf)) {
        out.push_back(std::move(d));
      }
    }
  }
  return out;
}

Result<long long> HostFs::readInt(const std::string& relPath) {
  auto text = read(relPath);
  if (!text) {
    return text.error();
  }
  try {
    size_t used = 0;
    long long v = std::stoll(*text, &used);
    return v;
  } catch (const std::exception&) {
    return Error::msg(fmt::format("{}: expected an integer, read '{}'", relPath, *text));
  }
}

Result<RpFilter> HostFs::rpFilter(const std::string& iface) {
  auto all = readInt(confPath("all", "rp_filter"));
  if (!all) {
    return all.error();
  }
  auto own = readInt(confPath(iface, "rp_filter"));
  if (!own) {
    return own.error();
  }
  return RpFilter{static_cast<int>(*all), static_cast<int>(*own)};
}

namespace {

// /proc/net is /proc/self/net: the namespace of the process's main thread. A thread that
// entered another namespace (the netns tests do) must read /proc/thread-self/net instead.
std::string resolve(const std::string& root, const std::string& rel) {
  if (root == "/proc" && rel.rfind("net/", 0) == 0) {
    return root + "/thread-self/" + rel;
  }
  return root + "/" + rel;
}

}  // namespace

Result<std::string> ProcFs::read(const std::string& relPath) {
  const std::string path = resolve(root_, relPath);
  std::ifstream in(path);
  if (!in) {
    return Error::sys(errno != 0 ? errno : ENOENT, "read " + path);
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
    s.pop_back();
  }
  return s;
}

Status ProcFs::write(const std::string& relPath, const std::string& value) {
  const std::string path = resolve(root_, relPath);
  std::ofstream out(path);
  if (!out) {
    const int err = errno != 0 ? errno : EACCES;
    if (err == EACCES || err == EPERM) {
      // Net sysctls are writable by whoever holds CAP_NET_ADMIN in the namespace's user
      // namespace, not only by root: say which capability is missing.
      return Error{err, "open " + path + " for writing: permission denied: needs CAP_NET_ADMIN"};
    }
    return Error::sys(err, "open " + path + " for writing");
  }
  out << value << "\n";
  out.flush();
  if (!out) {
    return Error::sys(errno != 0 ? errno : EIO, "write " + value + " to " + path);
  }
  return okStatus();
}

std::optional<long long> netstatCounter(const std::string& netstat, const std::string& group,
                                        const std::string& name) {
  std::istringstream in(netstat);
  std::string header, values;
  const std::string prefix = group + ":";
  while (std::getline(in, header)) {
    if (header.rfind(prefix, 0) != 0 || !std::getline(in, values) || values.rfind(prefix, 0) != 0) {
      continue;
    }
    std::istringstream hs(header.substr(prefix.size())), vs(values.substr(prefix.size()));
    std::string h, v;
    while (hs >> h && vs >> v) {
      if (h == name) {
        try {
          return std::stoll(v);
        } catch (const std::exception&) {
          return std::nullopt;
        }
      }
    }
  }
  return std::nullopt;
}

}  // namespace ovl::diag
