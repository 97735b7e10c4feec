#!/usr/bin/env bash
# Fails when the layout README describes is broken: a folder includes a folder it may not (arrows
# run downwards only: the cluster model below everything, agent/ and cli/ at the top), or a
# product source file is longer than 800 lines.
set -euo pipefail
cd "$(dirname "$0")/.."

# folder: the folders it may include (besides itself).
declare -A allowed=(
  [common]=""
  [model]="common"
  [netlink]="common"
  [overlay]="common model netlink"
  [rules]="common model"
  [etcd]="common"
  [datastore]="common model etcd"
  [diagnostics]="common model netlink overlay rules"
  [agent]="common model netlink overlay rules etcd datastore diagnostics"
  [cni]="common netlink"
  [cli]="common model netlink overlay rules etcd datastore diagnostics cni"
  [bench]="common model netlink overlay rules etcd datastore"
  [tests/tools]="common model netlink overlay rules etcd datastore"
)
folders="${!allowed[*]}"
max_lines=800

bad=0
for folder in "${!allowed[@]}"; do
  while IFS= read -r file; do
    while IFS=: read -r line target; do
      top=${target%%/*}
      [ "$top" = "$target" ] && continue                # "file.h": not a folder of ovl
      [[ " $folders tests " == *" $top "* ]] || continue  # a system or library header
      [ "$top" = "$folder" ] && continue
      if [[ " ${allowed[$folder]} " != *" $top "* ]]; then
        echo "layout: $file:$line includes \"$target\": $folder/ may include only: ${allowed[$folder]:-nothing}" >&2
        bad=1
      fi
    done < <(grep -n -oE '^#include "[^"]+"' "$file" | sed -E 's/#include "([^"]+)"/\1/')
  done < <(git ls-files "$folder/*.cpp" "$folder/*.h")
done

for folder in common model netlink overlay rules etcd datastore diagnostics agent cni cli; do
  while IFS= read -r file; do
    n=$(wc -l <"$file")
    if [ "$n" -gt "$max_lines" ]; then
      echo "layout: $file has $n lines (at most $max_lines: split it by object kind or step)" >&2
      bad=1
    fi
  done < <(git ls-files "$folder/*.cpp" "$folder/*.h")
done
[ "$bad" -eq 0 ] || exit 1
echo "layout: ok"
