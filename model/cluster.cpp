#include "model/cluster.h"

#include <fmt/format.h>

namespace ovl {

std::string SourceMark::toString() const {
  if (line == 0) {
    return file;
  }
  return fmt::format("{}:{}:{}", file, line, column);
}

}  // namespace ovl
