#!/usr/bin/env bash
# e2e: the Debian package. Builds the .deb from the build tree with cpack (the tree's own CPack
# configuration: an install into cpack's staging directory, nothing rebuilt), then checks:
#   1. its contents: the programs, configuration (as conffiles), unit, man pages, completion,
#      docs and examples where Debian puts them, and its control fields;
#   2. every package in Depends is installed here in a version that satisfies it;
#   3. lintian: its output is printed; an error fails the test, warnings are reported;
#   4. the man pages render without warnings, and the bash completion completes;
#   5. the programs from the unpacked package (dpkg-deb -x): `--version` of the three, and a
#      2-node cluster in namespaces run by the unpacked ovl-agent, ready, with `ovlctl diagnose`
#      and `ovlctl trace` (with the packaged /etc/ovl configuration) on a node.
# The package, the unpacked tree and the namespaces are removed on exit (lib.sh's trap).
# Usage: package_e2e.sh BUILD_DIR
set -euo pipefail
BUILD=${1:?usage: package_e2e.sh BUILD_DIR}
source "$(dirname "$0")/lib.sh"
step() { printf '\n== %s\n' "$*"; }

for tool in cpack dpkg-deb dpkg-shlibdeps dpkg-query lintian man; do
  command -v "$tool" >/dev/null && continue
  [[ -n ${CI:-} ]] && fail "$tool is missing (scripts/install-deps.sh installs it)"
  echo "SKIP: $tool is missing (scripts/install-deps.sh installs it)"
  exit 77
done

step "1. build the .deb from $BUILD"
cpack -G DEB --config "$BUILD/CPackConfig.cmake" -B "$E2E_DIR/pkg" >"$E2E_DIR/cpack.log" 2>&1 ||
  { cat "$E2E_DIR/cpack.log" >&2; fail "cpack failed"; }
debs=("$E2E_DIR"/pkg/ovl_*.deb)
[[ ${#debs[@]} == 1 && -f ${debs[0]} ]] || fail "cpack made no single ovl_*.deb: ${debs[*]}"
DEB=${debs[0]}
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$BUILD/CPackConfig.cmake")
printf '%s: %s bytes\n' "${DEB##*/}" "$(stat -c %s "$DEB")"
dpkg-deb --info "$DEB"

field() { dpkg-deb --field "$DEB" "$1"; }
[[ $(field Package) == ovl ]] || fail "Package is '$(field Package)', expected ovl"
[[ $(field Version) == "$version" ]] || fail "Version is '$(field Version)', expected $version"
[[ $(field Section) == net ]] || fail "Section is '$(field Section)', expected net"
[[ -n $(field Maintainer) ]] || fail "no Maintainer"
# A summary line and a long description (continuation lines).
(($(field Description | wc -l) > 2)) || fail "Description has no long part"

dpkg-deb --contents "$DEB" >"$E2E_DIR/contents.txt"
echo "--- contents"
awk '{print $1, $6}' "$E2E_DIR/contents.txt"
mode_of() { awk -v p="./$1" '$6 == p {print $1}' "$E2E_DIR/contents.txt"; }
for p in usr/sbin/ovl-agent usr/bin/ovlctl usr/lib/cni/ovl-cni; do
  [[ $(mode_of "$p") == -rwxr-xr-x ]] || fail "/$p missing or not 0755: '$(mode_of "$p")'"
done
for p in etc/ovl/agent.yaml etc/ovl/cluster.yaml lib/systemd/system/ovl-agent.service \
  usr/share/man/man8/ovl-agent.8.gz usr/share/man/man8/ovlctl.8.gz \
  usr/share/man/man8/ovl-cni.8.gz usr/share/man/man5/ovl-agent.yaml.5.gz \
  usr/share/man/man5/ovl-cluster.yaml.5.gz usr/share/bash-completion/completions/ovlctl \
  usr/share/doc/ovl/README.md usr/share/doc/ovl/copyright usr/share/doc/ovl/changelog.gz \
  usr/share/doc/ovl/examples/agent.yaml usr/share/doc/ovl/examples/agent-etcd.yaml \
  usr/share/doc/ovl/examples/cluster.yaml usr/share/doc/ovl/examples/cni/10-ovl.conflist \
  usr/share/doc/ovl/examples/systemd/ovl-agent.service; do
  [[ $(mode_of "$p") == -rw-r--r-- ]] || fail "/$p missing or not 0644: '$(mode_of "$p")'"
done
if grep -q '\./usr/local/' "$E2E_DIR/contents.txt"; then fail "files under /usr/local"; fi

mkdir "$E2E_DIR/control"
dpkg-deb --control "$DEB" "$E2E_DIR/control"
printf '/etc/ovl/agent.yaml\n/etc/ovl/cluster.yaml\n' | cmp - "$E2E_DIR/control/conffiles" ||
  fail "conffiles is not /etc/ovl/agent.yaml and /etc/ovl/cluster.yaml"
# No maintainer scripts: installing the package neither enables nor starts the unit.
for s in preinst postinst prerm postrm; do
  [[ ! -e $E2E_DIR/control/$s ]] || fail "the package has a $s script"
done

step "2. Depends: $(field Depends)"
# Each comma-separated group holds alternatives (a | b); one installed alternative whose
# version satisfies the relation is enough. A name may be virtual: libspdlog1.10 provides
# libspdlog1.10-fmt9, the name in its shlibs file.
dpkg-query -W -f='${db:Status-Status}\t${Package} ${Version}\t${Provides}\n' |
  awk -F'\t' '$1 == "installed" && $3 != "" {print $2 "\t" $3}' >"$E2E_DIR/provides.txt"
# provided NAME REL WANT: prints "PACKAGE VERSION (provides NAME)" for an installed package that
# provides NAME, in a version satisfying REL WANT when given (a versioned Provides).
provided() {
  local name=$1 rel=$2 want=$3 pkg provides p pname pver
  while IFS=$'\t' read -r pkg provides; do
    IFS=, read -ra ps <<<"$provides"
    for p in "${ps[@]}"; do
      read -r pname _ pver <<<"${p//[()]/ }"
      [[ $pname == "$name" ]] || continue
      if [[ -z $rel ]] || { [[ -n $pver ]] && dpkg --compare-versions "$pver" "$rel" "$want"; }; then
        printf '%s (provides %s)\n' "$pkg" "$p"
        return 0
      fi
    done
  done <"$E2E_DIR/provides.txt"
  return 1
}
depends_ok=1
IFS=, read -ra groups <<<"$(field Depends)"
for group in "${groups[@]}"; do
  met=""
  IFS='|' read -ra alternatives <<<"$group"
  for alt in "${alternatives[@]}"; do
    read -r name rel want <<<"${alt//[()]/ }"
    name=${name%%:*}
    have=$(dpkg-query -W -f='${db:Status-Status} ${Version}' "$name" 2>/dev/null) || have=""
    if [[ $have == installed\ * ]] &&
      { [[ -z ${rel:-} ]] || dpkg --compare-versions "${have#installed }" "$rel" "$want"; }; then
      met="$name ${have#installed }"
      break
    fi
    if met=$(provided "$name" "${rel:-}" "${want:-}"); then break; fi
  done
  if [[ -n $met ]]; then
    printf '  %-45s installed: %s\n' "${group# }" "$met"
  else
    printf '  %-45s NOT satisfied\n' "${group# }"
    depends_ok=0
  fi
done
((depends_ok)) || fail "a dependency is not satisfied by the installed packages"
# apt's own answer: installing the package here would install nothing else.
apt-get install --simulate --no-install-recommends "$DEB" >"$E2E_DIR/apt.txt" 2>&1 ||
  { cat "$E2E_DIR/apt.txt" >&2; fail "apt-get install --simulate refuses the package"; }
grep '^Inst ' "$E2E_DIR/apt.txt" || true
if grep '^Inst ' "$E2E_DIR/apt.txt" | grep -qv '^Inst ovl '; then
  fail "apt would install other packages with it"
fi

step "3. lintian"
lintian_rc=0
lintian --info --display-info "$DEB" >"$E2E_DIR/lintian.txt" 2>&1 || lintian_rc=$?
grep -v '^N:' "$E2E_DIR/lintian.txt" | grep -v 'running with root privileges' || true
errors=$(grep -c '^E:' "$E2E_DIR/lintian.txt" || true)
warnings=$(grep -c '^W:' "$E2E_DIR/lintian.txt" || true)
printf 'lintian: exit %s, %s errors, %s warnings\n' "$lintian_rc" "$errors" "$warnings"
((errors == 0)) || fail "lintian reports errors"
((lintian_rc == 0)) || fail "lintian exited $lintian_rc"

step "4. man pages and bash completion"
ROOT=$E2E_DIR/root
dpkg-deb --extract "$DEB" "$ROOT"
for page in "$ROOT"/usr/share/man/man*/*.gz; do
  out=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 \
    >/dev/null)
  [[ -z $out ]] || fail "${page#"$ROOT"}: man warns: $out"
  printf '%s: renders without warnings\n' "${page#"$ROOT"}"
done
# complete WORDS...: what the packaged completion offers for the last word.
complete_words() {
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _ovlctl
    printf "%s\n" "${COMPREPLY[*]}"' _ "$ROOT/usr/share/bash-completion/completions/ovlctl" "$@"
}
expect_completion() { # expect_completion WANT WORDS...
  local want=$1 got
  shift
  got=$(complete_words "$@")
  printf 'complete %-32s -> %s\n' "'$*'" "$got"
  [[ $got == "$want" ]] || fail "completion of '$*': '$got', expected '$want'"
}
expect_completion 'status diagnose trace connectivity service nat node network' ovlctl ''
expect_completion 'table json yaml' ovlctl status -o ''
expect_completion 'apply delete list' ovlctl service ''
expect_completion 'text json' ovlctl diagnose -o ''
expect_completion 'table json' ovlctl connectivity -o ''
expect_completion 'table json yaml' ovlctl node list --output ''
expect_completion '--fix' ovlctl diagnose --fi
expect_completion 'list' ovlctl nat ''
expect_completion '--kernel' ovlctl service list --kern
expect_completion '--endpoints' ovlctl --endp
expect_completion "$ROOT/etc/ovl/agent.yaml" ovlctl trace -c "$ROOT/etc/ovl/agent."

step "5. the unpacked programs"
grep -qx 'ExecStart=/usr/sbin/ovl-agent --config /etc/ovl/agent.yaml' \
  "$ROOT/lib/systemd/system/ovl-agent.service" || fail "the unit does not run /usr/sbin/ovl-agent"
AGENT=$ROOT/usr/sbin/ovl-agent
OVLCTL=$ROOT/usr/bin/ovlctl
CNI=$ROOT/usr/lib/cni/ovl-cni
for bin in "$AGENT" "$OVLCTL" "$CNI"; do
  out=$("$bin" --version) || fail "${bin#"$ROOT"} --version failed"
  printf '%s --version: %s\n' "${bin#"$ROOT"}" "$out"
  [[ $out == "${bin##*/} $version"* ]] ||
    fail "${bin#"$ROOT"} --version printed '$out', expected '${bin##*/} $version...'"
done

cluster_up 2 0
write_cluster_files "$E2E_DIR" 2
for i in 1 2; do agent_start "$i" "$E2E_DIR" "$AGENT"; done
for i in 1 2; do agent_wait_ready "$i" 20 || fail "node$i: the packaged agent is not ready"; done
echo "both packaged agents ready"
node_exec 1 ip route show 10.244.2.0/24 | grep -q 'dev ovl.1' ||
  fail "node1 has no route to node2's pod subnet via ovl.1"

rc=0
node_exec 1 "$OVLCTL" diagnose --config "$E2E_DIR/node1.yaml" >"$E2E_DIR/diag.txt" 2>&1 || rc=$?
printf -- '--- packaged ovlctl diagnose on node1 (exit %s)\n' "$rc"
cat "$E2E_DIR/diag.txt"
((rc == 0)) || fail "ovlctl diagnose on node1 exited $rc, expected 0 (healthy)"

# The packaged configuration: /etc/ovl/agent.yaml's relative clusterFile is found beside it, and
# both files load (node1 of examples/cluster.yaml has node1's underlay address here).
rc=0
node_exec 1 "$OVLCTL" trace --config "$ROOT/etc/ovl/agent.yaml" 10.244.1.11 10.96.0.10:80 \
  >"$E2E_DIR/trace.txt" 2>&1 || rc=$?
printf -- '--- packaged ovlctl trace with the packaged /etc/ovl/agent.yaml (exit %s)\n' "$rc"
cat "$E2E_DIR/trace.txt"
((rc == 0)) || fail "ovlctl trace with the packaged configuration exited $rc"

echo "PASS"
