#!/usr/bin/env bash
# Makes the installer package: the payload (stage-payload.sh), signed; pkgbuild with the preinstall and postinstall
# scripts; productbuild; then notarized and stapled. macOS only. Each signing step takes its identity from the
# environment and is skipped with a warning when it is absent (an unsigned pkg is for a test Mac only).
#
# usage: installer/scripts/build-pkg.sh [--bin DIR] [--app PATH | --without-app] [--out FILE]
#   default --out: installer/build/iscsi-initiator-<version>-<arch>.pkg
# environment:
#   ISCSI_SIGN_APP_IDENTITY        "Developer ID Application: …": signs the binaries, iscsid.app and the host app
#   ISCSI_DAEMON_PROFILE           a Developer ID provisioning profile for io.github.iscsi-initiator.iscsid granting
#                                  userclient-access; embedded as iscsid.app/Contents/embedded.provisionprofile
#   ISCSI_DEXT_PROFILE             the same for io.github.iscsi-initiator.driver (the DriverKit entitlements)
#   ISCSI_HOST_APP_PROFILE         the same for io.github.iscsi-initiator (system-extension.install)
#   ISCSI_SIGN_INSTALLER_IDENTITY  "Developer ID Installer: …": signs the pkg (productbuild --sign)
#   ISCSI_NOTARY_PROFILE           a notarytool keychain profile (xcrun notarytool store-credentials): notarize, staple
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$here/lib.sh"

[ "$(uname -s)" = Darwin ] || die "build-pkg.sh makes a macOS package with pkgbuild and productbuild, which exist only on macOS; this is $(uname -s). To check the payload's layout here: installer/scripts/stage-payload.sh --out DIR"

stage_args=()
out=''
while [ $# -gt 0 ]; do
  case $1 in
    --bin | --app) stage_args+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
    --without-app) stage_args+=("$1"); shift ;;
    --out) out=${2:?--out needs a file}; shift 2 ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
version=$(sed -n 's/^  "version": "\([^"]*\)".*/\1/p' "$repo/core/package.json")
arch=$(uname -m)
out=${out:-"$repo/installer/build/iscsi-initiator-$version-$arch.pkg"}
work="$repo/installer/build/pkg"
rm -rf "$work"
mkdir -p "$work/scripts" "$(dirname "$out")"

"$here/stage-payload.sh" ${stage_args[@]+"${stage_args[@]}"} --out "$work/root"
ROOT="$work/root"

# Sign from the inside out (never --deep): the addon and iscsiadm, then iscsid.app (its main executable, with the
# profile), then the dext and the host app. Each under the hardened runtime, with a secure timestamp (notarization
# needs both). Apple: "Creating distribution-signed code for macOS".
sign() {
  codesign --force --timestamp --options runtime --sign "$ISCSI_SIGN_APP_IDENTITY" "$@"
}
# The entitlements codesign gets, in $work/entitlements/<bundle id>.plist: the file's, as a plain XML property list
# (codesign wants no comments, and ours have some), plus, when a provisioning profile authorizes restricted
# entitlements, the App ID and team that tie the executable to that profile (Apple, TN3125 "Inside Code Signing:
# Provisioning Profiles" and "Signing a daemon with a restricted entitlement"; Karabiner-DriverKit-VirtualHIDDevice's
# entitlement files carry com.apple.application-identifier). Xcode adds these itself; codesign does not.
entitlements_for() { # <entitlements file> <bundle id> [<profile>]
  local out="$work/entitlements/$2.plist" decoded="$work/entitlements/$2.profile.plist" team app_id
  mkdir -p "$work/entitlements"
  plutil -convert xml1 -o "$out" "$1"
  [ -n "${3:-}" ] || return 0
  security cms -D -i "$3" -o "$decoded"
  team=$(/usr/libexec/PlistBuddy -c 'Print :TeamIdentifier:0' "$decoded")
  app_id=$(/usr/libexec/PlistBuddy -c 'Print :Entitlements:com.apple.application-identifier' "$decoded")
  [ "$app_id" = "$team.$2" ] || die "$3 is for App ID $app_id, not $team.$2"
  /usr/libexec/PlistBuddy -c "Add :com.apple.application-identifier string $team.$2" \
    -c "Add :com.apple.developer.team-identifier string $team" "$out"
}
if [ -n "${ISCSI_SIGN_APP_IDENTITY:-}" ]; then
  macos=$(at "$DAEMON_APP/Contents/MacOS")
  for addon in iscsi-native.node crc32.node keyring.node; do sign "$macos/$addon"; done
  entitlements_for "$repo/installer/macos/entitlements/iscsiadm.entitlements" io.github.iscsi-initiator.iscsiadm
  # A helper tool's identifier is its file name unless given: give it a reverse-DNS one, as Apple advises.
  sign --identifier io.github.iscsi-initiator.iscsiadm \
    --entitlements "$work/entitlements/io.github.iscsi-initiator.iscsiadm.plist" "$macos/iscsiadm"
  if [ -n "${ISCSI_DAEMON_PROFILE:-}" ]; then
    cp "$ISCSI_DAEMON_PROFILE" "$(at "$DAEMON_APP/Contents/embedded.provisionprofile")"
  else
    warn "ISCSI_DAEMON_PROFILE is not set: iscsid.app carries no provisioning profile, so AMFI will kill iscsid for its userclient-access entitlement (fine only with SIP off on a test Mac)"
  fi
  entitlements_for "$repo/driver/dext/iscsid.entitlements" io.github.iscsi-initiator.iscsid "${ISCSI_DAEMON_PROFILE:-}"
  sign --entitlements "$work/entitlements/io.github.iscsi-initiator.iscsid.plist" "$(at "$DAEMON_APP")"
  codesign --verify --strict --verbose=2 "$(at "$DAEMON_APP")"
  app=$(at "$HOST_APP")
  if [ -d "$app" ] && [ -n "${ISCSI_DEXT_PROFILE:-}" ] && [ -n "${ISCSI_HOST_APP_PROFILE:-}" ]; then
    # xcodebuild embedded development profiles, which list development certificates only: a Developer ID signature
    # needs Developer ID profiles. A dext is a flat bundle: its profile sits beside its Info.plist (Karabiner's
    # codesign.sh puts it there too).
    dext="$app/Contents/Library/SystemExtensions/$DRIVER_ID.dext"
    cp "$ISCSI_DEXT_PROFILE" "$dext/embedded.provisionprofile"
    entitlements_for "$repo/driver/dext/IscsiHbaDriver.entitlements" "$DRIVER_ID" "$ISCSI_DEXT_PROFILE"
    sign --entitlements "$work/entitlements/$DRIVER_ID.plist" "$dext"
    cp "$ISCSI_HOST_APP_PROFILE" "$app/Contents/embedded.provisionprofile"
    entitlements_for "$repo/installer/macos/HostApp/HostApp.entitlements" io.github.iscsi-initiator "$ISCSI_HOST_APP_PROFILE"
    sign --entitlements "$work/entitlements/io.github.iscsi-initiator.plist" "$app"
    codesign --verify --deep --strict --verbose=2 "$app"
  elif [ -d "$app" ]; then
    warn "ISCSI_DEXT_PROFILE or ISCSI_HOST_APP_PROFILE is not set: the host app and its dext keep xcodebuild's development signatures (this Mac only; the notary service refuses them)"
  fi
else
  warn "ISCSI_SIGN_APP_IDENTITY is not set: the binaries keep their ad hoc signatures, without the hardened runtime or entitlements (a test Mac only)"
fi

cp "$here/preinstall" "$here/postinstall" "$here/lib.sh" "$work/scripts/"
chmod 755 "$work/scripts/preinstall" "$work/scripts/postinstall"
pkgbuild --root "$work/root" --component-plist "$repo/installer/macos/component.plist" --scripts "$work/scripts" \
  --identifier io.github.iscsi-initiator.pkg --version "$version" --install-location / \
  "$work/iscsi-initiator-component.pkg"
sed -e "s/@VERSION@/$version/g" -e "s/@ARCH@/$arch/g" "$repo/installer/macos/Distribution.xml" >"$work/Distribution.xml"

if [ -n "${ISCSI_SIGN_INSTALLER_IDENTITY:-}" ]; then
  productbuild --distribution "$work/Distribution.xml" --package-path "$work" --sign "$ISCSI_SIGN_INSTALLER_IDENTITY" "$out"
else
  warn "ISCSI_SIGN_INSTALLER_IDENTITY is not set: the pkg is unsigned (Gatekeeper will refuse it unless opened with Control-click › Open)"
  productbuild --distribution "$work/Distribution.xml" --package-path "$work" "$out"
fi

if [ -n "${ISCSI_NOTARY_PROFILE:-}" ] && [ -n "${ISCSI_SIGN_INSTALLER_IDENTITY:-}" ]; then
  xcrun notarytool submit "$out" --keychain-profile "$ISCSI_NOTARY_PROFILE" --wait
  # Stapling fails when the notary did not accept the package: its log says why.
  xcrun stapler staple "$out" ||
    die "not stapled: the notary did not accept $out (xcrun notarytool history / log --keychain-profile $ISCSI_NOTARY_PROFILE)"
  xcrun stapler validate "$out"
else
  warn "not notarized (needs ISCSI_NOTARY_PROFILE and ISCSI_SIGN_INSTALLER_IDENTITY)"
fi
say "built $out"
