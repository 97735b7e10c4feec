#!/usr/bin/env bash
# e2e: the etcd datastore over mutual TLS. The test makes a CA and certificates with openssl,
# starts one etcd member that requires client certificates signed by that CA, and checks:
#   1. an agent with a valid client certificate registers and is ready; ovlctl reaches etcd
#      with the same agent.yaml;
#   2. an agent with a certificate from another CA, and one without a client certificate, are
#      refused: each exits (code 2) within seconds with a message saying the TLS handshake
#      failed and what to check, instead of hanging;
#   3. etcdctl with the rogue certificate is refused too (the server enforces it, not only ovl).
# Usage: etcd_tls_e2e.sh OVL_AGENT OVLCTL
set -euo pipefail
AGENT=${1:?usage: etcd_tls_e2e.sh OVL_AGENT OVLCTL}
OVLCTL=${2:?usage: etcd_tls_e2e.sh OVL_AGENT OVLCTL}
source "$(dirname "$0")/lib.sh"
source "$OVL_ROOT/examples/demo/etcd-cluster.sh"
step() { printf '\n== %s\n' "$*"; }

cluster_up 2 0
make_etcd_certs "$E2E_DIR/pki"
etcd_up 1 "$E2E_DIR/etcd" "$E2E_DIR/pki"
etcd_ctl put /ovl/config '{podCIDR: 10.244.0.0/16, serviceCIDR: 10.96.0.0/12}' >/dev/null
write_etcd_agent_files "$E2E_DIR" 2 4
grep -A4 '^etcd:' "$E2E_DIR/node1.yaml" | sed 's/^/  node1.yaml: /'

step "1. a valid client certificate: registered and ready"
agent_start 1 "$E2E_DIR" "$AGENT"
agent_wait_ready 1 20
[[ $(etcd_ctl get /ovl/nodes/node1 --print-value-only) == *'"podSubnet":"10.244.1.0/24"'* ]] ||
  fail "node1 did not register over TLS"
ul_exec "$OVLCTL" node list --config "$E2E_DIR/node1.yaml" | tee "$E2E_DIR/nodes.out"
grep -qE '^node1 +10.244.1.0/24 +192.168.50.1 ' "$E2E_DIR/nodes.out" || fail "ovlctl over TLS"

step "2. a certificate from another CA, and none at all: refused at once with a clear message"
# refused NAME: agent 2 exits with code 2 within 15 s and says why.
refused() {
  local name=$1 rc=0 out start
  start=$(_ovl_now_ms)
  out=$(node_exec 2 timeout 30 "$AGENT" --config "$E2E_DIR/node2.yaml" 2>&1) || rc=$?
  printf '%s: exit %s after %s ms: %s\n' "$name" "$rc" "$(($(_ovl_now_ms) - start))" "$(tail -n1 <<<"$out")"
  [[ $rc == 2 ]] || fail "$name: exit code $rc, expected 2: $out"
  (($(_ovl_now_ms) - start < 15000)) || fail "$name: took more than 15 s to give up"
  grep -q 'the TLS handshake failed: check caFile, certFile and keyFile' <<<"$out" ||
    fail "$name: the message does not say the TLS handshake failed: $out"
}
sed -i "s#certFile: .*#certFile: $E2E_DIR/pki/rogue.pem#; s#keyFile: .*#keyFile: $E2E_DIR/pki/rogue-key.pem#" "$E2E_DIR/node2.yaml"
refused "client certificate from another CA"
sed -i '/certFile:/d; /keyFile:/d' "$E2E_DIR/node2.yaml"
refused "no client certificate"
[[ -z $(etcd_ctl get /ovl/nodes/node2) ]] || fail "a refused agent registered anyway"

step "3. the server refuses etcdctl with the rogue certificate too"
if ETCDCTL_API=3 ul_exec etcdctl --endpoints "https://$(etcd_endpoints)" --dial-timeout 3s \
  --cacert "$E2E_DIR/pki/ca.pem" --cert "$E2E_DIR/pki/rogue.pem" --key "$E2E_DIR/pki/rogue-key.pem" \
  get /ovl/config >/dev/null 2>&1; then
  fail "etcd accepted a client certificate from another CA"
fi
echo "etcdctl with the rogue certificate: refused"
echo "PASS"
