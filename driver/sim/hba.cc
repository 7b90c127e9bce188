#include "hba.h"

#include <cstdio>
#include <cstring>
#include <vector>

namespace sim {

void log_line(const std::string& line) {
  static std::mutex mu;
  std::lock_guard lock(mu);
  fprintf(stderr, "hba-sim: %s\n", line.c_str());
  fflush(stderr);
}

static const char* code_name(uint32_t e) {
  switch (e) {
    case ISCSI_HBA_E_UNKNOWN_TAG: return "ISCSI_HBA_E_UNKNOWN_TAG";
    case ISCSI_HBA_E_STALE_GENERATION: return "ISCSI_HBA_E_STALE_GENERATION";
    case ISCSI_HBA_E_DUPLICATE_COMPLETION: return "ISCSI_HBA_E_DUPLICATE_COMPLETION";
    case ISCSI_HBA_E_BAD_LENGTH: return "ISCSI_HBA_E_BAD_LENGTH";
    case ISCSI_HBA_E_BAD_DESCRIPTOR: return "ISCSI_HBA_E_BAD_DESCRIPTOR";
    case ISCSI_HBA_E_RING_CORRUPT: return "ISCSI_HBA_E_RING_CORRUPT";
    default: return "ISCSI_HBA_E_?";
  }
}

Hba::Hba(iscsi_hba_control* control, uint8_t* pool) : control_(control), pool_(pool) {
  iscsi_hba_region_header& h = control_->header;
  memset(&h, 0, sizeof h);
  h.magic = ISCSI_HBA_MAGIC;
  h.abi_version = ISCSI_HBA_ABI_VERSION;
  h.header_size = sizeof h;
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
}

void Hba::handshake(const iscsi_hba_handshake_in& in, iscsi_hba_handshake_out& out, std::shared_ptr<Channel> daemon) {
  std::lock_guard lock(mu_);
  out = iscsi_hba_handshake_out{};
  out.abi_version = ISCSI_HBA_ABI_VERSION;  // always: a refused peer can say what it met
  if (in.magic != ISCSI_HBA_MAGIC) {
    out.error = ISCSI_HBA_E_BAD_MAGIC;
    return;
  }
  if (in.abi_version >> 16 != ISCSI_HBA_ABI_MAJOR) {
    out.error = ISCSI_HBA_E_VERSION_MISMATCH;
    return;
  }
  if (daemon_ != nullptr) {
    out.error = ISCSI_HBA_E_ALREADY_ATTACHED;
    return;
  }
  // The ABI: the driver resets the indices at each successful handshake, before it answers.
  iscsi_hba_store_release(&control_->cmd.producer.value, 0);
  iscsi_hba_store_release(&control_->cmd.consumer.value, 0);
  iscsi_hba_store_release(&control_->cpl.producer.value, 0);
  iscsi_hba_store_release(&control_->cpl.consumer.value, 0);
  control_->header.attach_epoch = ++epoch_;
  out.attach_epoch = epoch_;
  daemon_ = std::move(daemon);
  armed_ = false;
  pending_notices_ = 0;
  ring_broken_ = false;
}

void Hba::notify_locked(uint32_t kinds) {
  pending_notices_ |= kinds;
  if (!armed_ || daemon_ == nullptr) return;
  iscsi_hba_notice n{pending_notices_, control_->cmd.producer.value};
  armed_ = false;
  pending_notices_ = 0;
  daemon_->send(ISCSI_HBA_SEL_ARM_NOTICES, kReply, ISCSI_HBA_OK, &n, sizeof n);
}

void Hba::arm() {
  std::lock_guard lock(mu_);
  armed_ = true;
  if (pending_notices_ != 0) notify_locked(0);
}

void Hba::detach() {
  std::vector<Task> failed;
  {
    std::lock_guard lock(mu_);
    daemon_ = nullptr;
    for (uint32_t t = 0; t < ISCSI_HBA_MAX_TASKS; t++) {
      Slot& s = tags_[t];
      if (!s.in_use || s.completing) continue;
      failed.push_back(std::move(s.task));
      if (s.slots) pool_alloc_.release(s.first_slot, s.slots);
      completed_generation_[t] = generation_[t];
      s = Slot{};
    }
  }
  room_.notify_all();
  if (!failed.empty()) log_line("daemon gone: failing " + std::to_string(failed.size()) + " task(s) in flight");
  TaskResult r;
  r.error = kTaskDaemonGone;
  for (auto& t : failed) t.done(r);
}

void Hba::submit(Task task) {
  if (task.xfer_len > ISCSI_HBA_MAX_TRANSFER || task.cdb_len == 0 || task.cdb_len > ISCSI_HBA_CDB_INLINE) {
    TaskResult r;
    r.error = kTaskBadRequest;
    task.done(r);
    return;
  }
  std::unique_lock lock(mu_);
  uint32_t slots = iscsi_hba::PoolAllocator::slots_for(task.xfer_len), first = 0, tag = 0;
  room_.wait(lock, [&] {
    if (daemon_ == nullptr) return true;
    for (tag = 0; tag < ISCSI_HBA_MAX_TASKS && tags_[tag].in_use; tag++) {
    }
    return tag < ISCSI_HBA_MAX_TASKS && (slots == 0 || pool_alloc_.allocate(slots, first));
  });
  if (daemon_ == nullptr) {
    lock.unlock();
    TaskResult r;
    r.error = kTaskDaemonGone;
    task.done(r);
    return;
  }
  uint32_t pool_offset = first * ISCSI_HBA_POOL_SLOT_SIZE;
  if (task.dir == ISCSI_HBA_DIR_WRITE && task.xfer_len > 0) memcpy(pool_ + pool_offset, task.out, task.xfer_len);
  iscsi_hba_cmd_desc d{};
  d.tag = tag;
  d.generation = ++generation_[tag];
  d.op = ISCSI_HBA_CMD_SCSI;
  d.direction = task.dir;
  d.cdb_length = task.cdb_len;
  d.task_attribute = ISCSI_HBA_ATTR_SIMPLE;
  d.target_id = task.target;
  d.lun = task.lun;
  d.transfer_length = task.xfer_len;
  d.pool_offset = slots ? pool_offset : 0;
  d.pool_length = slots * ISCSI_HBA_POOL_SLOT_SIZE;
  memcpy(d.cdb, task.cdb, task.cdb_len);
  // At most MAX_TASKS (half the ring) are in flight, so the command ring always has room here.
  uint32_t p = control_->cmd.producer.value;
  control_->cmd.entries[p & ISCSI_HBA_RING_MASK] = d;
  iscsi_hba_store_release(&control_->cmd.producer.value, p + 1);
  tags_[tag] = Slot{true, false, first, slots, std::move(task)};
  notify_locked(ISCSI_HBA_NOTICE_COMMANDS);
}

unsigned Hba::drain() {
  unsigned refused = 0;
  for (;;) {
    Task finished;
    TaskResult r;
    uint32_t first = 0, slots = 0, tag = 0;
    {
      std::lock_guard lock(mu_);
      if (ring_broken_ || daemon_ == nullptr) return refused;
      uint32_t c = control_->cpl.consumer.value;
      uint32_t p = iscsi_hba_load_acquire(&control_->cpl.producer.value);
      if (p - c > ISCSI_HBA_RING_ENTRIES) {
        // The ABI: any other difference is a protocol error; the reader stops using the ring until a new handshake.
        ring_broken_ = true;
        log_line(std::string("refused completion ring (") + code_name(ISCSI_HBA_E_RING_CORRUPT) + "): producer " +
                 std::to_string(p) + " vs consumer " + std::to_string(c));
        return refused + 1;
      }
      if (c == p) return refused;
      iscsi_hba_cpl_desc d = control_->cpl.entries[c & ISCSI_HBA_RING_MASK];  // a copy: the peer may scribble
      iscsi_hba_store_release(&control_->cpl.consumer.value, c + 1);
      uint32_t code = ISCSI_HBA_OK;
      std::string why;
      Slot* s = d.tag < ISCSI_HBA_MAX_TASKS ? &tags_[d.tag] : nullptr;
      if (d.op != ISCSI_HBA_CPL_TASK || (d.flags & ~ISCSI_HBA_CPL_FLAGS_KNOWN) != 0 ||
          (d.flags & (ISCSI_HBA_CPL_OVERFLOW | ISCSI_HBA_CPL_UNDERFLOW)) == (ISCSI_HBA_CPL_OVERFLOW | ISCSI_HBA_CPL_UNDERFLOW) ||
          d.service_response > ISCSI_HBA_RESPONSE_TARGET_FAILURE) {
        code = ISCSI_HBA_E_BAD_DESCRIPTOR;
        why = "op " + std::to_string(d.op) + ", flags " + std::to_string(d.flags) + ", response " + std::to_string(d.service_response);
      } else if (s == nullptr || (!s->in_use && generation_[d.tag] == 0)) {
        code = ISCSI_HBA_E_UNKNOWN_TAG;
        why = "tag " + std::to_string(d.tag) + " names no task";
      } else if (d.generation == completed_generation_[d.tag] && (!s->in_use || s->completing || generation_[d.tag] != d.generation)) {
        code = ISCSI_HBA_E_DUPLICATE_COMPLETION;
        why = "tag " + std::to_string(d.tag) + " generation " + std::to_string(d.generation) + " was already completed";
      } else if (!s->in_use || generation_[d.tag] != d.generation) {
        code = ISCSI_HBA_E_STALE_GENERATION;
        why = "tag " + std::to_string(d.tag) + " generation " + std::to_string(d.generation) + " is not the one in flight";
      } else if (d.sense_length > ISCSI_HBA_SENSE_MAX || ((d.flags & ISCSI_HBA_CPL_SENSE) == 0 && d.sense_length != 0)) {
        code = ISCSI_HBA_E_BAD_LENGTH;
        why = "sense length " + std::to_string(d.sense_length) + " (at most 252, and only with the SENSE flag)";
      } else if (d.data_length > s->task.xfer_len ||
                 ((d.flags & ISCSI_HBA_CPL_UNDERFLOW) && d.residual > s->task.xfer_len) ||
                 ((d.flags & (ISCSI_HBA_CPL_OVERFLOW | ISCSI_HBA_CPL_UNDERFLOW)) == 0 && d.residual != 0)) {
        code = ISCSI_HBA_E_BAD_LENGTH;
        why = "data length " + std::to_string(d.data_length) + ", residual " + std::to_string(d.residual) +
              " for a transfer of " + std::to_string(s->task.xfer_len);
      }
      if (code != ISCSI_HBA_OK) {
        refused++;
        log_line(std::string("refused completion (") + code_name(code) + "): " + why);
        continue;
      }
      r.response = d.service_response;
      r.status = d.scsi_status;
      r.flags = d.flags;
      r.residual = d.residual;
      r.sense_len = d.sense_length;
      memcpy(r.sense, control_->aux[d.tag].sense, d.sense_length);
      if (s->task.dir == ISCSI_HBA_DIR_READ && s->slots) {
        r.data = pool_ + size_t(s->first_slot) * ISCSI_HBA_POOL_SLOT_SIZE;
        r.data_len = d.data_length;
      }
      finished = std::move(s->task);
      first = s->first_slot;
      slots = s->slots;
      tag = d.tag;
      completed_generation_[d.tag] = d.generation;
      s->completing = true;
    }
    // The callback runs unlocked but before the pool run is released, so the data it reads stays put.
    finished.done(r);
    {
      std::lock_guard lock(mu_);
      if (slots) pool_alloc_.release(first, slots);
      tags_[tag] = Slot{};
    }
    room_.notify_all();
  }
}

}  // namespace sim
