# shellcheck shell=bash
# shellcheck disable=SC2034 # the OVL_ETCD_* globals are read by the scripts that source this
# etcd-cluster.sh: etcd (Debian's etcd-server) for an ovl cluster built by netns-cluster.sh.
# Source it after netns-cluster.sh; do not run it. The members run inside the underlay
# namespace on ${OVL_UNDERLAY_NET}.250 (added to its bridge), so the nodes reach them over the
# underlay and nothing listens in the host's own network namespace. cluster_down ends them with
# every other process in the run's namespaces.
#
#   etcd_up N DIR [TLS_DIR]     N members (client port 2379+10*(i-1), peer port +1), data and logs
#                               in DIR; with TLS_DIR (ca.pem, server.pem, server-key.pem) clients
#                               must present a certificate signed by ca.pem (mTLS)
#   etcd_member_stop I          kill -9 member I       etcd_member_start I   restart it on its data
#   etcd_endpoints              "IP:PORT,IP:PORT,..." of all members
#   etcd_ctl ARGS...            etcdctl (v3 API) against all members, from the underlay namespace
#   write_etcd_agent_files DIR N [LEASE_TTL]
#                               DIR/node$i.yaml (datastore etcd) and, as the subnet node i had
#                               "before", DIR/state-node$i/subnet = 10.244.$i.0/24, so the pods of
#                               netns-cluster.sh (10.244.$i.x) fit the subnet each node claims
#   make_etcd_certs DIR [NAME...]
#                               a CA, a server certificate for ${OVL_UNDERLAY_NET}.250, a client
#                               certificate, and a client certificate from another CA (rogue);
#                               and DIR/NAME.pem, DIR/NAME-key.pem (CN=NAME: etcd's user with
#                               authentication on) for each NAME

OVL_ETCD_IP="${OVL_ETCD_IP:-${OVL_UNDERLAY_NET}.250}"
declare -gA OVL_ETCD_PID=()  # member index -> pid
OVL_ETCD_N=0
OVL_ETCD_DIR=""
OVL_ETCD_TLS=""

_etcd_client_port() { printf '%s\n' "$((2379 + 10 * ($1 - 1)))"; }
_etcd_peer_port() { printf '%s\n' "$((2380 + 10 * ($1 - 1)))"; }
_etcd_scheme() { [[ -n $OVL_ETCD_TLS ]] && echo https || echo http; }

etcd_endpoints() {
  local i out=""
  for ((i = 1; i <= OVL_ETCD_N; i++)); do
    out+="${out:+,}$OVL_ETCD_IP:$(_etcd_client_port "$i")"
  done
  printf '%s\n' "$out"
}

etcd_ctl() {
  local -a tls=()
  if [[ -n $OVL_ETCD_TLS ]]; then
    tls=(--cacert "$OVL_ETCD_TLS/ca.pem" --cert "$OVL_ETCD_TLS/client.pem" --key "$OVL_ETCD_TLS/client-key.pem")
  fi
  local eps i
  eps=""
  for ((i = 1; i <= OVL_ETCD_N; i++)); do
    eps+="${eps:+,}$(_etcd_scheme)://$OVL_ETCD_IP:$(_etcd_client_port "$i")"
  done
  ETCDCTL_API=3 ul_exec etcdctl --endpoints "$eps" --dial-timeout 2s --command-timeout 5s "${tls[@]}" "$@"
}

etcd_member_start() {
  local i=${1:?usage: etcd_member_start I} cluster="" k scheme
  scheme=$(_etcd_scheme)
  for ((k = 1; k <= OVL_ETCD_N; k++)); do
    cluster+="${cluster:+,}m$k=http://$OVL_ETCD_IP:$(_etcd_peer_port "$k")"
  done
  local -a tls=()
  if [[ -n $OVL_ETCD_TLS ]]; then
    tls=(--cert-file "$OVL_ETCD_TLS/server.pem" --key-file "$OVL_ETCD_TLS/server-key.pem"
      --trusted-ca-file "$OVL_ETCD_TLS/ca.pem" --client-cert-auth)
  fi
  # `ip netns exec` execs etcd, so $! is etcd's own pid (a backgrounded shell function would be
  # a subshell, and killing it would leave etcd running).
  ip netns exec "$(ul_ns)" etcd --name "m$i" --data-dir "$OVL_ETCD_DIR/m$i.etcd" \
    --listen-client-urls "$scheme://$OVL_ETCD_IP:$(_etcd_client_port "$i")" \
    --advertise-client-urls "$scheme://$OVL_ETCD_IP:$(_etcd_client_port "$i")" \
    --listen-peer-urls "http://$OVL_ETCD_IP:$(_etcd_peer_port "$i")" \
    --initial-advertise-peer-urls "http://$OVL_ETCD_IP:$(_etcd_peer_port "$i")" \
    --initial-cluster "$cluster" --initial-cluster-token "$RUN" --initial-cluster-state new \
    --logger zap --log-level warn "${tls[@]}" \
    </dev/null >>"$OVL_ETCD_DIR/m$i.log" 2>&1 &
  OVL_ETCD_PID[$i]=$!
}

etcd_member_stop() {
  local i=${1:?usage: etcd_member_stop I} pid
  pid=${OVL_ETCD_PID[$i]:-}
  [[ -n $pid ]] || return 0
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset "OVL_ETCD_PID[$i]"
}

# etcd_wait_healthy [TIMEOUT_S=20]: until the cluster answers a linearizable read.
etcd_wait_healthy() {
  local timeout=${1:-20} deadline=$((SECONDS + ${1:-20}))
  until etcd_ctl get /health-probe >/dev/null 2>&1; do
    ((SECONDS < deadline)) || _ovl_err "etcd not healthy after ${timeout} s" || return 1
    sleep 0.2
  done
}

etcd_up() {
  local n=${1:?usage: etcd_up N DIR [TLS_DIR]} dir=${2:?usage: etcd_up N DIR [TLS_DIR]} i
  OVL_ETCD_N=$n
  OVL_ETCD_DIR=$dir
  OVL_ETCD_TLS=${3:-}
  mkdir -p "$dir"
  ip -n "$(ul_ns)" addr add "$OVL_ETCD_IP/24" dev br0 2>/dev/null || true
  for ((i = 1; i <= n; i++)); do etcd_member_start "$i"; done
  etcd_wait_healthy 30 || return 1
  _ovl_log "etcd up: $n member(s) at $(etcd_endpoints)${OVL_ETCD_TLS:+ (mTLS)}"
}

etcd_down() {
  local i
  for i in "${!OVL_ETCD_PID[@]}"; do etcd_member_stop "$i"; done
}

write_etcd_agent_files() {
  local dir=${1:?usage: write_etcd_agent_files DIR N [TTL]} n=${2:?} ttl=${3:-10} i eps
  mkdir -p "$dir" && dir=$(cd "$dir" && pwd) || return 1
  eps=$(etcd_endpoints)
  for ((i = 1; i <= n; i++)); do
    {
      printf 'nodeName: node%s\ndatastore: etcd\nunderlayIP: %s\nunderlayInterface: eth0\n' \
        "$i" "$(node_ip "$i")"
      printf 'healthAddress: %s\nstateDir: %s/state-node%s\n' "$OVL_HEALTH_ADDR" "$dir" "$i"
      printf 'etcd:\n  endpoints: [%s]\n  leaseTTL: %s\n' "${eps//,/, }" "$ttl"
      if [[ -n $OVL_ETCD_TLS ]]; then
        printf '  caFile: %s/ca.pem\n  certFile: %s/client.pem\n  keyFile: %s/client-key.pem\n' \
          "$OVL_ETCD_TLS" "$OVL_ETCD_TLS" "$OVL_ETCD_TLS"
      fi
    } >"$dir/node$i.yaml" || return 1
    mkdir -p "$dir/state-node$i"
    printf '10.244.%s.0/24\n' "$i" >"$dir/state-node$i/subnet"
  done
}

make_etcd_certs() {
  local dir=${1:?usage: make_etcd_certs DIR [NAME...]}
  shift
  mkdir -p "$dir"
  (
    cd "$dir" || exit 1
    set -e
    local ossl=(openssl req -x509 -newkey rsa:2048 -nodes -days 2 -sha256)
    "${ossl[@]}" -keyout ca-key.pem -out ca.pem -subj "/CN=ovl test CA" 2>/dev/null
    "${ossl[@]}" -keyout rogue-ca-key.pem -out rogue-ca.pem -subj "/CN=rogue CA" 2>/dev/null
    # sign NAME CA SAN: NAME.pem and NAME-key.pem, signed by CA (ca or rogue-ca)
    sign() {
      openssl req -new -newkey rsa:2048 -nodes -keyout "$1-key.pem" -out "$1.csr" \
        -subj "/CN=$1" 2>/dev/null
      printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$3" >"$1.ext"
      openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2-key.pem" -CAcreateserial \
        -days 2 -sha256 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
    }
    sign server ca "IP:$OVL_ETCD_IP,IP:127.0.0.1"
    sign client ca "DNS:client"
    sign rogue rogue-ca "DNS:client"
    local name
    for name in "$@"; do sign "$name" ca "DNS:$name"; done
  )
}
