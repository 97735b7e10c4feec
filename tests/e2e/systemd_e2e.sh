#!/usr/bin/env bash
# e2e: the packaged unit (examples/systemd/ovl-agent.service) under a real systemd, booted as
# PID 1 of a container (systemd-nspawn -b, its own network namespace) with a Debian 12 root made
# by mmdebstrap from Debian's packages, and the .deb of this build tree installed in it:
#   1. `systemd-analyze verify` of the installed unit is clean;
#   2. the unit starts and reaches READY (Type=notify), its status line says converged, the
#      kernel has the service; the sandbox lets the agent fix strict rp_filter (a sysctl write
#      under ProtectKernelTunables=);
#   3. `systemctl restart` keeps /run/ovl/node.json and an endpoint registration (written as
#      ovl-cni writes it), and the registered endpoint stays in the service;
#   4. `systemctl reload` (SIGHUP) re-reads the cluster file: a new service reaches nftables;
#   5. a hung agent (SIGSTOP from outside: a test-only fault) is killed by the watchdog and
#      restarted: NRestarts goes up, the journal says why, the state is still there;
#   6. `systemd-analyze security` in the container rates the unit 3.0 or lower;
#   7. a start-up longer than TimeoutStartSec= (100,000 services, 1 s in a drop-in) reaches READY:
#      the agent extends the timeout (EXTEND_TIMEOUT_USEC=) at each step of progress;
#   8. the etcd datastore (Debian's etcd in the container): gRPC works under the system-call
#      filter and address families, the node registers, the lease file survives a restart.
# The root is cached in BUILD_DIR/systemd-e2e-root/<hash of suite and package list> (about 300
# MB; building it takes 1-2 minutes with a fast mirror); each run boots a copy, removed on exit
# with the container and its network namespace.
# Needs root (else exit 77), mmdebstrap and systemd-nspawn (scripts/install-deps.sh), a mirror
# (the host's apt sources) for the first run, and a host whose kernel lets systemd-nspawn boot
# systemd (checked: the test fails, saying what refused).
# Usage: systemd_e2e.sh BUILD_DIR
set -euo pipefail
BUILD=${1:?usage: systemd_e2e.sh BUILD_DIR}
source "$(dirname "$0")/lib.sh"
step() { printf '\n== %s [%ss]\n' "$*" "$SECONDS"; }

for tool in cpack dpkg-deb mmdebstrap systemd-nspawn nsenter sha256sum; do
  command -v "$tool" >/dev/null || fail "$tool is missing (scripts/install-deps.sh installs it)"
done

MACHINE="ovl-sys-$$"
NSPAWN_PID=""
LEADER=""
container_down() {
  [[ -n $NSPAWN_PID ]] || return 0
  if kill -0 "$NSPAWN_PID" 2>/dev/null; then
    # SIGTERM makes systemd-nspawn ask the container's systemd to power off; then SIGKILL.
    kill -TERM "$NSPAWN_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$NSPAWN_PID" 2>/dev/null || break
      e2e_sleep 0.2
    done
    kill -KILL "$NSPAWN_PID" 2>/dev/null || true
  fi
  wait "$NSPAWN_PID" 2>/dev/null || true
  if [[ -n $LEADER ]] && kill -0 "$LEADER" 2>/dev/null; then
    kill -KILL "$LEADER" 2>/dev/null || true
  fi
  NSPAWN_PID=""
}
_systemd_e2e_cleanup() {
  local rc=$?
  # errexit off: `(exit "$rc")` below must hand rc to lib.sh's clean-up, not end the shell.
  set +e
  if ((rc != 0)) && [[ -n $LEADER ]] && kill -0 "$LEADER" 2>/dev/null; then
    echo "--- the agent's journal in the container" >&2
    nsenter -t "$LEADER" -a journalctl -u ovl-agent --no-pager -n 60 >&2 || true
  fi
  container_down
  (exit "$rc")
  _e2e_cleanup
}
trap _systemd_e2e_cleanup EXIT

step "1. the .deb from $BUILD"
cpack -G DEB --config "$BUILD/CPackConfig.cmake" -B "$E2E_DIR/pkg" >"$E2E_DIR/cpack.log" 2>&1 ||
  { cat "$E2E_DIR/cpack.log" >&2; fail "cpack failed"; }
debs=("$E2E_DIR"/pkg/ovl_*.deb)
[[ ${#debs[@]} == 1 && -f ${debs[0]} ]] || fail "cpack made no single ovl_*.deb: ${debs[*]}"
DEB=${debs[0]}
rm -rf "$E2E_DIR/pkg/_CPack_Packages"

step "2. the Debian 12 root (systemd, the .deb's Depends, man for verify, etcd, the tools the test reads with)"
# The Depends without versions (the root is Debian 12's, like this host) and alternatives.
depends=$(dpkg-deb --field "$DEB" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/ //g' | sort -u)
packages=$(printf "%s\n" systemd systemd-sysv dbus iproute2 nftables procps man-db etcd-server \
  etcd-client $depends | sort -u)
key=$(printf 'bookworm minbase\n%s\n' "$packages" | sha256sum | cut -c1-16)
CACHE="$BUILD/systemd-e2e-root/$key"
if [[ ! -d $CACHE/root ]]; then
  rm -rf "$CACHE.tmp"
  mkdir -p "$CACHE.tmp"
  t0=$SECONDS
  mmdebstrap --variant=minbase --include="$(paste -sd, <<<"$packages")" bookworm \
    "$CACHE.tmp/root" >"$E2E_DIR/mmdebstrap.log" 2>&1 ||
    { tail -n 30 "$E2E_DIR/mmdebstrap.log" >&2; fail "mmdebstrap could not build the root"; }
  printf '%s\n' "$packages" >"$CACHE.tmp/packages"
  rm -rf "$CACHE"
  mv "$CACHE.tmp" "$CACHE"
  # Roots of other package lists are stale (300 MB each): only the current one is kept.
  find "$BUILD/systemd-e2e-root" -mindepth 1 -maxdepth 1 ! -name "$key" -exec rm -rf {} +
  echo "built $CACHE in $((SECONDS - t0)) s"
else
  echo "cached: $CACHE"
fi
ROOT="$E2E_DIR/root"
cp -a --reflink=auto "$CACHE/root" "$ROOT"
echo "$MACHINE" >"$ROOT/etc/hostname"
# Nothing in the container needs a login prompt on its console.
ln -sf /dev/null "$ROOT/etc/systemd/system/console-getty.service"
# Debian's etcd unit is masked: step 11 starts a member of its own, only when it needs one.
ln -sf /dev/null "$ROOT/etc/systemd/system/etcd.service"

step "3. boot it: systemd as PID 1 of the container, its own network namespace"
# --register=no and --keep-unit: this host's PID 1 is not systemd (no machined, no bus to ask
# for a scope). No --as-pid2: systemd itself must be PID 1.
systemd-nspawn --quiet -D "$ROOT" -M "$MACHINE" -b --register=no --keep-unit --private-network \
  --console=pipe --bind-ro="$E2E_DIR/pkg:/mnt/ovl-pkg" </dev/null >"$E2E_DIR/console.log" 2>&1 &
NSPAWN_PID=$!
for _ in $(seq 1 100); do
  LEADER=$(ps -o pid= --ppid "$NSPAWN_PID" | tr -d " " | head -n 1) || true
  [[ -n $LEADER ]] && [[ $(cat "/proc/$LEADER/comm" 2>/dev/null) == systemd ]] && break
  kill -0 "$NSPAWN_PID" 2>/dev/null ||
    { cat "$E2E_DIR/console.log" >&2; fail "systemd-nspawn exited: it could not boot the root"; }
  LEADER=""
  e2e_sleep 0.1
done
[[ -n $LEADER ]] || { cat "$E2E_DIR/console.log" >&2; fail "no systemd in the container"; }
ct() { nsenter -t "$LEADER" -a -- "$@"; }
[[ $(ct cat /proc/1/comm) == systemd ]] || fail "PID 1 of the container is not systemd"
# Until systemd has made its private socket, systemctl cannot connect: poll, then wait.
state=""
for _ in $(seq 1 300); do
  state=$(ct timeout 60 systemctl is-system-running --wait 2>&1) || true
  [[ $state == *"connect to bus"* ]] || break
  e2e_sleep 0.2
done
echo "container $MACHINE (leader pid $LEADER on the host): $state"
[[ $state == running || $state == degraded ]] ||
  { cat "$E2E_DIR/console.log" >&2; fail "the container's systemd did not finish booting: $state"; }
[[ $state == running ]] || ct systemctl --failed --no-pager

step "4. install the .deb; configuration for one node; verify"
ct dpkg -i "/mnt/ovl-pkg/${DEB##*/}" >"$E2E_DIR/dpkg.log" 2>&1 ||
  { cat "$E2E_DIR/dpkg.log" >&2; fail "dpkg -i of the package failed in the container"; }
# The underlay: a veth pair inside the container's own network namespace (this kernel has no
# dummy links), with strict rp_filter everywhere (the agent, rpFilter: fix, must be able to
# correct its interfaces).
ct ip link add ul0 type veth peer name ul0p
ct ip addr add 192.168.77.1/24 dev ul0
ct ip link set ul0p up
ct ip link set ul0 up
ct sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.default.rp_filter=1
ct tee /etc/ovl/agent.yaml >/dev/null <<'EOF'
nodeName: node1
datastore: file
clusterFile: /etc/ovl/cluster.yaml
bridgeName: ovlbr0
healthAddress: 127.0.0.1:9765
stateDir: /run/ovl
resyncSeconds: 300
logLevel: info
rpFilter: fix
EOF
cluster() {
  cat <<'EOF'
network:
  podCIDR: 10.244.0.0/16
  serviceCIDR: 10.96.0.0/12
  vni: 1
  # No masquerade: a client on node2's host reaches web's endpoint on this node from node2's
  # underlay address, through ovl.1, which strict rp_filter drops (a finding the agent fixes).
  masquerade: none
nodes:
  - name: node1
    underlayIP: 192.168.77.1
    podSubnet: 10.244.1.0/24
  - name: node2
    underlayIP: 192.168.77.2
    podSubnet: 10.244.2.0/24
services:
  - namespace: default
    name: web
    clusterIP: 10.96.0.10
    ports: [{name: http, port: 80, targetPort: 8080}]
    endpoints: [{ip: 10.244.1.11, node: node1}, {ip: 10.244.2.11, node: node2}]
EOF
  if [[ ${1:-} == with-api ]]; then
    cat <<'EOF'
  - namespace: default
    name: api
    clusterIP: 10.96.0.20
    ports: [{name: http, port: 443, targetPort: 8443}]
    endpoints: [{ip: 10.244.2.12, node: node2}]
EOF
  fi
}
cluster | ct tee /etc/ovl/cluster.yaml >/dev/null
UNIT=/lib/systemd/system/ovl-agent.service
ct systemctl daemon-reload
ct systemd-analyze verify "$UNIT" >"$E2E_DIR/verify.log" 2>&1 ||
  { cat "$E2E_DIR/verify.log" >&2; fail "systemd-analyze verify failed on the installed unit"; }
[[ ! -s $E2E_DIR/verify.log ]] ||
  { cat "$E2E_DIR/verify.log" >&2; fail "systemd-analyze verify is not clean"; }
echo "systemd-analyze verify $UNIT: clean"

show() { ct systemctl show -P "$1" ovl-agent.service; }
# Whether the kernel's table ip ovl holds TEXT (read whole first: grep -q would close the pipe).
nft_has() {
  local table
  table=$(ct nft list table ip ovl) || return 1
  grep -qF -- "$1" <<<"$table"
}
# Whether the agent's journal (its lines and systemd's about the unit) holds TEXT.
journal_has() {
  local log
  log=$(ct journalctl -u ovl-agent.service --no-pager -o cat) || return 1
  grep -qF -- "$1" <<<"$log"
}
# wait_for SECONDS WHAT COMMAND...: polls COMMAND every 0.2 s.
wait_for() {
  local limit=$1 what=$2 t0=$SECONDS
  shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS - t0 < limit)) || fail "after ${limit}s: $what"
    e2e_sleep 0.2
  done
}

step "5. start: READY, status line, the kernel programmed, rp_filter fixed in the sandbox"
ct systemctl start ovl-agent.service ||
  fail "systemctl start failed: $(show Result), $(show StatusText)"
[[ $(ct systemctl is-active ovl-agent.service) == active ]] || fail "the unit is not active"
status=$(show StatusText)
echo "StatusText=$status"
[[ $status == "converged: 1 peers, 1 services" ]] ||
  fail "StatusText is '$status', expected 'converged: 1 peers, 1 services'"
nft_has 10.96.0.10 || fail "the kernel has no 10.96.0.10 (service web)"
ct test -s /run/ovl/node.json || fail "no /run/ovl/node.json"
[[ $(ct sysctl -n net.ipv4.conf.ovl/1.rp_filter) == 2 ]] ||
  fail "the agent did not set ovl.1's rp_filter to 2 (loose): $(ct sysctl -n net.ipv4.conf.ovl/1.rp_filter)"
journal_has "diagnose: net.ipv4.conf.ovl/1.rp_filter = 2 (was 1)" ||
  fail "the agent did not log its fix of ovl.1's rp_filter"
echo "the agent fixed ovl.1's strict rp_filter (a write under ProtectKernelTunables=)"
PID1=$(show MainPID)
echo "MainPID $PID1 (in the container)"

step "6. restart keeps node.json and the endpoint registrations"
ct sh -c 'mkdir -p /run/ovl/endpoints && printf "%s\n" \
  "{\"service\":\"default/web\",\"ip\":\"10.244.1.20\",\"node\":\"node1\",\"containerID\":\"ctr1\",\"ifname\":\"eth0\"}" \
  >/run/ovl/endpoints/ctr1.eth0.json'
wait_for 10 "the registered endpoint 10.244.1.20 did not reach nftables" \
  nft_has 10.244.1.20
node_before=$(ct sha256sum /run/ovl/node.json)
# RuntimeDirectoryPreserve=yes: the directory itself stays (without it systemd removes /run/ovl
# on stop and makes a new one on start; the agent would write node.json again, but ovl-cni's
# registrations would be lost).
dir_before=$(ct stat -c %i /run/ovl)
ct systemctl restart ovl-agent.service || fail "systemctl restart failed: $(show Result)"
PID2=$(show MainPID)
[[ $PID2 != "$PID1" ]] || fail "restart left the same MainPID $PID1"
[[ $(ct sha256sum /run/ovl/node.json) == "$node_before" ]] ||
  fail "/run/ovl/node.json is gone or changed after the restart"
ct test -f /run/ovl/endpoints/ctr1.eth0.json || fail "the registration is gone after the restart"
[[ $(ct stat -c %i /run/ovl) == "$dir_before" ]] || fail "/run/ovl was removed and made again"
[[ $(show StatusText) == "converged: 1 peers, 1 services" ]] ||
  fail "after the restart: StatusText '$(show StatusText)'"
nft_has 10.244.1.20 || fail "after the restart the registered endpoint is not in nftables"
echo "restart: MainPID $PID1 -> $PID2; node.json and ctr1.eth0.json kept, endpoint still programmed"

step "7. reload (SIGHUP) re-reads the cluster file"
cluster with-api | ct tee /etc/ovl/cluster.yaml >/dev/null
ct systemctl reload ovl-agent.service || fail "systemctl reload failed"
wait_for 10 "after the reload the kernel has no 10.96.0.20 (service api)" \
  nft_has 10.96.0.20
wait_for 10 "the agent did not log the SIGHUP" \
  journal_has "SIGHUP: reloading"
[[ $(show MainPID) == "$PID2" ]] || fail "reload restarted the agent"
wait_for 10 "StatusText did not reach 2 services: $(show StatusText)" \
  sh -c "[ \"\$(nsenter -t $LEADER -a -- systemctl show -P StatusText ovl-agent)\" = 'converged: 1 peers, 2 services' ]"
echo "reload: service api programmed, same MainPID $PID2"

step "8. a hung agent (SIGSTOP from outside) is killed by the watchdog and restarted"
wd=$(show WatchdogUSec)
echo "WatchdogUSec=$wd"
[[ $wd != 0 && $wd != infinity ]] || fail "the unit has no watchdog"
restarts=$(show NRestarts)
ct kill -STOP "$PID2"
t0=$SECONDS
wait_for 120 "no watchdog restart after SIGSTOP (NRestarts $(show NRestarts))" \
  sh -c "[ \"\$(nsenter -t $LEADER -a -- systemctl show -P NRestarts ovl-agent)\" -gt $restarts ]"
echo "restarted after $((SECONDS - t0)) s"
wait_for 60 "the restarted agent is not active again" \
  sh -c "[ \"\$(nsenter -t $LEADER -a -- systemctl is-active ovl-agent)\" = active ]"
PID3=$(show MainPID)
[[ $PID3 != "$PID2" ]] || fail "the hung agent $PID2 is still the main process"
journal_has "Watchdog timeout" ||
  fail "the journal does not say the watchdog fired"
journal_has "Failed with result 'watchdog'" ||
  fail "the journal does not say the unit failed with result 'watchdog'"
ct test -f /run/ovl/endpoints/ctr1.eth0.json || fail "the registration is gone after the watchdog"
nft_has 10.244.1.20 || fail "after the watchdog restart the endpoint is not in nftables"
echo "watchdog: MainPID $PID2 -> $PID3, NRestarts $restarts -> $(show NRestarts)"

step "9. systemd-analyze security of the installed unit, in the container"
ct systemd-analyze security --no-pager ovl-agent.service >"$E2E_DIR/security.txt" 2>&1 ||
  { cat "$E2E_DIR/security.txt" >&2; fail "systemd-analyze security failed"; }
grep -v '^✓' "$E2E_DIR/security.txt" || true
score=$(sed -n 's/.*Overall exposure level for ovl-agent.service: \([0-9.]*\).*/\1/p' \
  "$E2E_DIR/security.txt")
[[ -n $score ]] || fail "no exposure level in systemd-analyze security's output"
awk -v s="$score" 'BEGIN { exit !(s <= 3.0) }' || fail "exposure level $score, expected <= 3.0"
echo "exposure level $score (<= 3.0)"

step "10. a start-up longer than TimeoutStartSec= is extended while it makes progress"
# 100,000 services (a start-up of a few seconds here) against TimeoutStartSec=1s in a drop-in:
# systemd would kill the start-up after 1 s unless each step's EXTEND_TIMEOUT_USEC= extends it
# (the first comes when the datastore is open, before the file is read).
NSVC=100000
LIMIT_S=1
ct systemctl stop ovl-agent.service
ct mkdir -p /etc/systemd/system/ovl-agent.service.d
printf '[Service]\nTimeoutStartSec=%ss\n' "$LIMIT_S" |
  ct tee /etc/systemd/system/ovl-agent.service.d/timeout.conf >/dev/null
ct systemctl daemon-reload
{
  cluster
  awk -v n="$NSVC" 'BEGIN {
    for (i = 0; i < n; i++) {
      v = i + 256
      printf "  - {namespace: bulk, name: s%d, clusterIP: 10.%d.%d.%d, ", i, 97 + int(v / 65536),
        int(v / 256) % 256, v % 256
      printf "ports: [{name: p, port: 80, targetPort: 8080}], "
      printf "endpoints: [{ip: 10.244.2.%d, node: node2}]}\n", 2 + i % 200
    }
  }'
} | ct tee /etc/ovl/cluster.yaml >/dev/null
ct systemctl start ovl-agent.service ||
  fail "the start-up with $NSVC services failed: $(show Result), $(show StatusText)"
started=$(show ExecMainStartTimestampMonotonic)
active=$(show ActiveEnterTimestampMonotonic)
took_ms=$(((active - started) / 1000))
echo "start-up with $NSVC services: ${took_ms} ms to READY=1 (TimeoutStartSec=${LIMIT_S}s)"
((took_ms > LIMIT_S * 1000)) ||
  fail "the start-up took ${took_ms} ms, not more than ${LIMIT_S}s: it does not test the extension"
[[ $(show StatusText) == "converged: 1 peers, $((NSVC + 1)) services" ]] ||
  fail "StatusText after the long start-up: '$(show StatusText)'"
! journal_has "start operation timed out" || fail "the journal says the start-up timed out"
ct rm /etc/systemd/system/ovl-agent.service.d/timeout.conf
ct systemctl daemon-reload

step "11. the etcd datastore in the sandbox: gRPC, the lease file kept across a restart"
# One etcd member in the container (127.0.0.1:2379), as a transient unit of its systemd.
ct systemd-run --quiet --unit=ovl-test-etcd -- /usr/bin/etcd --name ovltest \
  --data-dir /var/lib/ovl-test-etcd --listen-client-urls http://127.0.0.1:2379 \
  --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
  --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster ovltest=http://127.0.0.1:2380
wait_for 60 "etcd did not answer in the container" \
  ct etcdctl --endpoints 127.0.0.1:2379 endpoint health
ct etcdctl --endpoints 127.0.0.1:2379 put /ovl/config \
  '{podCIDR: 10.244.0.0/16, serviceCIDR: 10.96.0.0/12}' >/dev/null
ct systemctl stop ovl-agent.service
ct tee /etc/ovl/agent.yaml >/dev/null <<'EOF'
nodeName: node1
datastore: etcd
underlayIP: 192.168.77.1
underlayInterface: ul0
bridgeName: ovlbr0
healthAddress: 127.0.0.1:9765
stateDir: /run/ovl
etcd:
  endpoints: [127.0.0.1:2379]
  leaseTTL: 10
EOF
ct systemctl start ovl-agent.service ||
  fail "the agent with etcd did not start: $(show Result), $(show StatusText)"
status=$(show StatusText)
[[ $status == "converged: 0 peers, 0 services" ]] ||
  fail "with etcd: StatusText '$status', expected 'converged: 0 peers, 0 services'"
node=$(ct etcdctl --endpoints 127.0.0.1:2379 get /ovl/nodes/node1 --print-value-only)
[[ $node == *'"underlayIP":"192.168.77.1"'* ]] || fail "node1 is not registered in etcd: $node"
ct test -s /run/ovl/etcd-lease || fail "no /run/ovl/etcd-lease"
lease=$(ct cat /run/ovl/etcd-lease)
ct systemctl restart ovl-agent.service || fail "restart with etcd failed: $(show Result)"
[[ $(show StatusText) == "converged: 0 peers, 0 services" ]] ||
  fail "with etcd after the restart: StatusText '$(show StatusText)'"
ct test -s /run/ovl/etcd-lease || fail "/run/ovl/etcd-lease is gone after the restart"
! journal_has "Operation not permitted" || fail "a system call or write was refused in the sandbox"
echo "etcd: node1 registered ($node), lease $lease before the restart, $(ct cat /run/ovl/etcd-lease) after"

echo
echo "PASS: systemd_e2e (${SECONDS}s)"
