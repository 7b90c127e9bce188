// The seam where driver/core plugs in: tags, pool slots, the command producer and the completion consumer over the
// shared region. Until the core's API lands on h11-core this is a minimal stand-in with the same duties; the probe and
// the NBD server only see submit()/drain()/fail_all().
#pragma once
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "sim_abi.h"
#include "wire.h"

namespace sim {

enum TaskError : int { kTaskOk = 0, kTaskDaemonGone = 1, kTaskBadRequest = 2 };

struct TaskResult {
  int error = kTaskOk;  // kTaskOk: the fields below are the daemon's answer
  uint8_t status = 0;
  uint8_t response = 0;
  uint8_t resid_flags = 0;
  uint32_t residual = 0;
  uint8_t sense_len = 0;
  uint8_t sense[kSenseMax]{};
  const uint8_t* data = nullptr;  // kDirIn: the pool slot, valid only during the callback
  uint32_t data_len = 0;
};

struct Task {
  uint16_t target = 0;
  uint64_t lun = 0;
  uint8_t cdb[16]{};
  uint8_t cdb_len = 0;
  Dir dir = kDirNone;
  uint32_t xfer_len = 0;
  const void* out = nullptr;  // kDirOut: copied into the pool before the descriptor is published
  std::function<void(const TaskResult&)> done;
};

class Hba {
 public:
  explicit Hba(uint8_t* region);
  void attach(std::shared_ptr<Channel> daemon);  // a daemon finished its handshake and mapped the region
  void detach();                 // the daemon went away: every task in flight fails (kTaskDaemonGone)
  // Queues a task; blocks while the pool or the ring is full (back-pressure, not failure).
  void submit(Task task);
  // Consumes every posted completion, refusing (with a log line) any that names no task in flight or carries
  // impossible lengths. Returns the number refused.
  unsigned drain();
  uint64_t refused() const;

 private:
  struct Slot {
    bool in_use = false;
    uint32_t tag = 0;
    int pool_slot = -1;
    Task task;
  };
  uint8_t* region_;
  RingIndices* cmd_idx_;
  RingIndices* cpl_idx_;
  CmdDesc* cmd_ring_;
  CplDesc* cpl_ring_;
  uint8_t* sense_;
  uint8_t* pool_;
  mutable std::mutex mu_;
  std::condition_variable room_;
  std::shared_ptr<Channel> daemon_;
  Slot tags_[kRingEntries];
  bool pool_used_[kSlots]{};
  uint32_t generation_ = 1;
  uint64_t refused_ = 0;
  int free_pool_slot_locked() const;
  int free_tag_locked() const;
};

void log_line(const std::string& line);

}  // namespace sim
