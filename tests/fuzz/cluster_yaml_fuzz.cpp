// The cluster file (model/cluster_file.h): the input is the file's text. Every issue is also
// formatted and sorted, as ovlctl and the agent print them.
#include <cstddef>
#include <cstdint>
#include <string>

#include "model/cluster_file.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ovl::ClusterLoad load = ovl::parseCluster(std::string(ovl::fuzz::asText(data, size)), "c.yaml");
  ovl::sortByPosition(load.issues);
  size_t chars = 0;
  for (const ovl::ConfigIssue& issue : load.issues) {
    chars += issue.toString().size();
  }
  return chars == static_cast<size_t>(-1) ? 1 : 0;  // keeps the formatting from being elided
}
