// Where a configuration value came from, for messages. Its own header so that the service model
// (model/service.h) can carry marks without including the whole cluster model, which includes it.
#pragma once

#include <string>

namespace ovl {

// Where a value came from, for messages: "cluster.yaml:12:5".
struct SourceMark {
  std::string file;
  int line = 0;    // 1-based; 0 = unknown
  int column = 0;  // 1-based
  std::string toString() const;
};

}  // namespace ovl
