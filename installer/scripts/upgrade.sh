#!/usr/bin/env bash
# Upgrades an installed iscsi-initiator: install.sh over the old one. The old daemon logs every session out as it
# stops; the new one logs in to every node.startup=automatic node as it starts, so those sessions come back. The node
# database, secrets and logs are not touched.
#
# usage: sudo installer/scripts/upgrade.sh [install.sh's arguments]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$here/lib.sh"

root=${DESTROOT:-/}
args=("$@")
while [ $# -gt 0 ]; do
  case $1 in
    --root) root=${2:?--root needs a folder}; shift 2 ;;
    -h | --help) sed -n '2,7p' "$0"; exit 0 ;;
    *) shift ;;
  esac
done
set_root "$root" 1
[ -f "$(at "$LAUNCHD_PLIST")" ] || die "nothing to upgrade: $(at "$LAUNCHD_PLIST") is missing (use install.sh)"
exec "$here/install.sh" ${args[@]+"${args[@]}"}
