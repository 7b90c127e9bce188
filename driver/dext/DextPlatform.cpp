// The core's HbaPlatform on DriverKit. NEVER COMPILED: see docs/macos.md. Called with the controller's lock held.
#include "DextPlatform.h"

#include <string.h>

#include <DriverKit/IOLib.h>
#include <os/log.h>

#include "IscsiHbaController.h"
#include "IscsiHbaUserClient.h"

using iscsi_hba::HostStatus;
using iscsi_hba::TaskResult;

bool DextPlatform::begin(const Task& task, uint64_t& handle) {
  for (uint32_t n = 0; n < ISCSI_HBA_MAX_TASKS; n++) {
    const uint32_t i = (next_free_hint_ + n) % ISCSI_HBA_MAX_TASKS;
    if (tasks_[i].used) continue;
    tasks_[i] = task;
    tasks_[i].used = true;
    next_free_hint_ = (i + 1) % ISCSI_HBA_MAX_TASKS;
    handle = i;
    return true;
  }
  return false;
}

void DextPlatform::fail_unsubmitted(OSAction* completion, uint64_t target_id, uint64_t controller_task_id,
                                    HostStatus host) {
  TaskResult result;
  result.host = host;
  // task_types.h: Busy is TASK COMPLETE with TASK SET FULL (SAM-5 5.3.1), which the stack retries; the rest fail.
  result.service_response = host == HostStatus::Busy ? ISCSI_HBA_RESPONSE_COMPLETE : ISCSI_HBA_RESPONSE_TARGET_FAILURE;
  result.scsi_status = host == HostStatus::Busy ? 0x28 : 0;
  respond(completion, target_id, controller_task_id, ISCSI_HBA_DIR_NONE, 0, result);
}

uint32_t DextPlatform::find(uint64_t target_id, uint64_t lun, bool any_lun, uint64_t* handles,
                            uint32_t capacity) const {
  uint32_t found = 0;
  for (uint32_t i = 0; i < ISCSI_HBA_MAX_TASKS && found < capacity; i++) {
    if (tasks_[i].used && tasks_[i].target_id == target_id && (any_lun || tasks_[i].lun == lun)) handles[found++] = i;
  }
  return found;
}

bool DextPlatform::find_tag(uint64_t target_id, uint64_t tag, uint64_t& handle) const {
  for (uint32_t i = 0; i < ISCSI_HBA_MAX_TASKS; i++) {
    if (tasks_[i].used && tasks_[i].target_id == target_id && tasks_[i].tag == tag) {
      handle = i;
      return true;
    }
  }
  return false;
}

void DextPlatform::arm(IscsiHbaUserClient* client, OSAction* action, uint32_t cmd_producer) {
  disarm();
  if (pending_kinds_ != 0) {
    // Something happened while the daemon was not listening: answer this arm at once.
    client->SendNotice(action, pending_kinds_, cmd_producer);
    pending_kinds_ = 0;
    return;
  }
  action->retain();
  notice_client_ = client;
  notice_action_ = action;
}

void DextPlatform::disarm() {
  OSSafeReleaseNULL(notice_action_);
  notice_client_ = nullptr;
}

uint64_t DextPlatform::now_ms() {
  // mach_absolute_time ticks to milliseconds (the timebase is 1/1 on Intel, 125/3 on Apple silicon).
  static mach_timebase_info_data_t timebase = {0, 0};
  if (timebase.denom == 0) mach_timebase_info(&timebase);
  return mach_absolute_time() * timebase.numer / timebase.denom / 1'000'000u;
}

void DextPlatform::notify_daemon(uint32_t kinds) {
  if (notice_action_ == nullptr) {
    pending_kinds_ |= kinds;
    return;
  }
  const uint32_t producer = cmd_producer_ != nullptr ? iscsi_hba_load_acquire(cmd_producer_) : 0;
  OSAction* action = notice_action_;
  IscsiHbaUserClient* client = notice_client_;
  notice_action_ = nullptr; // one answer per arm: the daemon re-arms (iscsi_hba_abi.h, ISCSI_HBA_SEL_ARM_NOTICES)
  notice_client_ = nullptr;
  client->SendNotice(action, kinds | pending_kinds_, producer);
  pending_kinds_ = 0;
  action->release();
}

bool DextPlatform::copy_to_pool(uint64_t handle, uint8_t* dst, uint32_t length) {
  if (handle >= ISCSI_HBA_MAX_TASKS || !tasks_[handle].used) return false;
  const Task& task = tasks_[handle];
  if (task.data == nullptr || length > task.data_length) return false;
  memcpy(dst, task.data, length);
  return true;
}

bool DextPlatform::copy_from_pool(uint64_t handle, const uint8_t* src, uint32_t length) {
  if (handle >= ISCSI_HBA_MAX_TASKS || !tasks_[handle].used) return false;
  const Task& task = tasks_[handle];
  if (task.data == nullptr || length > task.data_length) return false;
  memcpy(task.data, src, length);
  return true;
}

void DextPlatform::complete(uint64_t handle, const TaskResult& result) {
  if (handle >= ISCSI_HBA_MAX_TASKS || !tasks_[handle].used) {
    log(iscsi_hba::LogLevel::Error, ISCSI_HBA_E_UNKNOWN_TAG, "core completed a handle the dext does not hold");
    return;
  }
  Task task = tasks_[handle];
  tasks_[handle] = Task{};
  respond(task.completion, task.target_id, task.controller_task_id, task.direction, task.transfer_length, result);
}

void DextPlatform::respond(OSAction* completion, uint64_t target_id, uint64_t controller_task_id, uint8_t direction,
                           uint32_t transfer_length, const TaskResult& result) {
  // Every field, version first: a response the kernel does not recognise is dropped and the task hangs silently.
  SCSIUserParallelResponse response;
  memset(&response, 0, sizeof(response));
  response.version = kScsiUserParallelTaskResponseCurrentVersion1;
  response.fTargetID = target_id;
  response.fControllerTaskIdentifier = controller_task_id;
  response.fBytesTransferred = 0;
  response.fSenseLength = 0;

  if (result.host == HostStatus::Ok || result.host == HostStatus::Busy) {
    if (result.service_response == ISCSI_HBA_RESPONSE_COMPLETE) {
      response.fServiceResponse = kSCSIServiceResponse_TASK_COMPLETE;
      response.fCompletionStatus = static_cast<SCSITaskStatus>(result.scsi_status);
    } else {
      response.fServiceResponse = kSCSIServiceResponse_SERVICE_DELIVERY_OR_TARGET_FAILURE;
      response.fCompletionStatus = kSCSITaskStatus_DeliveryFailure;
    }
  } else {
    response.fServiceResponse = kSCSIServiceResponse_SERVICE_DELIVERY_OR_TARGET_FAILURE;
    switch (result.host) {
      case HostStatus::NoConnect: response.fCompletionStatus = kSCSITaskStatus_DeviceNotPresent; break; // give up
      case HostStatus::TimedOut: response.fCompletionStatus = kSCSITaskStatus_TaskTimeoutOccurred; break;
      default: response.fCompletionStatus = kSCSITaskStatus_DeliveryFailure; break;                   // may retry
    }
  }

  // RFC 7143 11.4.5: a read moved data_length bytes; a write moved the expected length less an underflow residual.
  if (result.host == HostStatus::Ok && result.service_response == ISCSI_HBA_RESPONSE_COMPLETE) {
    if (direction == ISCSI_HBA_DIR_READ) {
      response.fBytesTransferred = result.data_length;
    } else if (direction == ISCSI_HBA_DIR_WRITE) {
      const uint32_t short_by = (result.flags & ISCSI_HBA_CPL_UNDERFLOW) != 0 ? result.residual : 0;
      response.fBytesTransferred = short_by < transfer_length ? transfer_length - short_by : 0;
    }
  }

  if (result.sense != nullptr && result.sense_length > 0) {
    const uint32_t room = static_cast<uint32_t>(kMaxSenseBufferSize);
    const uint32_t length = result.sense_length < room ? result.sense_length : room;
    memcpy(&response.fSenseBuffer, result.sense, length);
    response.fSenseLength = static_cast<decltype(response.fSenseLength)>(length);
  }

  controller_->CompleteToFamily(completion, &response);
  OSSafeReleaseNULL(completion);
}

void DextPlatform::log(iscsi_hba::LogLevel level, uint32_t code, const char* message) {
  const os_log_type_t type = level == iscsi_hba::LogLevel::Error     ? OS_LOG_TYPE_ERROR
                             : level == iscsi_hba::LogLevel::Warning ? OS_LOG_TYPE_DEFAULT
                             : level == iscsi_hba::LogLevel::Info    ? OS_LOG_TYPE_INFO
                                                                     : OS_LOG_TYPE_DEBUG;
  os_log_with_type(OS_LOG_DEFAULT, type, "IscsiHba: [%u] %{public}s", code, message);
}
