// The kernel's side of the HBA around driver/core's HbaCore: the HbaPlatform the core asks for (time, notices to the
// daemon, copies between the stack's buffers and the pool, completions, log lines), one lock around the core (it is
// single-threaded; here the NBD connections, the probe and the daemon's socket are separate threads), and the timer
// thread that drives its timeouts and hold deadline. The probe and the NBD server only see submit(). Tasks the core
// completes are answered (done()) after the lock is released, so a reply's socket write never holds up a submit.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "../core/dispatch.h"
#include "../core/hba_core.h"
#include "wire.h"

namespace sim {

struct Task;

struct TaskResult {
  bool failed = false;  // the HBA ended it (no daemon, timeout, reset, refused): the fields below are then empty
  uint8_t response = ISCSI_HBA_RESPONSE_COMPLETE;
  uint8_t status = 0;
  uint8_t flags = 0;
  uint32_t residual = 0;
  uint16_t sense_len = 0;
  uint8_t sense[ISCSI_HBA_SENSE_MAX]{};
  const uint8_t* data = nullptr;  // a read's data, valid only during the callback
  std::vector<uint8_t>* owner = nullptr;  // the vector holding data: done() may take it (swap) rather than copy
  uint32_t data_len = 0;
  // The task itself (CDB, write data; done() already taken out), valid only during the callback: a stack that
  // re-issues it (after a UNIT ATTENTION) moves it out and submits it again.
  Task* task = nullptr;
};

struct Task {
  uint16_t target = 0;
  uint64_t lun = 0;  // the LUN number (0..ISCSI_HBA_MAX_LUNS-1), as in the command descriptor
  uint8_t cdb[ISCSI_HBA_CDB_INLINE]{};
  uint8_t cdb_len = 0;
  uint8_t dir = ISCSI_HBA_DIR_NONE;
  uint32_t xfer_len = 0;
  std::vector<uint8_t> out;  // a write's data, owned: the core copies it into the pool when space is free
  std::function<void(const TaskResult&)> done;
};

class Hba final : private iscsi_hba::HbaPlatform {
 public:
  Hba(iscsi_hba_control* control, uint8_t* pool, const iscsi_hba::Config& config);
  ~Hba() override;
  // One user-client call from the daemon's socket thread, decoded by the core's dispatch_call. A HANDSHAKE makes
  // `daemon` the peer that notices go to; ARM_NOTICES (arm_notices) is answered from notify_daemon().
  iscsi_hba::CallResult call(uint32_t selector, const void* in, size_t in_length, void* out, size_t out_capacity,
                             const std::shared_ptr<Channel>& daemon);
  // The daemon's socket closed: the core holds its tasks for Config::hold_ms.
  void detach();
  // From the SCSI stack's side (probe, NBD): exactly one done() per task, from whichever thread ends it, never under
  // the HBA's lock.
  void submit(Task task);

 private:
  uint64_t now_ms() override;
  void notify_daemon(uint32_t kinds) override;
  bool copy_to_pool(uint64_t handle, uint8_t* dst, uint32_t length) override;
  bool copy_from_pool(uint64_t handle, const uint8_t* src, uint32_t length) override;
  void complete(uint64_t handle, const iscsi_hba::TaskResult& result) override;
  void log(iscsi_hba::LogLevel level, uint32_t code, const char* message) override;
  void send_notice_locked();
  void wake_timer_locked();
  struct Finished;
  iscsi_hba::CallResult call_locked(uint32_t selector, const void* in, size_t in_length, void* out, size_t out_capacity,
                                    const std::shared_ptr<Channel>& daemon, std::vector<Finished>& finished);
  void submit_locked(Task task);
  void timer_loop();

  struct Pending {
    Task task;
    std::vector<uint8_t> in;  // a read's data, copied out of the pool before the tag is reused
  };
  struct Finished {
    Pending pending;
    TaskResult result;  // data is set to pending.in when it is answered (the vector may move until then)
  };
  // Takes the tasks completed under the lock, to be answered once it is released.
  std::vector<Finished> take_finished_locked();
  static void answer(std::vector<Finished>& finished);
  std::mutex mu_;  // guards the core and everything below
  iscsi_hba::HbaCore core_;
  std::unordered_map<uint64_t, Pending> tasks_;
  std::vector<Finished> finished_;  // completed by the core, not yet answered
  uint64_t next_handle_ = 1;
  std::shared_ptr<Channel> daemon_;
  bool armed_ = false;
  bool said_no_daemon_ = false;  // one log line per absence, not one per task
  uint32_t pending_notices_ = 0;
  const uint32_t min_timeout_ms_;  // the shortest timeout the core sets a deadline with
  uint64_t timer_due_ms_ = 0;      // when the timer thread wakes next, whatever happens
  std::condition_variable timer_cv_;
  bool stopping_ = false;
  std::thread timer_;
};

void log_line(const std::string& line);
std::string error_name(uint32_t code);

}  // namespace sim
