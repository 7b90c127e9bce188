// The IOUserSCSIParallelInterfaceController adapter: DriverKit in, the portable core (driver/core) decides, DriverKit
// out. NEVER COMPILED: written without a Mac or the DriverKit SDK (docs/macos.md lists what a Mac owner verifies
// first). The facts each part honours are in docs/macos.md, "How the adapter honours what the public attempts learned".
#include <new>
#include <string.h>

#include <os/log.h>
#include <DriverKit/IOLib.h>
#include <DriverKit/IOBufferMemoryDescriptor.h>
#include <DriverKit/IODispatchQueue.h>
#include <DriverKit/IOKitKeys.h>
#include <DriverKit/IOTimerDispatchSource.h>
#include <DriverKit/OSDictionary.h>
#include <DriverKit/OSNumber.h>
#include <SCSIControllerDriverKit/IOUserSCSIParallelInterfaceController.h>

#include "IscsiHbaController.h"
#include "IscsiHbaUserClient.h"
#include "DextPlatform.h"
#include "../include/iscsi_hba_abi.h"
#include "../core/hba_core.h"

// IOKitKeys.h names (kext side); DriverKit's IOKitKeys.h may not define them.
#ifndef kIOMaximumByteCountReadKey
#define kIOMaximumByteCountReadKey "IOMaximumByteCountRead"
#endif
#ifndef kIOMaximumByteCountWriteKey
#define kIOMaximumByteCountWriteKey "IOMaximumByteCountWrite"
#endif
#ifndef kIOMaximumBlockCountReadKey
#define kIOMaximumBlockCountReadKey "IOMaximumBlockCountRead"
#endif
#ifndef kIOMaximumBlockCountWriteKey
#define kIOMaximumBlockCountWriteKey "IOMaximumBlockCountWrite"
#endif

namespace {
constexpr uint64_t kInitiatorID = ISCSI_HBA_MAX_TARGETS; // above every target ID the core hands out (0..MAX-1)
// Several segments: a single advertised segment was traced to APFS wedging the disk (issue 11, item 3). Their product
// is the maximum transfer, which UserGetDMASpecification reports too.
constexpr uint32_t kSegments = 256;
constexpr uint32_t kSegmentBytes = ISCSI_HBA_MAX_TRANSFER / kSegments;
constexpr uint64_t kWatchdogPeriodMs = 1000; // hba_core.h: tick() at least every second
constexpr uint32_t kBlockSize = 512;         // the unit of kIOMaximumBlockCount*

uint64_t MsToAbsolute(uint64_t ms) {
  static mach_timebase_info_data_t timebase = {0, 0};
  if (timebase.denom == 0) mach_timebase_info(&timebase);
  return ms * 1'000'000u * timebase.denom / timebase.numer;
}

bool SetNumber(OSDictionary* dict, const char* key, uint64_t value) {
  OSNumber* number = OSNumber::withNumber(value, 64);
  if (number == nullptr) return false;
  const bool ok = dict->setObject(key, number);
  number->release();
  return ok;
}

// SAM-5 4.7: the LUN structure's first level; peripheral (00b) and flat (01b) addressing carry a 14-bit LUN.
uint64_t LunFromSam(const uint8_t* bytes) {
  return (static_cast<uint64_t>(bytes[0] & 0x3Fu) << 8) | bytes[1];
}

uint8_t DirectionFromFamily(uint8_t direction) {
  switch (direction) {
    case kSCSIDataTransfer_FromTargetToInitiator: return ISCSI_HBA_DIR_READ;
    case kSCSIDataTransfer_FromInitiatorToTarget: return ISCSI_HBA_DIR_WRITE;
    default: return ISCSI_HBA_DIR_NONE;
  }
}

uint8_t AttributeFromFamily(uint32_t attribute) {
  switch (attribute) {
    case kSCSITask_ORDERED: return ISCSI_HBA_ATTR_ORDERED;
    case kSCSITask_HEAD_OF_QUEUE: return ISCSI_HBA_ATTR_HEAD_OF_QUEUE;
    case kSCSITask_ACA: return ISCSI_HBA_ATTR_ACA;
    default: return ISCSI_HBA_ATTR_SIMPLE;
  }
}
}  // namespace

struct IscsiHbaController_IVars {
  IOLock* lock = nullptr; // the core's serial context (hba_core.h: not thread-safe)
  DextPlatform* platform = nullptr;
  iscsi_hba::HbaCore* core = nullptr;
  IOBufferMemoryDescriptor* control_md = nullptr;
  IOBufferMemoryDescriptor* pool_md = nullptr;
  iscsi_hba_control* control = nullptr;
  uint8_t* pool = nullptr;
  IODispatchQueue* aux_queue = nullptr;
  IODispatchQueue* interrupt_queue = nullptr;
  IODispatchQueue* watchdog_queue = nullptr;
  IODispatchQueue* target_queue = nullptr;
  IOTimerDispatchSource* watchdog = nullptr;
  OSAction* watchdog_action = nullptr;
  IscsiHbaUserClient* daemon = nullptr; // the attached user client (not retained: it detaches in its Stop)
  bool published[ISCSI_HBA_MAX_TARGETS] = {}; // UserCreateTargetForID done (or under way) for this ID
  uint64_t handles[ISCSI_HBA_MAX_TASKS] = {}; // scratch for task management, under the lock
  uint32_t next_task_id = 0;
  bool stopping = false;
};

namespace {
kern_return_t MakeQueue(IOService* service, const char* name, bool named, IODispatchQueue** queue) {
  kern_return_t ret = IODispatchQueue::Create(name, 0, 0, queue);
  if (ret != kIOReturnSuccess) return ret;
  // A queue a method is declared on (QUEUENAME) must be set on the service, or calls to that method never dispatch.
  return named ? service->SetDispatchQueue(name, *queue) : kIOReturnSuccess;
}

kern_return_t MakeRegion(uint64_t size, IOBufferMemoryDescriptor** md, uint8_t** address) {
  kern_return_t ret = IOBufferMemoryDescriptor::Create(kIOMemoryDirectionInOut, size, ISCSI_HBA_PAGE, md);
  if (ret != kIOReturnSuccess) return ret;
  (*md)->SetLength(size);
  IOAddressSegment range = {};
  ret = (*md)->GetAddressRange(&range);
  if (ret != kIOReturnSuccess || range.length < size) return ret != kIOReturnSuccess ? ret : kIOReturnNoMemory;
  memset(reinterpret_cast<void*>(range.address), 0, size);
  *address = reinterpret_cast<uint8_t*>(range.address);
  return kIOReturnSuccess;
}

void ArmWatchdog(IscsiHbaController_IVars* ivars, uint64_t delay_ms) {
  ivars->watchdog->WakeAtTime(kIOTimerClockMachAbsoluteTime, mach_absolute_time() + MsToAbsolute(delay_ms),
                              MsToAbsolute(10));
}
}  // namespace

bool IscsiHbaController::init() {
  if (!super::init()) return false;
  ivars = IONewZero(IscsiHbaController_IVars, 1);
  if (ivars == nullptr) return false;
  ivars->lock = IOLockAlloc();
  return ivars->lock != nullptr;
}

void IscsiHbaController::free() {
  if (ivars != nullptr) {
    if (ivars->core != nullptr) {
      ivars->core->~HbaCore();
      IOFree(ivars->core, sizeof(iscsi_hba::HbaCore));
    }
    if (ivars->platform != nullptr) {
      ivars->platform->~DextPlatform();
      IOFree(ivars->platform, sizeof(DextPlatform));
    }
    OSSafeReleaseNULL(ivars->watchdog_action);
    OSSafeReleaseNULL(ivars->watchdog);
    OSSafeReleaseNULL(ivars->control_md);
    OSSafeReleaseNULL(ivars->pool_md);
    OSSafeReleaseNULL(ivars->aux_queue);
    OSSafeReleaseNULL(ivars->interrupt_queue);
    OSSafeReleaseNULL(ivars->watchdog_queue);
    OSSafeReleaseNULL(ivars->target_queue);
    if (ivars->lock != nullptr) IOLockFree(ivars->lock);
  }
  IOSafeDeleteNULL(ivars, IscsiHbaController_IVars, 1);
  super::free();
}

kern_return_t IMPL(IscsiHbaController, Start) {
  // 1. The queues, before the superclass starts: the framework routes UserCreateTargetForID through AuxiliaryQueue and
  //    expects InterruptQueue (Apple's class overview); WatchdogQueue carries WatchdogFired (QUEUENAME in the .iig);
  //    TargetQueue runs creates and destroys, off Default (which serves UserInitializeTargetForID meanwhile).
  kern_return_t ret = MakeQueue(this, "AuxiliaryQueue", true, &ivars->aux_queue);
  if (ret == kIOReturnSuccess) ret = MakeQueue(this, "InterruptQueue", true, &ivars->interrupt_queue);
  if (ret == kIOReturnSuccess) ret = MakeQueue(this, "WatchdogQueue", true, &ivars->watchdog_queue);
  if (ret == kIOReturnSuccess) ret = MakeQueue(this, "TargetQueue", false, &ivars->target_queue);
  if (ret != kIOReturnSuccess) {
    os_log(OS_LOG_DEFAULT, "IscsiHba: queue creation failed: 0x%x", ret);
    return ret;
  }

  // 2. The shared regions and the core, before anything can call in.
  uint8_t* control = nullptr;
  ret = MakeRegion(ISCSI_HBA_CONTROL_SIZE, &ivars->control_md, &control);
  if (ret == kIOReturnSuccess) ret = MakeRegion(ISCSI_HBA_POOL_SIZE, &ivars->pool_md, &ivars->pool);
  if (ret != kIOReturnSuccess) {
    os_log(OS_LOG_DEFAULT, "IscsiHba: shared region allocation failed: 0x%x", ret);
    return ret;
  }
  ivars->control = reinterpret_cast<iscsi_hba_control*>(control);
  void* platform_memory = IOMallocZero(sizeof(DextPlatform));
  void* core_memory = IOMallocZero(sizeof(iscsi_hba::HbaCore));
  if (platform_memory == nullptr || core_memory == nullptr) {
    if (platform_memory != nullptr) IOFree(platform_memory, sizeof(DextPlatform));
    if (core_memory != nullptr) IOFree(core_memory, sizeof(iscsi_hba::HbaCore));
    return kIOReturnNoMemory;
  }
  ivars->platform = new (platform_memory) DextPlatform(this);
  ivars->core = new (core_memory) iscsi_hba::HbaCore(*ivars->platform, ivars->control, ivars->pool);
  ivars->platform->set_command_producer(&ivars->control->cmd.producer.value);

  // 3. The superclass: it calls UserInitializeController and UserStartController.
  ret = Start(provider, SUPERDISPATCH);
  if (ret != kIOReturnSuccess) {
    os_log(OS_LOG_DEFAULT, "IscsiHba: Start(SUPERDISPATCH) failed: 0x%x", ret);
    return ret;
  }

  // 4. The largest I/O, never split (ISCSI_HBA_MAX_TRANSFER), for the storage stack above the family.
  OSDictionary* properties = OSDictionary::withCapacity(4);
  if (properties != nullptr) {
    SetNumber(properties, kIOMaximumByteCountReadKey, ISCSI_HBA_MAX_TRANSFER);
    SetNumber(properties, kIOMaximumByteCountWriteKey, ISCSI_HBA_MAX_TRANSFER);
    SetNumber(properties, kIOMaximumBlockCountReadKey, ISCSI_HBA_MAX_TRANSFER / kBlockSize);
    SetNumber(properties, kIOMaximumBlockCountWriteKey, ISCSI_HBA_MAX_TRANSFER / kBlockSize);
    ret = SetProperties(properties);
    properties->release();
    if (ret != kIOReturnSuccess) os_log(OS_LOG_DEFAULT, "IscsiHba: SetProperties (byte counts) failed: 0x%x", ret);
  }

  // 5. The watchdog: timeouts and the hold deadline fire whether or not a daemon is there.
  ret = IOTimerDispatchSource::Create(ivars->watchdog_queue, &ivars->watchdog);
  if (ret == kIOReturnSuccess) ret = CreateActionWatchdogFired(0, &ivars->watchdog_action);
  if (ret == kIOReturnSuccess) ret = ivars->watchdog->SetHandler(ivars->watchdog_action);
  if (ret != kIOReturnSuccess) {
    os_log(OS_LOG_DEFAULT, "IscsiHba: watchdog setup failed: 0x%x", ret);
    return ret;
  }
  ArmWatchdog(ivars, kWatchdogPeriodMs);

  // 6. Visible to IOServiceGetMatchingService, so iscsid can open the user client.
  return RegisterService();
}

kern_return_t IMPL(IscsiHbaController, Stop) {
  ivars->stopping = true;
  if (ivars->watchdog != nullptr) ivars->watchdog->Cancel(^{});
  // Every task ends: whatever is still in the core is failed now. No UserDestroyTargetForID here (the family
  // terminates targets as our children) and no synchronous wait on TargetQueue (an in-flight create needs Default).
  IOLockLock(ivars->lock);
  if (ivars->core != nullptr) ivars->core->reset(ISCSI_HBA_TARGET_ID_ALL);
  if (ivars->platform != nullptr) ivars->platform->disarm();
  IOLockUnlock(ivars->lock);
  return Stop(provider, SUPERDISPATCH);
}

kern_return_t IMPL(IscsiHbaController, NewUserClient) {
  (void)type;
  IOService* client = nullptr;
  kern_return_t ret = Create(this, "UserClientProperties", &client);
  if (ret != kIOReturnSuccess) return ret;
  *userClient = OSDynamicCast(IOUserClient, client);
  if (*userClient == nullptr) {
    client->release();
    return kIOReturnError;
  }
  return kIOReturnSuccess;
}

// ---- Controller lifecycle ----

kern_return_t IMPL(IscsiHbaController, UserInitializeController) {
  // All seven keys are required, and must be reported before this method returns (UserReportHBAConstraints).
  OSDictionary* constraints = OSDictionary::withCapacity(7);
  if (constraints == nullptr) return kIOReturnNoMemory;
  bool ok = SetNumber(constraints, kIOMaximumSegmentCountReadKey, kSegments);
  ok &= SetNumber(constraints, kIOMaximumSegmentCountWriteKey, kSegments);
  ok &= SetNumber(constraints, kIOMaximumSegmentByteCountReadKey, kSegmentBytes);
  ok &= SetNumber(constraints, kIOMaximumSegmentByteCountWriteKey, kSegmentBytes);
  // The data is copied (UserGetDataBuffer), never DMA'd: no alignment or address-width limit of our own.
  ok &= SetNumber(constraints, kIOMinimumSegmentAlignmentByteCountKey, 1);
  ok &= SetNumber(constraints, kIOMaximumSegmentAddressableBitCountKey, 64);
  ok &= SetNumber(constraints, kIOMinimumHBADataAlignmentMaskKey, UINT64_MAX);
  kern_return_t ret = ok ? UserReportHBAConstraints(constraints) : kIOReturnNoMemory;
  constraints->release();
  return ret;
}

kern_return_t IMPL(IscsiHbaController, UserStartController) {
  // Nothing to bring up: targets appear when iscsid asks for them (ISCSI_HBA_SEL_CREATE_TARGET).
  return kIOReturnSuccess;
}

// ---- What the HBA is (the numbers come from the ABI header, the core's own limits) ----

kern_return_t IMPL(IscsiHbaController, UserReportInitiatorIdentifier) {
  *id = kInitiatorID;
  return kIOReturnSuccess;
}

kern_return_t IMPL(IscsiHbaController, UserReportHighestSupportedDeviceID) {
  *id = kInitiatorID;
  return kIOReturnSuccess;
}

kern_return_t IMPL(IscsiHbaController, UserReportMaximumTaskCount) {
  *count = ISCSI_HBA_MAX_TASKS;
  return kIOReturnSuccess;
}

kern_return_t IMPL(IscsiHbaController, UserReportHBAHighestLogicalUnitNumber) {
  *value = ISCSI_HBA_MAX_LUNS - 1;
  return kIOReturnSuccess;
}

kern_return_t IMPL(IscsiHbaController, UserDoesHBAPerformDeviceManagement) {
  *result = true; // targets come and go with iSCSI sessions: UserCreateTargetForID / UserDestroyTargetForID
  return kIOReturnSuccess;
}

kern_return_t IMPL(IscsiHbaController, UserDoesHBAPerformAutoSense) {
  *result = true; // the daemon returns the target's sense data with the status (RFC 7143 11.4.7)
  return kIOReturnSuccess;
}

kern_return_t IMPL(IscsiHbaController, UserDoesHBASupportMultiPathing) {
  *result = false;
  return kIOReturnSuccess;
}

kern_return_t IMPL(IscsiHbaController, UserDoesHBASupportSCSIParallelFeature) {
  (void)theValue;
  *result = false; // wide, sync, DT, QAS, IU: nothing to negotiate on a virtual bus
  return kIOReturnSuccess;
}

kern_return_t IMPL(IscsiHbaController, UserGetDMASpecification) {
  // Agrees with UserInitializeController: kSegments * kSegmentBytes == ISCSI_HBA_MAX_TRANSFER.
  *maxTransferSize = ISCSI_HBA_MAX_TRANSFER;
  *alignment = 1;
  *numAddressBits = 64;
  *segmentType = kDMAOutputSegmentHost64;
  return kIOReturnSuccess;
}

kern_return_t IMPL(IscsiHbaController, UserMapHBAData) {
  *uniqueTaskID = __atomic_add_fetch(&ivars->next_task_id, 1, __ATOMIC_RELAXED);
  return kIOReturnSuccess;
}

kern_return_t IMPL(IscsiHbaController, UserInitializeTargetForID) {
  (void)targetID; // the core already knows the target: it was created in DaemonCreateTarget before the family heard
  return kIOReturnSuccess;
}

// ---- The I/O path ----

kern_return_t IMPL(IscsiHbaController, UserProcessParallelTask) {
  // Every path below ends in DextPlatform::respond, which releases this retain after ParallelTaskCompletion.
  completion->retain();
  *response = kSCSIServiceResponse_Request_In_Process;

  DextPlatform::Task task;
  task.completion = completion;
  task.target_id = parallelRequest.fTargetID;
  task.controller_task_id = parallelRequest.fControllerTaskIdentifier;
  task.tag = parallelRequest.fTaskTagIdentifier;
  task.lun = LunFromSam(parallelRequest.fLogicalUnitBytes);
  task.direction = DirectionFromFamily(parallelRequest.fTransferDirection);
  const uint64_t requested = parallelRequest.fRequestedTransferCount;
  task.transfer_length = requested > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(requested); // core refuses > max

  // The data: only UserGetDataBuffer, and only here (fBufferIOVMAddr is not an address the dext can dereference).
  // The buffer is borrowed: valid until the task completes, not released by the dext.
  if (task.direction != ISCSI_HBA_DIR_NONE && requested > 0) {
    IOBufferMemoryDescriptor* buffer = nullptr;
    IOAddressSegment range = {};
    kern_return_t ret = UserGetDataBuffer(parallelRequest.fTargetID, parallelRequest.fControllerTaskIdentifier,
                                          &buffer);
    if (ret != kIOReturnSuccess || buffer == nullptr || buffer->GetAddressRange(&range) != kIOReturnSuccess ||
        range.address == 0 || range.length < requested) {
      os_log(OS_LOG_DEFAULT, "IscsiHba: no data buffer for task %llu: 0x%x", task.controller_task_id, ret);
      IOLockLock(ivars->lock);
      ivars->platform->fail_unsubmitted(completion, task.target_id, task.controller_task_id,
                                        iscsi_hba::HostStatus::BadRequest);
      IOLockUnlock(ivars->lock);
      return kIOReturnSuccess;
    }
    task.data = reinterpret_cast<uint8_t*>(range.address);
    task.data_length = range.length;
  }

  iscsi_hba::ScsiTask scsi;
  // An ID the core never hands out stands for one out of range: the core refuses it as an unknown target.
  scsi.target_id = static_cast<uint16_t>(task.target_id < ISCSI_HBA_MAX_TARGETS ? task.target_id
                                                                                 : ISCSI_HBA_MAX_TARGETS);
  scsi.lun = task.lun;
  const uint8_t cdb_length = parallelRequest.fCommandSize;
  const size_t inline_cdb = sizeof(parallelRequest.fCommandDescriptorBlock);
  memcpy(scsi.cdb, parallelRequest.fCommandDescriptorBlock, inline_cdb < sizeof(scsi.cdb) ? inline_cdb : sizeof(scsi.cdb));
  scsi.cdb_length = cdb_length; // the core checks it against the CDB it can carry
  scsi.direction = task.direction;
  scsi.task_attribute = AttributeFromFamily(parallelRequest.fTaskAttribute);
  scsi.transfer_length = task.transfer_length;
  scsi.timeout_ms = parallelRequest.fTimeoutInMilliSec > UINT32_MAX
                        ? UINT32_MAX
                        : static_cast<uint32_t>(parallelRequest.fTimeoutInMilliSec);

  IOLockLock(ivars->lock);
  uint64_t handle = 0;
  if (!ivars->platform->begin(task, handle)) {
    // More tasks than UserReportMaximumTaskCount: refused like the core refuses a busy HBA.
    ivars->platform->fail_unsubmitted(completion, task.target_id, task.controller_task_id,
                                      iscsi_hba::HostStatus::Busy);
  } else {
    scsi.handle = handle;
    ivars->core->submit(scsi);
  }
  IOLockUnlock(ivars->lock);
  return kIOReturnSuccess;
}

kern_return_t IMPL(IscsiHbaController, UserMapBundledParallelTaskCommandAndResponseBuffers) {
  (void)parallelCommandIOMemoryDescriptor;
  (void)parallelResponseIOMemoryDescriptor;
  return kIOReturnUnsupported; // opt out of bundled mode: tasks come one by one through UserProcessParallelTask
}

void IMPL(IscsiHbaController, UserProcessBundledParallelTasks) {
  // Never called while the map call above fails; log it if the framework does call.
  (void)parallelRequestSlotIndices;
  (void)completion;
  os_log(OS_LOG_DEFAULT, "IscsiHba: unexpected bundled tasks (%u) although bundled mode was declined",
         parallelRequestSlotIndicesCount);
}

// ---- Task management: aborts go to the core, which sends the daemon an abort and ends the task ----

kern_return_t IMPL(IscsiHbaController, UserAbortTaskRequest) {
  (void)theL;
  IOLockLock(ivars->lock);
  uint64_t handle = 0;
  if (ivars->platform->find_tag(theT, theQ, handle)) ivars->core->abort(handle);
  IOLockUnlock(ivars->lock);
  *response = kSCSIServiceResponse_FUNCTION_COMPLETE;
  return kIOReturnSuccess;
}

namespace {
void AbortEach(IscsiHbaController_IVars* ivars, uint64_t target, uint64_t lun, bool any_lun) {
  IOLockLock(ivars->lock);
  const uint32_t n = ivars->platform->find(target, lun, any_lun, ivars->handles, ISCSI_HBA_MAX_TASKS);
  for (uint32_t i = 0; i < n; i++) ivars->core->abort(ivars->handles[i]);
  IOLockUnlock(ivars->lock);
}
}  // namespace

kern_return_t IMPL(IscsiHbaController, UserAbortTaskSetRequest) {
  AbortEach(ivars, theT, theL, false);
  *response = kSCSIServiceResponse_FUNCTION_COMPLETE;
  return kIOReturnSuccess;
}

kern_return_t IMPL(IscsiHbaController, UserClearACARequest) {
  (void)theT;
  (void)theL;
  *response = kSCSIServiceResponse_FUNCTION_COMPLETE; // no ACA is ever established through this HBA
  return kIOReturnSuccess;
}

kern_return_t IMPL(IscsiHbaController, UserClearTaskSetRequest) {
  AbortEach(ivars, theT, theL, false);
  *response = kSCSIServiceResponse_FUNCTION_COMPLETE;
  return kIOReturnSuccess;
}

kern_return_t IMPL(IscsiHbaController, UserLogicalUnitResetRequest) {
  // The core resets whole targets; a LUN reset aborts that LUN's tasks instead of disturbing its siblings.
  AbortEach(ivars, theT, theL, false);
  *response = kSCSIServiceResponse_FUNCTION_COMPLETE;
  return kIOReturnSuccess;
}

kern_return_t IMPL(IscsiHbaController, UserTargetResetRequest) {
  IOLockLock(ivars->lock);
  if (theT < ISCSI_HBA_MAX_TARGETS) ivars->core->reset(static_cast<uint16_t>(theT));
  IOLockUnlock(ivars->lock);
  *response = kSCSIServiceResponse_FUNCTION_COMPLETE;
  return kIOReturnSuccess;
}

// ---- The watchdog ----

void IMPL(IscsiHbaController, WatchdogFired) {
  (void)action;
  (void)time;
  uint64_t delay = kWatchdogPeriodMs;
  IOLockLock(ivars->lock);
  const uint64_t now = ivars->platform->now_ms();
  ivars->core->tick(now);
  const uint64_t next = ivars->core->next_deadline_ms();
  IOLockUnlock(ivars->lock);
  if (next <= now) delay = 1;
  else if (next - now < delay) delay = next - now;
  if (!ivars->stopping) ArmWatchdog(ivars, delay);
}

// ---- Called by IscsiHbaUserClient ----

void IscsiHbaController::DaemonHandshake(IscsiHbaUserClient* client, const iscsi_hba_handshake_in* in,
                                         iscsi_hba_handshake_out* out) {
  IOLockLock(ivars->lock);
  ivars->core->handshake(*in, *out);
  if (out->error == ISCSI_HBA_OK) ivars->daemon = client;
  IOLockUnlock(ivars->lock);
}

void IscsiHbaController::DaemonDetached(IscsiHbaUserClient* client) {
  IOLockLock(ivars->lock);
  if (ivars->daemon == client) {
    ivars->daemon = nullptr;
    ivars->platform->disarm();
    ivars->core->daemon_detached(); // held for Config::hold_ms, then failed by the watchdog's tick
  }
  IOLockUnlock(ivars->lock);
}

bool IscsiHbaController::DaemonIsAttached(IscsiHbaUserClient* client) {
  IOLockLock(ivars->lock);
  const bool attached = ivars->daemon == client && ivars->core->daemon_attached();
  IOLockUnlock(ivars->lock);
  return attached;
}

void IscsiHbaController::DaemonMapRegion(const iscsi_hba_map_region_in* in, iscsi_hba_map_region_out* out) {
  IOLockLock(ivars->lock);
  ivars->core->map_region(*in, *out);
  IOLockUnlock(ivars->lock);
}

IOBufferMemoryDescriptor* IscsiHbaController::CopyRegion(uint64_t region) {
  IOBufferMemoryDescriptor* md = region == ISCSI_HBA_REGION_CONTROL ? ivars->control_md
                                 : region == ISCSI_HBA_REGION_POOL  ? ivars->pool_md
                                                                    : nullptr;
  if (md != nullptr) md->retain();
  return md;
}

void IscsiHbaController::DaemonHbaInfo(iscsi_hba_info* out) {
  IOLockLock(ivars->lock);
  ivars->core->hba_info(*out);
  IOLockUnlock(ivars->lock);
}

void IscsiHbaController::DaemonCreateTarget(const iscsi_hba_create_target_in* in, iscsi_hba_create_target_out* out) {
  IOLockLock(ivars->lock);
  ivars->core->create_target(*in, *out);
  const uint32_t id = out->target_id;
  const bool publish = out->error == ISCSI_HBA_OK && id < ISCSI_HBA_MAX_TARGETS && !ivars->published[id];
  if (publish) ivars->published[id] = true;
  IOLockUnlock(ivars->lock);
  if (!publish) return; // a known key whose target the family already has (the daemon came back)

  // UserCreateTargetForID returns only once the family's probe has been served — by this very daemon, through the
  // ring — so the daemon's call returns now and the create runs on TargetQueue.
  retain();
  ivars->target_queue->DispatchAsync(^{
    OSDictionary* properties = OSDictionary::withCapacity(1);
    kern_return_t ret = properties != nullptr ? UserCreateTargetForID(id, properties) : kIOReturnNoMemory;
    OSSafeReleaseNULL(properties);
    if (ret != kIOReturnSuccess) {
      os_log(OS_LOG_DEFAULT, "IscsiHba: UserCreateTargetForID(%u) failed: 0x%x", id, ret);
      IOLockLock(ivars->lock);
      ivars->published[id] = false;
      IOLockUnlock(ivars->lock);
    }
    release();
  });
}

uint32_t IscsiHbaController::DaemonDestroyTarget(const iscsi_hba_destroy_target_in* in) {
  IOLockLock(ivars->lock);
  const uint32_t error = ivars->core->destroy_target(*in); // fails the target's tasks (ISCSI_HBA_HOST_NO_CONNECT)
  const uint32_t id = in->target_id;
  const bool unpublish = error == ISCSI_HBA_OK && id < ISCSI_HBA_MAX_TARGETS && ivars->published[id];
  if (unpublish) ivars->published[id] = false;
  IOLockUnlock(ivars->lock);
  if (unpublish) {
    retain();
    ivars->target_queue->DispatchAsync(^{
      kern_return_t ret = UserDestroyTargetForID(id);
      if (ret != kIOReturnSuccess) os_log(OS_LOG_DEFAULT, "IscsiHba: UserDestroyTargetForID(%u) failed: 0x%x", id, ret);
      release();
    });
  }
  return error;
}

uint32_t IscsiHbaController::DaemonDoorbell() {
  IOLockLock(ivars->lock);
  ivars->core->on_doorbell();
  IOLockUnlock(ivars->lock);
  return ISCSI_HBA_OK; // bad completions are the core's to log and count; the call itself succeeded
}

void IscsiHbaController::DaemonArmNotices(IscsiHbaUserClient* client, OSAction* action) {
  IOLockLock(ivars->lock);
  ivars->platform->arm(client, action, iscsi_hba_load_acquire(&ivars->control->cmd.producer.value));
  IOLockUnlock(ivars->lock);
}

void IscsiHbaController::CompleteToFamily(OSAction* completion, SCSIUserParallelResponse* response) {
  ParallelTaskCompletion(completion, *response);
}
