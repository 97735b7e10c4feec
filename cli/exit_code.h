// The exit code of ovlctl: a command's callback records it, main() returns it.
// 0 done, 1 the operation failed (etcd unreachable, not found), 2 invalid input.
#pragma once

namespace ovl::cli {

constexpr int kExitFailure = 1;
constexpr int kExitInvalid = 2;
// Keeps the highest code recorded.
void setExitCode(int code);
int exitCode();

}  // namespace ovl::cli
