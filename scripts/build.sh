#!/usr/bin/env bash
# Builds ovl into build/ (and, with --asan, the unit tests into build-asan/ under
# AddressSanitizer + UndefinedBehaviorSanitizer, and the netns tests, which own the C handles).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
if [ "${1:-}" = "--asan" ]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DOVL_SANITIZE=ON >/dev/null
  cmake --build build-asan -j"$jobs" --target ovl_unit_tests ovl_netns_tests
fi
