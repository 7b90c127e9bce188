// Where the driver extension stands, as the window and the command line say it.
import Foundation

enum ExtensionState: Equatable {
    case checking
    case notInstalled
    case waitingForApproval
    case active(version: String?)
    case needsRestart
    case deactivated
    case failed(String)

    var summary: String {
        switch self {
        case .checking: return "Checking the driver extension…"
        case .notInstalled: return "The driver extension is not installed."
        case .waitingForApproval: return "The driver extension is waiting for your approval."
        case .active(let version): return "The driver extension is active\(version.map { " (version \($0))" } ?? "")."
        case .needsRestart: return "Restart the Mac to finish: the change takes effect at the next start."
        case .deactivated: return "The driver extension is deactivated (it may stay loaded until the next restart)."
        case .failed(let reason): return "The request failed: \(reason)"
        }
    }

    var symbol: String {
        switch self {
        case .active: return "checkmark.circle.fill"
        case .waitingForApproval, .needsRestart: return "exclamationmark.circle"
        case .failed: return "xmark.octagon"
        default: return "circle.dashed"
        }
    }

    /// How to approve, for the macOS versions this app supports (LSMinimumSystemVersion 14.0).
    static let approvalSteps = """
        macOS 15 and later: System Settings › General › Login Items & Extensions › Driver Extensions: \
        turn on “iSCSI Initiator”.
        macOS 14: System Settings › Privacy & Security: under “System software from application “iSCSI Initiator” \
        was blocked”, click Allow.
        Then come back here: the status changes by itself.
        """
}
