#!/usr/bin/env bash
# Builds ovl into build/ (RelWithDebInfo). Options:
#   --asan     also the unit and netns tests (and the three programs, which the unit test of
#              their version runs) into build-asan/ under AddressSanitizer +
#              UndefinedBehaviorSanitizer (the netns tests own the C handles);
#   --release  also the three programs (and every library under them) into build-release/ as
#              CMAKE_BUILD_TYPE=Release (-O3), as packagers build the package: warnings that only
#              optimisation shows fail here (the tests are built in build/ and build-asan/);
#   --fuzz     also the libFuzzer harnesses (tests/fuzz) into build-fuzz/ with clang, and only the
#              libraries they parse with (-DOVL_FUZZ=ON); `ctest --test-dir build-fuzz -L fuzz`.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
asan=0
release=0
fuzz=0
for arg in "$@"; do
  case "$arg" in
    --asan) asan=1 ;;
    --release) release=1 ;;
    --fuzz) fuzz=1 ;;
    *) echo "build.sh: unknown option $arg (expected --asan, --release, --fuzz)" >&2; exit 2 ;;
  esac
done
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
if [ "$asan" -eq 1 ]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DOVL_SANITIZE=ON >/dev/null
  cmake --build build-asan -j"$jobs" --target ovl_unit_tests ovl_netns_tests ovl-agent ovlctl ovl-cni
fi
if [ "$release" -eq 1 ]; then
  cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build-release -j"$jobs" --target ovl-agent ovlctl ovl-cni
fi
if [ "$fuzz" -eq 1 ]; then
  cmake -S . -B build-fuzz -DOVL_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build-fuzz -j"$jobs"
fi
