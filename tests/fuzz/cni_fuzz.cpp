// ovl-cni's protocol (cni/spec.h): the input is the configuration on stdin, then after a NUL byte
// the CNI_* environment (one NAME=value per line). What the plugin does with a readable
// configuration is done too: its prevResult parsed and written back into a result, the version to
// answer an error in, and the error's JSON.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cni/spec.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

ovl::cni::Env environment(const std::string& text) {
  ovl::cni::Env env;
  for (const std::string& line : ovl::fuzz::split(text, '\n')) {
    const size_t eq = line.find('=');
    if (eq == std::string::npos) {
      continue;
    }
    const std::string name = line.substr(0, eq);
    const std::string value = line.substr(eq + 1);
    if (name == "CNI_COMMAND") {
      env.command = value;
    } else if (name == "CNI_CONTAINERID") {
      env.containerId = value;
    } else if (name == "CNI_NETNS") {
      env.netns = value;
    } else if (name == "CNI_IFNAME") {
      env.ifname = value;
    } else if (name == "CNI_ARGS") {
      env.args = value;
    } else if (name == "CNI_PATH") {
      env.path = value;
    }
  }
  return env;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ovl::cni;
  std::vector<std::string> parts = ovl::fuzz::split(ovl::fuzz::asText(data, size), '\0');
  size_t seen = 0;
  const std::string version = versionForError(parts[0]);
  NetConf conf;
  if (std::optional<CniError> e = parseNetConf(parts[0], &conf)) {
    seen += e->toJson(version).size();
  } else if (conf.prevResult) {
    ParsedResult prev;
    if (std::optional<CniError> pe = parseResult(*conf.prevResult, &prev)) {
      seen += pe->toJson(version).size();
    } else {
      CniResult mine;
      mine.interfaces.push_back({"eth0", "02:00:00:00:00:01", 1450, "/var/run/netns/x"});
      seen += encodeResult(mine, conf.cniVersion, conf.prevResult).dump().size();
    }
  }
  Call call;
  if (std::optional<CniError> e = parseCall(environment(parts.size() > 1 ? parts[1] : ""), &call)) {
    seen += e->toJson(version).size();
  } else if (std::optional<std::string> svc = serviceLabel(conf, call, std::nullopt)) {
    seen += svc->size();
  }
  return seen == static_cast<size_t>(-1) ? 1 : 0;
}
