// ovl-cni: the CNI plugin that attaches containers to the ovl overlay. See cni/plugin.h.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <string>

#include "cni/plugin.h"
#include "common/version.h"

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

}  // namespace

int main(int argc, char** argv) {
  // Run by hand rather than by a runtime (no CNI_COMMAND): say what it is.
  if (argc == 2 && std::string(argv[1]) == "--version" && env("CNI_COMMAND").empty()) {
    std::printf("ovl-cni %.*s\n", static_cast<int>(ovl::version().size()), ovl::version().data());
    return 0;
  }
  ovl::cni::Invocation in;
  in.env = {env("CNI_COMMAND"), env("CNI_CONTAINERID"), env("CNI_NETNS"),
            env("CNI_IFNAME"),  env("CNI_ARGS"),        env("CNI_PATH")};
  if (in.env.command != "VERSION" || !isatty(0)) {
    in.stdinText.assign(std::istreambuf_iterator<char>(std::cin), {});
  }
  if (const char* s = std::getenv("OVL_SERVICE")) {
    in.envService = s;
  }
  const ovl::cni::Outcome out = ovl::cni::runPlugin(in);
  std::fwrite(out.stdoutText.data(), 1, out.stdoutText.size(), stdout);
  return out.exitCode;
}
