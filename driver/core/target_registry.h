// Targets by a session's stable key: the same key gets the same target ID for as long as the driver runs, across
// daemon restarts, so the SCSI stack sees the same disk come back. A destroyed target's ID stays reserved for its key
// (retired) until every ID is taken; then the oldest retired ID is given to a new key.
#pragma once

#include <cstdint>

#include "../include/iscsi_hba_abi.h"

namespace iscsi_hba {

class TargetRegistry {
 public:
  static constexpr uint32_t kMax = ISCSI_HBA_MAX_TARGETS;

  /// ISCSI_HBA_OK with the ID (and whether the key was known), ISCSI_HBA_E_BAD_ARGUMENT for an empty key or bytes
  /// after the first NUL, ISCSI_HBA_E_NO_TARGET_SLOTS when all IDs are live.
  uint32_t create(const uint8_t (&key)[ISCSI_HBA_TARGET_KEY_SIZE], uint16_t& id, bool& existed, uint32_t epoch = 0);
  /// ISCSI_HBA_OK, or ISCSI_HBA_E_UNKNOWN_TARGET if `id` is not live.
  uint32_t destroy(uint32_t id);
  bool live(uint32_t id) const { return id < kMax && entries_[id].state == State::Live; }
  /// Live and (re)created by the daemon of attachment `epoch`: its tasks may go to that daemon.
  bool claimed(uint32_t id, uint32_t epoch) const { return live(id) && entries_[id].epoch == epoch; }
  uint32_t live_count() const;

 private:
  enum class State : uint8_t { Free, Live, Retired };
  struct Entry {
    State state = State::Free;
    uint8_t key[ISCSI_HBA_TARGET_KEY_SIZE] = {};
    uint64_t retired_order = 0;
    uint32_t epoch = 0;  // the attachment that last created it
  };
  Entry entries_[kMax];
  uint64_t retire_counter_ = 0;
};

}  // namespace iscsi_hba
