#!/usr/bin/env bash
# Installs iscsi-initiator from a clone, as the pkg would: stop the old daemon, put the new files in place, start the
# new daemon (docs/install.md). The pkg runs the same steps through its preinstall and postinstall scripts.
#
# usage: sudo installer/scripts/install.sh [--bin DIR] [--app PATH | --without-app] [--root DIR] [--no-launchctl]
#   --bin, --app, --without-app   as stage-payload.sh
#   --root DIR       install under DIR instead of / (or DESTROOT=DIR); implies --no-launchctl
#   --no-launchctl   place the files only: no launchctl, no host app opened (each skipped step is printed)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$here/lib.sh"

root=${DESTROOT:-/}
no_launchctl=0
stage_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --bin | --app) stage_args+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
    --without-app) stage_args+=("$1"); shift ;;
    --root) root=${2:?--root needs a folder}; shift 2 ;;
    --no-launchctl) no_launchctl=1; shift ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
set_root "$root" "$no_launchctl"
if [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then die "installing into / needs root: sudo $0 $*"; fi

stage=$(mktemp -d "${TMPDIR:-/tmp}/iscsi-initiator-stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
"$here/stage-payload.sh" ${stage_args[@]+"${stage_args[@]}"} --out "$stage/root" >/dev/null

stop_daemon
# Each payload entry replaces the old one whole, so nothing of an older bundle lingers inside the new one.
for entry in "${PAYLOAD[@]}"; do
  [ -e "$stage/root/$entry" ] || [ -L "$stage/root/$entry" ] || continue
  target=$(at "$entry")
  mkdir -p "$(dirname "$target")"
  rm -rf "$target"
  cp -R -p "$stage/root/$entry" "$target"
  say "placed /$entry"
done
make_daemon_folders
start_daemon
open_host_app
say "installed. Next: approve the driver extension, then log in (docs/install.md)"
