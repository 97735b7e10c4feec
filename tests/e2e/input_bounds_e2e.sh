#!/usr/bin/env bash
# e2e: bounded inputs. ovl-agent in a node namespace, given a cluster file that is /dev/zero, a
# FIFO, a 16 GiB (sparse) file, the 48 KiB alias bomb or a second YAML document, and an
# agent.yaml with a 50 MB node name, exits 2 within seconds with a short message and changes
# nothing in the kernel; ovlctl given the same files answers as fast, its output as short.
# Usage: input_bounds_e2e.sh OVL_AGENT OVLCTL
set -euo pipefail
AGENT=${1:?usage: input_bounds_e2e.sh OVL_AGENT OVLCTL}
OVLCTL=${2:?usage: input_bounds_e2e.sh OVL_AGENT OVLCTL}
source "$(dirname "$0")/lib.sh"

cluster_up 1 0
write_cluster_files "$E2E_DIR" 1
cp "$E2E_DIR/cluster.yaml" "$E2E_DIR/cluster.good"
cp "$E2E_DIR/node1.yaml" "$E2E_DIR/node1.good"
MAX_OUTPUT=2048  # bytes: a few bounded lines

# expect_fast_refusal NAME PATTERN [MAX_MS]: the agent exits 2 within MAX_MS (5 s), its output is
# short and matches PATTERN, and no VTEP or bridge was made; ovlctl status, given the same files,
# is as fast and as short.
expect_fast_refusal() {
  local name=$1 pattern=$2 max_ms=${3:-5000} rc=0 out start ms
  start=$(date +%s%N)
  out=$(node_exec 1 timeout 20 "$AGENT" --config "$E2E_DIR/node1.yaml" 2>&1) || rc=$?
  ms=$((($(date +%s%N) - start) / 1000000))
  printf '%s: exit %s after %s ms, %s bytes: %s\n' "$name" "$rc" "$ms" "${#out}" \
    "$(grep -m1 -E "$pattern" <<<"$out" | cut -c1-200 || true)"
  [[ $rc == 2 ]] || fail "$name: exit code $rc, expected 2; output: ${out:0:2000}"
  ((ms < max_ms)) || fail "$name: took $ms ms, expected under $max_ms ms"
  ((${#out} < MAX_OUTPUT)) || fail "$name: ${#out} bytes of output, expected under $MAX_OUTPUT"
  grep -qE "$pattern" <<<"$out" || fail "$name: output does not match '$pattern': ${out:0:2000}"
  if node_exec 1 ip link show ovl.1 >/dev/null 2>&1 || node_exec 1 ip link show ovlbr0 >/dev/null 2>&1; then
    fail "$name: the agent changed the kernel before refusing"
  fi
  rc=0
  start=$(date +%s%N)
  out=$(node_exec 1 timeout 20 "$OVLCTL" -c "$E2E_DIR/node1.yaml" status 2>&1) || rc=$?
  ms=$((($(date +%s%N) - start) / 1000000))
  ((rc != 0 && rc != 124)) || fail "$name: ovlctl status exit $rc"
  ((ms < max_ms)) || fail "$name: ovlctl status took $ms ms, expected under $max_ms ms"
  ((${#out} < MAX_OUTPUT)) || fail "$name: ovlctl status printed ${#out} bytes"
  rm -f "$E2E_DIR/cluster.yaml"
  cp "$E2E_DIR/cluster.good" "$E2E_DIR/cluster.yaml"
  cp "$E2E_DIR/node1.good" "$E2E_DIR/node1.yaml"
}

rm "$E2E_DIR/cluster.yaml" && ln -s /dev/zero "$E2E_DIR/cluster.yaml"
expect_fast_refusal "clusterFile: /dev/zero" 'cluster\.yaml: cannot read the file: it is a character device; expected a regular file'

rm "$E2E_DIR/cluster.yaml" && mkfifo "$E2E_DIR/cluster.yaml"
expect_fast_refusal "a FIFO" 'cluster\.yaml: cannot read the file: it is a pipe \(FIFO\)'

truncate -s 16G "$E2E_DIR/cluster.yaml"
expect_fast_refusal "a 16 GiB file" 'cluster\.yaml: the file is 17179869184 bytes; expected at most 64 MiB'

# The issue's bomb: a 1,000-endpoint service under an anchor, then `- *s` to 48 KiB.
{
  cat "$E2E_DIR/cluster.good"
  printf 'services:\n  - &s\n    namespace: default\n    name: web\n    clusterIP: 10.96.0.10\n'
  printf '    ports: [{port: 80, protocol: tcp, targetPort: 8080}]\n    endpoints:\n'
  for ((i = 0; i < 1000; i++)); do
    printf '      - {ip: 10.244.%d.%d, port: 8080}\n' $((1 + i / 250)) $((1 + i % 250))
  done
} >"$E2E_DIR/cluster.yaml"
sed -i 's#^network:#network:\n  serviceCIDR: 10.96.0.0/12#' "$E2E_DIR/cluster.yaml"
while (($(stat -c %s "$E2E_DIR/cluster.yaml") < 49152)); do printf '  - *s\n' >>"$E2E_DIR/cluster.yaml"; done
expect_fast_refusal "the alias bomb" 'cluster\.yaml:[0-9]+:[0-9]+: with its aliases expanded the text would hold more than [0-9]+ YAML nodes'

printf -- '---\nnodes: []\n' >>"$E2E_DIR/cluster.yaml"
expect_fast_refusal "a second document" 'cluster\.yaml:[0-9]+:1: a second YAML document starts here'

{
  printf 'nodeName: '
  head -c 50000000 /dev/zero | tr '\0' 'n'
  printf 'X\nclusterFile: cluster.yaml\n'
} >"$E2E_DIR/node1.yaml"
# Read whole (it is under 64 MiB): the parser takes time in proportion to the size (a second
# or so for 50 MB), so the bound here is the message, with a generous time.
expect_fast_refusal "a 50 MB node name" "node1\.yaml:1:[0-9]+: nodeName: invalid node name 'n{64}\.\.\.' \(50000001 bytes\)" 60000

echo "PASS: input bounds"
