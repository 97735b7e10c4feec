#!/usr/bin/env bash
# Installs everything ovl needs to build, test and run its demo, from Debian 12's packages.
# Idempotent: when every package is present it does nothing (no network access).
set -euo pipefail

packages=(
  # build
  g++ cmake make pkg-config clang-format
  # libraries (see shared DESIGN.md): netlink, nftables, conntrack, config, CLI, logging,
  # systemd
  libnl-3-dev libnl-route-3-dev libmnl-dev libnftnl-dev libnetfilter-conntrack-dev
  # reading iptables-legacy rules (ovlctl diagnose), which nftables cannot see
  libip4tc-dev
  libabsl-dev
  libyaml-cpp-dev libfmt-dev
  # reading YAML (model/yaml_tree.cpp): libyaml's event parser
  libyaml-dev
  libspdlog-dev libcli11-dev nlohmann-json3-dev libsystemd-dev
  libgtest-dev libgmock-dev
  # etcd datastore: gRPC + protobuf (the client is generated from etcd/proto/etcd.proto)
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  # independent witnesses and peers for tests and benchmarks
  iproute2 nftables iptables procps conntrack ethtool jq
  # pod-to-pod TCP throughput (bench/overlay_throughput.sh)
  iperf3
  # ovl-cni's tests: chained after it (portmap), and a real runtime with an image built from
  # busybox-static
  containernetworking-plugins containerd runc busybox-static
  # validates `ovlctl diagnose -o json` against its documented schema (docs/diagnose-json.schema.json)
  python3-jsonschema
  # etcd for the etcd datastore's tests and demo (the tests start and stop it themselves), and
  # openssl to make their CA and certificates
  etcd-server etcd-client openssl
  # the Debian package (scripts/package.sh, tests/e2e/package_e2e.sh): dpkg-shlibdeps computes
  # its Depends, lintian checks it, man-db and groff-base check that the man pages render
  dpkg-dev lintian man-db groff-base
  # the systemd unit under a real systemd (tests/e2e/systemd_e2e.sh): a Debian root made with
  # mmdebstrap, booted with systemd-nspawn
  mmdebstrap systemd-container
  # the agent's /metrics (prometheus-cpp's core: registry and text format), and a real
  # Prometheus server that scrapes it in tests/e2e/metrics_e2e.sh, which queries it with curl
  prometheus-cpp-dev prometheus curl
  # crafted VXLAN from a stranger on the underlay (tests/e2e/vxlan_allow_e2e.sh)
  python3-scapy
  # the fuzz harnesses (tests/fuzz): clang with libFuzzer and the sanitizers' runtimes
  clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run as root to install them" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
