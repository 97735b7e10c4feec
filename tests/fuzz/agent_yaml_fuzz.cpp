// agent.yaml (model/agent_config.h) with its OVL_* environment overrides: the input is the file's
// text, then after a NUL byte the environment, one NAME=value per line (only OVL_* names are
// overrides; the others must be ignored).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "model/agent_config.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> parts = ovl::fuzz::split(ovl::fuzz::asText(data, size), '\0');
  ovl::Environment env;
  if (parts.size() > 1) {
    for (const std::string& line : ovl::fuzz::split(parts[1], '\n')) {
      const size_t eq = line.find('=');
      if (eq != std::string::npos) {
        env[line.substr(0, eq)] = line.substr(eq + 1);
      }
    }
  }
  ovl::AgentConfigResult r = ovl::parseAgentConfig(parts[0], "/etc/ovl/agent.yaml", env);
  size_t chars = 0;
  for (const ovl::ConfigIssue& issue : r.issues) {
    chars += issue.toString().size();
  }
  for (const std::string& w : r.warnings) {
    chars += w.size();
  }
  return chars == static_cast<size_t>(-1) ? 1 : 0;
}
