#include "pool_allocator.h"

namespace iscsi_hba {

void PoolAllocator::set(uint32_t first, uint32_t count, bool value) {
  for (uint32_t s = first; s < first + count; ++s) {
    const uint64_t bit = uint64_t{1} << (s % 64);
    if (value) bits_[s / 64] |= bit; else bits_[s / 64] &= ~bit;
  }
}

bool PoolAllocator::allocate(uint32_t count, uint32_t& first) {
  if (count == 0 || count > slots_for(ISCSI_HBA_MAX_TRANSFER) || count > free_) return false;
  // Two passes: from the hint to the end, then from 0 (a run never wraps the pool's end).
  for (uint32_t pass = 0; pass < 2; ++pass) {
    uint32_t start = pass == 0 ? hint_ : 0;
    const uint32_t stop = pass == 0 ? kSlots : hint_ + count - 1 < kSlots ? hint_ + count - 1 : kSlots;
    uint32_t run = 0;
    for (uint32_t s = start; s < stop; ++s) {
      if (used(s)) { run = 0; start = s + 1; continue; }
      if (++run == count) {
        first = start;
        set(first, count, true);
        free_ -= count;
        hint_ = (first + count) % kSlots;
        return true;
      }
    }
  }
  return false;
}

bool PoolAllocator::owned(uint32_t first, uint32_t count) const {
  if (count == 0 || first >= kSlots || count > kSlots - first) return false;
  for (uint32_t s = first; s < first + count; ++s) {
    if (!used(s)) return false;
  }
  return true;
}

bool PoolAllocator::release(uint32_t first, uint32_t count) {
  if (!owned(first, count)) return false;
  set(first, count, false);
  free_ += count;
  return true;
}

void PoolAllocator::clear() {
  for (auto& w : bits_) w = 0;
  free_ = kSlots;
  hint_ = 0;
}

}  // namespace iscsi_hba
