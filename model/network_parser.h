// Internal to model/: the network section of the cluster file (or the network document of a
// cluster stored apart) into NetworkConfig, and the facts about it that the nodes and services
// are checked against.
#pragma once

#include <cstdint>
#include <optional>

#include "model/cluster.h"
#include "model/yaml_reader.h"

namespace ovl {

// What node validation needs to know of the network section; unset where that was invalid.
struct NetworkFacts {
  std::optional<Ipv4Prefix> podCidr;
  std::optional<uint8_t> subnetLength;
  std::optional<Ipv4Prefix> serviceCidr;
  bool serviceCidrGiven = false;  // given, though perhaps invalid
};

// Reads `net` (which must be a map; anything else is an issue) into `nc`, which keeps its
// defaults where a value is missing or invalid.
NetworkFacts parseNetwork(Reader& r, const YamlNode& net, NetworkConfig& nc);

}  // namespace ovl
