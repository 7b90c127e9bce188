// One user-client call, decoded and checked the same way for every adapter (the dext's ExternalMethod, the
// simulator's socket): the selector, the exact size of each argument struct, then the call into HbaCore. The adapter
// passes the raw bytes it received and sends back `out` and the error; it keeps nothing of its own but the
// asynchronous ARM_NOTICES (arm_notices = true: store the caller's completion, answer it from notify_daemon()).
#pragma once

#include <cstddef>
#include <cstdint>

#include "hba_core.h"

namespace iscsi_hba {

struct CallResult {
  uint32_t error = ISCSI_HBA_OK;  // enum iscsi_hba_error (also in `out` where the out struct has an error field)
  size_t out_length = 0;          // bytes of `out` written
  bool arm_notices = false;       // ISCSI_HBA_SEL_ARM_NOTICES: the adapter arms its async answer
};

/// Runs `selector` with `in_length` bytes of `in` (any alignment) and up to `out_capacity` bytes of `out`.
/// A struct of the wrong size, in or out, is refused with ISCSI_HBA_E_BAD_ARGUMENT before anything runs.
CallResult dispatch_call(HbaCore& core, uint32_t selector, const void* in, size_t in_length, void* out,
                         size_t out_capacity);

}  // namespace iscsi_hba
