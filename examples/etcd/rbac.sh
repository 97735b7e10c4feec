#!/usr/bin/env bash
# rbac.sh: per-node etcd credentials for ovl with etcd's role-based access control (etcd 3.4).
# Run it once against a cluster whose members require client certificates (--client-cert-auth)
# and whose certificates are signed by one CA; each client's user is its certificate's CN.
#
#   ETCDCTL_ENDPOINTS=https://10.0.0.5:2379 ETCDCTL_CACERT=ca.pem \
#   ETCDCTL_CERT=root.pem ETCDCTL_KEY=root-key.pem \
#     examples/etcd/rbac.sh [--prefix /ovl] [--admin ovl-admin] node1=10.244.1.0/24 node2=...
#
# For each NODE=SUBNET it makes the user NODE (certificate CN=NODE, no password) with the role
# ovl-node-NODE, which may
#   - read every key under PREFIX/ (the network settings, the other nodes, the services),
#   - write PREFIX/nodes/NODE (its record), PREFIX/subnets/<SUBNET, "/" as "-"> (its claim: the
#     subnet is pinned here, and agent.yaml's etcd.podSubnet must name the same one) and the
#     keys under PREFIX/endpoints/NODE/ (its registrations),
# and nothing else. The user ADMIN (CN=ADMIN, default ovl-admin, for ovlctl) may read and write
# everything under PREFIX/: services and network settings. The user root (which etcd needs
# before it enables authentication) gets the root role; then authentication is enabled.
# Running it again adds nodes (existing users and roles are kept; "already exists" is no error).
set -euo pipefail

prefix=/ovl
admin=ovl-admin
nodes=()
while (($#)); do
  case $1 in
    --prefix) prefix=${2:?--prefix needs a value}; shift 2 ;;
    --admin) admin=${2:?--admin needs a value}; shift 2 ;;
    -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
    *=*) nodes+=("$1"); shift ;;
    *) echo "rbac.sh: expected NODE=SUBNET (such as node1=10.244.1.0/24), got '$1'" >&2; exit 2 ;;
  esac
done
[[ $prefix == /* && $prefix != */ ]] || { echo "rbac.sh: --prefix '$prefix': expected /name, not ending with /" >&2; exit 2; }

ctl() { ETCDCTL_API=3 etcdctl "$@"; }
# Runs etcdctl; an "already exists" / "already granted" answer is fine (a second run).
ensure() {
  local out
  if ! out=$(ctl "$@" 2>&1); then
    [[ $out == *"already exists"* || $out == *"already granted"* ]] || { echo "$out" >&2; return 1; }
  fi
}

ensure user add root --no-password
ensure user grant-role root root

ensure role add ovl-admin
ensure role grant-permission ovl-admin readwrite --prefix "$prefix/"
ensure user add "$admin" --no-password
ensure user grant-role "$admin" ovl-admin

for entry in "${nodes[@]}"; do
  node=${entry%%=*} subnet=${entry#*=}
  [[ $node =~ ^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$ ]] || { echo "rbac.sh: node name '$node': expected a DNS name" >&2; exit 2; }
  [[ $subnet =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+/[0-9]+$ ]] || { echo "rbac.sh: $node: subnet '$subnet': expected a CIDR such as 10.244.1.0/24" >&2; exit 2; }
  role=ovl-node-$node
  ensure role add "$role"
  ensure role grant-permission "$role" read --prefix "$prefix/"
  ensure role grant-permission "$role" readwrite "$prefix/nodes/$node"
  ensure role grant-permission "$role" readwrite "$prefix/subnets/${subnet/\//-}"
  ensure role grant-permission "$role" readwrite --prefix "$prefix/endpoints/$node/"
  ensure user add "$node" --no-password
  ensure user grant-role "$node" "$role"
  echo "node $node: may write $prefix/nodes/$node, $prefix/subnets/${subnet/\//-}, $prefix/endpoints/$node/"
done

ensure auth enable
echo "authentication enabled; $admin writes services and settings"
