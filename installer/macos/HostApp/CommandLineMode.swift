// "iSCSI Initiator" --activate | --deactivate | --status: one request, its outcome on stdout, no window.
// Exit status: 0 done, 1 failed or no answer within answerTimeoutSeconds, 2 usage, 3 waiting for the user's approval
// (--activate).
import Foundation

enum CommandLineMode {
    /// How long a request may wait for the system's answer (an approval or a password included).
    static let answerTimeoutSeconds = 300

    static func run(_ verb: String) -> Int32 {
        let kind: ExtensionManager.RequestKind
        switch verb {
        case "--activate": kind = .activate
        case "--deactivate": kind = .deactivate
        case "--status": kind = .properties
        default:
            FileHandle.standardError.write(Data("usage: \"iSCSI Initiator\" [--activate | --deactivate | --status]\n".utf8))
            return 2
        }
        let manager = ExtensionManager()
        manager.followActivationWithProperties = false
        var status: Int32 = 1
        manager.onSettled = { _, state in
            print(state.summary)
            if case .failed = state { status = 1 } else { status = 0 }
            CFRunLoopStop(CFRunLoopGetMain())
        }
        manager.onNeedsApproval = {
            print(ExtensionState.waitingForApproval.summary)
            print(ExtensionState.approvalSteps)
            status = 3
            CFRunLoopStop(CFRunLoopGetMain())
        }
        manager.submit(kind)
        // Every request ends, answered or not: a deactivation waits for an administrator's password typed at the
        // console, where nobody may be (uninstall.sh run over ssh). uninstall.sh then keeps the app and says so.
        DispatchQueue.main.asyncAfter(deadline: .now() + .seconds(CommandLineMode.answerTimeoutSeconds)) {
            print("No answer from the system within \(CommandLineMode.answerTimeoutSeconds) s.")
            status = 1
            CFRunLoopStop(CFRunLoopGetMain())
        }
        // The delegate is called on the main queue, which this run loop drains. OSSystemExtensionRequest holds its
        // delegate weakly (Apple: `weak var delegate`), and Swift may release a local after its last use: keep the
        // manager alive until the answer has come, or no answer ever does.
        withExtendedLifetime(manager) { CFRunLoopRun() }
        return status
    }
}
