# shellcheck shell=bash
# shellcheck disable=SC2034 # the OVL_* globals are read by the scripts that source this
# netns-cluster.sh: build an ovl cluster out of network namespaces. Source it; do not run it.
#
#   ${RUN}-ul          underlay: bridge br0, one port n$i per node
#   ${RUN}-n$i         node i: eth0 = 192.168.50.$i/24 (peer of n$i), ip_forward=1, runs ovl-agent
#   ${RUN}-n${i}p${j}  pod j of node i: eth0 = 10.244.$i.$((10+j))/24, default via 10.244.$i.1,
#                      peer vp$j in the node namespace, enslaved to the agent's bridge
#
# RUN comes from $DEMO_RUN (default "ovl$$"), so several runs can coexist. Nothing is created in
# the caller's own network namespace: veth pairs are created directly inside the namespaces.
# Everything created is recorded; cluster_down removes it (and anything else named "${RUN}-*"),
# is idempotent and is meant to be called from `trap ... EXIT`.
#
#   cluster_up N PODS_PER_NODE            underlay + node namespaces
#   pods_up N PODS_PER_NODE [BRIDGE] [MTU]  pod namespaces (after the agents made BRIDGE)
#   pod_add I J [BRIDGE] [MTU]            one pod namespace
#   write_cluster_files DIR N             DIR/cluster.yaml, DIR/node$i.yaml
#   agent_start I DIR AGENT_BIN [ARGS...] agent_kill I [SIGNAL]   agent_wait_ready I [TIMEOUT_S]
#   node_exec I CMD...   pod_exec I J CMD...   ul_exec CMD...
#   node_ns I   pod_ns I J   pod_ip I J   node_ip I
#   wait_until TIMEOUT_S CMD...           poll CMD every 100 ms; prints elapsed ms on success
#   check_all_pairs N PODS TCPPROBE_BIN   TCP between every ordered pair of pods (a matrix)
#   cluster_down

RUN="${DEMO_RUN:-ovl$$}"
OVL_HEALTH_ADDR="${OVL_HEALTH_ADDR:-127.0.0.1:9765}"
OVL_UNDERLAY_NET="${OVL_UNDERLAY_NET:-192.168.50}"
OVL_PROBE_PORT="${OVL_PROBE_PORT:-7777}"
OVL_PROBE_TIMEOUT_MS="${OVL_PROBE_TIMEOUT_MS:-2000}"

declare -ga OVL_CREATED_NS=()  # namespaces in creation order
declare -gA OVL_AGENT_PID=()   # node index -> pid of its agent
declare -gA OVL_AGENT_LOG=()   # node index -> log file
declare -gA OVL_AGENT_RC=()    # node index -> exit status of the last agent stopped
OVL_NODES=0
OVL_PODS=0

ul_ns() { printf '%s-ul\n' "$RUN"; }
node_ns() { printf '%s-n%s\n' "$RUN" "$1"; }
pod_ns() { printf '%s-n%sp%s\n' "$RUN" "$1" "$2"; }
node_ip() { printf '%s.%s\n' "$OVL_UNDERLAY_NET" "$1"; }
pod_ip() { printf '10.244.%s.%s\n' "$1" "$(($2 + 10))"; }

ul_exec() { ip netns exec "$(ul_ns)" "$@"; }
node_exec() {
  local i=$1
  shift
  ip netns exec "$(node_ns "$i")" "$@"
}
pod_exec() {
  local i=$1 j=$2
  shift 2
  ip netns exec "$(pod_ns "$i" "$j")" "$@"
}

_ovl_log() { printf '[%s] %s\n' "$RUN" "$*" >&2; }
_ovl_err() {
  printf '[%s] error: %s\n' "$RUN" "$*" >&2
  return 1
}

_ovl_ns_add() {
  ip netns add "$1" || return 1
  OVL_CREATED_NS+=("$1")
  ip -n "$1" link set lo up
}

cluster_up() {
  local n=${1:?usage: cluster_up N PODS_PER_NODE} pods=${2:?usage: cluster_up N PODS_PER_NODE}
  local i ul node
  ((n >= 1 && n <= 254)) || _ovl_err "cluster_up: N must be 1..254" || return 1
  ul=$(ul_ns)
  _ovl_ns_add "$ul" || return 1
  ip -n "$ul" link add br0 type bridge || return 1
  ip -n "$ul" link set br0 up || return 1
  for ((i = 1; i <= n; i++)); do
    node=$(node_ns "$i")
    _ovl_ns_add "$node" || return 1
    ip -n "$node" link add eth0 type veth peer name "n$i" netns "$ul" || return 1
    ip -n "$ul" link set "n$i" master br0 up || return 1
    ip -n "$node" addr add "$(node_ip "$i")/24" dev eth0 || return 1
    ip -n "$node" link set eth0 up || return 1
    ip netns exec "$node" sysctl -qw net.ipv4.ip_forward=1 || return 1
  done
  OVL_NODES=$n
  OVL_PODS=$pods
  _ovl_log "cluster up: $n nodes on $(node_ip 0)/24 (underlay $ul)"
}

# pod_add I J [BRIDGE=ovlbr0] [MTU=1450]: one pod behind node I's BRIDGE.
pod_add() {
  local i=${1:?} j=${2:?} bridge=${3:-ovlbr0} mtu=${4:-1450}
  local node pod
  node=$(node_ns "$i")
  pod=$(pod_ns "$i" "$j")
  _ovl_ns_add "$pod" || return 1
  ip -n "$pod" link add eth0 mtu "$mtu" type veth peer name "vp$j" mtu "$mtu" netns "$node" ||
    return 1
  ip -n "$node" link set "vp$j" master "$bridge" up || return 1
  # Hairpin on the pod's bridge port, as CNI bridge plugins do (hairpinMode): with
  # br_netfilter active (bridge-nf-call-iptables=1), a pod that reaches itself through a
  # service has its DNATed frame bridged back out of the port it came in on.
  ip -n "$node" link set "vp$j" type bridge_slave hairpin on || return 1
  ip -n "$pod" addr add "$(pod_ip "$i" "$j")/24" dev eth0 || return 1
  ip -n "$pod" link set eth0 up || return 1
  ip -n "$pod" route add default via "10.244.$i.1" || return 1
}

# pods_up N PODS_PER_NODE [BRIDGE=ovlbr0] [MTU=1450]: waits up to 10 s per node for BRIDGE.
pods_up() {
  local n=${1:?usage: pods_up N PODS_PER_NODE [BRIDGE] [MTU]} pods=${2:?} bridge=${3:-ovlbr0}
  local mtu=${4:-1450} i j t
  for ((i = 1; i <= n; i++)); do
    for ((t = 0; t < 100; t++)); do
      ip -n "$(node_ns "$i")" link show dev "$bridge" >/dev/null 2>&1 && break
      sleep 0.1
    done
    ((t < 100)) || _ovl_err "pods_up: no bridge $bridge in $(node_ns "$i") after 10 s" || return 1
    for ((j = 1; j <= pods; j++)); do
      pod_add "$i" "$j" "$bridge" "$mtu" || return 1
    done
  done
  _ovl_log "pods up: $pods per node on $n nodes (bridge $bridge, mtu $mtu)"
}

# write_cluster_files DIR N: the agent's cluster file and one node file per node.
write_cluster_files() {
  local dir=${1:?usage: write_cluster_files DIR N} n=${2:?usage: write_cluster_files DIR N} i
  mkdir -p "$dir" && dir=$(cd "$dir" && pwd) || return 1
  {
    printf 'network:\n  podCIDR: 10.244.0.0/16\n  subnetLength: 24\n  vni: 1\n  port: 4789\n'
    printf 'nodes:\n'
    for ((i = 1; i <= n; i++)); do
      printf '  - name: node%s\n    underlayIP: %s\n    podSubnet: 10.244.%s.0/24\n' \
        "$i" "$(node_ip "$i")" "$i"
    done
  } >"$dir/cluster.yaml" || return 1
  for ((i = 1; i <= n; i++)); do
    printf 'nodeName: node%s\nclusterFile: cluster.yaml\nunderlayInterface: eth0\n' "$i" \
      >"$dir/node$i.yaml" || return 1
    printf 'healthAddress: %s\nstateDir: %s/state-node%s\n' "$OVL_HEALTH_ADDR" "$dir" "$i" \
      >>"$dir/node$i.yaml" || return 1
  done
}

# agent_start I DIR AGENT_BIN [ARGS...]: runs the agent in node I's namespace in the background,
# appending its output to DIR/agent-node$I.log.
agent_start() {
  local i=${1:?usage: agent_start I DIR AGENT_BIN [ARGS...]} dir=${2:?} bin=${3:?}
  shift 3
  local log="$dir/agent-node$i.log"
  if [[ -n ${OVL_AGENT_PID[$i]:-} ]] && kill -0 "${OVL_AGENT_PID[$i]}" 2>/dev/null; then
    _ovl_err "agent_start: agent $i already running (pid ${OVL_AGENT_PID[$i]})"
    return 1
  fi
  printf '=== %s agent_start: %s --config %s %s\n' "$(date +%T.%N)" "$bin" "$dir/node$i.yaml" \
    "$*" >>"$log"
  # `ip netns exec` execs the agent, so $! is the agent's own pid.
  ip netns exec "$(node_ns "$i")" "$bin" --config "$dir/node$i.yaml" "$@" \
    </dev/null >>"$log" 2>&1 &
  OVL_AGENT_PID[$i]=$!
  OVL_AGENT_LOG[$i]=$log
}

# agent_kill I [SIGNAL=TERM]: signals agent I. For TERM/INT/QUIT/KILL it also waits (up to 10 s,
# then SIGKILL) for it to exit and records its exit status in OVL_AGENT_RC[I].
agent_kill() {
  local i=${1:?usage: agent_kill I [SIGNAL]} sig=${2:-TERM} pid t
  pid=${OVL_AGENT_PID[$i]:-}
  [[ -n $pid ]] || _ovl_err "agent_kill: no agent $i" || return 1
  kill -s "$sig" "$pid" 2>/dev/null || true
  case ${sig#SIG} in
    TERM | INT | QUIT | KILL | 15 | 2 | 3 | 9) ;;
    *) return 0 ;;
  esac
  for ((t = 0; t < 100; t++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    _ovl_log "agent $i (pid $pid) ignored SIG${sig#SIG} for 10 s; sending SIGKILL"
    kill -s KILL "$pid" 2>/dev/null || true
  fi
  local rc=0
  wait "$pid" 2>/dev/null || rc=$?
  OVL_AGENT_RC[$i]=$rc
  unset "OVL_AGENT_PID[$i]"
}

# _ovl_http_status NS HOST PORT PATH: prints the HTTP status code served inside NS.
_ovl_http_status() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 2 ip netns exec "$1" bash -c '
    exec 3<>"/dev/tcp/$1/$2" || exit 1
    printf "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" "$3" "$1" >&3
    read -r _ code _ <&3 && printf "%s\n" "$code"' _ "$2" "$3" "$4" 2>/dev/null
}

# agent_wait_ready I [TIMEOUT_S=30]: polls /readyz in node I's namespace until HTTP 200.
agent_wait_ready() {
  local i=${1:?usage: agent_wait_ready I [TIMEOUT_S]} timeout=${2:-30}
  local host=${OVL_HEALTH_ADDR%:*} port=${OVL_HEALTH_ADDR##*:} ns deadline code pid
  ns=$(node_ns "$i")
  pid=${OVL_AGENT_PID[$i]:-}
  deadline=$((SECONDS + timeout))
  while :; do
    code=$(_ovl_http_status "$ns" "$host" "$port" /readyz) || code=""
    [[ $code == 200 ]] && return 0
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
      _ovl_err "agent $i (pid $pid) exited before becoming ready; log: ${OVL_AGENT_LOG[$i]:-}"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      _ovl_err "agent $i not ready after ${timeout} s (last /readyz status: ${code:-none})"
      return 1
    fi
    sleep 0.1
  done
}

# _ovl_kill_ns_procs NS: ends every process still inside namespace NS (TERM, then KILL).
_ovl_kill_ns_procs() {
  local ns=$1 pids t
  for ((t = 0; t < 30; t++)); do
    pids=$(ip netns pids "$ns" 2>/dev/null) || return 0
    [[ -n $pids ]] || return 0
    # shellcheck disable=SC2086 # a list of pids
    if ((t == 0)); then kill -TERM $pids 2>/dev/null; elif ((t == 20)); then kill -KILL $pids 2>/dev/null; fi
    sleep 0.1
  done
}

# cluster_down: stops the agents, ends processes left in our namespaces, deletes the namespaces.
cluster_down() {
  local i pid ns t
  local -a all=()
  for i in "${!OVL_AGENT_PID[@]}"; do
    pid=${OVL_AGENT_PID[$i]}
    kill -TERM "$pid" 2>/dev/null || true
  done
  for i in "${!OVL_AGENT_PID[@]}"; do
    pid=${OVL_AGENT_PID[$i]}
    for ((t = 0; t < 50; t++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "OVL_AGENT_PID[$i]"
  done
  # Pods first, then nodes, then the underlay; plus anything named after this run but unrecorded
  # (e.g. created in a subshell).
  for ((i = ${#OVL_CREATED_NS[@]} - 1; i >= 0; i--)); do all+=("${OVL_CREATED_NS[$i]}"); done
  while read -r ns _; do
    [[ $ns == "$RUN"-* ]] && all+=("$ns")
  done < <(ip netns list 2>/dev/null)
  for ns in "${all[@]}"; do
    [[ -e /run/netns/$ns ]] || continue
    _ovl_kill_ns_procs "$ns"
    ip netns del "$ns" 2>/dev/null || _ovl_log "cluster_down: could not delete $ns"
  done
  OVL_CREATED_NS=()
  OVL_NODES=0
  OVL_PODS=0
  return 0
}

_ovl_now_ms() {
  local t=${EPOCHREALTIME/./}
  printf '%s\n' "$((t / 1000))"
}

# wait_until TIMEOUT_S CMD...: runs CMD every 100 ms until it succeeds (returns 0 and prints
# "waited N ms for: CMD") or TIMEOUT_S passes (returns 1, printing CMD's last output on stderr).
wait_until() {
  local timeout=${1:?usage: wait_until TIMEOUT_S CMD...} start deadline out now
  shift
  start=$(_ovl_now_ms)
  deadline=$((start + timeout * 1000))
  while :; do
    if out=$("$@" 2>&1); then
      now=$(_ovl_now_ms)
      printf 'waited %s ms for: %s\n' "$((now - start))" "$*"
      return 0
    fi
    now=$(_ovl_now_ms)
    if ((now >= deadline)); then
      printf 'timed out after %s s waiting for: %s\n%s\n' "$timeout" "$*" "$out" >&2
      return 1
    fi
    sleep 0.1
  done
}

# check_all_pairs N PODS TCPPROBE_BIN: serves in every pod (with the pod's name as hello), then
# connects from every pod to every other one and checks that the right pod answered. Prints a
# matrix (rows: source, columns: destination) and returns non-zero naming the failing pairs.
check_all_pairs() {
  local n=${1:?usage: check_all_pairs N PODS TCPPROBE_BIN} pods=${2:?} probe=${3:?}
  local i j k l src dst out rc=0 total=0 bad=0 line
  local -a pods_list=() servers=() clients=() failures=()
  local results
  results=$(mktemp -d "${TMPDIR:-/tmp}/${RUN}-pairs.XXXXXX") || return 1
  for ((i = 1; i <= n; i++)); do
    for ((j = 1; j <= pods; j++)); do pods_list+=("$i.$j"); done
  done
  for src in "${pods_list[@]}"; do
    # `ip netns exec` execs the server, so $! is the server and `kill` below ends it (a
    # backgrounded shell function would leave it running, orphaned, on the port).
    ip netns exec "$(pod_ns "${src%.*}" "${src#*.}")" "$probe" serve --port "$OVL_PROBE_PORT" \
      --hello "n${src%.*}p${src#*.}" >"$results/serve-$src.log" 2>&1 &
    servers+=($!)
  done
  for src in "${pods_list[@]}"; do
    i=${src%.*} j=${src#*.}
    if ! wait_until 5 pod_exec "$i" "$j" "$probe" connect "$(pod_ip "$i" "$j")" \
      "$OVL_PROBE_PORT" >/dev/null; then
      kill "${servers[@]}" 2>/dev/null
      wait "${servers[@]}" 2>/dev/null || true
      printf 'check_all_pairs: server in pod n%sp%s did not start\n' "$i" "$j" >&2
      return 1
    fi
  done
  # One client job per source pod, each trying every destination in turn.
  for src in "${pods_list[@]}"; do
    (
      i=${src%.*} j=${src#*.}
      for dst in "${pods_list[@]}"; do
        [[ $src == "$dst" ]] && continue
        k=${dst%.*} l=${dst#*.}
        if out=$(pod_exec "$i" "$j" "$probe" connect "$(pod_ip "$k" "$l")" "$OVL_PROBE_PORT" \
          --timeout-ms "$OVL_PROBE_TIMEOUT_MS" --expect-hello 2>&1) &&
          [[ $out == "n${k}p${l}" ]]; then
          echo ok >"$results/$src-$dst"
        else
          printf '%s\n' "${out//$'\n'/ }" >"$results/$src-$dst"
        fi
      done
    ) &
    clients+=($!)
  done
  wait "${clients[@]}" || true
  kill "${servers[@]}" 2>/dev/null
  wait "${servers[@]}" 2>/dev/null || true

  line=$(printf '%-7s' 'src\dst')
  for dst in "${pods_list[@]}"; do line+=$(printf ' %-6s' "n${dst%.*}p${dst#*.}"); done
  printf '%s\n' "$line"
  for src in "${pods_list[@]}"; do
    line=$(printf '%-7s' "n${src%.*}p${src#*.}")
    for dst in "${pods_list[@]}"; do
      if [[ $src == "$dst" ]]; then
        line+=$(printf ' %-6s' '-')
        continue
      fi
      total=$((total + 1))
      out=$(<"$results/$src-$dst")
      if [[ $out == ok ]]; then
        line+=$(printf ' %-6s' ok)
      else
        line+=$(printf ' %-6s' FAIL)
        bad=$((bad + 1))
        failures+=("n${src%.*}p${src#*.} -> n${dst%.*}p${dst#*.} ($(pod_ip "${dst%.*}" "${dst#*.}")): $out")
      fi
    done
    printf '%s\n' "$line"
  done
  rm -rf "$results"
  printf 'pairs: %s/%s ok\n' "$((total - bad))" "$total"
  if ((bad > 0)); then
    printf 'failing pair: %s\n' "${failures[@]}" >&2
    rc=1
  fi
  return "$rc"
}
