// The core's HbaPlatform on DriverKit: the platform half of each task (the family's OSAction and the data buffer from
// UserGetDataBuffer), the answer to the SCSI family (SCSIUserParallelResponse), the notices to the daemon, the clock
// and the log. NEVER COMPILED: see docs/macos.md. Every member is called with the controller's lock held.
#pragma once

#include <stdint.h>

#include <DriverKit/OSAction.h>
#include <SCSIControllerDriverKit/IOUserSCSIParallelInterfaceController.h>

#include "../core/hba_core.h"

class IscsiHbaController;
class IscsiHbaUserClient;

class DextPlatform final : public iscsi_hba::HbaPlatform {
 public:
  explicit DextPlatform(IscsiHbaController* controller) : controller_(controller) {}

  /// What the core's handle names: the family's side of one task, kept from UserProcessParallelTask to completion.
  struct Task {
    bool used = false;
    OSAction* completion = nullptr; // retained until ParallelTaskCompletion
    uint64_t target_id = 0;         // SCSIUserParallelTask.fTargetID
    uint64_t controller_task_id = 0;
    uint64_t tag = 0;               // fTaskTagIdentifier: what UserAbortTaskRequest names (theQ)
    uint64_t lun = 0;
    uint8_t* data = nullptr;        // UserGetDataBuffer's mapping: valid until the task completes
    uint64_t data_length = 0;
    uint32_t transfer_length = 0;
    uint8_t direction = ISCSI_HBA_DIR_NONE;
  };

  /// A free record for a new task (its index is the core's handle); false when all ISCSI_HBA_MAX_TASKS are in use.
  bool begin(const Task& task, uint64_t& handle);
  /// Ends a task the core never saw (no record, no buffer): the same response path as every other task.
  void fail_unsubmitted(OSAction* completion, uint64_t target_id, uint64_t controller_task_id,
                        iscsi_hba::HostStatus host);
  /// Handles of live tasks matching a target (and a LUN, unless any_lun), for the SCSI family's task management.
  uint32_t find(uint64_t target_id, uint64_t lun, bool any_lun, uint64_t* handles, uint32_t capacity) const;
  bool find_tag(uint64_t target_id, uint64_t tag, uint64_t& handle) const;

  /// The daemon's armed ARM_NOTICES call; notices gathered while none is armed are sent at the next arm.
  void arm(IscsiHbaUserClient* client, OSAction* action, uint32_t cmd_producer);
  void disarm();
  void set_command_producer(const uint32_t* producer) { cmd_producer_ = producer; }

  // ---- iscsi_hba::HbaPlatform ----
  uint64_t now_ms() override;
  void notify_daemon(uint32_t kinds) override;
  bool copy_to_pool(uint64_t handle, uint8_t* dst, uint32_t length) override;
  bool copy_from_pool(uint64_t handle, const uint8_t* src, uint32_t length) override;
  void complete(uint64_t handle, const iscsi_hba::TaskResult& result) override;
  void log(iscsi_hba::LogLevel level, uint32_t code, const char* message) override;

 private:
  void respond(OSAction* completion, uint64_t target_id, uint64_t controller_task_id, uint8_t direction,
               uint32_t transfer_length, const iscsi_hba::TaskResult& result);

  IscsiHbaController* controller_;
  Task tasks_[ISCSI_HBA_MAX_TASKS];
  IscsiHbaUserClient* notice_client_ = nullptr;
  OSAction* notice_action_ = nullptr; // retained while armed
  uint32_t pending_kinds_ = 0;
  const uint32_t* cmd_producer_ = nullptr;
  uint32_t next_free_hint_ = 0;
};
