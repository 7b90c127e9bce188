#!/usr/bin/env bash
# Removes iscsi-initiator: every session logged out, the daemon unloaded, the driver extension deactivated, every file
# the installer placed removed, and each one listed. Needs neither iscsiadm nor the daemon's socket: stopping iscsid
# (SIGTERM) is what logs every session out (docs/security.md, "Signals and shutdown"). Installed as
# "/Library/Application Support/iscsi-initiator/uninstall.sh"; self-contained on purpose (no lib.sh beside it).
#
# usage: sudo "/Library/Application Support/iscsi-initiator/uninstall.sh" [--keep-config] [--root DIR] [--no-launchctl]
#   --keep-config    keep the node database (nodes.json, with the initiator name) and the CHAP secrets it refers to
#   --root DIR       uninstall from under DIR instead of / (or DESTROOT=DIR); implies --no-launchctl
#   --no-launchctl   remove files only: no launchctl, host app, Keychain or pkgutil (each skipped step is printed)
# Exit status: 0 when everything is gone, 2 when the host app had to stay (the extension could not be deactivated).
set -euo pipefail

LABEL=io.github.iscsi-initiator.iscsid
DRIVER_ID=io.github.iscsi-initiator.driver
PKG_ID=io.github.iscsi-initiator.pkg
KEYCHAIN_SERVICE=io.github.iscsi-initiator
SUPPORT_DIR='Library/Application Support/iscsi-initiator'
DAEMON_APP="$SUPPORT_DIR/iscsid.app"
UNINSTALLER="$SUPPORT_DIR/uninstall.sh"
LAUNCHD_PLIST="Library/LaunchDaemons/$LABEL.plist"
HOST_APP='Applications/iSCSI Initiator.app'
HOST_APP_BIN="$HOST_APP/Contents/MacOS/iSCSI Initiator"
CLI_LINK='usr/local/bin/iscsiadm'
LOG_DIR='Library/Logs/iscsi-initiator'
SOCKET='var/run/iscsid.sock'
EXIT_TIMEOUT=60
# What --keep-config keeps in the state folder.
CONFIG=(nodes.json nodes.json.rejected secrets)

say() { printf '%s\n' "$*"; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

root=${DESTROOT:-/}
keep_config=0
no_launchctl=0
while [ $# -gt 0 ]; do
  case $1 in
    --keep-config) keep_config=1; shift ;;
    --root) root=${2:?--root needs a folder}; shift 2 ;;
    --no-launchctl) no_launchctl=1; shift ;;
    -h | --help) sed -n '7,12p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[ -d "$root" ] || die "root folder $root does not exist"
root=$(cd "$root" && pwd -P)
if [ "$root" = / ]; then ROOT=''; else ROOT=$root; fi
if [ "$no_launchctl" = 1 ] || [ -n "$ROOT" ]; then SYSTEM=0; else SYSTEM=1; fi
# Into / only on macOS, --no-launchctl or not: elsewhere / holds nothing the installer placed, but may hold a Linux
# iscsid's live socket at the same path.
if [ -z "$ROOT" ] && [ "$(uname -s)" != Darwin ]; then die "this uninstalls from macOS; elsewhere give --root DIR"; fi
if [ "$SYSTEM" = 1 ] && [ "$(id -u)" != 0 ]; then die "uninstalling needs root: sudo $0 $*"; fi

at() { printf '%s/%s' "$ROOT" "$1"; }
removed=()
kept=()
status=0

# Removes a root-relative path (file, link or folder) if it is there, and lists it.
remove() {
  local path
  path=$(at "$1")
  if [ -e "$path" ] || [ -L "$path" ]; then
    rm -rf "$path"
    if [ -d "$path" ] || [ -e "$path" ]; then die "could not remove $path"; fi
    removed+=("/$1")
  fi
}

skipped() { say "skipped (no launchctl): $*"; }

console_user() {
  local user
  user=$(stat -f %Su /dev/console 2>/dev/null) || return 0
  [ "$user" = root ] || [ "$user" = loginwindow ] || printf '%s' "$user"
}

# 1. Stop the daemon: launchd sends SIGTERM, iscsid logs every session out (each within its logout_timeout), then
#    exits; launchd kills it after ExitTimeOut.
if [ "$SYSTEM" = 1 ]; then
  if launchctl print "system/$LABEL" >/dev/null 2>&1; then
    pid=$(launchctl print "system/$LABEL" | awk '$1 == "pid" && $2 == "=" { print $3; exit }') || true
    say "stopping iscsid: every session logs out first (at most ${EXIT_TIMEOUT} s)"
    launchctl bootout "system/$LABEL" || say "launchctl bootout system/$LABEL failed; continuing"
    waited=0
    while [ -n "${pid:-}" ] && kill -0 "$pid" 2>/dev/null && [ "$waited" -lt $((EXIT_TIMEOUT + 5)) ]; do
      sleep 1
      waited=$((waited + 1))
    done
  else
    say "iscsid is not loaded"
  fi
else
  skipped "launchctl bootout system/$LABEL"
fi

# 2. Deactivate the driver extension. Only the app that contains it may ask (OSSystemExtensionRequest), as the
#    logged-in user; deleting the app any other way than through Finder leaves the extension installed. So the app
#    stays when the request cannot be made, and the way out is printed.
host_app_may_go=1
if [ "$SYSTEM" = 1 ] && [ -d "/$HOST_APP" ]; then
  user=$(console_user)
  if [ -n "$user" ] && launchctl asuser "$(id -u "$user")" sudo -u "$user" "/$HOST_APP_BIN" --deactivate; then
    say "driver extension $DRIVER_ID deactivated (it may stay loaded until the next restart)"
  else
    host_app_may_go=0
    status=2
    # ${user:-…} would print the name again after " as $user": the two cases are exclusive.
    if [ -n "$user" ]; then who=" as $user"; else who=' (nobody is logged in)'; fi
    say "could not deactivate the driver extension$who. Kept /$HOST_APP:"
    say "  log in, then run: \"/$HOST_APP_BIN\" --deactivate, and this script again;"
    say "  or drag \"iSCSI Initiator\" from /Applications to the Trash in Finder (macOS then removes the extension)."
  fi
elif [ "$SYSTEM" = 0 ]; then
  skipped "\"/$HOST_APP_BIN\" --deactivate, as the console user"
fi

# 3. The files the installer placed. The command link goes only if it is ours.
cli=$(at "$CLI_LINK")
if [ -L "$cli" ]; then
  case $(readlink "$cli") in
    "/$DAEMON_APP/"*) remove "$CLI_LINK" ;;
    *) kept+=("/$CLI_LINK (not ours: a link to $(readlink "$cli"))") ;;
  esac
elif [ -e "$cli" ]; then
  kept+=("/$CLI_LINK (not ours: not a link)")
fi
remove "$LAUNCHD_PLIST"
remove "$DAEMON_APP"
remove "$UNINSTALLER"
if [ "$host_app_may_go" = 1 ]; then remove "$HOST_APP"; else kept+=("/$HOST_APP"); fi
remove "$LOG_DIR"
# A socket left by a daemon that did not stop cleanly.
if [ -S "$(at "$SOCKET")" ]; then remove "$SOCKET"; fi

# 4. The state folder: the node database and secrets go unless --keep-config; everything else iscsid made goes.
state=$(at "$SUPPORT_DIR")
if [ -d "$state" ]; then
  for path in "$state"/* "$state"/.[!.]* "$state"/..?*; do
    [ -e "$path" ] || [ -L "$path" ] || continue
    name=${path##*/}
    if [ "$keep_config" = 1 ] && printf '%s\n' "${CONFIG[@]}" | grep -qxF -- "$name"; then
      kept+=("/$SUPPORT_DIR/$name")
    else
      remove "$SUPPORT_DIR/$name"
    fi
  done
  if [ "$keep_config" = 0 ] || [ -z "$(ls -A "$state")" ]; then
    rmdir "$state"
    removed+=("/$SUPPORT_DIR")
  fi
fi

# 5. Secrets in the System keychain (iscsid runs as root), and the pkg's receipt.
if [ "$keep_config" = 1 ]; then
  kept+=("Keychain items of service $KEYCHAIN_SERVICE")
elif [ "$SYSTEM" = 1 ]; then
  count=0
  while [ "$count" -lt 10000 ] && security delete-generic-password -s "$KEYCHAIN_SERVICE" /Library/Keychains/System.keychain >/dev/null 2>&1; do
    count=$((count + 1))
  done
  [ "$count" = 0 ] || removed+=("Keychain items of service $KEYCHAIN_SERVICE: $count")
else
  skipped "security delete-generic-password -s $KEYCHAIN_SERVICE /Library/Keychains/System.keychain"
fi
if [ "$SYSTEM" = 1 ]; then
  if pkgutil --pkg-info "$PKG_ID" >/dev/null 2>&1; then
    pkgutil --forget "$PKG_ID" >/dev/null && removed+=("the installer's receipt $PKG_ID")
  fi
else
  skipped "pkgutil --forget $PKG_ID"
fi

for item in ${removed[@]+"${removed[@]}"}; do say "removed: $item"; done
for item in ${kept[@]+"${kept[@]}"}; do say "kept: $item"; done
[ ${#removed[@]} -gt 0 ] || say "nothing to remove: iscsi-initiator is not installed${ROOT:+ under $ROOT}"
exit "$status"
