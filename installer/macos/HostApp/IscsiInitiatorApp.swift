// The window: the extension's state, how to approve it, and nothing else (iscsiadm and Raycast do the rest).
import AppKit
import SwiftUI

struct IscsiInitiatorApp: App {
    @StateObject private var manager = ExtensionManager()

    var body: some Scene {
        WindowGroup("iSCSI Initiator") {
            // Apple: submit an activation request whenever the extension should be active; when it already is, the
            // request succeeds at once, without asking anything.
            StatusView(manager: manager).onAppear { manager.submit(.activate) }
        }
        .windowResizability(.contentSize)
    }
}

struct StatusView: View {
    @ObservedObject var manager: ExtensionManager

    /// Where approval happens (ExtensionState.approvalSteps): Login Items & Extensions from macOS 15, Privacy & Security
    /// on macOS 14. Neither URL is documented by Apple; both are what public apps open. TO VERIFY on a Mac.
    private static let settingsURL: URL = {
        let sequoia = OperatingSystemVersion(majorVersion: 15, minorVersion: 0, patchVersion: 0)
        return ProcessInfo.processInfo.isOperatingSystemAtLeast(sequoia)
            ? URL(string: "x-apple.systempreferences:com.apple.LoginItems-Settings.extension")!
            : URL(string: "x-apple.systempreferences:com.apple.preference.security")!
    }()

    var body: some View {
        VStack(alignment: .leading, spacing: 14) {
            Label(manager.state.summary, systemImage: manager.state.symbol)
                .font(.headline)
            if manager.state == .waitingForApproval || manager.state == .notInstalled {
                Text(ExtensionState.approvalSteps)
                    .fixedSize(horizontal: false, vertical: true)
            }
            HStack {
                Button("Activate") { manager.submit(.activate) }
                Button("Open System Settings") { NSWorkspace.shared.open(Self.settingsURL) }
                Button("Check Again") { manager.submit(.properties) }
            }
            Text("The daemon, iscsid, runs without this window. In Terminal: iscsiadm -m discovery, iscsiadm -m node --login (docs/install.md).")
                .font(.footnote)
                .foregroundStyle(.secondary)
                .fixedSize(horizontal: false, vertical: true)
        }
        .padding(20)
        .frame(width: 480)
    }
}
