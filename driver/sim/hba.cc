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

static std::string hex(uint32_t v) {
  char b[16];
  snprintf(b, sizeof b, "0x%08x", v);
  return b;
}

Hba::Hba(uint8_t* region)
    : region_(region),
      cmd_idx_(reinterpret_cast<RingIndices*>(region + kCmdIdxOff)),
      cpl_idx_(reinterpret_cast<RingIndices*>(region + kCplIdxOff)),
      cmd_ring_(reinterpret_cast<CmdDesc*>(region + kCmdRingOff)),
      cpl_ring_(reinterpret_cast<CplDesc*>(region + kCplRingOff)),
      sense_(region + kSenseOff),
      pool_(region + kPoolOff) {
  auto* h = reinterpret_cast<RegionHeader*>(region);
  *h = RegionHeader{kRegionMagic, kAbiVersion, kRingEntries, sizeof(CmdDesc), kPoolSize, kSlotSize, 0, kSenseStride,
                    kCmdIdxOff, kCplIdxOff, kCmdRingOff, kCplRingOff, kSenseOff, kPoolOff};
}

void Hba::attach(std::shared_ptr<Channel> daemon) {
  std::lock_guard lock(mu_);
  daemon_ = std::move(daemon);
}

void Hba::detach() {
  std::vector<Task> failed;
  {
    std::lock_guard lock(mu_);
    daemon_ = nullptr;
    for (auto& s : tags_) {
      if (!s.in_use) continue;
      failed.push_back(std::move(s.task));
      if (s.pool_slot >= 0) pool_used_[s.pool_slot] = false;
      s = Slot{};
    }
    // A new daemon starts from empty rings: nothing it sees may belong to the old one.
    __atomic_store_n(&cmd_idx_->producer, 0u, __ATOMIC_RELEASE);
    __atomic_store_n(&cmd_idx_->consumer, 0u, __ATOMIC_RELEASE);
    __atomic_store_n(&cpl_idx_->producer, 0u, __ATOMIC_RELEASE);
    __atomic_store_n(&cpl_idx_->consumer, 0u, __ATOMIC_RELEASE);
  }
  room_.notify_all();
  if (!failed.empty()) log_line("daemon gone: failing " + std::to_string(failed.size()) + " task(s) in flight");
  TaskResult r;
  r.error = kTaskDaemonGone;
  for (auto& t : failed) t.done(r);
}

int Hba::free_pool_slot_locked() const {
  for (uint32_t i = 0; i < kSlots; i++)
    if (!pool_used_[i]) return static_cast<int>(i);
  return -1;
}

int Hba::free_tag_locked() const {
  for (uint32_t i = 0; i < kRingEntries; i++)
    if (!tags_[i].in_use) return static_cast<int>(i);
  return -1;
}

void Hba::submit(Task task) {
  if (task.xfer_len > kSlotSize || task.cdb_len == 0 || task.cdb_len > 16) {
    TaskResult r;
    r.error = kTaskBadRequest;
    task.done(r);
    return;
  }
  std::shared_ptr<Channel> daemon;
  {
    std::unique_lock lock(mu_);
    bool needs_pool = task.xfer_len > 0;
    int idx = -1, ps = -1;
    room_.wait(lock, [&] {
      if (daemon_ == nullptr) return true;
      idx = free_tag_locked();
      ps = needs_pool ? free_pool_slot_locked() : -1;
      return idx >= 0 && (!needs_pool || ps >= 0);
    });
    if (daemon_ == nullptr) {
      lock.unlock();
      TaskResult r;
      r.error = kTaskDaemonGone;
      task.done(r);
      return;
    }
    generation_ = (generation_ + 1) & 0x3fffff;
    if (generation_ == 0) generation_ = 1;
    uint32_t tag = (generation_ << 10) | static_cast<uint32_t>(idx);
    uint32_t pool_offset = ps >= 0 ? static_cast<uint32_t>(ps) * kSlotSize : 0;
    if (task.dir == kDirOut && task.xfer_len > 0) memcpy(pool_ + pool_offset, task.out, task.xfer_len);
    CmdDesc d{};
    d.tag = tag;
    d.target = task.target;
    d.dir = task.dir;
    d.cdb_len = task.cdb_len;
    d.lun = task.lun;
    d.xfer_len = task.xfer_len;
    d.pool_offset = pool_offset;
    memcpy(d.cdb, task.cdb, task.cdb_len);
    // Tags in flight never exceed the ring's entries, so the command ring always has room here.
    uint32_t p = cmd_idx_->producer;
    cmd_ring_[p & (kRingEntries - 1)] = d;
    __atomic_store_n(&cmd_idx_->producer, p + 1, __ATOMIC_RELEASE);
    if (ps >= 0) pool_used_[ps] = true;
    tags_[idx] = Slot{true, tag, ps, std::move(task)};
    daemon = daemon_;
  }
  daemon->send(kNoticeCommands, 0, kOk, nullptr, 0);
}

unsigned Hba::drain() {
  unsigned refused = 0;
  for (;;) {
    Task finished;
    TaskResult r;
    int pool_slot = -1;
    {
      std::lock_guard lock(mu_);
      uint32_t c = cpl_idx_->consumer;
      uint32_t p = __atomic_load_n(&cpl_idx_->producer, __ATOMIC_ACQUIRE);
      if (p - c > kRingEntries) {
        log_line("refused completion ring: producer " + std::to_string(p) + " is more than a ring ahead of " +
                 std::to_string(c));
        __atomic_store_n(&cpl_idx_->consumer, p, __ATOMIC_RELEASE);
        refused_++;
        return refused + 1;
      }
      if (c == p) return refused;
      CplDesc d = cpl_ring_[c & (kRingEntries - 1)];  // a copy: the daemon may scribble on the ring meanwhile
      __atomic_store_n(&cpl_idx_->consumer, c + 1, __ATOMIC_RELEASE);
      Slot& s = tags_[d.tag & (kRingEntries - 1)];
      std::string why;
      if (!s.in_use || s.tag != d.tag) why = "tag " + hex(d.tag) + " names no task in flight";
      else if (d.sense_len > kSenseMax) why = "sense length " + std::to_string(d.sense_len) + " exceeds 252";
      else if (d.resid_flags > kResidOverflow) why = "residual flags " + std::to_string(d.resid_flags) + " are both set or unknown";
      else if (d.resid_flags == kResidUnderflow && d.residual > s.task.xfer_len)
        why = "underflow residual " + std::to_string(d.residual) + " exceeds the transfer length " +
              std::to_string(s.task.xfer_len);
      else if (d.resid_flags == kResidNone && d.residual != 0)
        why = "residual " + std::to_string(d.residual) + " without an over/underflow flag";
      if (!why.empty()) {
        refused++;
        refused_++;
        log_line("refused completion: " + why);
        continue;
      }
      r.status = d.status;
      r.response = d.response;
      r.resid_flags = d.resid_flags;
      r.residual = d.residual;
      r.sense_len = d.sense_len;
      memcpy(r.sense, sense_ + (d.tag & (kRingEntries - 1)) * kSenseStride, d.sense_len);
      if (s.task.dir == kDirIn && s.pool_slot >= 0) {
        r.data = pool_ + static_cast<size_t>(s.pool_slot) * kSlotSize;
        r.data_len = s.task.xfer_len - (d.resid_flags == kResidUnderflow ? d.residual : 0);
      }
      finished = std::move(s.task);
      pool_slot = s.pool_slot;
      s = Slot{};
    }
    // The callback runs unlocked but before the pool slot is released, so the data it reads stays put.
    finished.done(r);
    {
      std::lock_guard lock(mu_);
      if (pool_slot >= 0) pool_used_[pool_slot] = false;
    }
    room_.notify_all();
  }
}

uint64_t Hba::refused() const {
  std::lock_guard lock(mu_);
  return refused_;
}

}  // namespace sim
