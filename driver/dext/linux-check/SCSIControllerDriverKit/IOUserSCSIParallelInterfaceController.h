// Stand-in for the Linux syntax check only (see ../README.md): not the SDK. Field names from Apple's documentation of
// SCSIUserParallelResponse; the types and values here are placeholders.
#pragma once
#include <stdint.h>
#include "../DriverKit/OSAction.h"
enum SCSIServiceResponse : uint32_t {
  kSCSIServiceResponse_Request_In_Process = 0xFF,
  kSCSIServiceResponse_SERVICE_DELIVERY_OR_TARGET_FAILURE = 0,
  kSCSIServiceResponse_TASK_COMPLETE = 1,
  kSCSIServiceResponse_FUNCTION_COMPLETE = 3,
};
enum SCSITaskStatus : uint32_t {
  kSCSITaskStatus_GOOD = 0x00,
  kSCSITaskStatus_TaskTimeoutOccurred = 0x01,
  kSCSITaskStatus_DeviceNotPresent = 0x04,
  kSCSITaskStatus_DeliveryFailure = 0x05,
};
enum { kScsiUserParallelTaskResponseCurrentVersion1 = 1 };
enum { kMaxSenseBufferSize = 256 };
struct SCSIUserParallelResponse {
  uint32_t version;
  uint64_t fTargetID;
  uint64_t fControllerTaskIdentifier;
  SCSITaskStatus fCompletionStatus;
  SCSIServiceResponse fServiceResponse;
  uint64_t fBytesTransferred;
  uint8_t fSenseBuffer[kMaxSenseBufferSize];
  uint8_t fSenseLength;
};
