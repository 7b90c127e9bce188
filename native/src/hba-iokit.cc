// The dext's side of the HBA connection on macOS (driver/dext/IscsiHbaUserClient.cpp): the selectors of
// iscsi_hba_abi.h as IOConnectCall…Method calls, the regions by IOConnectMapMemory64 (memory type = enum
// iscsi_hba_region), and ARM_NOTICES as an async call whose answer (two 64-bit scalars: kinds, cmd_producer) reaches
// an IONotificationPort served by a CFRunLoop on this backend's own thread. Compiled only under OS=="mac"
// (binding.gyp); NEVER COMPILED OR RUN YET: docs/macos.md, "The daemon's side: the addon", says what to verify first.
#include <CoreFoundation/CoreFoundation.h>
#include <IOKit/IOKitLib.h>
#include <mach/mach.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "hba-backend.h"

namespace hba {
namespace {

// The dext's IOUserClass (driver/dext/Info.plist): its registry name, as Apple's DriverKit client sample matches.
constexpr const char* kServiceName = "IscsiHbaController";

std::string Hex(kern_return_t kr) {
  char b[16];
  snprintf(b, sizeof b, "0x%08x", unsigned(kr));
  return b;
}

Error KernError(const std::string& what, kern_return_t kr) {
  const char* code = kr == kIOReturnNotPermitted || kr == kIOReturnNotPrivileged ? "EACCES"
                     : kr == kIOReturnNoDevice || kr == kIOReturnNotFound       ? "ENOENT"
                     : kr == kIOReturnBusy || kr == kIOReturnExclusiveAccess    ? "EBUSY"
                     : kr == kIOReturnTimeout                                    ? "ETIMEDOUT"
                                                                                 : "EIO";
  return Error{code, what + ": IOReturn " + Hex(kr)};
}

Error Refused(const char* call, uint32_t status) {
  const char* name = ErrorName(status);
  Error e{name != nullptr ? name : "ERR_HBA_PROTOCOL", std::string(call) + " refused by the HBA: " + (name != nullptr ? name : "unknown error " + std::to_string(status))};
  e.status = int32_t(status);
  return e;
}

class IoKitBackend final : public Backend {
 public:
  IoKitBackend(const Options& options, NoticeSink notice, LostSink lost)
      : options_(options), notice_(std::move(notice)), lost_(std::move(lost)) {}
  ~IoKitBackend() override { Close(); }

  bool Open(Opened& opened, Error& error) override {
    io_service_t service = IOServiceGetMatchingService(kIOMainPortDefault, IOServiceNameMatching(kServiceName));
    if (service == IO_OBJECT_NULL) {
      error = Error{"ENOENT", std::string("no ") + kServiceName + " in the I/O Registry: is the dext activated? (systemextensionsctl list)"};
      return false;
    }
    kern_return_t kr = IOServiceOpen(service, mach_task_self(), 0, &connect_);
    IOObjectRelease(service);
    // kIOReturnNotPermitted here is most often a missing com.apple.developer.driverkit.userclient-access entitlement.
    if (kr != KERN_SUCCESS) return (error = KernError("IOServiceOpen", kr), false);

    iscsi_hba_handshake_in hello{ISCSI_HBA_MAGIC, options_.abi_version, ISCSI_HBA_FEATURE_NONE, 0};
    if (!Struct(ISCSI_HBA_SEL_HANDSHAKE, &hello, sizeof hello, &opened.handshake, sizeof opened.handshake, error)) return false;
    if (opened.handshake.error != ISCSI_HBA_OK) {
      error = Refused("HANDSHAKE", opened.handshake.error);
      error.peer_version = opened.handshake.abi_version;
      return false;
    }
    if (!Map(ISCSI_HBA_REGION_CONTROL, ISCSI_HBA_CONTROL_SIZE, opened.control, error)) return false;
    if (!Map(ISCSI_HBA_REGION_POOL, ISCSI_HBA_POOL_SIZE, opened.pool, error)) return false;
    const auto* header = static_cast<const iscsi_hba_region_header*>(opened.control->address());
    if (header->magic != ISCSI_HBA_MAGIC || header->abi_version >> 16 != ISCSI_HBA_ABI_MAJOR)
      return (error = Error{"ERR_HBA_PROTOCOL", "the control region does not start with this ABI's header"}, false);
    if (!Struct(ISCSI_HBA_SEL_HBA_INFO, nullptr, 0, &opened.info, sizeof opened.info, error)) return false;
    if (opened.info.error != ISCSI_HBA_OK) return (error = Refused("HBA_INFO", opened.info.error), false);
    control_ = opened.control;
    pool_ = opened.pool;
    // The run loop thread arms ARM_NOTICES itself (the wake port is its notification port's); wait until it has.
    std::unique_lock lock(mu_);
    loop_thread_ = std::thread([this] { RunLoop(); });
    started_.wait(lock, [this] { return loop_ != nullptr || loop_failed_; });
    if (loop_failed_) return (error = arm_error_, false);
    return true;
  }

  bool CreateTarget(const iscsi_hba_create_target_in& in, iscsi_hba_create_target_out& out, Error& error) override {
    std::lock_guard serial(call_mu_);
    if (closed_.load()) return (error = Error{"ERR_HBA_CLOSED", "the HBA connection is closed"}, false);
    if (!Struct(ISCSI_HBA_SEL_CREATE_TARGET, &in, sizeof in, &out, sizeof out, error)) return false;
    if (out.error != ISCSI_HBA_OK) return (error = Refused("CREATE_TARGET", out.error), false);
    return true;
  }

  bool DestroyTarget(uint32_t target_id, Error& error) override {
    std::lock_guard serial(call_mu_);
    if (closed_.load()) return (error = Error{"ERR_HBA_CLOSED", "the HBA connection is closed"}, false);
    iscsi_hba_destroy_target_in in{target_id, 0};
    uint64_t code = 0;
    uint32_t count = 1;
    // A struct in and the iscsi_hba_error in scalar output 0 (IscsiHbaUserClient.cpp, WriteCode).
    kern_return_t kr = IOConnectCallMethod(connect_, ISCSI_HBA_SEL_DESTROY_TARGET, nullptr, 0, &in, sizeof in, &code, &count, nullptr, nullptr);
    if (kr != KERN_SUCCESS) return (error = KernError("DESTROY_TARGET", kr), false);
    if (code != ISCSI_HBA_OK) return (error = Refused("DESTROY_TARGET", uint32_t(code)), false);
    return true;
  }

  void Doorbell() override {
    // Rung on the run loop thread: a Mach call into the dext is not for the JS thread.
    if (doorbell_.exchange(true)) return;
    std::lock_guard lock(mu_);
    if (loop_ == nullptr || bell_ == nullptr) return;
    CFRunLoopSourceSignal(bell_);
    CFRunLoopWakeUp(loop_);
  }

  void Close() override {
    if (closed_.exchange(true)) return;
    {
      std::lock_guard lock(mu_);
      if (loop_ != nullptr) CFRunLoopStop(loop_);
    }
    if (loop_thread_.joinable()) loop_thread_.join();
    std::lock_guard serial(call_mu_);  // a call in flight ends before the connection does
    if (control_) control_->Detach();
    if (pool_) pool_->Detach();
    if (connect_ != IO_OBJECT_NULL) IOServiceClose(connect_);
    connect_ = IO_OBJECT_NULL;
  }

 private:
  bool Struct(uint32_t selector, const void* in, size_t in_size, void* out, size_t out_size, Error& error) {
    size_t got = out_size;
    kern_return_t kr = IOConnectCallStructMethod(connect_, selector, in, in_size, out, &got);
    if (kr != KERN_SUCCESS) return (error = KernError("selector " + std::to_string(selector), kr), false);
    if (got != out_size) return (error = Error{"ERR_HBA_PROTOCOL", "selector " + std::to_string(selector) + " answered " + std::to_string(got) + " bytes"}, false);
    return true;
  }

  bool Map(uint32_t region, uint64_t expected, std::shared_ptr<Region>& mapped, Error& error) {
    iscsi_hba_map_region_in in{region, 0};
    iscsi_hba_map_region_out out{};
    if (!Struct(ISCSI_HBA_SEL_MAP_REGION, &in, sizeof in, &out, sizeof out, error)) return false;
    if (out.error != ISCSI_HBA_OK) return (error = Refused("MAP_REGION", out.error), false);
    if (out.size != expected) return (error = Error{"ERR_HBA_PROTOCOL", "region " + std::to_string(region) + " is " + std::to_string(out.size) + " bytes, the ABI says " + std::to_string(expected)}, false);
    mach_vm_address_t address = 0;
    mach_vm_size_t size = 0;
    kern_return_t kr = IOConnectMapMemory64(connect_, region, mach_task_self(), &address, &size, kIOMapAnywhere);
    if (kr != KERN_SUCCESS) return (error = KernError("IOConnectMapMemory64", kr), false);
    if (size < expected) {
      IOConnectUnmapMemory64(connect_, region, mach_task_self(), address);
      return (error = Error{"ERR_HBA_PROTOCOL", "IOConnectMapMemory64 mapped " + std::to_string(size) + " bytes"}, false);
    }
    io_connect_t connect = connect_;
    mapped = std::make_shared<Region>(reinterpret_cast<void*>(address), size_t(expected), [connect, region, address] {
      IOConnectUnmapMemory64(connect, region, mach_task_self(), address);
    });
    return true;
  }

  bool Arm() {
    io_async_ref64_t reference{};
    reference[kIOAsyncCalloutFuncIndex] = reinterpret_cast<io_user_reference_t>(&IoKitBackend::OnNotice);
    reference[kIOAsyncCalloutRefconIndex] = reinterpret_cast<io_user_reference_t>(this);
    uint64_t code = 0;
    uint32_t count = 1;
    kern_return_t kr = IOConnectCallAsyncScalarMethod(connect_, ISCSI_HBA_SEL_ARM_NOTICES, IONotificationPortGetMachPort(port_),
                                                      reference, kOSAsyncRef64Count, nullptr, 0, &code, &count);
    if (kr != KERN_SUCCESS) {
      arm_error_ = KernError("ARM_NOTICES", kr);
      return false;
    }
    if (code != ISCSI_HBA_OK) {
      arm_error_ = Refused("ARM_NOTICES", uint32_t(code));
      return false;
    }
    return true;
  }

  // The async answer: args are the dext's AsyncCompletion scalars, kinds then cmd_producer (iscsi_hba_notice).
  static void OnNotice(void* refcon, IOReturn result, void** args, uint32_t count) {
    auto* self = static_cast<IoKitBackend*>(refcon);
    if (self->closed_.load()) return;
    if (result != kIOReturnSuccess || count < 2) {
      self->Lose(KernError("ARM_NOTICES answer", result != kIOReturnSuccess ? result : kIOReturnUnderrun));
      return;
    }
    const auto kinds = uint32_t(reinterpret_cast<uintptr_t>(args[0]));
    const auto producer = uint32_t(reinterpret_cast<uintptr_t>(args[1]));
    // Re-arm first: bits that arrive while JS works gather in the dext and come back as one more answer.
    if (!self->Arm()) {
      self->Lose(self->arm_error_);
      return;
    }
    self->notice_(kinds, producer);
  }

  static void OnBell(void* info) {
    auto* self = static_cast<IoKitBackend*>(info);
    if (!self->doorbell_.exchange(false) || self->closed_.load()) return;
    uint64_t code = 0;
    uint32_t count = 1;
    kern_return_t kr = IOConnectCallScalarMethod(self->connect_, ISCSI_HBA_SEL_COMPLETION_DOORBELL, nullptr, 0, &code, &count);
    if (kr != KERN_SUCCESS) self->Lose(KernError("COMPLETION_DOORBELL", kr));
  }

  void Lose(const Error& error) {
    if (lost_reported_.exchange(true)) return;
    lost_(error);
    CFRunLoopStop(CFRunLoopGetCurrent());
  }

  void RunLoop() {
    port_ = IONotificationPortCreate(kIOMainPortDefault);
    CFRunLoopRef loop = CFRunLoopGetCurrent();
    CFRunLoopAddSource(loop, IONotificationPortGetRunLoopSource(port_), kCFRunLoopDefaultMode);
    CFRunLoopSourceContext context{};
    context.info = this;
    context.perform = &IoKitBackend::OnBell;
    CFRunLoopSourceRef bell = CFRunLoopSourceCreate(kCFAllocatorDefault, 0, &context);
    CFRunLoopAddSource(loop, bell, kCFRunLoopDefaultMode);
    const bool armed = Arm();
    {
      std::lock_guard lock(mu_);
      if (armed) {
        loop_ = loop;
        bell_ = bell;
      } else {
        loop_failed_ = true;
      }
    }
    started_.notify_all();
    if (armed) {
      // Until Close (CFRunLoopStop) or a lost connection; the timeout only re-checks `closed_` should a stop race.
      while (!closed_.load() && !lost_reported_.load()) CFRunLoopRunInMode(kCFRunLoopDefaultMode, 1.0, false);
    }
    {
      std::lock_guard lock(mu_);
      loop_ = nullptr;
      bell_ = nullptr;
    }
    CFRunLoopSourceInvalidate(bell);
    CFRelease(bell);
    IONotificationPortDestroy(port_);
    port_ = nullptr;
  }

  Options options_;
  NoticeSink notice_;
  LostSink lost_;
  io_connect_t connect_ = IO_OBJECT_NULL;
  IONotificationPortRef port_ = nullptr;
  std::thread loop_thread_;
  std::mutex mu_;  // loop_, bell_, loop_failed_
  std::condition_variable started_;
  CFRunLoopRef loop_ = nullptr;
  CFRunLoopSourceRef bell_ = nullptr;
  bool loop_failed_ = false;
  Error arm_error_;
  std::mutex call_mu_;
  std::atomic<bool> closed_{false};
  std::atomic<bool> lost_reported_{false};
  std::atomic<bool> doorbell_{false};
  std::shared_ptr<Region> control_, pool_;
};

}  // namespace

std::unique_ptr<Backend> NewIoKitBackend(const Options& options, NoticeSink notice, LostSink lost) {
  return std::make_unique<IoKitBackend>(options, std::move(notice), std::move(lost));
}

}  // namespace hba
