#include "cli/exit_code.h"

#include <algorithm>

namespace ovl::cli {

namespace {
int gExitCode = 0;
}  // namespace

void setExitCode(int code) {
  gExitCode = std::max(gExitCode, code);
}

int exitCode() {
  return gExitCode;
}

}  // namespace ovl::cli
