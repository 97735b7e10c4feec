// cni/: ovl-cni, the CNI plugin: the protocol (spec.h, pure), IPAM, the pod's veth over netlink,
// and these commands. Includes common/ and netlink/ only.
//
// ovl-cni's commands: ADD, DEL, CHECK, VERSION, STATUS, GC, each from the CNI environment and
// the network configuration on stdin to the text for stdout and the exit status.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "cni/spec.h"
#include "common/result.h"

namespace ovl::cni {

// The network configuration on stdin is read up to this size; a larger one is refused without
// reading the rest (real configurations are a few KiB, prevResult included).
inline constexpr size_t kMaxStdinBytes = 1u << 20;

// Reads fd (stdin) up to kMaxStdinBytes + 1 bytes: true in *tooLarge when there was more.
// An error when read(2) fails.
Result<std::string> readStdin(int fd, bool* tooLarge, size_t limit = kMaxStdinBytes);

struct Invocation {
  Env env;
  std::string stdinText;
  // The OVL_SERVICE environment variable of the caller: the service label of last resort, for
  // runtimes that give no way to pass CNI_ARGS (`ctr run --cni`), see README.
  std::optional<std::string> envService;
  // Set when stdin held more than kMaxStdinBytes (stdinText is then its first part) or could not
  // be read: answered with a CNI error before anything else.
  std::optional<CniError> stdinError;
};

struct Outcome {
  std::string stdoutText;  // a result, a version answer, an error, or nothing
  int exitCode = 0;
};

Outcome runPlugin(const Invocation& in);

}  // namespace ovl::cni
