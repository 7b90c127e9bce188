// The pool allocator (contiguous runs of 64 KiB slots, so a 1 MiB transfer is never split) and the target registry
// (the same key gets the same target ID back: issue 11 item 2, "target IDs stable per session across reconnects").
#include <cstring>
#include <memory>

#include "pool_allocator.h"
#include "target_registry.h"
#include "test.h"

using namespace iscsi_hba;

TEST("pool: a max transfer gets one contiguous run; exhaustion is an answer, not a failure") {
  auto pool = std::make_unique<PoolAllocator>();
  const uint32_t run = PoolAllocator::slots_for(ISCSI_HBA_MAX_TRANSFER);
  CHECK_EQ(run, 16u);
  uint32_t firsts[64];
  for (uint32_t i = 0; i < 64; ++i) {
    CHECK(pool->allocate(run, firsts[i]));
    CHECK(firsts[i] + run <= PoolAllocator::kSlots);
  }
  uint32_t other = 0;
  CHECK(!pool->allocate(1, other));
  CHECK_EQ(pool->free_slots(), 0u);
  CHECK(pool->release(firsts[10], run));
  CHECK(pool->allocate(run, other));
  CHECK_EQ(other, firsts[10]);
}

TEST("pool: release of a run not allocated is refused; fragmentation does not give a split run") {
  auto pool = std::make_unique<PoolAllocator>();
  uint32_t first = 0;
  CHECK(!pool->release(3, 1));
  CHECK(!pool->allocate(0, first));
  CHECK(!pool->allocate(17, first));  // above the max transfer
  // Fill with single slots, free every other one: 512 free slots but no run of 2.
  uint32_t singles[PoolAllocator::kSlots];
  for (uint32_t i = 0; i < PoolAllocator::kSlots; ++i) CHECK(pool->allocate(1, singles[i]));
  for (uint32_t i = 0; i < PoolAllocator::kSlots; i += 2) CHECK(pool->release(singles[i], 1));
  CHECK_EQ(pool->free_slots(), PoolAllocator::kSlots / 2);
  CHECK(!pool->allocate(2, first));
  CHECK(pool->allocate(1, first));
  CHECK(first % 2 == 0 && first + 2 < PoolAllocator::kSlots);
  CHECK(!pool->release(first, 3));  // first+2 is free: refused whole, nothing freed
  CHECK(pool->owned(first, 1));
}

namespace {
void key_of(const char* s, uint8_t (&key)[ISCSI_HBA_TARGET_KEY_SIZE]) {
  std::memset(key, 0, sizeof key);
  std::memcpy(key, s, std::strlen(s));
}
}  // namespace

TEST("registry: same key, same ID after destroy; a new key never takes a retired ID while free ones remain") {
  TargetRegistry r;
  uint8_t a[ISCSI_HBA_TARGET_KEY_SIZE], b[ISCSI_HBA_TARGET_KEY_SIZE];
  key_of("iqn.2003-01.org.example:a,1", a);
  key_of("iqn.2003-01.org.example:b,1", b);
  uint16_t ida = 0, idb = 0, again = 0;
  bool existed = true;
  CHECK_EQ(r.create(a, ida, existed), (uint32_t)ISCSI_HBA_OK);
  CHECK(!existed);
  CHECK_EQ(r.destroy(ida), (uint32_t)ISCSI_HBA_OK);
  CHECK(!r.live(ida));
  CHECK_EQ(r.create(b, idb, existed), (uint32_t)ISCSI_HBA_OK);
  CHECK(idb != ida);
  CHECK_EQ(r.create(a, again, existed), (uint32_t)ISCSI_HBA_OK);
  CHECK(existed);
  CHECK_EQ(again, ida);
  CHECK_EQ(r.destroy(999), (uint32_t)ISCSI_HBA_E_UNKNOWN_TARGET);
}

TEST("registry: bad keys refused; all IDs live refused; then the longest-retired ID is reused") {
  TargetRegistry r;
  uint8_t k[ISCSI_HBA_TARGET_KEY_SIZE] = {};
  uint16_t id = 0;
  bool existed = false;
  CHECK_EQ(r.create(k, id, existed), (uint32_t)ISCSI_HBA_E_BAD_ARGUMENT);  // empty
  k[0] = 'x';
  k[5] = 'y';  // bytes after the first NUL
  CHECK_EQ(r.create(k, id, existed), (uint32_t)ISCSI_HBA_E_BAD_ARGUMENT);
  char name[32];
  for (uint32_t i = 0; i < TargetRegistry::kMax; ++i) {
    std::snprintf(name, sizeof name, "t%u", i);
    key_of(name, k);
    CHECK_EQ(r.create(k, id, existed), (uint32_t)ISCSI_HBA_OK);
    CHECK_EQ(id, i);
  }
  key_of("one-too-many", k);
  CHECK_EQ(r.create(k, id, existed), (uint32_t)ISCSI_HBA_E_NO_TARGET_SLOTS);
  CHECK_EQ(r.destroy(7), (uint32_t)ISCSI_HBA_OK);
  CHECK_EQ(r.destroy(3), (uint32_t)ISCSI_HBA_OK);
  CHECK_EQ(r.create(k, id, existed), (uint32_t)ISCSI_HBA_OK);
  CHECK_EQ(id, 7u);  // retired first
}
