#!/usr/bin/env bash
# Assembles the pkg's payload: the tree pkgbuild --root takes, and install.sh copies into place. Runs anywhere (the
# layout is tested on Linux); only the binaries it is given are platform-specific.
#
# usage: stage-payload.sh --out DIR [--bin DIR] [--app PATH | --without-app]
#   --bin   the folder `npm run package` makes: iscsid, iscsiadm and the addons they load from beside them,
#           iscsi-native.node, crc32.node and keyring.node (default installer/build/darwin-<arch> of this Mac)
#   --app   the built host app, "iSCSI Initiator.app", with the dext inside (installer/macos/build-host-app.sh;
#           default installer/build/iSCSI Initiator.app)
#   --without-app   no host app: iscsid runs sessions without disks (for trying the daemon before the dext works)
#   --out   an empty or missing folder; the payload's root
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$here/lib.sh"

# npm run package's folder is named after Node's process.platform-process.arch: darwin-arm64 or darwin-x64.
case $(uname -m) in x86_64) node_arch=x64 ;; *) node_arch=$(uname -m) ;; esac
bin="$repo/installer/build/darwin-$node_arch"
app="$repo/installer/build/iSCSI Initiator.app"
out=''
with_app=1
while [ $# -gt 0 ]; do
  case $1 in
    --bin) bin=${2:?--bin needs a folder}; shift 2 ;;
    --app) app=${2:?--app needs a path}; shift 2 ;;
    --without-app) with_app=0; shift ;;
    --out) out=${2:?--out needs a folder}; shift 2 ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[ -n "$out" ] || die "--out DIR is required"
if [ -e "$out" ] && [ -n "$(ls -A "$out")" ]; then die "$out is not empty"; fi

# The addons (installer/sea/package.mjs): ours, @node-rs/crc32's (digests) and @napi-rs/keyring's (the Keychain).
ADDONS="iscsi-native.node crc32.node keyring.node"
for file in iscsid iscsiadm $ADDONS; do
  [ -f "$bin/$file" ] || die "$bin/$file is missing: build it with \`npm run package\` (or give --bin DIR)"
done
if [ ! -x "$bin/iscsid" ] || [ ! -x "$bin/iscsiadm" ]; then die "$bin/iscsid and $bin/iscsiadm must be executable"; fi
if [ "$with_app" = 1 ]; then
  [ -f "$app/Contents/Info.plist" ] || die "$app is not an app bundle: build it with installer/macos/build-host-app.sh (on a Mac), or give --app PATH or --without-app"
  [ -d "$app/Contents/Library/SystemExtensions/$DRIVER_ID.dext" ] || die "$app does not embed Contents/Library/SystemExtensions/$DRIVER_ID.dext"
fi

version=$(sed -n 's/^  "version": "\([^"]*\)".*/\1/p' "$repo/core/package.json")
[ -n "$version" ] || die "no version in core/package.json"

mkdir -p "$out"
ROOT=$(cd "$out" && pwd -P)

# The daemon's bundle: a bare executable cannot carry the provisioning profile its restricted userclient-access
# entitlement needs, a bundle can (Contents/embedded.provisionprofile, added when signing). iscsiadm and the addons
# sit beside iscsid, where both binaries load them from (process.dlopen next to process.execPath).
contents=$(at "$DAEMON_APP/Contents")
mkdir -p "$contents/MacOS"
sed "s/@VERSION@/$version/g" "$repo/installer/macos/iscsid-Info.plist" >"$contents/Info.plist"
cp "$bin/iscsid" "$bin/iscsiadm" "$contents/MacOS/"
chmod 755 "$contents/MacOS/iscsid" "$contents/MacOS/iscsiadm"
chmod 644 "$contents/Info.plist"
for addon in $ADDONS; do
  cp "$bin/$addon" "$contents/MacOS/"
  chmod 644 "$contents/MacOS/$addon"
done

cp "$here/uninstall.sh" "$(at "$UNINSTALLER")"
chmod 755 "$(at "$UNINSTALLER")"

# launchd refuses a daemon plist that group or others may write, or that root does not own.
mkdir -p "$(dirname "$(at "$LAUNCHD_PLIST")")"
cp "$repo/installer/macos/$LABEL.plist" "$(at "$LAUNCHD_PLIST")"
chmod 644 "$(at "$LAUNCHD_PLIST")"

# iscsiadm on PATH: a link, so that process.execPath (resolved through it) finds the addon in the bundle.
mkdir -p "$(dirname "$(at "$CLI_LINK")")"
ln -s "/$DAEMON_APP/Contents/MacOS/iscsiadm" "$(at "$CLI_LINK")"

if [ "$with_app" = 1 ]; then
  mkdir -p "$(dirname "$(at "$HOST_APP")")"
  cp -R "$app" "$(at "$HOST_APP")"
fi

# Folders 0755, owned by root where we can (pkgbuild records root:wheel for the whole payload anyway).
find "$ROOT" -type d -exec chmod 755 {} +
if [ "$(id -u)" = 0 ]; then chown -R -h 0:0 "$ROOT"; fi
say "payload staged in $ROOT (version $version)"
