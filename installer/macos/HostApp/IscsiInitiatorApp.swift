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

    /// System Settings at Login Items & Extensions (macOS 13+). TO VERIFY on a Mac: the pane this opens.
    private static let settingsURL = URL(string: "x-apple.systempreferences:com.apple.LoginItems-Settings.extension")!

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
