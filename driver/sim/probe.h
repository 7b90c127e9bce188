// The SCSI stack's side at target creation: probe the LUNs as macOS's SCSI family does, so the daemon sees the same
// sequence of CDBs it will see from IOSCSIParallelFamily.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "hba.h"

namespace sim {

struct LunInfo {
  uint64_t lun = 0;
  uint64_t blocks = 0;        // READ CAPACITY (16): last LBA + 1
  uint32_t block_size = 0;
  uint32_t max_transfer = 0;  // bytes, from the Block Limits VPD page (0 = no limit stated)
  bool unmap = false;         // Logical Block Provisioning VPD page: LBPU
  bool write_protected = false;
  std::string vendor, product, serial;
};

// Runs the probe; returns the LUNs that answered as ready direct-access block devices. Errors go to the log.
std::vector<LunInfo> probe_target(Hba& hba, uint16_t target);

// Runs one task and waits for it (the probe and tests only: I/O goes through Hba::submit with a callback).
struct SyncResult {
  TaskResult result;
  std::vector<uint8_t> data;
};
SyncResult run_sync(Hba& hba, uint16_t target, uint64_t lun, const uint8_t* cdb, uint8_t cdb_len, uint8_t dir,
                    uint32_t xfer_len, const void* out = nullptr);

}  // namespace sim
