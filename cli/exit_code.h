// How an ovlctl command ends with a given exit status: it throws ExitCode from its CLI11
// callback and main() returns the code (CLI11 itself knows only parse errors).
#pragma once

namespace ovl::cli {

struct ExitCode {
  int code = 0;
};

}  // namespace ovl::cli
