#include "hba_core.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace iscsi_hba {

namespace {

/// RFC 1982-style comparison of 32-bit sequence numbers: a <= b.
bool seq_le(uint32_t a, uint32_t b) { return static_cast<int32_t>(b - a) >= 0; }

TaskResult failure(HostStatus host) {
  TaskResult r;
  r.host = host;
  if (host == HostStatus::Busy) {
    r.service_response = ISCSI_HBA_RESPONSE_COMPLETE;
    r.scsi_status = 0x28;  // TASK SET FULL (SAM-5 5.3.1): every SCSI stack retries it later
  } else {
    r.service_response = ISCSI_HBA_RESPONSE_TARGET_FAILURE;
  }
  return r;
}

const char* host_name(HostStatus h) {
  switch (h) {
    case HostStatus::Ok: return "ok";
    case HostStatus::NoConnect: return "no-connect";
    case HostStatus::Aborted: return "aborted";
    case HostStatus::TimedOut: return "timed-out";
    case HostStatus::Reset: return "reset";
    case HostStatus::Busy: return "busy";
    case HostStatus::BadRequest: return "bad-request";
  }
  return "?";
}

}  // namespace

HbaCore::HbaCore(HbaPlatform& platform, iscsi_hba_control* control, uint8_t* pool, const Config& config)
    : platform_(platform), control_(control), pool_(pool), config_(config), cmd_(command_ring(control)),
      cpl_(completion_ring(control)) {
  std::memset(static_cast<void*>(control_), 0, sizeof *control_);
  iscsi_hba_region_header& h = control_->header;
  h.magic = ISCSI_HBA_MAGIC;
  h.abi_version = ISCSI_HBA_ABI_VERSION;
  h.header_size = sizeof(iscsi_hba_region_header);
  h.features = ISCSI_HBA_FEATURE_NONE;
  h.control_size = ISCSI_HBA_CONTROL_SIZE;
  h.ring_entries = ISCSI_HBA_RING_ENTRIES;
  h.desc_size = ISCSI_HBA_DESC_SIZE;
  h.max_tasks = ISCSI_HBA_MAX_TASKS;
  h.cmd_ring_offset = ISCSI_HBA_CMD_RING_OFFSET;
  h.cpl_ring_offset = ISCSI_HBA_CPL_RING_OFFSET;
  h.task_aux_offset = ISCSI_HBA_TASK_AUX_OFFSET;
  h.task_aux_size = ISCSI_HBA_TASK_AUX_SIZE;
  h.pool_size = ISCSI_HBA_POOL_SIZE;
  h.pool_slot_size = ISCSI_HBA_POOL_SLOT_SIZE;
  h.max_transfer = ISCSI_HBA_MAX_TRANSFER;
  detached_at_ms_ = platform_.now_ms();
}

void HbaCore::logf(LogLevel level, uint32_t code, const char* format, ...) {
  char line[256];  // on the stack: no allocation, a long line is cut
  va_list args;
  va_start(args, format);
  std::vsnprintf(line, sizeof line, format, args);
  va_end(args);
  if (code != ISCSI_HBA_OK) stats_.last_error = code;
  platform_.log(level, code, line);
}

// ---- ending tasks ------------------------------------------------------------------------------------------------

void HbaCore::free_task(uint32_t tag) {
  TaskEntry& e = tasks_[tag];
  if (e.has_pool) {
    pool_alloc_.release(e.pool_first, e.pool_slots);
    e.has_pool = false;
  }
  if (e.state == TaskState::Waiting) tasks_.remove_waiting(tag);
  tasks_.release(tag);
}

void HbaCore::finish(uint32_t tag, const TaskResult& result, bool keep_as_zombie, uint32_t reset_seq) {
  TaskEntry& e = tasks_[tag];
  const uint64_t handle = e.task.handle;
  if (keep_as_zombie) {
    // The daemon may still write this task's pool space or aux record: the tag waits for its answer or a reset's.
    e.state = TaskState::Zombie;
    e.reset_seq = reset_seq;
    e.deadline_ms = platform_.now_ms() + config_.abort_timeout_ms;
  } else {
    free_task(tag);
  }
  stats_.completed += 1;
  platform_.complete(handle, result);  // last: the adapter may submit from inside it
}

void HbaCore::fail(uint32_t tag, HostStatus host, bool keep_as_zombie, uint32_t reset_seq) {
  finish(tag, failure(host), keep_as_zombie, reset_seq);
}

// ---- from the SCSI stack ---------------------------------------------------------------------------------------

void HbaCore::submit(const ScsiTask& task) {
  stats_.submitted += 1;
  uint32_t tag = 0;
  if (!tasks_.allocate(tag)) {
    // More tasks than the advertised queue depth: TASK SET FULL, which the stack retries.
    stats_.completed += 1;
    platform_.complete(task.handle, failure(HostStatus::Busy));
    return;
  }
  TaskEntry& e = tasks_[tag];
  e.task = task;
  if (e.task.timeout_ms == 0) e.task.timeout_ms = config_.default_timeout_ms;
  e.deadline_ms = platform_.now_ms() + e.task.timeout_ms;

  const bool lengths_ok = task.cdb_length >= 1 && task.cdb_length <= ISCSI_HBA_CDB_MAX &&
                          task.transfer_length <= ISCSI_HBA_MAX_TRANSFER && task.lun < ISCSI_HBA_MAX_LUNS &&
                          task.direction <= ISCSI_HBA_DIR_WRITE && task.task_attribute <= ISCSI_HBA_ATTR_ACA &&
                          (task.direction == ISCSI_HBA_DIR_NONE) == (task.transfer_length == 0);
  if (!lengths_ok) {
    logf(LogLevel::Warning, ISCSI_HBA_E_BAD_ARGUMENT,
         "task refused: cdb length %u, transfer %u, direction %u, lun %llu", task.cdb_length, task.transfer_length,
         task.direction, static_cast<unsigned long long>(task.lun));
    fail(tag, HostStatus::BadRequest);
    return;
  }
  if (!targets_.live(task.target_id) || holding_expired_) {
    fail(tag, HostStatus::NoConnect);  // no such target, or no daemon for longer than the hold time: give up now
    return;
  }
  tasks_.enqueue(tag);
  pump();
  TaskEntry& after = tasks_[tag];
  if (after.state == TaskState::Waiting && after.generation == e.generation && !after.waited) {
    after.waited = true;  // behind others, or no space, or no daemon: it waits (back-pressure), it does not fail
    stats_.queued_for_space += 1;
  }
  flush_notice();
}

bool HbaCore::abort(uint64_t handle) {
  uint32_t tag = 0;
  if (!tasks_.find(handle, tag)) return false;
  TaskEntry& e = tasks_[tag];
  switch (e.state) {
    case TaskState::Waiting:  // the daemon never saw it
      fail(tag, HostStatus::Aborted);
      break;
    case TaskState::Published:
      e.state = TaskState::Aborting;
      e.abort_sent = false;
      e.deadline_ms = platform_.now_ms() + config_.abort_timeout_ms;
      pump();
      flush_notice();
      break;
    default:  // Aborting already
      break;
  }
  return true;
}

void HbaCore::reset(uint16_t target_id) { reset_tasks(target_id, HostStatus::Reset); }

void HbaCore::reset_tasks(uint16_t target_id, HostStatus host) {
  stats_.resets += 1;
  reset_seq_ += 1;
  if (reset_seq_ == 0) reset_seq_ = 1;  // 0 means "no reset" in a zombie
  const uint32_t seq = reset_seq_;
  for (uint32_t tag = 0; tag < TaskTable::kMax; ++tag) {
    TaskEntry& e = tasks_[tag];
    if (e.state == TaskState::Free || !matches(e, target_id)) continue;
    if (e.state == TaskState::Waiting) {
      fail(tag, host);
    } else if (e.state == TaskState::Zombie) {
      e.reset_seq = seq;  // this reset drops it too
      e.deadline_ms = platform_.now_ms() + config_.abort_timeout_ms;
    } else {
      fail(tag, host, /*keep_as_zombie=*/attached_, seq);
    }
  }
  if (!attached_) return;
  if (pending_reset_count_ == kMaxPendingResets) {
    // Too many resets waiting for ring space: one reset of everything, newest sequence, covers them all.
    pending_resets_[0] = {ISCSI_HBA_TARGET_ID_ALL, seq};
    pending_reset_count_ = 1;
  } else {
    pending_resets_[pending_reset_count_++] = {target_id, seq};
  }
  logf(LogLevel::Info, ISCSI_HBA_OK, "reset of target %u (sequence %u), tasks failed: %s", target_id, seq,
       host_name(host));
  pump();
  flush_notice();
}

// ---- publishing ------------------------------------------------------------------------------------------------

HbaCore::Publish HbaCore::publish(uint32_t tag) {
  TaskEntry& e = tasks_[tag];
  const ScsiTask& t = e.task;
  if (t.transfer_length > 0 && !e.has_pool) {
    uint32_t first = 0;
    const uint32_t slots = PoolAllocator::slots_for(t.transfer_length);
    if (!pool_alloc_.allocate(slots, first)) {
      if (!e.waited) stats_.queued_for_space += 1;
      e.waited = true;
      return Publish::Blocked;  // back-pressure: retried when a task frees space
    }
    e.has_pool = true;
    e.pool_first = first;
    e.pool_slots = slots;
    if (t.direction == ISCSI_HBA_DIR_WRITE &&
        !platform_.copy_to_pool(t.handle, pool_ + size_t{first} * ISCSI_HBA_POOL_SLOT_SIZE, t.transfer_length)) {
      logf(LogLevel::Error, ISCSI_HBA_E_BAD_ARGUMENT, "task %u: the write data could not be read", tag);
      return Publish::Failed;
    }
  }
  iscsi_hba_cmd_desc d{};
  d.tag = tag;
  d.generation = e.generation;
  d.op = ISCSI_HBA_CMD_SCSI;
  d.direction = t.direction;
  d.cdb_length = t.cdb_length;
  d.task_attribute = t.task_attribute;
  d.target_id = t.target_id;
  d.lun = t.lun;
  d.transfer_length = t.transfer_length;
  d.pool_offset = e.has_pool ? e.pool_first * ISCSI_HBA_POOL_SLOT_SIZE : 0;
  d.pool_length = e.has_pool ? e.pool_slots * ISCSI_HBA_POOL_SLOT_SIZE : 0;
  d.timeout_ms = t.timeout_ms;
  std::memcpy(d.cdb, t.cdb, ISCSI_HBA_CDB_INLINE);
  if (t.cdb_length > ISCSI_HBA_CDB_INLINE) std::memcpy(control_->aux[tag].cdb, t.cdb, ISCSI_HBA_CDB_MAX);
  const RingStatus s = cmd_.push(d);
  if (s == RingStatus::Corrupt) {
    ring_broken_ = true;
    logf(LogLevel::Error, ISCSI_HBA_E_RING_CORRUPT, "the command ring's consumer index is impossible: ring abandoned");
  }
  if (s != RingStatus::Ok) {
    if (!e.waited) stats_.queued_for_space += 1;
    e.waited = true;
    return Publish::Blocked;
  }
  e.state = TaskState::Published;
  e.deadline_ms = platform_.now_ms() + t.timeout_ms;
  stats_.published += 1;
  pending_notice_ |= ISCSI_HBA_NOTICE_COMMANDS;
  return Publish::Done;
}

void HbaCore::pump() {
  if (!attached_ || ring_broken_) return;
  // Resets first, then aborts, then new commands: a reset or an abort never waits behind commands for ring space.
  while (pending_reset_count_ > 0) {
    iscsi_hba_cmd_desc d{};
    d.op = ISCSI_HBA_CMD_RESET;
    d.target_id = pending_resets_[0].target_id;
    d.reset_seq = pending_resets_[0].seq;
    if (cmd_.push(d) != RingStatus::Ok) return;
    for (uint32_t i = 1; i < pending_reset_count_; ++i) pending_resets_[i - 1] = pending_resets_[i];
    pending_reset_count_ -= 1;
    pending_notice_ |= ISCSI_HBA_NOTICE_COMMANDS | ISCSI_HBA_NOTICE_RESET;
  }
  for (uint32_t tag = 0; tag < TaskTable::kMax; ++tag) {
    TaskEntry& e = tasks_[tag];
    if (e.state != TaskState::Aborting || e.abort_sent) continue;
    iscsi_hba_cmd_desc d{};
    d.op = ISCSI_HBA_CMD_ABORT;
    d.tag = tag;
    d.generation = e.generation;
    d.target_id = e.task.target_id;
    d.lun = e.task.lun;
    if (cmd_.push(d) != RingStatus::Ok) return;
    e.abort_sent = true;
    stats_.aborts_sent += 1;
    pending_notice_ |= ISCSI_HBA_NOTICE_COMMANDS | ISCSI_HBA_NOTICE_ABORT;
  }
  // In submit order. A task whose target this daemon has not (re)created yet is passed over (held tasks wait for
  // their session to come back); one that finds no pool run or ring entry stops the walk (the rest wait behind it).
  uint32_t i = 0;
  uint32_t tag = 0;
  while (tasks_.at(i, tag)) {
    if (!targets_.claimed(tasks_[tag].task.target_id, attach_epoch_)) {
      ++i;
      continue;
    }
    const Publish p = publish(tag);
    if (p == Publish::Blocked) return;
    tasks_.remove_waiting(tag);
    if (p == Publish::Failed) fail(tag, HostStatus::BadRequest);
  }
}

void HbaCore::flush_notice() {
  if (pending_notice_ == 0 || !attached_) return;
  const uint32_t kinds = pending_notice_;
  pending_notice_ = 0;
  platform_.notify_daemon(kinds);
}

// ---- from the daemon -------------------------------------------------------------------------------------------

void HbaCore::handshake(const iscsi_hba_handshake_in& in, iscsi_hba_handshake_out& out) {
  out = iscsi_hba_handshake_out{};
  out.abi_version = ISCSI_HBA_ABI_VERSION;
  if (in.magic != ISCSI_HBA_MAGIC) {
    out.error = ISCSI_HBA_E_BAD_MAGIC;
  } else if ((in.abi_version >> 16) != ISCSI_HBA_ABI_MAJOR) {
    out.error = ISCSI_HBA_E_VERSION_MISMATCH;
  } else if (in.reserved != 0) {
    out.error = ISCSI_HBA_E_BAD_ARGUMENT;
  } else if (attached_) {
    out.error = ISCSI_HBA_E_ALREADY_ATTACHED;
  }
  if (out.error != ISCSI_HBA_OK) {
    logf(LogLevel::Error, out.error, "handshake refused: peer ABI %u.%u, ours %u.%u, error %u", in.abi_version >> 16,
         in.abi_version & 0xFFFFu, ISCSI_HBA_ABI_MAJOR, ISCSI_HBA_ABI_MINOR, out.error);
    return;
  }
  attached_ = true;
  ring_broken_ = false;
  holding_expired_ = false;
  attach_epoch_ += 1;
  control_->header.attach_epoch = attach_epoch_;
  // Fresh rings for the new peer (it touches them only after this answer).
  cmd_.reset(0);
  iscsi_hba_store_release(&control_->cpl.producer.value, 0);
  iscsi_hba_store_release(&control_->cpl.consumer.value, 0);
  cpl_.reset(0);
  // Timeouts stood still while no daemon was there: the held tasks' clocks start again now.
  const uint64_t now = platform_.now_ms();
  for (uint32_t tag = 0; tag < TaskTable::kMax; ++tag) {
    if (tasks_[tag].state == TaskState::Waiting) tasks_[tag].deadline_ms = now + tasks_[tag].task.timeout_ms;
  }
  out.features = in.features & ISCSI_HBA_FEATURE_NONE;
  out.attach_epoch = attach_epoch_;
  out.held_tasks = tasks_.waiting();
  logf(LogLevel::Info, ISCSI_HBA_OK, "daemon attached (epoch %u, ABI %u.%u), %u held tasks", attach_epoch_,
       in.abi_version >> 16, in.abi_version & 0xFFFFu, out.held_tasks);
  pump();
  flush_notice();
}

void HbaCore::map_region(const iscsi_hba_map_region_in& in, iscsi_hba_map_region_out& out) const {
  out = iscsi_hba_map_region_out{};
  if (in.reserved != 0) out.error = ISCSI_HBA_E_BAD_ARGUMENT;
  else if (in.region == ISCSI_HBA_REGION_CONTROL) out.size = ISCSI_HBA_CONTROL_SIZE;
  else if (in.region == ISCSI_HBA_REGION_POOL) out.size = ISCSI_HBA_POOL_SIZE;
  else out.error = ISCSI_HBA_E_BAD_ARGUMENT;
}

void HbaCore::hba_info(iscsi_hba_info& out) const {
  out = iscsi_hba_info{};
  out.abi_version = ISCSI_HBA_ABI_VERSION;
  out.max_transfer = ISCSI_HBA_MAX_TRANSFER;
  out.max_targets = ISCSI_HBA_MAX_TARGETS;
  out.max_luns = ISCSI_HBA_MAX_LUNS;
  out.queue_depth = ISCSI_HBA_MAX_TASKS;
  out.ring_entries = ISCSI_HBA_RING_ENTRIES;
  out.pool_slot_size = ISCSI_HBA_POOL_SLOT_SIZE;
  out.pool_size = ISCSI_HBA_POOL_SIZE;
  out.hold_ms = config_.hold_ms;
}

void HbaCore::create_target(const iscsi_hba_create_target_in& in, iscsi_hba_create_target_out& out) {
  out = iscsi_hba_create_target_out{};
  if (!attached_) {
    out.error = ISCSI_HBA_E_NOT_ATTACHED;
    return;
  }
  if (in.reserved[0] != 0 || in.reserved[1] != 0) {
    out.error = ISCSI_HBA_E_BAD_ARGUMENT;
    return;
  }
  uint16_t id = 0;
  bool existed = false;
  out.error = targets_.create(in.key, id, existed, attach_epoch_);
  if (out.error != ISCSI_HBA_OK) {
    logf(LogLevel::Warning, out.error, "target not created: error %u", out.error);
    return;
  }
  out.target_id = id;
  out.existed = existed ? 1 : 0;
  pump();  // its held tasks go now
  flush_notice();
}

uint32_t HbaCore::destroy_target(const iscsi_hba_destroy_target_in& in) {
  if (!attached_) return ISCSI_HBA_E_NOT_ATTACHED;
  if (in.reserved != 0) return ISCSI_HBA_E_BAD_ARGUMENT;
  const uint32_t error = targets_.destroy(in.target_id);
  if (error != ISCSI_HBA_OK) return error;
  reset_tasks(static_cast<uint16_t>(in.target_id), HostStatus::NoConnect);
  return ISCSI_HBA_OK;
}

void HbaCore::refuse(uint32_t code, const iscsi_hba_cpl_desc& d, const char* why) {
  stats_.bad_completions += 1;
  logf(LogLevel::Error, code, "completion refused (tag %u, generation %u, op %u): %s", d.tag, d.generation, d.op, why);
}

void HbaCore::handle_completion(const iscsi_hba_cpl_desc& d) {
  if (d.op == ISCSI_HBA_CPL_RESET_DONE) {
    if (d.reset_seq == 0 || !seq_le(d.reset_seq, reset_seq_)) {
      refuse(ISCSI_HBA_E_BAD_DESCRIPTOR, d, "reset done for a reset never sent");
      return;
    }
    for (uint32_t tag = 0; tag < TaskTable::kMax; ++tag) {
      TaskEntry& e = tasks_[tag];
      if (e.state == TaskState::Zombie && e.reset_seq != 0 && seq_le(e.reset_seq, d.reset_seq)) free_task(tag);
    }
    return;
  }
  if (d.op != ISCSI_HBA_CPL_TASK) {
    refuse(ISCSI_HBA_E_BAD_DESCRIPTOR, d, "unknown op");
    return;
  }
  if (d.tag >= TaskTable::kMax) {
    refuse(ISCSI_HBA_E_UNKNOWN_TAG, d, "tag out of range");
    return;
  }
  TaskEntry& e = tasks_[d.tag];
  if (d.generation != e.generation) {
    refuse(ISCSI_HBA_E_STALE_GENERATION, d, "generation of an earlier use of the tag");
    return;
  }
  if (e.state == TaskState::Free) {
    refuse(ISCSI_HBA_E_DUPLICATE_COMPLETION, d, "the task was already completed");
    return;
  }
  if (e.state == TaskState::Waiting) {
    refuse(ISCSI_HBA_E_UNKNOWN_TAG, d, "the task was not published");
    return;
  }
  if (e.state == TaskState::Zombie) {
    // Already failed to the stack (abort timeout or reset); the daemon's late answer frees its pool space.
    logf(LogLevel::Info, ISCSI_HBA_OK, "late completion of tag %u after it was failed: space reclaimed", d.tag);
    free_task(d.tag);
    return;
  }
  const ScsiTask& t = e.task;
  const bool sense_flag = (d.flags & ISCSI_HBA_CPL_SENSE) != 0;
  if (d.service_response > ISCSI_HBA_RESPONSE_TARGET_FAILURE || (d.flags & ~ISCSI_HBA_CPL_FLAGS_KNOWN) != 0 ||
      ((d.flags & ISCSI_HBA_CPL_OVERFLOW) && (d.flags & ISCSI_HBA_CPL_UNDERFLOW))) {
    refuse(ISCSI_HBA_E_BAD_DESCRIPTOR, d, "unknown service response or flags");
    return;
  }
  if (d.sense_length > ISCSI_HBA_SENSE_MAX || sense_flag != (d.sense_length > 0) ||
      d.data_length > t.transfer_length || ((d.flags & ISCSI_HBA_CPL_UNDERFLOW) && d.residual > t.transfer_length) ||
      (t.direction != ISCSI_HBA_DIR_READ && d.data_length != 0 && t.direction != ISCSI_HBA_DIR_WRITE)) {
    refuse(ISCSI_HBA_E_BAD_LENGTH, d, "sense, data or residual length impossible for the task");
    return;
  }
  TaskResult r;
  r.service_response = d.service_response;
  r.scsi_status = d.scsi_status;
  r.flags = d.flags & (ISCSI_HBA_CPL_OVERFLOW | ISCSI_HBA_CPL_UNDERFLOW);
  r.residual = d.residual;
  uint8_t sense[ISCSI_HBA_SENSE_MAX];  // a private copy: the daemon could still be writing the shared record
  if (sense_flag) {
    std::memcpy(sense, control_->aux[d.tag].sense, d.sense_length);
    r.sense = sense;
    r.sense_length = d.sense_length;
  }
  if (t.direction == ISCSI_HBA_DIR_READ && d.data_length > 0) {
    if (platform_.copy_from_pool(t.handle, pool_ + size_t{e.pool_first} * ISCSI_HBA_POOL_SLOT_SIZE, d.data_length)) {
      r.data_length = d.data_length;
    } else {
      logf(LogLevel::Error, ISCSI_HBA_E_BAD_ARGUMENT, "task %u: the read data could not be delivered", d.tag);
      finish(d.tag, failure(HostStatus::BadRequest), false);
      return;
    }
  } else if (t.direction == ISCSI_HBA_DIR_WRITE) {
    r.data_length = d.data_length;
  }
  finish(d.tag, r, false);
}

uint32_t HbaCore::on_doorbell() {
  if (!attached_ || ring_broken_) return 0;
  uint32_t consumed = 0;
  iscsi_hba_cpl_desc d;
  for (;;) {
    const RingStatus s = cpl_.pop(d);
    if (s == RingStatus::Empty) break;
    if (s == RingStatus::Corrupt) {
      ring_broken_ = true;  // tasks end by their timeouts; a new handshake brings fresh rings
      stats_.bad_completions += 1;
      logf(LogLevel::Error, ISCSI_HBA_E_RING_CORRUPT, "the completion ring's producer index is impossible: abandoned");
      break;
    }
    consumed += 1;
    handle_completion(d);
  }
  pump();  // space freed: waiting tasks go
  flush_notice();
  return consumed;
}

void HbaCore::daemon_detached() {
  if (!attached_) return;
  attached_ = false;
  detached_at_ms_ = platform_.now_ms();
  pending_reset_count_ = 0;  // nobody to tell: the daemon's mappings are gone, so are its claims on the pool
  pending_notice_ = 0;
  // Held tasks first (they were submitted before anything still waiting), in tag order; then the waiting ones.
  uint32_t waiting[TaskTable::kMax];
  uint32_t n = 0;
  uint32_t tag = 0;
  while (tasks_.front(tag)) {
    waiting[n++] = tag;
    tasks_.pop_front();
  }
  uint32_t held = 0;
  for (tag = 0; tag < TaskTable::kMax; ++tag) {
    TaskEntry& e = tasks_[tag];
    if (e.state == TaskState::Zombie) {
      free_task(tag);
    } else if (e.state == TaskState::Aborting) {
      fail(tag, e.timed_out ? HostStatus::TimedOut : HostStatus::Aborted);  // the abort is granted: nobody runs it
    } else if (e.state == TaskState::Published) {
      e.state = TaskState::Waiting;  // keeps its pool space and data: re-issued as is
      tasks_.enqueue(tag);
      held += 1;
    }
  }
  for (uint32_t i = 0; i < n; ++i) tasks_.enqueue(waiting[i]);
  logf(LogLevel::Warning, ISCSI_HBA_OK, "daemon detached: %u tasks held for %u ms", tasks_.waiting(), config_.hold_ms);
  (void)held;
}

// ---- time ------------------------------------------------------------------------------------------------------

void HbaCore::tick(uint64_t now) {
  if (!attached_ && !holding_expired_ && now >= detached_at_ms_ + config_.hold_ms) {
    holding_expired_ = true;
    uint32_t failed = 0;
    for (uint32_t tag = 0; tag < TaskTable::kMax; ++tag) {
      if (tasks_[tag].state == TaskState::Waiting) {
        fail(tag, HostStatus::NoConnect);
        failed += 1;
      }
    }
    if (failed > 0) logf(LogLevel::Warning, ISCSI_HBA_OK, "no daemon for %u ms: %u held tasks failed", config_.hold_ms, failed);
  }
  if (attached_) {
    for (uint32_t tag = 0; tag < TaskTable::kMax; ++tag) {
      TaskEntry& e = tasks_[tag];
      if (e.state == TaskState::Free || now < e.deadline_ms) continue;
      switch (e.state) {
        case TaskState::Waiting:
          stats_.timeouts += 1;
          fail(tag, HostStatus::TimedOut);
          break;
        case TaskState::Published:
          stats_.timeouts += 1;
          e.state = TaskState::Aborting;
          e.timed_out = true;
          e.abort_sent = false;
          e.deadline_ms = now + config_.abort_timeout_ms;
          break;
        case TaskState::Aborting:
          logf(LogLevel::Warning, ISCSI_HBA_OK, "tag %u: the abort was not answered in %u ms: task failed", tag,
               config_.abort_timeout_ms);
          fail(tag, e.timed_out ? HostStatus::TimedOut : HostStatus::Aborted, /*keep_as_zombie=*/true);
          break;
        case TaskState::Zombie:
          if (e.reset_seq == 0) {
            // The daemon answers neither the task nor its abort: reset the target (its tasks fail, the tag waits
            // for the reset's answer).
            reset_tasks(e.task.target_id, HostStatus::Reset);
          } else {
            logf(LogLevel::Error, ISCSI_HBA_OK, "tag %u: reset %u not answered: its pool space stays reserved", tag,
                 e.reset_seq);
            e.deadline_ms = UINT64_MAX;
          }
          break;
        case TaskState::Free:
          break;
      }
    }
  }
  pump();
  flush_notice();
}

uint64_t HbaCore::next_deadline_ms() const {
  uint64_t next = UINT64_MAX;
  if (!attached_ && !holding_expired_) next = detached_at_ms_ + config_.hold_ms;
  if (attached_) {
    for (uint32_t tag = 0; tag < TaskTable::kMax; ++tag) {
      const TaskEntry& e = tasks_[tag];
      if (e.state != TaskState::Free && e.deadline_ms < next) next = e.deadline_ms;
    }
  }
  return next;
}

uint32_t HbaCore::tasks_outstanding() const {
  return TaskTable::kMax - tasks_.count(TaskState::Free) - tasks_.count(TaskState::Zombie);
}

}  // namespace iscsi_hba
