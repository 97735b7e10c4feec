// ovl-cni: the CNI plugin that attaches containers to the ovl overlay. See cni/plugin.h.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include <fmt/format.h>

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
    bool tooLarge = false;
    auto text = ovl::cni::readStdin(0, &tooLarge);
    if (!text) {
      in.stdinError = ovl::cni::CniError{ovl::cni::Code::kIo, "read the network config on stdin",
                                         text.error().message};
    } else if (tooLarge) {
      in.stdinError = ovl::cni::CniError{
          ovl::cni::Code::kInvalidConfig,
          fmt::format("network config on stdin is larger than {} bytes (1 MiB); ovl-cni reads "
                      "at most that much and stopped there",
                      ovl::cni::kMaxStdinBytes),
          ""};
    } else {
      in.stdinText = std::move(*text);
    }
  }
  if (const char* s = std::getenv("OVL_SERVICE")) {
    in.envService = s;
  }
  const ovl::cni::Outcome out = ovl::cni::runPlugin(in);
  std::fwrite(out.stdoutText.data(), 1, out.stdoutText.size(), stdout);
  return out.exitCode;
}
