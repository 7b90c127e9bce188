#include "task_table.h"

namespace iscsi_hba {

bool TaskTable::allocate(uint32_t& tag) {
  for (uint32_t i = 0; i < kMax; ++i) {
    const uint32_t t = (next_ + i) % kMax;
    if (entries_[t].state == TaskState::Free) {
      const uint32_t generation = entries_[t].generation + 1;
      entries_[t] = TaskEntry{};
      entries_[t].generation = generation;
      entries_[t].state = TaskState::Waiting;
      next_ = (t + 1) % kMax;
      tag = t;
      return true;
    }
  }
  return false;
}

bool TaskTable::find(uint64_t handle, uint32_t& tag) const {
  for (uint32_t t = 0; t < kMax; ++t) {
    const TaskState s = entries_[t].state;
    if (s != TaskState::Free && s != TaskState::Zombie && entries_[t].task.handle == handle) {
      tag = t;
      return true;
    }
  }
  return false;
}

uint32_t TaskTable::count(TaskState state) const {
  uint32_t n = 0;
  for (const auto& e : entries_) n += e.state == state ? 1 : 0;
  return n;
}

void TaskTable::enqueue(uint32_t tag) {
  // At most one entry per tag and kMax tags: the FIFO cannot overflow.
  wait_[(wait_head_ + wait_count_) % kMax] = tag;
  ++wait_count_;
}

bool TaskTable::front(uint32_t& tag) const {
  if (wait_count_ == 0) return false;
  tag = wait_[wait_head_];
  return true;
}

bool TaskTable::at(uint32_t i, uint32_t& tag) const {
  if (i >= wait_count_) return false;
  tag = wait_[(wait_head_ + i) % kMax];
  return true;
}

void TaskTable::pop_front() {
  if (wait_count_ == 0) return;
  wait_head_ = (wait_head_ + 1) % kMax;
  --wait_count_;
}

void TaskTable::remove_waiting(uint32_t tag) {
  uint32_t kept = 0;
  for (uint32_t i = 0; i < wait_count_; ++i) {
    const uint32_t t = wait_[(wait_head_ + i) % kMax];
    if (t != tag) wait_[(wait_head_ + kept++) % kMax] = t;
  }
  wait_count_ = kept;
}

}  // namespace iscsi_hba
