// ovl-agent's log lines, on stdout:
//  - text (default): "2026-12-03T09:13:25.123 info converged: ..."; under systemd (stdout is the
//    journal, JOURNAL_STREAM) each line starts with its syslog priority ("<6>converged: ..."),
//    so journalctl -p filters them, and without a timestamp of its own (the journal adds one);
//  - json (--log-format json), one object per line for log shippers:
//    {"time":"2026-12-03T09:13:25.123Z","level":"info","msg":"converged: ..."}.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace ovl {

inline const std::vector<std::string> kLogLevels = {"trace", "debug", "info", "warn", "error"};
inline const std::vector<std::string> kLogFormats = {"text", "json"};

// level: one of kLogLevels; format: one of kLogFormats (checked by the caller).
void setupLogging(const std::string& format);
void setLogLevel(const std::string& level);

// e's message, and when it failed for want of a privilege (EPERM, EACCES), which one: the
// kernel's netlink and nftables refusals need CAP_NET_ADMIN; a file or directory the agent's
// user may not use needs its owner changed (the agent runs as a non-root user with only
// CAP_NET_ADMIN: examples/systemd/).
std::string explainError(const Error& e);

// Whether stdout is connected to the journal (systemd's JOURNAL_STREAM names its device:inode).
bool stdoutIsJournal();

}  // namespace ovl
