#include "dispatch.h"

#include <cstring>

namespace iscsi_hba {

namespace {

/// Reads the argument struct when `length` is exactly its size (a copy: the bytes may be unaligned).
template <typename T>
bool read_in(const void* in, size_t length, T& value) {
  if (length != sizeof(T) || in == nullptr) return false;
  std::memcpy(&value, in, sizeof(T));
  return true;
}

template <typename T>
CallResult write_out(void* out, size_t capacity, const T& value, uint32_t error) {
  CallResult r;
  r.error = error;
  if (capacity < sizeof(T) || out == nullptr) {
    r.error = ISCSI_HBA_E_BAD_ARGUMENT;
    return r;
  }
  std::memcpy(out, &value, sizeof(T));
  r.out_length = sizeof(T);
  return r;
}

CallResult error_only(uint32_t error) {
  CallResult r;
  r.error = error;
  return r;
}

}  // namespace

CallResult dispatch_call(HbaCore& core, uint32_t selector, const void* in, size_t in_length, void* out,
                         size_t out_capacity) {
  switch (selector) {
    case ISCSI_HBA_SEL_HANDSHAKE: {
      iscsi_hba_handshake_in a{};
      if (!read_in(in, in_length, a) || out_capacity < sizeof(iscsi_hba_handshake_out)) {
        return error_only(ISCSI_HBA_E_BAD_ARGUMENT);
      }
      iscsi_hba_handshake_out o{};
      core.handshake(a, o);
      return write_out(out, out_capacity, o, o.error);
    }
    case ISCSI_HBA_SEL_MAP_REGION: {
      iscsi_hba_map_region_in a{};
      if (!read_in(in, in_length, a)) return error_only(ISCSI_HBA_E_BAD_ARGUMENT);
      iscsi_hba_map_region_out o{};
      core.map_region(a, o);
      return write_out(out, out_capacity, o, o.error);
    }
    case ISCSI_HBA_SEL_HBA_INFO: {
      if (in_length != 0) return error_only(ISCSI_HBA_E_BAD_ARGUMENT);
      iscsi_hba_info o{};
      core.hba_info(o);
      return write_out(out, out_capacity, o, o.error);
    }
    case ISCSI_HBA_SEL_CREATE_TARGET: {
      iscsi_hba_create_target_in a{};
      if (!read_in(in, in_length, a) || out_capacity < sizeof(iscsi_hba_create_target_out)) {
        return error_only(ISCSI_HBA_E_BAD_ARGUMENT);
      }
      iscsi_hba_create_target_out o{};
      core.create_target(a, o);
      return write_out(out, out_capacity, o, o.error);
    }
    case ISCSI_HBA_SEL_DESTROY_TARGET: {
      iscsi_hba_destroy_target_in a{};
      if (!read_in(in, in_length, a)) return error_only(ISCSI_HBA_E_BAD_ARGUMENT);
      return error_only(core.destroy_target(a));
    }
    case ISCSI_HBA_SEL_COMPLETION_DOORBELL: {
      if (in_length != 0) return error_only(ISCSI_HBA_E_BAD_ARGUMENT);
      if (!core.daemon_attached()) return error_only(ISCSI_HBA_E_NOT_ATTACHED);
      core.on_doorbell();
      return error_only(ISCSI_HBA_OK);
    }
    case ISCSI_HBA_SEL_ARM_NOTICES: {
      if (in_length != 0) return error_only(ISCSI_HBA_E_BAD_ARGUMENT);
      if (!core.daemon_attached()) return error_only(ISCSI_HBA_E_NOT_ATTACHED);
      CallResult r;
      r.arm_notices = true;
      return r;
    }
    default:
      return error_only(ISCSI_HBA_E_UNKNOWN_SELECTOR);
  }
}

}  // namespace iscsi_hba
