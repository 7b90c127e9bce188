// The task as the SCSI stack hands it to the core, and the result the core hands back: the adapter's vocabulary.
#pragma once

#include <cstdint>

#include "../include/iscsi_hba_abi.h"

namespace iscsi_hba {

/// The host status of a result: why the HBA (not the target) ended a task. The adapter maps it to its stack's codes.
enum class HostStatus : uint8_t {
  Ok = 0,          // the daemon answered: service response, SCSI status, sense are the target's
  NoConnect = 1,   // no daemon (after the hold time), or the target was destroyed: give up, do not retry
  Aborted = 2,     // the SCSI stack aborted it and the daemon did not answer the abort in time
  TimedOut = 3,    // the task's timeout passed, it was aborted, and the abort was not answered in time
  Reset = 4,       // failed by an HBA or target reset
  Busy = 5,        // refused at submit: a reset under way or the target unknown to the registry's live set
  BadRequest = 6,  // refused at submit: impossible lengths (transfer above max, CDB length out of range)
};

/// What the SCSI stack is told about a task. For HostStatus::Ok, the fields are the daemon's (validated).
/// Otherwise service_response is ISCSI_HBA_RESPONSE_TARGET_FAILURE and scsi_status 0, except Busy: TASK COMPLETE with
/// TASK SET FULL (0x28), which every SCSI stack retries later.
struct TaskResult {
  HostStatus host = HostStatus::Ok;
  uint8_t service_response = ISCSI_HBA_RESPONSE_COMPLETE;
  uint8_t scsi_status = 0;
  uint8_t flags = 0;              // ISCSI_HBA_CPL_OVERFLOW / UNDERFLOW
  uint32_t residual = 0;
  uint32_t data_length = 0;       // bytes copied to the stack's buffer (reads)
  const uint8_t* sense = nullptr; // valid during complete() only
  uint16_t sense_length = 0;
};

/// The SCSI stack's task, as the adapter hands it in. `handle` is the adapter's name for it (the SCSI family's task
/// ID); the core never dereferences it.
struct ScsiTask {
  uint64_t handle = 0;
  uint16_t target_id = 0;
  uint64_t lun = 0;
  uint8_t cdb[ISCSI_HBA_CDB_MAX] = {};
  uint8_t cdb_length = 0;
  uint8_t direction = ISCSI_HBA_DIR_NONE;
  uint8_t task_attribute = ISCSI_HBA_ATTR_SIMPLE;
  uint32_t transfer_length = 0;
  uint32_t timeout_ms = 0; // 0: Config::default_timeout_ms
};

}  // namespace iscsi_hba
