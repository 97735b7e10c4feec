#!/usr/bin/env bash
# Builds the Debian package of ovl: configures build/ with CMAKE_INSTALL_PREFIX=/usr (as the
# package installs it: /usr/sbin, /usr/bin, /usr/lib/cni, /etc/ovl, /lib/systemd/system), builds
# it (RelWithDebInfo, as scripts/build.sh; the package's programs are stripped) and runs
# `cpack -G DEB` there. Prints the path of build/ovl_<version>_<arch>.deb. Needs Debian's
# dpkg-dev (dpkg-shlibdeps computes Depends); scripts/install-deps.sh installs it.
#   scripts/package.sh            build the .deb
#   scripts/package.sh --lintian  and run lintian on it
set -euo pipefail
cd "$(dirname "$0")/.."
lint=0
for arg in "$@"; do
  case "$arg" in
    --lintian) lint=1 ;;
    *) echo "package.sh: unknown option $arg (expected --lintian)" >&2; exit 2 ;;
  esac
done
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
cmake --build build -j"$(nproc)"
(cd build && cpack -G DEB)
deb=$(ls -t build/ovl_*.deb | head -n 1)
printf 'package: %s (%s bytes)\n' "$deb" "$(stat -c %s "$deb")"
dpkg-deb --field "$deb" Package Version Depends
if [ "$lint" -eq 1 ]; then
  lintian --info --display-info "$deb"
fi
