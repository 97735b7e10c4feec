// Inputs shared by the model tests: a throwaway directory, the documented examples, and texts of
// cluster files whose lines are known (so that tests can name the line of each issue).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "model/cluster_file.h"

namespace ovl::test {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ovl-config-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
    }
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

  std::string path() const { return path_.string(); }
  std::string write(const std::string& name, const std::string& text) const {
    auto p = path_ / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }

 private:
  std::filesystem::path path_;
};

// The documented examples in examples/ stay valid.
inline std::filesystem::path examplesDir() {
  return std::filesystem::path(OVL_SOURCE_DIR) / "examples";
}

// Lines 1-2; whatever follows starts at line 3.
inline std::string network(const std::string& extra) {
  return "network:\n"
         "  podCIDR: 10.244.0.0/16\n" +
         extra;
}

// Lines 1-3; the node entries start at line 4.
inline std::string withNodes(const std::string& nodes) {
  return network("nodes:\n" + nodes);
}

// One node entry, three lines.
inline std::string node(const std::string& name, const std::string& ip, const std::string& subnet) {
  return "  - name: " + name + "\n    underlayIP: " + ip + "\n    podSubnet: " + subnet + "\n";
}

// Lines 1-4: a network with a serviceCIDR; the service entries start at line 5.
inline std::string withServices(const std::string& services) {
  return "network:\n"
         "  podCIDR: 10.244.0.0/16\n"
         "  serviceCIDR: 10.96.0.0/12\n"
         "services:\n" +
         services;
}

// A minimal valid service entry, five lines: namespace, name, clusterIP, ports, one port.
inline std::string service(const std::string& name, const std::string& ip = "10.96.0.10",
                           const std::string& port = "80") {
  return "  - namespace: default\n    name: " + name + "\n    clusterIP: " + ip +
         "\n    ports:\n      - port: " + port + "\n";
}

// The names (namespace/name) of the services kept, in order.
inline std::vector<std::string> ids(const ClusterLoad& load) {
  std::vector<std::string> out;
  for (const auto& s : load.cluster.services) {
    out.push_back(s.id());
  }
  return out;
}

}  // namespace ovl::test
