#include "common/version.h"

#include "ovl_version.h"  // generated in the build tree by cmake/version.cmake

namespace ovl {

std::string_view version() {
  return OVL_VERSION;
}

}  // namespace ovl
