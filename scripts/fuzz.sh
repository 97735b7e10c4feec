#!/usr/bin/env bash
# Fuzzes one harness of tests/fuzz for longer than the test command's minute:
#   scripts/fuzz.sh NAME [SECONDS]     (NAME: cluster_yaml agent_yaml etcd_docs cni netlink
#                                       nftables; SECONDS: 600 by default)
# Builds build-fuzz/ when needed, starts from a copy of tests/fuzz/corpus/NAME (the committed
# corpus does not grow; the grown one stays in build-fuzz/tests/fuzz/work/NAME/corpus), and on a
# crash names the reproducer to keep in tests/fuzz/regressions/NAME/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ] || [ ! -d "tests/fuzz/corpus/$1" ]; then
  echo "usage: scripts/fuzz.sh NAME [SECONDS]; NAME one of: $(ls tests/fuzz/corpus | grep -v '\.' | tr '\n' ' ')" >&2
  exit 2
fi
name=$1
seconds=${2:-600}
cmake -S . -B build-fuzz -DOVL_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${name}_fuzz"
max_len=$(sed -nE "s/^ovl_fuzzer\\($name ([0-9]+) .*/\\1/p" tests/fuzz/CMakeLists.txt)
OVL_FUZZ_SECONDS=$seconds tests/fuzz/run.sh fuzz "build-fuzz/tests/fuzz/${name}_fuzz" \
  tests/fuzz "$name" build-fuzz/tests/fuzz/work "$max_len"
