// sysctl names and values, and the one boundary diagnostics read the host through: procfs.
// Key naming and the sysctl.d drop-in text are pure; ProcFs reads and writes files under a root
// (/proc by default; a test hands in a directory of its own).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace ovl::diag {

// The sysctl.d key of an IPv4 per-interface setting: "net.ipv4.conf.<iface>.<leaf>", with the
// dots of an interface name written as slashes ("ovl.1" -> "net.ipv4.conf.ovl/1.rp_filter"),
// since sysctl.d takes the first separator as the separator and swaps the other one.
std::string confKey(const std::string& iface, const std::string& leaf);
// The procfs path of the same setting, relative to the proc root: "sys/net/ipv4/conf/ovl.1/...".
std::string confPath(const std::string& iface, const std::string& leaf);

// rp_filter as the kernel applies it: effective = max(conf/all, conf/<iface>).
struct RpFilter {
  int all = 0;
  int iface = 0;
  int effective() const { return all > iface ? all : iface; }
  // "strict (1): conf/all=1, conf/ovl.1=0 -> the higher one, all, applies"
  std::string describe(const std::string& ifaceName) const;
};
std::string rpModeName(int value);  // "off" | "strict" | "loose"

// The drop-in file name: sorts after every distribution file (50-default.conf, 99-sysctl.conf
// is a symlink to /etc/sysctl.conf and sorts before it), so its explicit keys win; systemd also
// lets an explicit key win over a glob (net.ipv4.conf.*.rp_filter) whatever the file order.
inline constexpr const char* kDropInName = "99-zz-ovl-rp-filter.conf";
inline constexpr const char* kDefaultSysctlDir = "/etc/sysctl.d";
// The drop-in's text: rp_filter = 2 for each interface (sorted, unique).
std::string dropInText(std::vector<std::string> ifaces);
// Interfaces named in an existing drop-in (so --persist adds to it instead of forgetting).
std::vector<std::string> dropInInterfaces(const std::string& text);

// A sysctl.d line that sets rp_filter for an interface, directly or through a glob or `all`.
struct SysctlDirective {
  std::string file;
  int line = 0;
  std::string text;  // the line as written
  std::string toString()
      const;  // "/usr/lib/sysctl.d/50-default.conf:22: net.ipv4.conf.*.rp_filter = 2"
};
// The lines of one sysctl.d file (text) that set <leaf> of iface: its own key, `all`, `default`
// (applied to interfaces created later) or a glob matching it. Keys are compared in their
// slash form after sysctl.d's separator swap, so "ovl/1" and "ovl.1" match as they should.
std::vector<SysctlDirective> sysctlDirectives(const std::string& text, const std::string& file,
                                              const std::string& iface, const std::string& leaf);
// The directories systemd-sysctl reads (plus /etc/sysctl.conf), in its order of precedence.
const std::vector<std::string>& defaultSysctlSources();
// Every directive for iface/leaf in the *.conf files of `sources` (files or directories).
std::vector<SysctlDirective> findSysctlDirectives(const std::vector<std::string>& sources,
                                                  const std::string& iface,
                                                  const std::string& leaf);

// The host's procfs, read and written by path relative to its root.
class HostFs {
 public:
  virtual ~HostFs() = default;
  virtual Result<std::string> read(const std::string& relPath) = 0;
  virtual Status write(const std::string& relPath, const std::string& value) = 0;

  // An integer file (a sysctl); the error names the path.
  Result<long long> readInt(const std::string& relPath);
  Result<RpFilter> rpFilter(const std::string& iface);
};

// The real one. "/proc" normally; reads per-namespace files (sys/net, net/) in the network
// namespace of the calling thread (paths through thread-self where it matters).
class ProcFs final : public HostFs {
 public:
  explicit ProcFs(std::string root = "/proc") : root_(std::move(root)) {}
  Result<std::string> read(const std::string& relPath) override;
  Status write(const std::string& relPath, const std::string& value) override;

 private:
  std::string root_;
};

// TcpExt counters of /proc/net/netstat ("TcpExt: name ..." / "TcpExt: value ..." line pairs).
std::optional<long long> netstatCounter(const std::string& netstat, const std::string& group,
                                        const std::string& name);

}  // namespace ovl::diag
