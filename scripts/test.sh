#!/usr/bin/env bash
# The whole test suite: installs what it needs, checks formatting and the layout (which folder
# may include which), builds (also as Release, as packagers do), runs the unit tests and netns
# tests under ASan+UBSan, then every test (unit, netns, e2e) on the normal build, then the fuzz
# harnesses (label fuzz: each for OVL_FUZZ_SECONDS, 60 by default, two at a time). Needs root: the
# netns and e2e tests create network namespaces (and delete them, also when they fail).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/check-format.sh
scripts/check-layout.sh
scripts/build.sh --asan --release --fuzz
echo "== unit and netns tests under ASan+UBSan (leaks included)"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan -L 'unit|netns' --output-on-failure -j"$(nproc)"
echo "== unit, netns and e2e tests"
ctest --test-dir build -LE bench --output-on-failure -j"$(nproc)"
echo "== fuzz harnesses, ${OVL_FUZZ_SECONDS:-60} s each, and their regression inputs"
ctest --test-dir build-fuzz -L fuzz --output-on-failure -j2
