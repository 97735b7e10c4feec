// The exit status of ovlctl. CLI11 itself knows only parse errors, so a command either throws
// ExitCode from its callback (diagnose, trace: the status is the result) or records a code with
// setExitCode (service, node: the highest one recorded wins); main() returns it.
// 0 done, 1 the operation failed or problems were found, 2 invalid input or could not check.
#pragma once

namespace ovl::cli {

struct ExitCode {
  int code = 0;
};

constexpr int kExitFailure = 1;
constexpr int kExitInvalid = 2;
// Keeps the highest code recorded.
void setExitCode(int code);
int exitCode();

}  // namespace ovl::cli
