// The daemon's ears on a Mac (issue 12 item 4): DiskArbitration (disks, their volumes, unmount/eject), the root power
// domain (IORegisterForSystemPower: sleep and wake) and nw_path_monitor (network path changes), all served on one
// serial dispatch queue and handed to JS through one ThreadSafeFunction. No decision is made here: the portable
// policies in core/src/daemon/host/ decide. Compiled only under OS=="mac" (binding.gyp); NEVER COMPILED OR RUN YET:
// docs/macos.md, "The daemon's side: disks, sleep, network", says what a Mac owner must verify first.
#include <CoreFoundation/CoreFoundation.h>
#include <DiskArbitration/DiskArbitration.h>
#include <IOKit/IOKitLib.h>
#include <IOKit/IOMessage.h>
#include <IOKit/pwr_mgt/IOPMLib.h>
#include <Network/Network.h>
#include <arpa/inet.h>
#include <dispatch/dispatch.h>
#include <ifaddrs.h>
#include <napi.h>
#include <netinet/in.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace host {
namespace {

// The dext's registry name (driver/dext/Info.plist IOUserClass): a disk is ours when this is among its ancestors.
constexpr const char* kControllerName = "IscsiHbaController";

/** One event for JS, built on the queue, turned into an object on the JS thread. */
struct Event {
  std::string kind;  // disk-appeared, disk-changed, disk-disappeared, will-sleep, can-sleep, powered-on, network, disk-op
  std::string bsdName, wholeDisk, mountPoint, status, errno_, dissent;
  bool hasMount = false, ours = false, ok = false;
  int64_t targetId = -1, lun = -1;
  intptr_t notificationId = 0;
  uint32_t requestId = 0;
  std::vector<std::string> interfaces;
};

std::string String(CFStringRef s) {
  if (s == nullptr) return {};
  char buf[1024];
  return CFStringGetCString(s, buf, sizeof buf, kCFStringEncodingUTF8) ? std::string(buf) : std::string();
}

int64_t SearchNumber(io_registry_entry_t entry, CFStringRef key) {
  CFTypeRef v = IORegistryEntrySearchCFProperty(entry, kIOServicePlane, key, kCFAllocatorDefault, kIORegistryIterateRecursively | kIORegistryIterateParents);
  int64_t n = -1;
  if (v != nullptr && CFGetTypeID(v) == CFNumberGetTypeID()) CFNumberGetValue(static_cast<CFNumberRef>(v), kCFNumberSInt64Type, &n);
  if (v != nullptr) CFRelease(v);
  return n;
}

/** Whether the dext's controller is an ancestor of `media` in the service plane (first parent at each level). */
bool UnderOurController(io_registry_entry_t media) {
  io_registry_entry_t entry = media;
  IOObjectRetain(entry);
  for (int depth = 0; depth < 32 && entry != IO_OBJECT_NULL; depth++) {
    io_name_t name;
    if (IORegistryEntryGetName(entry, name) == KERN_SUCCESS && strcmp(name, kControllerName) == 0) {
      IOObjectRelease(entry);
      return true;
    }
    io_registry_entry_t parent = IO_OBJECT_NULL;
    kern_return_t kr = IORegistryEntryGetParentEntry(entry, kIOServicePlane, &parent);
    IOObjectRelease(entry);
    entry = kr == KERN_SUCCESS ? parent : IO_OBJECT_NULL;
  }
  if (entry != IO_OBJECT_NULL) IOObjectRelease(entry);
  return false;
}

class Monitor {
 public:
  Napi::ThreadSafeFunction tsfn;
  dispatch_queue_t queue = dispatch_queue_create("iscsid.host-events", DISPATCH_QUEUE_SERIAL);
  DASessionRef da = nullptr;
  io_connect_t rootPort = MACH_PORT_NULL;
  IONotificationPortRef powerPort = nullptr;
  io_object_t powerNotifier = IO_OBJECT_NULL;
  nw_path_monitor_t path = nullptr;
  std::atomic<bool> closed{false};

  void Post(Event* e) {
    if (tsfn.NonBlockingCall(e, Deliver) != napi_ok) delete e;
  }

  static void Deliver(Napi::Env env, Napi::Function callback, Event* e) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("kind", e->kind);
    if (!e->bsdName.empty()) o.Set("bsdName", e->bsdName);
    if (!e->wholeDisk.empty()) o.Set("wholeDisk", e->wholeDisk);
    if (e->hasMount) o.Set("mountPoint", e->mountPoint);
    if (e->kind == "disk-appeared") o.Set("ours", e->ours);
    if (e->targetId >= 0) o.Set("targetId", double(e->targetId));
    if (e->lun >= 0) o.Set("lun", double(e->lun));
    if (e->kind == "will-sleep" || e->kind == "can-sleep") o.Set("notificationId", double(e->notificationId));
    if (e->kind == "network") {
      o.Set("status", e->status);
      Napi::Array a = Napi::Array::New(env, e->interfaces.size());
      for (uint32_t i = 0; i < e->interfaces.size(); i++) a.Set(i, e->interfaces[i]);
      o.Set("interfaces", a);
    }
    if (e->kind == "disk-op") {
      o.Set("requestId", double(e->requestId));
      o.Set("ok", e->ok);
      if (!e->ok) o.Set("errno", e->errno_);
      if (!e->dissent.empty()) o.Set("dissent", e->dissent);
    }
    delete e;
    callback.Call({o});
  }

  // ---- DiskArbitration ----

  static Event* DiskEvent(const char* kind, DADiskRef disk) {
    auto* e = new Event{};
    e->kind = kind;
    const char* bsd = DADiskGetBSDName(disk);
    e->bsdName = bsd != nullptr ? bsd : "";
    CFDictionaryRef d = DADiskCopyDescription(disk);
    if (d != nullptr) {
      auto url = static_cast<CFURLRef>(CFDictionaryGetValue(d, kDADiskDescriptionVolumePathKey));
      e->hasMount = url != nullptr;
      if (url != nullptr) {
        char p[1024];
        if (CFURLGetFileSystemRepresentation(url, true, reinterpret_cast<UInt8*>(p), sizeof p)) e->mountPoint = p;
      }
      CFRelease(d);
    }
    DADiskRef whole = DADiskCopyWholeDisk(disk);
    if (whole != nullptr) {
      const char* w = DADiskGetBSDName(whole);
      if (w != nullptr && e->bsdName != w) e->wholeDisk = w;
      CFRelease(whole);
    }
    return e;
  }

  static void Appeared(DADiskRef disk, void* context) {
    Event* e = DiskEvent("disk-appeared", disk);
    io_service_t media = DADiskCopyIOMedia(disk);
    if (media != IO_OBJECT_NULL) {
      e->ours = UnderOurController(media);
      // The SCSI Parallel family's nub properties (IOSCSIParallelInterfaceDevice): to verify on a Mac (docs/macos.md).
      if (e->ours && e->wholeDisk.empty()) {
        e->targetId = SearchNumber(media, CFSTR("SCSI Target Identifier"));
        e->lun = SearchNumber(media, CFSTR("SCSI Logical Unit Number"));
      }
      IOObjectRelease(media);
    }
    static_cast<Monitor*>(context)->Post(e);
  }

  static void Changed(DADiskRef disk, CFArrayRef, void* context) { static_cast<Monitor*>(context)->Post(DiskEvent("disk-changed", disk)); }

  static void Disappeared(DADiskRef disk, void* context) {
    auto* e = new Event{};
    e->kind = "disk-disappeared";
    const char* bsd = DADiskGetBSDName(disk);
    e->bsdName = bsd != nullptr ? bsd : "";
    static_cast<Monitor*>(context)->Post(e);
  }

  struct Op {
    Monitor* monitor;
    uint32_t requestId;
  };

  static void OpDone(DADiskRef, DADissenterRef dissenter, void* context) {
    auto* op = static_cast<Op*>(context);
    auto* e = new Event{};
    e->kind = "disk-op";
    e->requestId = op->requestId;
    e->ok = dissenter == nullptr;
    if (dissenter != nullptr) {
      DAReturn status = DADissenterGetStatus(dissenter);
      e->errno_ = status == kDAReturnBusy ? "EBUSY" : (status == kDAReturnNotPermitted || status == kDAReturnNotPrivileged) ? "EACCES" : status == kDAReturnNotFound ? "ENOENT" : "EIO";
      e->dissent = String(DADissenterGetStatusString(dissenter));
    }
    op->monitor->Post(e);
    delete op;
  }

  /** DADiskUnmount (whole disk, forced on request) or DADiskEject; the answer comes back as a disk-op event. */
  void DiskOp(const std::string& bsd, bool eject, bool force, uint32_t requestId) {
    std::string name = bsd;
    dispatch_async(queue, ^{
      auto* op = new Op{this, requestId};
      DADiskRef disk = closed ? nullptr : DADiskCreateFromBSDName(kCFAllocatorDefault, da, name.c_str());
      if (disk == nullptr) {
        auto* e = new Event{};
        e->kind = "disk-op";
        e->requestId = requestId;
        e->errno_ = "ENOENT";
        Post(e);
        delete op;
        return;
      }
      if (eject) DADiskEject(disk, kDADiskEjectOptionDefault, OpDone, op);
      else DADiskUnmount(disk, kDADiskUnmountOptionWhole | (force ? kDADiskUnmountOptionForce : 0), OpDone, op);
      CFRelease(disk);
    });
  }

  // ---- power ----

  static void Power(void* refcon, io_service_t, natural_t message, void* argument) {
    auto* self = static_cast<Monitor*>(refcon);
    const char* kind = message == kIOMessageSystemWillSleep ? "will-sleep" : message == kIOMessageCanSystemSleep ? "can-sleep" : message == kIOMessageSystemHasPoweredOn ? "powered-on" : nullptr;
    if (kind == nullptr) return;  // kIOMessageSystemWillPowerOn and the rest: nothing to do, and not to be acknowledged
    auto* e = new Event{};
    e->kind = kind;
    e->notificationId = reinterpret_cast<intptr_t>(argument);
    self->Post(e);
  }

  // ---- network ----

  void PathUpdate(nw_path_t p) {
    auto* e = new Event{};
    e->kind = "network";
    nw_path_status_t s = nw_path_get_status(p);
    e->status = s == nw_path_status_satisfied ? "satisfied" : s == nw_path_status_satisfiable ? "requires-connection" : "unsatisfied";
    __block std::vector<std::string> names;  // written inside the block below: __block, not a copy
    nw_path_enumerate_interfaces(p, ^bool(nw_interface_t i) {
      names.push_back(nw_interface_get_name(i));
      return true;
    });
    // An address change on the same interface is a path change too: each interface is named with its addresses.
    struct ifaddrs* list = nullptr;
    if (getifaddrs(&list) == 0) {
      for (const std::string& n : names) {
        std::string entry = n;
        for (struct ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
          if (a->ifa_addr == nullptr || n != a->ifa_name) continue;
          char buf[INET6_ADDRSTRLEN] = "";
          if (a->ifa_addr->sa_family == AF_INET) inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr, buf, sizeof buf);
          else if (a->ifa_addr->sa_family == AF_INET6) inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(a->ifa_addr)->sin6_addr, buf, sizeof buf);
          if (buf[0] != '\0') entry += std::string(" ") + buf;
        }
        e->interfaces.push_back(entry);
      }
      freeifaddrs(list);
    } else {
      e->interfaces = names;
    }
    Post(e);
  }

  bool Start(std::string& error) {
    da = DASessionCreate(kCFAllocatorDefault);
    if (da == nullptr) return (error = "DASessionCreate failed", false);
    DARegisterDiskAppearedCallback(da, nullptr, Appeared, this);
    CFStringRef keys[] = {kDADiskDescriptionVolumePathKey};
    CFArrayRef watch = CFArrayCreate(kCFAllocatorDefault, reinterpret_cast<const void**>(keys), 1, &kCFTypeArrayCallBacks);
    DARegisterDiskDescriptionChangedCallback(da, nullptr, watch, Changed, this);
    CFRelease(watch);
    DARegisterDiskDisappearedCallback(da, nullptr, Disappeared, this);
    DASessionSetDispatchQueue(da, queue);

    rootPort = IORegisterForSystemPower(this, &powerPort, Power, &powerNotifier);
    if (rootPort == MACH_PORT_NULL) return (error = "IORegisterForSystemPower failed", false);
    IONotificationPortSetDispatchQueue(powerPort, queue);

    path = nw_path_monitor_create();
    nw_path_monitor_set_queue(path, queue);
    nw_path_monitor_set_update_handler(path, ^(nw_path_t p) { PathUpdate(p); });
    nw_path_monitor_start(path);
    return true;
  }

  /** Everything stops on the queue itself, so no callback runs during or after it; then the TSFN is released. */
  void Close() {
    if (closed) return;
    dispatch_sync(queue, ^{
      closed = true;
      if (path != nullptr) nw_path_monitor_cancel(path);
      if (powerNotifier != IO_OBJECT_NULL) IODeregisterForSystemPower(&powerNotifier);
      if (powerPort != nullptr) IONotificationPortDestroy(powerPort);
      if (rootPort != MACH_PORT_NULL) IOServiceClose(rootPort);
      if (da != nullptr) {
        DASessionSetDispatchQueue(da, nullptr);
        CFRelease(da);
      }
    });
    tsfn.Release();
  }
};

Napi::Value Watch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* monitor = new Monitor();
  // The monitor lives as long as its JS handle (finalizer below), not the TSFN: the handle's functions use it.
  monitor->tsfn = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "host-events", 0, 1);
  std::string error;
  if (!monitor->Start(error)) {
    monitor->Close();
    delete monitor;
    Napi::Error e = Napi::Error::New(env, error);
    e.Set("code", "EIO");
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object handle = Napi::Object::New(env);
  handle.Set("allowPowerChange", Napi::Function::New(env, [monitor](const Napi::CallbackInfo& i) {
    if (!monitor->closed) IOAllowPowerChange(monitor->rootPort, static_cast<intptr_t>(i[0].As<Napi::Number>().Int64Value()));
  }));
  handle.Set("diskOp", Napi::Function::New(env, [monitor](const Napi::CallbackInfo& i) {
    monitor->DiskOp(i[0].As<Napi::String>().Utf8Value(), i[1].As<Napi::Boolean>().Value(), i[2].As<Napi::Boolean>().Value(), i[3].As<Napi::Number>().Uint32Value());
  }));
  handle.Set("close", Napi::Function::New(env, [monitor](const Napi::CallbackInfo&) { monitor->Close(); }));
  // A DADiskUnmount answer still pending at GC would reach a freed monitor: docs/macos.md asks to check close() first.
  handle.AddFinalizer([](Napi::Env, Monitor* m) {
    m->Close();
    delete m;
  }, monitor);
  return handle;
}

}  // namespace

void InitHostEvents(Napi::Env env, Napi::Object exports) {
  exports.Set("hostWatch", Napi::Function::New(env, Watch));
}

}  // namespace host
