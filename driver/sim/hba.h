// The seam where driver/core plugs in: tags and generations, the pool, the command producer, the completion consumer
// and the notices, over the regions of driver/include/iscsi_hba_abi.h. A stand-in with the same duties as HbaCore
// (driver/core/hba_core.h) until its bodies land: the probe and the NBD server only see submit(), and main only
// handshake()/drain()/arm()/detach(), so swapping in HbaCore changes this file pair and nothing else.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "../core/pool_allocator.h"
#include "wire.h"

namespace sim {

enum TaskError : int { kTaskOk = 0, kTaskDaemonGone = 1, kTaskBadRequest = 2 };

struct TaskResult {
  int error = kTaskOk;  // kTaskOk: the fields below are the daemon's answer
  uint8_t response = ISCSI_HBA_RESPONSE_COMPLETE;
  uint8_t status = 0;
  uint8_t flags = 0;
  uint32_t residual = 0;
  uint16_t sense_len = 0;
  uint8_t sense[ISCSI_HBA_SENSE_MAX]{};
  const uint8_t* data = nullptr;  // a read's data in the pool, valid only during the callback
  uint32_t data_len = 0;
};

struct Task {
  uint16_t target = 0;
  uint64_t lun = 0;  // the LUN number (0..ISCSI_HBA_MAX_LUNS-1), as in the command descriptor
  uint8_t cdb[ISCSI_HBA_CDB_INLINE]{};
  uint8_t cdb_len = 0;
  uint8_t dir = ISCSI_HBA_DIR_NONE;
  uint32_t xfer_len = 0;
  const void* out = nullptr;  // a write's data: copied into the pool before the descriptor is published
  std::function<void(const TaskResult&)> done;
};

class Hba {
 public:
  Hba(iscsi_hba_control* control, uint8_t* pool);
  // ISCSI_HBA_SEL_HANDSHAKE: a major version other than ours is refused; on success the rings restart empty.
  void handshake(const iscsi_hba_handshake_in& in, iscsi_hba_handshake_out& out, std::shared_ptr<Channel> daemon);
  // ISCSI_HBA_SEL_ARM_NOTICES: answered now if notices are pending, else when the next one comes.
  void arm();
  // The daemon went away: every task in flight fails (kTaskDaemonGone).
  void detach();
  // Queues a task; blocks while tags or pool space are all taken (back-pressure, not failure).
  void submit(Task task);
  // ISCSI_HBA_SEL_COMPLETION_DOORBELL: consumes every posted completion, refusing with a log line (and its
  // iscsi_hba_error code) any that names no task in flight or carries impossible lengths. Returns how many it refused.
  unsigned drain();

 private:
  struct Slot {
    bool in_use = false;
    bool completing = false;  // its callback is running; the tag and pool run are free after it
    uint32_t first_slot = 0, slots = 0;
    Task task;
  };
  void notify_locked(uint32_t kinds);
  iscsi_hba_control* control_;
  uint8_t* pool_;
  std::mutex mu_;
  std::condition_variable room_;
  std::shared_ptr<Channel> daemon_;
  bool armed_ = false;
  uint32_t pending_notices_ = 0;
  uint32_t epoch_ = 0;
  bool ring_broken_ = false;
  Slot tags_[ISCSI_HBA_MAX_TASKS];
  uint32_t generation_[ISCSI_HBA_MAX_TASKS]{};
  uint32_t completed_generation_[ISCSI_HBA_MAX_TASKS]{};  // to tell a duplicate from a stale completion
  iscsi_hba::PoolAllocator pool_alloc_;
};

void log_line(const std::string& line);

}  // namespace sim
