// The task table: tag (0..ISCSI_HBA_MAX_TASKS-1) ⇄ the SCSI stack's task, with a generation per tag that changes at
// every reuse, so a stale or repeated completion from the daemon names a generation that no longer matches. Plus the
// FIFO of tasks waiting to be published (pool space, ring space, or a daemon). Fixed size; no allocation.
#pragma once

#include <cstdint>

#include "../include/iscsi_hba_abi.h"
#include "task_types.h"

namespace iscsi_hba {

enum class TaskState : uint8_t {
  Free,       // no task
  Waiting,    // taken from the stack, not in the command ring (no pool space, ring full, or no daemon)
  Published,  // in the command ring or with the daemon
  Aborting,   // published, and an abort is wanted (sent or waiting for ring space)
  Zombie,     // already completed to the stack, but the daemon may still touch its pool space: not reusable yet
};

struct TaskEntry {
  TaskState state = TaskState::Free;
  uint32_t generation = 0;
  ScsiTask task;
  bool has_pool = false;
  uint32_t pool_first = 0;  // slot
  uint32_t pool_slots = 0;
  uint64_t deadline_ms = 0;       // Published: the task's timeout; Aborting/Zombie: the abort's or reset's answer
  bool abort_sent = false;        // Aborting: the abort descriptor is in the ring
  bool timed_out = false;         // Aborting because the task's own timeout passed (not the stack's abort)
  bool waited = false;            // counted once in Stats::queued_for_space
  uint32_t reset_seq = 0;         // Zombie: freed by the RESET_DONE with this sequence (0: by the task's completion)
};

class TaskTable {
 public:
  static constexpr uint32_t kMax = ISCSI_HBA_MAX_TASKS;

  /// A free tag with its generation advanced, or false when all are in use.
  bool allocate(uint32_t& tag);
  void release(uint32_t tag) { entries_[tag].state = TaskState::Free; }
  TaskEntry& operator[](uint32_t tag) { return entries_[tag]; }
  const TaskEntry& operator[](uint32_t tag) const { return entries_[tag]; }
  /// The tag of a live (not Free, not Zombie) task with this handle, or false.
  bool find(uint64_t handle, uint32_t& tag) const;
  uint32_t count(TaskState state) const;

  // The waiting FIFO (publish order = submit order).
  void enqueue(uint32_t tag);
  bool front(uint32_t& tag) const;
  /// The i-th waiting tag (0 = front), or false past the end.
  bool at(uint32_t i, uint32_t& tag) const;
  void pop_front();
  void remove_waiting(uint32_t tag);
  uint32_t waiting() const { return wait_count_; }

 private:
  TaskEntry entries_[kMax];
  uint32_t next_ = 0;  // round-robin start: a freed tag is not reused at once (a late completion meets Free)
  uint32_t wait_[kMax] = {};
  uint32_t wait_head_ = 0;
  uint32_t wait_count_ = 0;
};

}  // namespace iscsi_hba
