// The requests to sysextd (OSSystemExtensionRequest) and their answers (OSSystemExtensionRequestDelegate).
import Foundation
import SystemExtensions

final class ExtensionManager: NSObject, ObservableObject, OSSystemExtensionRequestDelegate {
    /// The dext's CFBundleIdentifier (driver/dext/Info.plist), which this app's prefixes (a convention, not a rule).
    static let driverIdentifier = "io.github.iscsi-initiator.driver"

    enum RequestKind { case activate, deactivate, properties }

    @Published private(set) var state: ExtensionState = .checking
    /// Called when a request has ended, with the state it ended in.
    var onSettled: ((RequestKind, ExtensionState) -> Void)?
    /// Called when an activation waits for the user (the request itself goes on until they approve).
    var onNeedsApproval: (() -> Void)?
    /// After an activation, ask for the properties too (the version active now): the window does, the CLI does not.
    var followActivationWithProperties = true

    private var pending: [ObjectIdentifier: RequestKind] = [:]

    func submit(_ kind: RequestKind) {
        let id = Self.driverIdentifier
        let request: OSSystemExtensionRequest
        switch kind {
        case .activate: request = .activationRequest(forExtensionWithIdentifier: id, queue: .main)
        case .deactivate: request = .deactivationRequest(forExtensionWithIdentifier: id, queue: .main)
        case .properties: request = .propertiesRequest(forExtensionWithIdentifier: id, queue: .main)
        }
        pending[ObjectIdentifier(request)] = kind
        request.delegate = self
        OSSystemExtensionManager.shared.submitRequest(request)
    }

    /// The kind of a request still waiting for its answer; nil once it has settled (or was never ours).
    private func pendingKind(of request: OSSystemExtensionRequest) -> RequestKind? {
        pending[ObjectIdentifier(request)]
    }

    /// Ends a request once: a second answer for the same request (a properties request's didFinishWithResult after
    /// its foundProperties) is dropped instead of overwriting the state the first one gave.
    private func settle(_ request: OSSystemExtensionRequest, _ newState: ExtensionState) {
        guard let kind = pending.removeValue(forKey: ObjectIdentifier(request)) else { return }
        state = newState
        onSettled?(kind, newState)
        if kind == .activate, case .active = newState, followActivationWithProperties { submit(.properties) }
    }

    // MARK: OSSystemExtensionRequestDelegate

    func request(_ request: OSSystemExtensionRequest,
                 actionForReplacingExtension existing: OSSystemExtensionProperties,
                 withExtension ext: OSSystemExtensionProperties) -> OSSystemExtensionRequest.ReplacementAction {
        // An upgrade put a newer app in place: its dext (another CFBundleVersion, docs/macos.md) replaces the old one.
        return .replace
    }

    func requestNeedsUserApproval(_ request: OSSystemExtensionRequest) {
        guard let kind = pendingKind(of: request) else { return }
        state = .waitingForApproval
        if kind == .activate { onNeedsApproval?() }
    }

    func request(_ request: OSSystemExtensionRequest, didFinishWithResult result: OSSystemExtensionRequest.Result) {
        guard let kind = pendingKind(of: request) else { return }
        switch result {
        case .completed:
            switch kind {
            case .activate: settle(request, .active(version: nil))
            case .deactivate: settle(request, .deactivated)
            // A properties request answers in request(_:foundProperties:), which comes first and settles it; finishing
            // without properties leaves the state unknown, which is not "active".
            case .properties: settle(request, .failed("the system answered without the extension's properties"))
            }
        case .willCompleteAfterReboot:
            settle(request, .needsRestart)
        @unknown default:
            settle(request, .failed("unexpected result \(result.rawValue)"))
        }
    }

    func request(_ request: OSSystemExtensionRequest, didFailWithError error: Error) {
        // Deactivating what is not installed is done already (a second uninstall, an extension never approved).
        if pendingKind(of: request) == .deactivate, (error as? OSSystemExtensionError)?.code == .extensionNotFound {
            settle(request, .notInstalled)
            return
        }
        settle(request, .failed(error.localizedDescription))
    }

    func request(_ request: OSSystemExtensionRequest, foundProperties properties: [OSSystemExtensionProperties]) {
        // Several versions may be listed during a replacement: the enabled one is what runs.
        if let enabled = properties.first(where: { $0.isEnabled && !$0.isUninstalling }) {
            settle(request, .active(version: "\(enabled.bundleShortVersion) (\(enabled.bundleVersion))"))
        } else if properties.contains(where: { $0.isAwaitingUserApproval }) {
            settle(request, .waitingForApproval)
        } else {
            settle(request, .notInstalled)
        }
    }
}
