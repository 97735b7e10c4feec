// cni/: ovl-cni, the CNI plugin: the protocol (spec.h, pure), IPAM, the pod's veth over netlink,
// and these commands. Includes common/ and netlink/ only.
//
// ovl-cni's commands: ADD, DEL, CHECK, VERSION, STATUS, GC, each from the CNI environment and
// the network configuration on stdin to the text for stdout and the exit status.
#pragma once

#include <optional>
#include <string>

#include "cni/spec.h"

namespace ovl::cni {

struct Invocation {
  Env env;
  std::string stdinText;
  // The OVL_SERVICE environment variable of the caller: the service label of last resort, for
  // runtimes that give no way to pass CNI_ARGS (`ctr run --cni`), see README.
  std::optional<std::string> envService;
};

struct Outcome {
  std::string stdoutText;  // a result, a version answer, an error, or nothing
  int exitCode = 0;
};

Outcome runPlugin(const Invocation& in);

}  // namespace ovl::cni
