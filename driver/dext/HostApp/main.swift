// Placeholder host app (the installer issue replaces it): macOS activates a dext only at the request of the app that
// embeds it (Contents/Library/SystemExtensions). NEVER COMPILED: see docs/macos.md.
// Usage: IscsiHbaHost.app/Contents/MacOS/IscsiHbaHost activate | deactivate
import Foundation
import SystemExtensions

let dextIdentifier = "io.github.iscsi-initiator.driver"

final class Delegate: NSObject, OSSystemExtensionRequestDelegate {
    func request(_ request: OSSystemExtensionRequest,
                 actionForReplacingExtension existing: OSSystemExtensionProperties,
                 withExtension ext: OSSystemExtensionProperties) -> OSSystemExtensionRequest.ReplacementAction {
        // A different CFBundleVersion is what makes this a real replacement (docs/macos.md, "Bump CFBundleVersion").
        print("replacing \(existing.bundleVersion) with \(ext.bundleVersion)")
        return .replace
    }

    func requestNeedsUserApproval(_ request: OSSystemExtensionRequest) {
        print("approve the extension in System Settings > General > Login Items & Extensions, then run again")
    }

    func request(_ request: OSSystemExtensionRequest, didFinishWithResult result: OSSystemExtensionRequest.Result) {
        print(result == .completed ? "done" : "done after a reboot")
        exit(0)
    }

    func request(_ request: OSSystemExtensionRequest, didFailWithError error: Error) {
        print("failed: \(error.localizedDescription)")
        exit(1)
    }
}

let verb = CommandLine.arguments.dropFirst().first ?? "activate"
let request: OSSystemExtensionRequest
switch verb {
case "activate":
    request = .activationRequest(forExtensionWithIdentifier: dextIdentifier, queue: .main)
case "deactivate":
    request = .deactivationRequest(forExtensionWithIdentifier: dextIdentifier, queue: .main)
default:
    print("usage: IscsiHbaHost activate | deactivate")
    exit(2)
}
let delegate = Delegate()
request.delegate = delegate
OSSystemExtensionManager.shared.submitRequest(request)
RunLoop.main.run()
