# shellcheck shell=bash disable=SC2034 # (the variables are for the scripts that source this file)
# What the install, upgrade and pkg scripts share: where each file goes (docs/install.md, "Where everything lives",
# is the list a test compares with what these scripts place) and how the daemon is stopped and started.
# Sourced, never run. uninstall.sh does not source it: it is installed on its own and must work from there.
# Written for macOS's /bin/bash 3.2 too (the pkg's scripts run under it): an array that may be empty is expanded as
# ${a[@]+"${a[@]}"}, since 3.2 calls "${a[@]}" of an empty array unbound under set -u.

LABEL=io.github.iscsi-initiator.iscsid
# Paths relative to the root; the state, secrets and log folders are core/src/platform-paths.ts's for darwin.
SUPPORT_DIR='Library/Application Support/iscsi-initiator'
DAEMON_APP="$SUPPORT_DIR/iscsid.app"
UNINSTALLER="$SUPPORT_DIR/uninstall.sh"
LAUNCHD_PLIST="Library/LaunchDaemons/$LABEL.plist"
HOST_APP='Applications/iSCSI Initiator.app'
CLI_LINK='usr/local/bin/iscsiadm'
LOG_DIR='Library/Logs/iscsi-initiator'
DRIVER_ID=io.github.iscsi-initiator.driver
# launchd's ExitTimeOut in the plist: how long a stop may take (iscsid logs every session out on SIGTERM).
EXIT_TIMEOUT=60
# What the payload holds, top level first: install.sh replaces each of these whole.
PAYLOAD=("$HOST_APP" "$DAEMON_APP" "$UNINSTALLER" "$LAUNCHD_PLIST" "$CLI_LINK")

say() { printf '%s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# ROOT ("" for /) and USE_LAUNCHCTL (1 or 0) from a root folder and the --no-launchctl flag: any root but / turns
# launchctl off, since a daemon cannot be bootstrapped from a folder that is not the system's.
set_root() {
  local root=$1 no_launchctl=$2
  [ -n "$root" ] || root=/
  [ -d "$root" ] || die "root folder $root does not exist"
  root=$(cd "$root" && pwd -P)
  if [ "$root" = / ]; then ROOT=''; else ROOT=$root; fi
  if [ "$no_launchctl" = 1 ] || [ -n "$ROOT" ]; then USE_LAUNCHCTL=0; else USE_LAUNCHCTL=1; fi
  if [ -z "$ROOT" ] && [ "$(uname -s)" != Darwin ]; then
    die "installing into / works only on macOS; to check the layout elsewhere, give a root folder: --root DIR (or DESTROOT=DIR)"
  fi
}

# The absolute path of a root-relative path.
at() { printf '%s/%s' "$ROOT" "$1"; }

# launchctl, or what it would have run when it is off.
launchctl_or_say() {
  if [ "$USE_LAUNCHCTL" = 1 ]; then
    launchctl "$@"
  else
    say "skipped (no launchctl): launchctl $*"
  fi
}

# Stops the running daemon, if any, and waits for it to exit: SIGTERM makes iscsid log every session out first
# (docs/security.md, "Signals and shutdown"), which launchd bounds with ExitTimeOut.
stop_daemon() {
  if [ "$USE_LAUNCHCTL" != 1 ]; then
    say "skipped (no launchctl): launchctl bootout system/$LABEL"
    return 0
  fi
  local pid
  pid=$(launchctl print "system/$LABEL" 2>/dev/null | awk '$1 == "pid" && $2 == "=" { print $3; exit }') || true
  if ! launchctl print "system/$LABEL" >/dev/null 2>&1; then
    say "iscsid is not loaded"
    return 0
  fi
  say "stopping iscsid (every session logs out first; at most ${EXIT_TIMEOUT} s)"
  launchctl bootout "system/$LABEL" || warn "launchctl bootout system/$LABEL failed"
  # bootout may return before the process is gone; the next daemon needs the old one's lock released.
  if [ -n "$pid" ]; then
    local waited=0
    while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt $((EXIT_TIMEOUT + 5)) ]; do
      sleep 1
      waited=$((waited + 1))
    done
    kill -0 "$pid" 2>/dev/null && warn "iscsid (pid $pid) is still running"
  fi
  return 0
}

# Loads the plist and starts iscsid (RunAtLoad); it logs in to every node.startup=automatic node as it starts.
start_daemon() {
  local plist
  plist=$(at "$LAUNCHD_PLIST")
  # A service disabled once stays disabled across bootstraps: enable it first.
  launchctl_or_say enable "system/$LABEL"
  if [ "$USE_LAUNCHCTL" != 1 ]; then
    say "skipped (no launchctl): launchctl bootstrap system $plist"
  elif ! launchctl bootstrap system "$plist"; then
    # Still loaded (a bootout that failed): restart it in place, so the new binary runs all the same.
    warn "launchctl bootstrap failed; restarting the loaded service instead"
    launchctl kickstart -k "system/$LABEL"
  fi
}

# Folders iscsid writes to that the payload does not hold: the log folder. The state folder (which the payload
# creates, holding iscsid.app) must not be writable by group or others, or iscsid refuses it (docs/security.md).
make_daemon_folders() {
  mkdir -p "$(at "$LOG_DIR")"
  chmod 755 "$(at "$LOG_DIR")" "$(at "$SUPPORT_DIR")"
  if [ "$(id -u)" = 0 ]; then chown 0:0 "$(at "$LOG_DIR")" "$(at "$SUPPORT_DIR")"; fi
}

# The console user's name, or nothing (at the login window, over ssh with nobody logged in).
console_user() {
  local user
  user=$(stat -f %Su /dev/console 2>/dev/null) || return 0
  [ "$user" = root ] || [ "$user" = loginwindow ] || printf '%s' "$user"
}

# Opens the host app for the console user, so that it asks for the extension's activation and shows how to approve.
open_host_app() {
  local user
  if [ "$USE_LAUNCHCTL" != 1 ]; then
    say "skipped (no launchctl): open \"/$HOST_APP\" as the console user"
    return 0
  fi
  [ -d "/$HOST_APP" ] || return 0
  user=$(console_user)
  if [ -z "$user" ]; then
    say "nobody is logged in: open \"/$HOST_APP\" to activate the driver extension"
    return 0
  fi
  launchctl asuser "$(id -u "$user")" sudo -u "$user" open "/$HOST_APP" ||
    say "open \"/$HOST_APP\" to activate the driver extension"
}
