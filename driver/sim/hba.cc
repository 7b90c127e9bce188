#include "hba.h"

#include <chrono>
#include <cstdio>
#include <cstring>

namespace sim {

void log_line(const std::string& line) {
  static std::mutex mu;
  std::lock_guard lock(mu);
  fprintf(stderr, "hba-sim: %s\n", line.c_str());
  fflush(stderr);
}

std::string error_name(uint32_t e) {
  static const char* names[] = {"OK", "VERSION_MISMATCH", "BAD_MAGIC", "BAD_ARGUMENT", "NOT_ATTACHED", "ALREADY_ATTACHED",
                                "NO_TARGET_SLOTS", "UNKNOWN_TARGET", "UNKNOWN_TAG", "STALE_GENERATION",
                                "DUPLICATE_COMPLETION", "BAD_LENGTH", "BAD_DESCRIPTOR", "RING_CORRUPT",
                                "UNKNOWN_SELECTOR", "BUSY"};
  return e < sizeof names / sizeof names[0] ? std::string("ISCSI_HBA_E_") + names[e] : std::to_string(e);
}

Hba::Hba(iscsi_hba_control* control, uint8_t* pool, const iscsi_hba::Config& config)
    : core_(*this, control, pool, config),
      min_timeout_ms_(std::min(config.default_timeout_ms, config.abort_timeout_ms)),
      timer_([this] { timer_loop(); }) {}

Hba::~Hba() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  timer_cv_.notify_all();
  timer_.join();
}

// The core wants tick() at least every second and at its next deadline.
void Hba::timer_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    uint64_t now = now_ms();
    uint64_t next = std::min<uint64_t>(core_.next_deadline_ms(), now + 1000);
    timer_due_ms_ = next;
    timer_cv_.wait_for(lock, std::chrono::milliseconds(next > now ? next - now : 0));
    if (stopping_) break;
    core_.tick(now_ms());
    auto finished = take_finished_locked();
    if (finished.empty()) continue;
    lock.unlock();
    answer(finished);
    lock.lock();
  }
}

std::vector<Hba::Finished> Hba::take_finished_locked() {
  std::vector<Finished> out;
  out.swap(finished_);
  return out;
}

// Outside the lock: the callbacks answer a socket or wake a waiter; one may submit again (a UNIT ATTENTION re-issue).
void Hba::answer(std::vector<Finished>& finished) {
  for (auto& f : finished) {
    if (f.pending.task.dir == ISCSI_HBA_DIR_READ) {
      f.result.data = f.pending.in.data();
      f.result.owner = &f.pending.in;
    }
    // done() is taken out first and the task handed over with the result, so a stack that re-issues it (after a
    // UNIT ATTENTION) may move the task out and submit it again.
    auto done = std::move(f.pending.task.done);
    f.result.task = &f.pending.task;
    done(f.result);
  }
}

iscsi_hba::CallResult Hba::call(uint32_t selector, const void* in, size_t in_length, void* out, size_t out_capacity,
                                const std::shared_ptr<Channel>& daemon) {
  std::vector<Finished> finished;
  iscsi_hba::CallResult r = call_locked(selector, in, in_length, out, out_capacity, daemon, finished);
  answer(finished);
  return r;
}

iscsi_hba::CallResult Hba::call_locked(uint32_t selector, const void* in, size_t in_length, void* out,
                                       size_t out_capacity, const std::shared_ptr<Channel>& daemon,
                                       std::vector<Finished>& finished) {
  std::lock_guard lock(mu_);
  bool handshake = selector == ISCSI_HBA_SEL_HANDSHAKE && !core_.daemon_attached();
  if (handshake) {
    // Before the core answers: the held tasks it re-issues at the handshake notify this daemon.
    daemon_ = daemon;
    armed_ = false;
    pending_notices_ = 0;
    said_no_daemon_ = false;
  }
  iscsi_hba::CallResult r = iscsi_hba::dispatch_call(core_, selector, in, in_length, out, out_capacity);
  if (handshake && !core_.daemon_attached()) daemon_ = nullptr;
  if (r.arm_notices) {
    armed_ = true;
    if (pending_notices_ != 0) send_notice_locked();
  }
  // A handshake may move the core's deadlines anywhere; a doorbell or a re-arm only as far as a timeout away.
  if (selector == ISCSI_HBA_SEL_COMPLETION_DOORBELL || selector == ISCSI_HBA_SEL_ARM_NOTICES) wake_timer_locked();
  else timer_cv_.notify_all();
  finished = take_finished_locked();
  return r;
}

void Hba::detach() {
  std::vector<Finished> finished;
  {
    std::lock_guard lock(mu_);
    core_.daemon_detached();
    daemon_ = nullptr;
    armed_ = false;
    pending_notices_ = 0;
    timer_cv_.notify_all();  // the hold deadline is new
    finished = take_finished_locked();
  }
  answer(finished);
}

void Hba::submit(Task task) {
  std::vector<Finished> finished;
  {
    std::lock_guard lock(mu_);
    submit_locked(std::move(task));
    finished = take_finished_locked();
  }
  answer(finished);
}

void Hba::submit_locked(Task task) {
  iscsi_hba::ScsiTask t;
  t.handle = next_handle_++;
  t.target_id = task.target;
  t.lun = task.lun;
  memcpy(t.cdb, task.cdb, task.cdb_len);
  t.cdb_length = task.cdb_len;
  t.direction = task.dir;
  t.transfer_length = task.xfer_len;
  if (!core_.daemon_attached() && !said_no_daemon_) {
    said_no_daemon_ = true;
    log_line("a task arrived while no daemon is attached: the core holds it (or fails it past the hold time)");
  }
  tasks_.emplace(t.handle, Pending{std::move(task), {}});
  core_.submit(t);  // may complete it at once (refused): complete() erases it
  wake_timer_locked();  // a new task may have the earliest timeout
}

// The timer sleeps until timer_due_ms_, at most a second away. A deadline set by a submit or a doorbell is at least
// min_timeout_ms_ away (10 and 30 s by default), so waking the timer for it (and making it take the lock) is needed
// only when that could come sooner: one futex wake and one contended lock per I/O saved.
void Hba::wake_timer_locked() {
  if (now_ms() + min_timeout_ms_ < timer_due_ms_) timer_cv_.notify_all();
}

uint64_t Hba::now_ms() {
  using namespace std::chrono;
  return uint64_t(duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count());
}

void Hba::send_notice_locked() {
  if (daemon_ == nullptr) return;
  iscsi_hba_notice n{pending_notices_, 0};
  armed_ = false;
  pending_notices_ = 0;
  daemon_->send(ISCSI_HBA_SEL_ARM_NOTICES, kReply, ISCSI_HBA_OK, &n, sizeof n);
}

void Hba::notify_daemon(uint32_t kinds) {
  pending_notices_ |= kinds;
  if (armed_) send_notice_locked();
}

bool Hba::copy_to_pool(uint64_t handle, uint8_t* dst, uint32_t length) {
  auto it = tasks_.find(handle);
  if (it == tasks_.end() || it->second.task.out.size() < length) return false;
  memcpy(dst, it->second.task.out.data(), length);
  return true;
}

bool Hba::copy_from_pool(uint64_t handle, const uint8_t* src, uint32_t length) {
  auto it = tasks_.find(handle);
  if (it == tasks_.end()) return false;
  it->second.in.assign(src, src + length);
  return true;
}

void Hba::complete(uint64_t handle, const iscsi_hba::TaskResult& result) {
  auto it = tasks_.find(handle);
  if (it == tasks_.end()) {
    log_line("core completed unknown handle " + std::to_string(handle));
    return;
  }
  Pending p = std::move(it->second);
  tasks_.erase(it);
  Finished& f = finished_.emplace_back(Finished{std::move(p), {}});
  TaskResult& r = f.result;
  r.failed = result.host != iscsi_hba::HostStatus::Ok;
  r.response = result.service_response;
  r.status = result.scsi_status;
  r.flags = result.flags;
  r.residual = result.residual;
  r.sense_len = result.sense_length;
  if (result.sense != nullptr) memcpy(r.sense, result.sense, std::min<size_t>(result.sense_length, sizeof r.sense));
  if (f.pending.task.dir == ISCSI_HBA_DIR_READ) r.data_len = uint32_t(std::min<size_t>(result.data_length, f.pending.in.size()));
  // Answered by answer() once the lock is released.
}

void Hba::log(iscsi_hba::LogLevel level, uint32_t code, const char* message) {
  static const char* levels[] = {"debug", "info", "warning", "error"};
  std::string line = std::string("core ") + levels[static_cast<int>(level) & 3];
  if (code != ISCSI_HBA_OK) line += " (" + error_name(code) + ")";
  log_line(line + ": " + message);
}

}  // namespace sim
