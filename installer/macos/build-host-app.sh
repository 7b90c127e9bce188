#!/usr/bin/env bash
# Builds iSCSI Initiator.app with the dext inside (driver/dext/project.yml: the IscsiHbaDriver and IscsiHbaHost
# targets) into installer/build/, where stage-payload.sh and build-pkg.sh look for it. macOS only: it needs Xcode
# (16 or later, with the DriverKit SDK) and XcodeGen (brew install xcodegen). NEVER RUN YET: see docs/install.md,
# "What a Mac owner must verify first".
#
# usage: DEVELOPMENT_TEAM=<team id> installer/macos/build-host-app.sh [Release|Debug]
#   The team must hold the DriverKit and system-extension entitlements (or, for development only, see docs/macos.md).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
configuration=${1:-Release}

die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}
[ "$(uname -s)" = Darwin ] || die "the host app and its dext build only on macOS (Xcode, DriverKit SDK); this is $(uname -s)"
command -v xcodebuild >/dev/null || die "xcodebuild not found: install Xcode, then sudo xcode-select -s /Applications/Xcode.app"
command -v xcodegen >/dev/null || die "xcodegen not found: brew install xcodegen"
[ -n "${DEVELOPMENT_TEAM:-}" ] || die "set DEVELOPMENT_TEAM to your team id (the team that holds the DriverKit entitlements)"

derived="$repo/installer/build/xcode"
(cd "$repo/driver/dext" && xcodegen generate)
# Automatic signing from the command line makes or fetches the provisioning profiles only when allowed to (an Apple
# account signed in to Xcode); without the flag xcodebuild stops at "No profiles for … were found".
xcodebuild -project "$repo/driver/dext/IscsiHba.xcodeproj" -scheme IscsiHbaHost -configuration "$configuration" \
  -derivedDataPath "$derived" -allowProvisioningUpdates DEVELOPMENT_TEAM="$DEVELOPMENT_TEAM" build

app="$derived/Build/Products/$configuration/iSCSI Initiator.app"
[ -d "$app/Contents/Library/SystemExtensions/io.github.iscsi-initiator.driver.dext" ] ||
  die "$app does not embed the dext under Contents/Library/SystemExtensions"
rm -rf "$repo/installer/build/iSCSI Initiator.app"
cp -R "$app" "$repo/installer/build/iSCSI Initiator.app"
codesign --verify --deep --strict "$repo/installer/build/iSCSI Initiator.app"
printf 'built %s\n' "$repo/installer/build/iSCSI Initiator.app"
