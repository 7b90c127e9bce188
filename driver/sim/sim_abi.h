// The simulator's view of the shared memory and of the user-client calls.
// Stand-in for driver/include/iscsi_hba_abi.h, which the core helper owns and had not published when this was
// written: every name below maps one-to-one onto that header's, so switching is a rename in this file only.
#pragma once
#include <cstddef>
#include <cstdint>

namespace sim {

inline constexpr uint32_t kRegionMagic = 0x49484241;  // "IHBA"
inline constexpr uint32_t kAbiVersion = 1;
inline constexpr uint32_t kRingEntries = 1024;         // the design's 1024 x 64-byte descriptors per ring
inline constexpr uint32_t kPoolSize = 64u << 20;       // the design's 64 MiB data pool
inline constexpr uint32_t kSlotSize = 1u << 20;        // one slot = the HBA's maximum transfer, so no I/O is split
inline constexpr uint32_t kSlots = kPoolSize / kSlotSize;
inline constexpr uint32_t kSenseMax = 252;             // SPC-4 4.4: sense data is at most 252 bytes
inline constexpr uint32_t kMaxTargets = 16;

enum Dir : uint8_t { kDirNone = 0, kDirIn = 1 /* device to host */, kDirOut = 2 /* host to device */ };
enum ResidFlags : uint8_t { kResidNone = 0, kResidUnderflow = 1, kResidOverflow = 2 };

// One SCSI task, HBA -> daemon.
struct CmdDesc {
  uint32_t tag;          // index (low 10 bits) | generation: a stale tag never names a newer task
  uint16_t target;
  uint8_t dir;           // Dir
  uint8_t cdb_len;       // 6..16 inline
  uint64_t lun;          // SAM-5 4.7 eight-byte LUN
  uint32_t xfer_len;     // bytes
  uint32_t pool_offset;  // from the start of the pool
  uint8_t cdb[16];
  uint8_t reserved[24];
};
static_assert(sizeof(CmdDesc) == 64);

// One completion, daemon -> HBA. Sense bytes live in the sense area, indexed by the tag's index.
struct CplDesc {
  uint32_t tag;
  uint8_t status;      // SAM-5 5.3 status byte
  uint8_t response;    // 0 = task complete, else service delivery failure
  uint8_t resid_flags; // ResidFlags
  uint8_t sense_len;   // <= kSenseMax
  uint32_t residual;
  uint8_t reserved[52];
};
static_assert(sizeof(CplDesc) == 64);

// Free-running 32-bit indices masked on use; producer and consumer on their own cache lines. The producer writes
// descriptors then stores `producer` with release; the consumer loads it with acquire, reads, then stores
// `consumer` with release; the producer loads `consumer` with acquire to see free room.
struct RingIndices {
  alignas(64) uint32_t producer;
  alignas(64) uint32_t consumer;
};
static_assert(sizeof(RingIndices) == 128);

struct RegionHeader {
  uint32_t magic, version, ring_entries, desc_size;
  uint32_t pool_size, slot_size, features, sense_stride;
  uint64_t cmd_idx_off, cpl_idx_off, cmd_ring_off, cpl_ring_off, sense_off, pool_off;
};

inline constexpr size_t kCmdIdxOff = 4096;
inline constexpr size_t kCplIdxOff = kCmdIdxOff + sizeof(RingIndices);
inline constexpr size_t kCmdRingOff = 8192;
inline constexpr size_t kCplRingOff = kCmdRingOff + kRingEntries * sizeof(CmdDesc);
inline constexpr size_t kSenseStride = 256;
inline constexpr size_t kSenseOff = kCplRingOff + kRingEntries * sizeof(CplDesc);
inline constexpr size_t kPoolOff = 1u << 20;
inline constexpr size_t kRegionSize = kPoolOff + kPoolSize;
static_assert(kSenseOff + kRingEntries * kSenseStride <= kPoolOff);

// The user-client calls as messages on the Unix socket: a 16-byte header, then `length` bytes of payload.
// Calls carry a reply (same selector, kReply set); notices and the doorbell do not.
inline constexpr uint32_t kMsgMagic = 0x48424143;  // "HBAC"
enum Selector : uint16_t {
  kHello = 1,            // {u32 version, u32 features} -> same; a mismatched version is refused (kErrVersion)
  kMapRegions = 2,       // {} -> {u64 size}, the memfd as SCM_RIGHTS (IOConnectMapMemory64's stand-in)
  kHbaInfo = 3,          // {} -> HbaInfo
  kCreateTarget = 4,     // {u32 target} -> {}; the HBA then probes it and serves its LUNs
  kDestroyTarget = 5,    // {u32 target} -> {}
  kDoorbell = 6,         // daemon -> HBA: completions were posted
  kNoticeCommands = 16,  // HBA -> daemon: commands were posted
  kNoticeAbort = 17,     // HBA -> daemon: {u32 tag} the SCSI stack aborted this task
  kNoticeReset = 18,     // HBA -> daemon: HBA reset
  kNoticeTargetReady = 19,  // HBA -> daemon: {u32 target, u32 luns served}
};
enum MsgFlags : uint16_t { kReply = 1 };
enum MsgStatus : int32_t { kOk = 0, kErrVersion = 1, kErrState = 2, kErrInvalid = 3, kErrBusy = 4 };

struct MsgHeader {
  uint32_t magic;
  uint16_t selector;
  uint16_t flags;
  int32_t status;
  uint32_t length;
};
static_assert(sizeof(MsgHeader) == 16);
inline constexpr uint32_t kMsgMaxPayload = 4096;

struct HbaInfo {
  uint32_t max_transfer, ring_entries, slot_size, max_targets;
};

}  // namespace sim
