// The portable driver core of the virtual SCSI HBA: task table, pool allocator, command producer, completion consumer,
// timeouts and aborts, target registry, reset, and the daemon's coming and going. Plain C++20, no Apple header, no
// allocation after construction: the dext (driver/dext) and the simulator (driver/sim) are thin adapters that
// implement HbaPlatform and call the entry points below. The shared memory layout is driver/include/iscsi_hba_abi.h.
//
// Threading: the core is not thread-safe. The adapter calls every entry point from one serial context (the dext's
// default dispatch queue; the simulator's event loop), and the HbaPlatform callbacks are made from inside those calls.
// The daemon on the other side of the rings runs concurrently: only the ring indices are shared, with the ordering
// rules of the ABI header.
//
// The invariant: every task given to submit() gets exactly one HbaPlatform::complete() — answered by the daemon,
// aborted, timed out, reset, refused, or failed when the daemon stays away — and none gets two.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../include/iscsi_hba_abi.h"
#include "pool_allocator.h"
#include "ring.h"
#include "target_registry.h"
#include "task_table.h"
#include "task_types.h"

namespace iscsi_hba {

enum class LogLevel : uint8_t { Debug, Info, Warning, Error };

/// What the adapter provides. Every callback is made from inside an entry point of HbaCore.
class HbaPlatform {
 public:
  virtual ~HbaPlatform() = default;
  /// Monotonic milliseconds.
  virtual uint64_t now_ms() = 0;
  /// Wake the daemon: answer its armed ISCSI_HBA_SEL_ARM_NOTICES call with these ISCSI_HBA_NOTICE_* bits.
  virtual void notify_daemon(uint32_t kinds) = 0;
  /// Copy a write's data from the stack's buffer into the pool (`dst`, `length` bytes). false: the buffer could not
  /// be read; the task is then failed (BadRequest).
  virtual bool copy_to_pool(uint64_t handle, uint8_t* dst, uint32_t length) = 0;
  /// Copy a read's data from the pool into the stack's buffer.
  virtual bool copy_from_pool(uint64_t handle, const uint8_t* src, uint32_t length) = 0;
  /// Tell the SCSI stack the task ended. Exactly once per submitted task.
  virtual void complete(uint64_t handle, const TaskResult& result) = 0;
  /// A line for the system log; `code` is the iscsi_hba_error it is about (ISCSI_HBA_OK for plain information).
  virtual void log(LogLevel level, uint32_t code, const char* message) = 0;
};

struct Config {
  uint32_t default_timeout_ms = 30'000; // a task without its own timeout
  uint32_t abort_timeout_ms = 10'000;   // an abort (or a reset) not answered in this time: the task is failed anyway
  uint32_t hold_ms = 120'000;           // tasks wait this long for a daemon that went away (iscsid's replacement_timeout)
};

/// Counters for tests and diagnostics.
struct Stats {
  uint64_t submitted = 0;
  uint64_t completed = 0;        // complete() calls, whatever the result
  uint64_t published = 0;        // commands put in the command ring (re-issues included)
  uint64_t queued_for_space = 0; // submits that waited for pool space or a ring entry (back-pressure)
  uint64_t aborts_sent = 0;
  uint64_t resets = 0;
  uint64_t timeouts = 0;
  uint64_t bad_completions = 0;  // refused descriptors from the daemon
  uint32_t last_error = ISCSI_HBA_OK;
};

class HbaCore {
 public:
  /// `control` and `pool` are the shared regions (ISCSI_HBA_CONTROL_SIZE and ISCSI_HBA_POOL_SIZE bytes), owned by the
  /// adapter and alive as long as the core. The core writes the control region's header.
  HbaCore(HbaPlatform& platform, iscsi_hba_control* control, uint8_t* pool, const Config& config = Config{});
  HbaCore(const HbaCore&) = delete;
  HbaCore& operator=(const HbaCore&) = delete;

  // ---- from the SCSI stack ----
  /// Take a task. It is published to the daemon now, or queued (pool or ring full, daemon away) and published later;
  /// refused tasks are completed at once. Either way complete() is called exactly once for it.
  void submit(const ScsiTask& task);
  /// The SCSI stack aborts a task: an abort goes to the daemon, whose completion of the task ends it (or the abort
  /// timeout does). false: no such task in the core (already completed).
  bool abort(uint64_t handle);
  /// Reset one target (ISCSI_HBA_TARGET_ID_ALL: the HBA): its tasks are failed now (HostStatus::Reset), and the daemon
  /// is told to drop them; their pool space is reused once it has answered (or has gone away).
  void reset(uint16_t target_id = ISCSI_HBA_TARGET_ID_ALL);

  // ---- from the daemon (user-client calls; the out structs are always filled) ----
  void handshake(const iscsi_hba_handshake_in& in, iscsi_hba_handshake_out& out);
  void map_region(const iscsi_hba_map_region_in& in, iscsi_hba_map_region_out& out) const;
  void hba_info(iscsi_hba_info& out) const;
  void create_target(const iscsi_hba_create_target_in& in, iscsi_hba_create_target_out& out);
  uint32_t destroy_target(const iscsi_hba_destroy_target_in& in);
  /// ISCSI_HBA_SEL_COMPLETION_DOORBELL: consume the completion ring. Returns the completions consumed.
  uint32_t on_doorbell();
  /// The user client closed (or the daemon died): hold the tasks for Config::hold_ms.
  void daemon_detached();
  bool daemon_attached() const { return attached_; }

  // ---- time ----
  /// Timeouts, the abort and hold deadlines, and retrying what waits for space. Call it at least every second, and
  /// at next_deadline_ms() if earlier.
  void tick(uint64_t now_ms);
  /// The earliest time tick() has something to do (UINT64_MAX: nothing).
  uint64_t next_deadline_ms() const;

  const Stats& stats() const { return stats_; }
  /// Tasks the core holds (not yet completed to the stack).
  uint32_t tasks_outstanding() const;
  const TargetRegistry& targets() const { return targets_; }

 private:
  enum class Publish : uint8_t { Done, Failed, Blocked };
  void logf(LogLevel level, uint32_t code, const char* format, ...) __attribute__((format(printf, 4, 5)));
  void finish(uint32_t tag, const TaskResult& result, bool keep_as_zombie, uint32_t reset_seq = 0);
  void fail(uint32_t tag, HostStatus host, bool keep_as_zombie = false, uint32_t reset_seq = 0);
  void free_task(uint32_t tag);
  Publish publish(uint32_t tag);
  void pump();
  void flush_notice();
  void reset_tasks(uint16_t target_id, HostStatus host);
  void handle_completion(const iscsi_hba_cpl_desc& d);
  void refuse(uint32_t code, const iscsi_hba_cpl_desc& d, const char* why);
  bool matches(const TaskEntry& e, uint16_t target_id) const {
    return target_id == ISCSI_HBA_TARGET_ID_ALL || e.task.target_id == target_id;
  }

  struct PendingReset {
    uint16_t target_id;
    uint32_t seq;
  };
  static constexpr uint32_t kMaxPendingResets = ISCSI_HBA_MAX_TARGETS + 1;

  HbaPlatform& platform_;
  iscsi_hba_control* control_;
  uint8_t* pool_;
  Config config_;
  Stats stats_;
  TaskTable tasks_;
  PoolAllocator pool_alloc_;
  TargetRegistry targets_;
  bool attached_ = false;
  bool ring_broken_ = false;   // the daemon corrupted a ring index: nothing more is read until it re-attaches
  uint64_t detached_at_ms_ = 0;
  bool holding_expired_ = false; // detached past hold_ms: new tasks fail at once
  uint32_t attach_epoch_ = 0;
  uint32_t reset_seq_ = 0;
  RingProducer<iscsi_hba_cmd_desc> cmd_;
  RingConsumer<iscsi_hba_cpl_desc> cpl_;
  uint32_t pending_notice_ = 0;
  PendingReset pending_resets_[kMaxPendingResets] = {};
  uint32_t pending_reset_count_ = 0;
};

}  // namespace iscsi_hba
