// The data pool's allocator: ISCSI_HBA_POOL_SLOTS slots of ISCSI_HBA_POOL_SLOT_SIZE, a task gets a contiguous run
// (first fit over a bitmap), so a transfer of up to ISCSI_HBA_MAX_TRANSFER is one range the daemon sees whole.
// No allocation; exhaustion is an answer (false), not an error: the caller queues the task until space is freed.
#pragma once

#include <cstdint>

#include "../include/iscsi_hba_abi.h"

namespace iscsi_hba {

class PoolAllocator {
 public:
  static constexpr uint32_t kSlots = ISCSI_HBA_POOL_SLOTS;

  /// Slots needed for `bytes` (0 for no data).
  static constexpr uint32_t slots_for(uint32_t bytes) {
    return (bytes + ISCSI_HBA_POOL_SLOT_SIZE - 1) / ISCSI_HBA_POOL_SLOT_SIZE;
  }

  /// A run of `count` free slots (1..slots_for(ISCSI_HBA_MAX_TRANSFER)): its first slot in `first`. false: none.
  bool allocate(uint32_t count, uint32_t& first);
  /// Frees a run given by allocate(). false (and nothing freed) if any slot of it was not allocated.
  bool release(uint32_t first, uint32_t count);
  /// True when every slot of the run is allocated.
  bool owned(uint32_t first, uint32_t count) const;
  uint32_t free_slots() const { return free_; }
  void clear();

 private:
  bool used(uint32_t slot) const { return (bits_[slot / 64] >> (slot % 64)) & 1u; }
  void set(uint32_t first, uint32_t count, bool value);

  uint64_t bits_[kSlots / 64] = {};
  uint32_t free_ = kSlots;
  uint32_t hint_ = 0;  // where the last search ended: spreads allocations, keeps first fit cheap
};

}  // namespace iscsi_hba
