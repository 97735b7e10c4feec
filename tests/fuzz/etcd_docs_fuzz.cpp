// The etcd documents (model/cluster_documents.h), as the etcd datastore feeds them: the input is
// a sequence of records separated by NUL bytes, each a key, a newline and the value. The key
// chooses the document kind as the datastore's key layout does (config, nodes/..., services/...;
// a key starting with '-' erases the document named by the rest). After each record the index is
// asked for its service changes or rebuilt, so the incremental path is fuzzed with the full one.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "model/cluster_documents.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

constexpr const char* kNetwork = "podCIDR: 10.244.0.0/16\nserviceCIDR: 10.96.0.0/12\n";

void apply(ovl::ClusterDocuments& docs, const std::string& record) {
  const size_t nl = record.find('\n');
  const std::string key = record.substr(0, nl);
  const std::string value = nl == std::string::npos ? "" : record.substr(nl + 1);
  if (!key.empty() && key[0] == '-') {
    docs.erase(key.substr(1));
  } else if (key.rfind("config", 0) == 0) {
    docs.setNetwork(key, value);
  } else if (key.rfind("nodes/", 0) == 0) {
    docs.setNode(key, value);
  } else if (key.rfind("services/", 0) == 0) {
    docs.setService(key, value);
  } else if (key.rfind("file", 0) == 0) {
    std::vector<ovl::ConfigIssue> issues;
    for (const auto& e : docs.addServiceFile(key, value, issues)) {
      docs.setService(e.source, e.text);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ovl::ClusterDocuments docs("config");
  docs.setNetwork("config", kNetwork);
  size_t seen = docs.build().issues.size();
  for (const std::string& record : ovl::fuzz::split(ovl::fuzz::asText(data, size), '\0')) {
    apply(docs, record);
    if (auto changes = docs.serviceChanges()) {
      seen += changes->upserts.size() + changes->removed.size() + changes->issues.size();
    } else {
      ovl::ClusterLoad load = docs.build();
      for (const ovl::ConfigIssue& issue : load.issues) {
        seen += issue.toString().size();
      }
    }
  }
  return seen == static_cast<size_t>(-1) ? 1 : 0;
}
