// iSCSI Initiator.app: the host app of the driver extension. macOS activates a dext only at the request of the app
// that embeds it (Contents/Library/SystemExtensions), so this app's one job is that request, and showing where it
// stands. NEVER COMPILED HERE (no Mac): docs/install.md lists what a Mac owner must verify first.
//
// Without arguments: a small window. With one, no window (uninstall.sh runs --deactivate as the console user):
//   "iSCSI Initiator" --activate | --deactivate | --status
import Foundation
import SwiftUI // App.main(), IscsiInitiatorApp's entry point

if let verb = CommandLine.arguments.dropFirst().first, verb.hasPrefix("--") {
    exit(CommandLineMode.run(verb))
}
IscsiInitiatorApp.main()
