// The three-node cluster (a, b, c; optionally the service default/web, as a NodePort) that the
// paths and trace tests plan from.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "model/cluster.h"
#include "model/config.h"

namespace ovl::diag::test {

inline Cluster threeNodes(const std::string& masquerade, bool service, bool nodePort) {
  std::string yaml =
      "network:\n  podCIDR: 10.244.0.0/16\n  serviceCIDR: 10.96.0.0/12\n"
      "  masquerade: " +
      masquerade +
      "\nnodes:\n"
      "  - {name: a, underlayIP: 192.168.50.1, podSubnet: 10.244.1.0/24}\n"
      "  - {name: b, underlayIP: 192.168.50.2, podSubnet: 10.244.2.0/24}\n"
      "  - {name: c, underlayIP: 192.168.50.3, podSubnet: 10.244.3.0/24}\n";
  if (service) {
    yaml += "services:\n  - namespace: default\n    name: web\n";
    yaml += nodePort ? "    type: NodePort\n" : "";
    yaml += "    clusterIP: 10.96.0.10\n    ports: [{name: http, port: 80, targetPort: 8080";
    yaml += nodePort ? ", nodePort: 30080}]\n" : "}]\n";
    yaml +=
        "    endpoints:\n      - {ip: 10.244.2.11, node: b, weight: 1}\n"
        "      - {ip: 10.244.3.11, node: c, weight: 3}\n";
  }
  ClusterLoad l = parseCluster(yaml, "cluster.yaml");
  EXPECT_TRUE(l.issues.empty()) << l.issues.front().toString();
  return l.cluster;
}

}  // namespace ovl::diag::test
