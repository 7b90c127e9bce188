#include "target_registry.h"

#include <cstring>

namespace iscsi_hba {

uint32_t TargetRegistry::create(const uint8_t (&key)[ISCSI_HBA_TARGET_KEY_SIZE], uint16_t& id, bool& existed, uint32_t epoch) {
  // NUL-padded: at least one byte, nothing but NULs after the first NUL (so two spellings of one key cannot exist).
  uint32_t length = 0;
  while (length < ISCSI_HBA_TARGET_KEY_SIZE && key[length] != 0) ++length;
  if (length == 0) return ISCSI_HBA_E_BAD_ARGUMENT;
  for (uint32_t i = length; i < ISCSI_HBA_TARGET_KEY_SIZE; ++i) {
    if (key[i] != 0) return ISCSI_HBA_E_BAD_ARGUMENT;
  }
  for (uint32_t i = 0; i < kMax; ++i) {
    Entry& e = entries_[i];
    if (e.state != State::Free && std::memcmp(e.key, key, sizeof e.key) == 0) {
      e.state = State::Live;
      e.epoch = epoch;
      id = static_cast<uint16_t>(i);
      existed = true;
      return ISCSI_HBA_OK;
    }
  }
  int32_t pick = -1;
  for (uint32_t i = 0; i < kMax && pick < 0; ++i) {
    if (entries_[i].state == State::Free) pick = static_cast<int32_t>(i);
  }
  if (pick < 0) {  // every ID has been used: take the longest-retired one
    for (uint32_t i = 0; i < kMax; ++i) {
      if (entries_[i].state == State::Retired &&
          (pick < 0 || entries_[i].retired_order < entries_[pick].retired_order)) {
        pick = static_cast<int32_t>(i);
      }
    }
  }
  if (pick < 0) return ISCSI_HBA_E_NO_TARGET_SLOTS;
  Entry& e = entries_[pick];
  e.state = State::Live;
  e.epoch = epoch;
  std::memcpy(e.key, key, sizeof e.key);
  id = static_cast<uint16_t>(pick);
  existed = false;
  return ISCSI_HBA_OK;
}

uint32_t TargetRegistry::destroy(uint32_t id) {
  if (!live(id)) return ISCSI_HBA_E_UNKNOWN_TARGET;
  entries_[id].state = State::Retired;
  entries_[id].retired_order = ++retire_counter_;
  return ISCSI_HBA_OK;
}

uint32_t TargetRegistry::live_count() const {
  uint32_t n = 0;
  for (const auto& e : entries_) n += e.state == State::Live ? 1 : 0;
  return n;
}

}  // namespace iscsi_hba
