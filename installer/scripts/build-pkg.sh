#!/usr/bin/env bash
# Makes the installer package: the payload (stage-payload.sh), signed; pkgbuild with the preinstall and postinstall
# scripts; productbuild; then notarized and stapled. macOS only. Each signing step takes its identity from the
# environment and is skipped with a warning when it is absent (an unsigned pkg is for a test Mac only).
#
# usage: installer/scripts/build-pkg.sh [--bin DIR] [--app PATH | --without-app] [--out FILE]
#   default --out: installer/build/iscsi-initiator-<version>.pkg
# environment:
#   ISCSI_SIGN_APP_IDENTITY        "Developer ID Application: …": signs the binaries, iscsid.app and the host app
#   ISCSI_DAEMON_PROFILE           a provisioning profile granting iscsid.app its userclient-access entitlement;
#                                  embedded as iscsid.app/Contents/embedded.provisionprofile
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

# Sign from the inside out: the addon and iscsiadm, then iscsid.app (its main executable, with the profile), then the
# dext and the host app. Each under the hardened runtime, with a secure timestamp (notarization needs both).
sign() {
  codesign --force --timestamp --options runtime --sign "$ISCSI_SIGN_APP_IDENTITY" "$@"
}
if [ -n "${ISCSI_SIGN_APP_IDENTITY:-}" ]; then
  macos=$(at "$DAEMON_APP/Contents/MacOS")
  sign "$macos/iscsi-native.node"
  sign --entitlements "$repo/installer/macos/entitlements/iscsiadm.entitlements" "$macos/iscsiadm"
  if [ -n "${ISCSI_DAEMON_PROFILE:-}" ]; then
    cp "$ISCSI_DAEMON_PROFILE" "$(at "$DAEMON_APP/Contents/embedded.provisionprofile")"
  else
    warn "ISCSI_DAEMON_PROFILE is not set: iscsid.app carries no provisioning profile, so AMFI will kill iscsid for its userclient-access entitlement (fine only with SIP off on a test Mac)"
  fi
  sign --entitlements "$repo/driver/dext/iscsid.entitlements" "$(at "$DAEMON_APP")"
  app=$(at "$HOST_APP")
  if [ -d "$app" ]; then
    sign --entitlements "$repo/driver/dext/IscsiHbaDriver.entitlements" "$app/Contents/Library/SystemExtensions/$DRIVER_ID.dext"
    sign --entitlements "$repo/installer/macos/HostApp/HostApp.entitlements" "$app"
  fi
  codesign --verify --strict --verbose=2 "$(at "$DAEMON_APP")"
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
  xcrun stapler staple "$out"
  xcrun stapler validate "$out"
else
  warn "not notarized (needs ISCSI_NOTARY_PROFILE and ISCSI_SIGN_INSTALLER_IDENTITY)"
fi
say "built $out"
