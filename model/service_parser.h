// Internal to model/: one service entry of a cluster into svc::Service, with everything it
// claims that no other service may hold. Each entry is read on its own; the claims are checked
// across services by ServiceClaims (a cluster file) or ClusterDocuments (documents stored apart).
#pragma once

#include <string>

#include "model/network_parser.h"
#include "model/service_claims.h"
#include "model/yaml_reader.h"

namespace ovl {

// The entry on its own: its problems and claims are recorded, not yet checked against other
// services, so a stored document is read once and checked again cheaply whenever another one
// changes. The issues it causes are taken out of the reader's list into the result.
ParsedService parseService(Reader& r, const YamlNode& entry, const std::string& path,
                           const NetworkFacts& facts);

}  // namespace ovl
