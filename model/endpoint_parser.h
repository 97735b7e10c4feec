// Internal to model/: a service's `endpoints` list into svc::Endpoint values, each checked on
// its own (address, node, conditions, weight, per-port overrides) and for being listed once.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "model/service.h"
#include "model/yaml_reader.h"

namespace ovl {

// The service's port names, each with the path of the port that has it ("services[1].ports[0]").
using PortNames = std::map<std::string, std::string, std::less<>>;

// The endpoints of the service at `path` (the value of its `endpoints` field) into `out`; an
// endpoint with a problem is left out, after issues saying why.
void parseEndpoints(Reader& r, const YamlNode& list, const std::string& path,
                    const PortNames& portNames, std::vector<svc::Endpoint>& out);

}  // namespace ovl
