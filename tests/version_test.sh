#!/usr/bin/env bash
# ovl-agent, ovlctl and ovl-cni print one version: project(VERSION) and git describe.
# Usage: version_test.sh OVL_AGENT OVLCTL OVL_CNI VERSION
set -euo pipefail
agent=$("$1" --version)
ctl=$("$2" --version)
cni=$(env -u CNI_COMMAND "$3" --version)
v=${agent#ovl-agent }
[[ $v == "$4"* ]] || { echo "ovl-agent --version: '$agent' does not start with $4" >&2; exit 1; }
[[ $ctl == "ovlctl $v" ]] || { echo "ovlctl --version: '$ctl', expected 'ovlctl $v'" >&2; exit 1; }
[[ $cni == "ovl-cni $v" ]] || { echo "ovl-cni --version: '$cni', expected 'ovl-cni $v'" >&2; exit 1; }
echo "all three: $v"
