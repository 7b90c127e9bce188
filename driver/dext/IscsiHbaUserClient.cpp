// The user client iscsid opens: each selector of driver/include/iscsi_hba_abi.h unpacked and handed to the controller,
// which hands it to the core. NEVER COMPILED: see docs/macos.md.
#include <string.h>

#include <os/log.h>
#include <DriverKit/IOLib.h>
#include <DriverKit/IOMemoryMap.h>
#include <DriverKit/IOBufferMemoryDescriptor.h>
#include <DriverKit/OSData.h>

#include "IscsiHbaUserClient.h"
#include "IscsiHbaController.h"
#include "../include/iscsi_hba_abi.h"

struct IscsiHbaUserClient_IVars {
  IscsiHbaController* controller = nullptr; // retained from Start to free
};

namespace {
// A structure input arrives inline (structureInput) when small and as a memory descriptor (structureInputDescriptor,
// structureInput then NULL) when large — over about 4 KB. Both forms are read here; the size must be exact.
bool ReadInput(IOUserClientMethodArguments* arguments, void* destination, size_t size) {
  if (arguments->structureInput != nullptr) {
    if (arguments->structureInput->getLength() != size) return false;
    memcpy(destination, arguments->structureInput->getBytesNoCopy(), size);
    return true;
  }
  if (arguments->structureInputDescriptor != nullptr) {
    IOMemoryMap* map = nullptr;
    if (arguments->structureInputDescriptor->CreateMapping(kIOMemoryMapReadOnly, 0, 0, 0, 0, &map) != kIOReturnSuccess)
      return false;
    const bool ok = map->GetLength() == size;
    if (ok) memcpy(destination, reinterpret_cast<const void*>(map->GetAddress()), size);
    map->release();
    return ok;
  }
  return false;
}

kern_return_t WriteOutput(IOUserClientMethodArguments* arguments, const void* source, size_t size) {
  if (arguments->structureOutputMaximumSize < size) return kIOReturnBadArgument;
  arguments->structureOutput = OSData::withBytes(source, size);
  return arguments->structureOutput != nullptr ? kIOReturnSuccess : kIOReturnNoMemory;
}

// Calls without an out struct answer their iscsi_hba_error in scalar output 0.
kern_return_t WriteCode(IOUserClientMethodArguments* arguments, uint32_t code) {
  if (arguments->scalarOutput == nullptr || arguments->scalarOutputCount < 1) return kIOReturnBadArgument;
  arguments->scalarOutput[0] = code;
  arguments->scalarOutputCount = 1;
  return kIOReturnSuccess;
}

// An in struct and an out struct whose first field is `error`: a malformed input is answered with
// ISCSI_HBA_E_BAD_ARGUMENT without reaching the controller.
template <typename In, typename Out, typename Handler>
kern_return_t CallWithStructs(IOUserClientMethodArguments* arguments, Handler handler) {
  In in;
  Out out;
  memset(&in, 0, sizeof(in));
  memset(&out, 0, sizeof(out));
  if (ReadInput(arguments, &in, sizeof(in))) handler(in, out);
  else out.error = ISCSI_HBA_E_BAD_ARGUMENT;
  return WriteOutput(arguments, &out, sizeof(out));
}
}  // namespace

bool IscsiHbaUserClient::init() {
  if (!super::init()) return false;
  ivars = IONewZero(IscsiHbaUserClient_IVars, 1);
  return ivars != nullptr;
}

void IscsiHbaUserClient::free() {
  if (ivars != nullptr) OSSafeReleaseNULL(ivars->controller);
  IOSafeDeleteNULL(ivars, IscsiHbaUserClient_IVars, 1);
  super::free();
}

kern_return_t IMPL(IscsiHbaUserClient, Start) {
  kern_return_t ret = Start(provider, SUPERDISPATCH);
  if (ret != kIOReturnSuccess) return ret;
  ivars->controller = OSDynamicCast(IscsiHbaController, provider);
  if (ivars->controller == nullptr) return kIOReturnNoDevice;
  ivars->controller->retain();
  return kIOReturnSuccess;
}

kern_return_t IMPL(IscsiHbaUserClient, Stop) {
  // The daemon closed the connection or died: its tasks are held, then failed (hba_core.h, daemon_detached).
  if (ivars->controller != nullptr) ivars->controller->DaemonDetached(this);
  return Stop(provider, SUPERDISPATCH);
}

kern_return_t IMPL(IscsiHbaUserClient, ExternalMethod) {
  (void)dispatch;
  (void)target;
  (void)reference;
  IscsiHbaController* controller = ivars->controller;
  if (controller == nullptr) return kIOReturnNotReady;

  switch (selector) {
    case ISCSI_HBA_SEL_HANDSHAKE:
      return CallWithStructs<iscsi_hba_handshake_in, iscsi_hba_handshake_out>(
          arguments, [&](const iscsi_hba_handshake_in& in, iscsi_hba_handshake_out& out) {
            controller->DaemonHandshake(this, &in, &out);
          });

    case ISCSI_HBA_SEL_MAP_REGION:
      return CallWithStructs<iscsi_hba_map_region_in, iscsi_hba_map_region_out>(
          arguments, [&](const iscsi_hba_map_region_in& in, iscsi_hba_map_region_out& out) {
            controller->DaemonMapRegion(&in, &out);
          });

    case ISCSI_HBA_SEL_HBA_INFO: {
      iscsi_hba_info out;
      memset(&out, 0, sizeof(out));
      controller->DaemonHbaInfo(&out);
      return WriteOutput(arguments, &out, sizeof(out));
    }

    case ISCSI_HBA_SEL_CREATE_TARGET:
      return CallWithStructs<iscsi_hba_create_target_in, iscsi_hba_create_target_out>(
          arguments, [&](const iscsi_hba_create_target_in& in, iscsi_hba_create_target_out& out) {
            if (controller->DaemonIsAttached(this)) controller->DaemonCreateTarget(&in, &out);
            else out.error = ISCSI_HBA_E_NOT_ATTACHED;
          });

    case ISCSI_HBA_SEL_DESTROY_TARGET: {
      iscsi_hba_destroy_target_in in;
      memset(&in, 0, sizeof(in));
      if (!ReadInput(arguments, &in, sizeof(in))) return WriteCode(arguments, ISCSI_HBA_E_BAD_ARGUMENT);
      if (!controller->DaemonIsAttached(this)) return WriteCode(arguments, ISCSI_HBA_E_NOT_ATTACHED);
      return WriteCode(arguments, controller->DaemonDestroyTarget(&in));
    }

    case ISCSI_HBA_SEL_COMPLETION_DOORBELL:
      if (!controller->DaemonIsAttached(this)) return WriteCode(arguments, ISCSI_HBA_E_NOT_ATTACHED);
      return WriteCode(arguments, controller->DaemonDoorbell());

    case ISCSI_HBA_SEL_ARM_NOTICES:
      // An IOConnectCallAsync… call: its OSAction is answered later by SendNotice (AsyncCompletion).
      if (arguments->completion == nullptr) return kIOReturnBadArgument;
      if (!controller->DaemonIsAttached(this)) return WriteCode(arguments, ISCSI_HBA_E_NOT_ATTACHED);
      controller->DaemonArmNotices(this, arguments->completion);
      return WriteCode(arguments, ISCSI_HBA_OK);

    default:
      os_log(OS_LOG_DEFAULT, "IscsiHba: unknown selector %llu", selector);
      WriteCode(arguments, ISCSI_HBA_E_UNKNOWN_SELECTOR);
      return kIOReturnUnsupported;
  }
}

kern_return_t IMPL(IscsiHbaUserClient, CopyClientMemoryForType) {
  // Only the attached daemon maps the rings and the pool (disk data in flight); it writes to both, so read-write.
  if (ivars->controller == nullptr || !ivars->controller->DaemonIsAttached(this)) return kIOReturnNotPermitted;
  IOBufferMemoryDescriptor* region = ivars->controller->CopyRegion(type);
  if (region == nullptr) return kIOReturnBadArgument;
  *options = 0;
  *memory = region; // retained by CopyRegion; the caller releases it
  return kIOReturnSuccess;
}

void IscsiHbaUserClient::SendNotice(OSAction* action, uint32_t kinds, uint32_t cmdProducer) {
  // Async completions carry scalars, not structures: iscsi_hba_notice's fields, one 64-bit word each, in order.
  IOUserClientAsyncArgumentsArray data = {};
  data[0] = kinds;
  data[1] = cmdProducer;
  AsyncCompletion(action, kIOReturnSuccess, data, 2);
}
