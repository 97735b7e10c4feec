#!/usr/bin/env bash
# e2e: ovl-cni through a real container runtime. A 2-node cluster; in each node's network
# namespace a containerd (Debian's, with runc) of its own: own root, state, socket, in a private
# mount namespace where /run is a tmpfs and /etc/cni/net.d and /opt/cni/bin are tmpfs mounts
# (over an overlay of /etc and /opt, so nothing is created on the host) holding the conflist
# (ovl-cni chained with Debian's portmap) and ovl-cni. `ctr run --cni` starts containers from
# an image this test assembles from busybox-static. Checks:
#   1. each container gets an address of its node's subnet, the overlay MTU, and a default
#      route; containers on different nodes reach each other across the overlay;
#   2. the container started with the service label (OVL_SERVICE=default/web, which ctr passes
#      on to its CNI plugins) becomes an endpoint of default/web on both nodes; a container on
#      the other node reaches it through the ClusterIP, and it reaches itself (hairpin);
#   3. stopping it (ctr task kill; ctr run --rm runs CNI DEL) removes the endpoint from every
#      node's NAT table and frees its address in the IPAM store.
# Usage: cni_containerd_e2e.sh OVL_AGENT OVL_TCPPROBE OVL_CNI
set -euo pipefail
AGENT=${1:?usage: cni_containerd_e2e.sh OVL_AGENT OVL_TCPPROBE OVL_CNI}
PROBE=${2:?usage: cni_containerd_e2e.sh OVL_AGENT OVL_TCPPROBE OVL_CNI}
CNI=${3:?usage: cni_containerd_e2e.sh OVL_AGENT OVL_TCPPROBE OVL_CNI}
: "$PROBE"
source "$(dirname "$0")/lib.sh"
step() { printf '\n== %s\n' "$*"; }

for tool in containerd containerd-shim-runc-v2 ctr runc nsenter unshare; do
  command -v "$tool" >/dev/null || fail "$tool is missing (scripts/install-deps.sh installs it)"
done
[[ -x /bin/busybox && -x /usr/lib/cni/portmap ]] ||
  fail "busybox-static or containernetworking-plugins missing (scripts/install-deps.sh)"

IMAGE=docker.io/library/ovl-busybox:e2e
CLUSTER_IP=10.96.0.10
declare -A CTD_PID=()  # node -> containerd's pid
declare -A RUN_PID=()  # container -> pid of its foreground `ctr run --rm`

# An OCI image archive (oci-layout, index.json, blobs/sha256) of busybox-static, by hand.
build_image() {
  local out=$1 w=$E2E_DIR/image a ld ls cd cs md ms
  mkdir -p "$w/rootfs/bin" "$w/rootfs/tmp" "$w/rootfs/proc" "$w/rootfs/sys" "$w/rootfs/dev" \
    "$w/rootfs/etc" "$w/blobs/sha256"
  cp /bin/busybox "$w/rootfs/bin/busybox"
  for a in sh ip nc httpd sleep cat echo mkdir; do ln -s busybox "$w/rootfs/bin/$a"; done
  tar -C "$w/rootfs" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$w/layer" .
  ld=$(sha256sum "$w/layer" | cut -d' ' -f1) ls=$(stat -c %s "$w/layer")
  mv "$w/layer" "$w/blobs/sha256/$ld"
  printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$ld" >"$w/config"
  cd=$(sha256sum "$w/config" | cut -d' ' -f1) cs=$(stat -c %s "$w/config")
  mv "$w/config" "$w/blobs/sha256/$cd"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$cd" "$cs" "$ld" "$ls" >"$w/manifest"
  md=$(sha256sum "$w/manifest" | cut -d' ' -f1) ms=$(stat -c %s "$w/manifest")
  mv "$w/manifest" "$w/blobs/sha256/$md"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
    "$md" "$ms" "$IMAGE" >"$w/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$w/oci-layout"
  tar -C "$w" -cf "$out" oci-layout index.json blobs
}

# ctd_start I: containerd for node I (see the header).
ctd_start() {
  local i=$1 d=$E2E_DIR/ctd$1
  mkdir -p "$d"
  cat >"$d/config.toml" <<EOT
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$d/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/opt"
EOT
  # examples/cni/10-ovl.conflist with this node's paths.
  sed -e "s|/run/ovl/node.json|$E2E_DIR/state-node$i/node.json|" \
    -e "s|/var/lib/cni/ovl|$d/ipam|" "$OVL_ROOT/examples/cni/10-ovl.conflist" >"$d/10-ovl.conflist"
  # shellcheck disable=SC2016 # expanded by the inner bash
  nsenter --net="/run/netns/$(node_ns "$i")" unshare -m --propagation private bash -c '
    set -e
    d=$1 cni=$2
    mount -t tmpfs tmpfs /run
    mkdir -p "$d/ov"
    mount -t tmpfs tmpfs "$d/ov"
    for top in etc opt; do
      mkdir "$d/ov/$top-upper" "$d/ov/$top-work"
      mount -t overlay overlay -o "lowerdir=/$top,upperdir=$d/ov/$top-upper,workdir=$d/ov/$top-work" "/$top"
    done
    mkdir -p /etc/cni/net.d /opt/cni/bin
    mount -t tmpfs tmpfs /etc/cni/net.d
    mount -t tmpfs tmpfs /opt/cni/bin
    cp "$d/10-ovl.conflist" /etc/cni/net.d/
    cp "$cni" /opt/cni/bin/ovl-cni
    exec containerd --config "$d/config.toml"' _ "$d" "$CNI" </dev/null >"$d/containerd.log" 2>&1 &
  CTD_PID[$i]=$!
  wait_until 10 ctr_ "$i" version >/dev/null || fail "containerd of node $i did not start"
}

ctr_() {
  local i=$1
  shift
  nsenter -t "${CTD_PID[$i]}" -m -n ctr -a "$E2E_DIR/ctd$i/containerd.sock" -n "$RUN" "$@"
}

# run_container I NAME [SERVICE]: `ctr run --rm --cni` in the background, serving its name over
# HTTP on :8080 (busybox httpd).
run_container() {
  local i=$1 name=$2 service=${3:-}
  local -a envs=()
  [[ -n $service ]] && envs=(env "OVL_SERVICE=$service")
  # shellcheck disable=SC2016 # expanded inside the container
  "${envs[@]}" nsenter -t "${CTD_PID[$i]}" -m -n ctr -a "$E2E_DIR/ctd$i/containerd.sock" -n "$RUN" \
    run --rm --cni "$IMAGE" "$name" /bin/sh -c \
    'mkdir -p /tmp/www && echo "$0" >/tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www' \
    "$name" </dev/null >"$E2E_DIR/run-$name.log" 2>&1 &
  RUN_PID[$name]=$!
  CONTAINER_NODE[$name]=$i
}
declare -A CONTAINER_NODE=()

cexec() { # cexec NAME CMD...: runs CMD in container NAME
  local name=$1
  shift
  ctr_ "${CONTAINER_NODE[$name]}" task exec --exec-id "x$RANDOM$RANDOM" "$name" "$@"
}
container_ip() {
  cexec "$1" ip -o -4 addr show dev eth0 | awk '{print $4}' | cut -d/ -f1
}
# http_get NAME IP PORT: the body of GET / from inside container NAME (busybox nc: busybox-static's
# wget crashes in getaddrinfo, even for an address). Fails when nothing answered.
http_get() {
  local out
  # shellcheck disable=SC2016 # expanded inside the container
  out=$(cexec "$1" sh -c 'printf "GET / HTTP/1.0\r\n\r\n" | nc -w 2 "$0" "$1"' "$2" "$3" |
    tr -d '\r' | sed '1,/^$/d')
  [[ -n $out ]] && printf '%s\n' "$out"
}

stop_runtime() {
  local i name pid
  for name in "${!RUN_PID[@]}"; do
    ctr_ "${CONTAINER_NODE[$name]}" task kill -s KILL "$name" >/dev/null 2>&1 || true
  done
  for name in "${!RUN_PID[@]}"; do
    pid=${RUN_PID[$name]}
    for ((t = 0; t < 50; t++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  for i in "${!CTD_PID[@]}"; do
    kill "${CTD_PID[$i]}" 2>/dev/null || true
    wait "${CTD_PID[$i]}" 2>/dev/null || true
  done
  # runc made the containers' cgroups under /<containerd namespace>, which is this run's name;
  # the containers' own are gone with them, their parent is removed here.
  for d in /sys/fs/cgroup/*/"$RUN" /sys/fs/cgroup/"$RUN"; do
    [[ -d $d ]] && rmdir "$d" 2>/dev/null
  done
  return 0
}
trap 'stop_runtime; _e2e_cleanup' EXIT

step "cluster of 2 nodes; service default/web ($CLUSTER_IP:80 -> :8080) without endpoints"
cluster_up 2 0
write_cluster_files "$E2E_DIR" 2
{
  printf 'network:\n  podCIDR: 10.244.0.0/16\n  subnetLength: 24\n  serviceCIDR: 10.96.0.0/12\n'
  printf 'nodes:\n'
  for i in 1 2; do
    printf '  - {name: node%s, underlayIP: 192.168.50.%s, podSubnet: 10.244.%s.0/24}\n' "$i" "$i" "$i"
  done
  printf 'services:\n  - namespace: default\n    name: web\n    clusterIP: %s\n' "$CLUSTER_IP"
  printf '    ports: [{port: 80, targetPort: 8080}]\n'
} >"$E2E_DIR/cluster.yaml"
for i in 1 2; do
  # One endpoints directory for both nodes: with the file datastore, a shared directory is
  # what makes a registration cluster-wide (README, "ovl-cni").
  printf 'endpointsDir: %s/endpoints\n' "$E2E_DIR" >>"$E2E_DIR/node$i.yaml"
  agent_start "$i" "$E2E_DIR" "$AGENT"
done
for i in 1 2; do agent_wait_ready "$i" 20; done
for i in 1 2; do
  wait_until 5 test -s "$E2E_DIR/state-node$i/node.json" >/dev/null ||
    fail "agent $i wrote no node.json"
done
cat "$E2E_DIR/state-node1/node.json"

step "containerd + runc in each node's namespace; image from busybox-static"
build_image "$E2E_DIR/busybox.tar"
for i in 1 2; do
  ctd_start "$i"
  ctr_ "$i" image import "$E2E_DIR/busybox.tar" >/dev/null
done
ctr_ 1 version | sed -n '/Server/,$p'

step "ctr run --cni: web (label OVL_SERVICE=default/web) on node 1, client on node 2"
run_container 1 web default/web
run_container 2 client
for name in web client; do
  wait_until 20 container_ip "$name" >/dev/null || {
    cat "$E2E_DIR/run-$name.log" >&2
    fail "container $name did not come up with an address"
  }
done
WEB_IP=$(container_ip web)
CLIENT_IP=$(container_ip client)
echo "web: $WEB_IP (node 1), client: $CLIENT_IP (node 2)"
[[ $WEB_IP == 10.244.1.* ]] || fail "web got $WEB_IP, not an address of node 1's subnet"
[[ $CLIENT_IP == 10.244.2.* ]] || fail "client got $CLIENT_IP, not an address of node 2's subnet"
cexec web ip -o link show dev eth0 | grep -q 'mtu 1450' || fail "web's eth0 does not have MTU 1450"
cexec web ip route | grep -q '^default via 10.244.1.1 dev eth0' || fail "web has no default route"
node_exec 1 bridge -d link show master ovlbr0 | grep -q 'hairpin on' ||
  fail "web's bridge port is not in hairpin mode"

step "across the overlay: client (node 2) <-> web (node 1) by pod address"
wait_until 10 http_get client "$WEB_IP" 8080 >/dev/null || fail "client cannot reach web"
printf 'client -> %s:8080 : %s\n' "$WEB_IP" "$(http_get client "$WEB_IP" 8080)"
[[ $(http_get web "$CLIENT_IP" 8080) == client ]] || fail "web cannot reach client"
printf 'web    -> %s:8080 : %s\n' "$CLIENT_IP" "$(http_get web "$CLIENT_IP" 8080)"

step "web is an endpoint of default/web on both nodes"
cat "$E2E_DIR/endpoints/$RUN-web@eth0.json"
for i in 1 2; do
  wait_until 5 bash -c "ip netns exec $(node_ns "$i") nft list map ip ovl endpoints | grep -q '$WEB_IP . 8080'" ||
    fail "node $i's NAT does not list $WEB_IP:8080 as an endpoint"
done
out=$(http_get client "$CLUSTER_IP" 80) || fail "client cannot reach the ClusterIP"
printf 'client (node 2) -> %s:80 (ClusterIP of default/web) : %s\n' "$CLUSTER_IP" "$out"
[[ $out == web ]] || fail "the ClusterIP answered '$out', expected web"
out=$(http_get web "$CLUSTER_IP" 80) || fail "web cannot reach itself through the ClusterIP"
printf 'web (node 1) -> %s:80, itself (hairpin) : %s\n' "$CLUSTER_IP" "$out"
[[ $out == web ]] || fail "hairpin through the ClusterIP answered '$out'"
for i in 1 2; do # the agents saw the ADD's registration appear (the directory is shared)
  v=$(agent_metric "$i" 'ovl_cni_registrations_total{operation="add"}')
  [[ $v == 1 ]] || fail "node $i's /metrics: ovl_cni_registrations_total{operation=\"add\"} is '$v', expected 1"
done

step "stop web: CNI DEL removes the endpoint and frees the address"
grep -q "\"$WEB_IP\": {" "$E2E_DIR/ctd1/ipam/ovl/allocations.json" || fail "$WEB_IP not in the IPAM store"
ctr_ 1 task kill -s KILL web
# ctr run --rm sees its task end, runs CNI DEL through the chain (portmap, then ovl-cni) and
# removes the container.
wait_until 10 bash -c "! kill -0 ${RUN_PID[web]} 2>/dev/null" >/dev/null || fail "ctr run of web did not end"
wait "${RUN_PID[web]}" || true
unset 'RUN_PID[web]'
[[ ! -e $E2E_DIR/endpoints/$RUN-web@eth0.json ]] || fail "web's endpoint registration is still there"
for i in 1 2; do
  wait_until 5 bash -c "! ip netns exec $(node_ns "$i") nft list map ip ovl endpoints | grep -q '$WEB_IP . 8080'" ||
    fail "node $i's NAT still lists $WEB_IP"
done
! grep -q "\"$WEB_IP\": {" "$E2E_DIR/ctd1/ipam/ovl/allocations.json" || fail "$WEB_IP is still allocated"
v=$(agent_metric 1 'ovl_cni_registrations_total{operation="del"}')
[[ $v == 1 ]] || fail "node 1's /metrics: ovl_cni_registrations_total{operation=\"del\"} is '$v', expected 1"
echo "node 1's /metrics: ovl-cni ADD 1, DEL 1"
if out=$(http_get client "$CLUSTER_IP" 80 2>&1); then
  fail "the ClusterIP still answered after its only endpoint stopped: $out"
fi
echo "ClusterIP without endpoints refuses: ${out:-(no answer)}"
if [[ -n $(node_exec 1 ip -o link show master ovlbr0) ]]; then
  fail "a port is left on node 1's bridge: $(node_exec 1 ip -o link show master ovlbr0)"
fi
echo "PASS"
