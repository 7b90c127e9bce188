/*
 * iscsi_hba_abi.h — the one definition of what the virtual SCSI HBA (the DriverKit dext, or the Linux simulator) and
 * iscsid share: the shared-memory regions, the two rings, the descriptors, and the user-client calls (selectors) with
 * their argument structs. Included by driver/core (C++20), driver/dext, driver/sim and native/ (C11 or C++).
 * Its TypeScript mirror is core/src/hba/abi.ts; core/test/hba/abi-mirror.test.ts proves the two identical.
 *
 * Conventions
 * - Fixed-width types, natural alignment, every hole filled by an explicit reserved field: no #pragma pack, and a
 *   static assertion on every size and offset below, so a compiler or a language that lays it out differently fails
 *   to build instead of drifting.
 * - Byte order: the host's, and the host is little-endian (arm64 and x86_64 Macs, x86_64/arm64 Linux). Both peers
 *   run on the same machine, so nothing is swapped. CDB bytes and sense bytes are SCSI's own (big-endian fields
 *   inside byte arrays) and are carried untouched.
 * - Reserved fields are written as zero and ignored when read, so a minor version can give them a meaning.
 *
 * Regions (mapped by the daemon: IOConnectMapMemory64 with the region type as memoryType on macOS; a memfd passed over
 * the simulator's socket on Linux; both learn the size from ISCSI_HBA_SEL_MAP_REGION):
 * - ISCSI_HBA_REGION_CONTROL (struct iscsi_hba_control, 307200 bytes): the header, the command ring, the completion
 *   ring, and one auxiliary record per task tag (the 32-byte CDB and the sense buffer).
 * - ISCSI_HBA_REGION_POOL (64 MiB): the data pool, 1024 slots of 64 KiB. The driver allocates a contiguous run of
 *   slots per task (an I/O of up to ISCSI_HBA_MAX_TRANSFER = 1 MiB = 16 slots is never split); the daemon reads write
 *   data from and puts read data into [pool_offset, pool_offset + pool_length) of the task's descriptor, nowhere else.
 *   Why 64 KiB slots and not 64 slots of 1 MiB: most I/O is 4–64 KiB, and 64 KiB slots let every one of the 512 tasks
 *   hold data at once; 1 MiB slots would cap the HBA at 64 I/Os in flight whatever their size.
 *
 * Rings: each is ISCSI_HBA_RING_ENTRIES (1024) descriptors of 64 bytes, with a producer index and a consumer index,
 * each alone on its own 64-byte cache line (no false sharing between the two sides). The command ring is produced by
 * the driver and consumed by the daemon; the completion ring is produced by the daemon and consumed by the driver.
 * - Indices are free-running uint32_t counters: they only ever increase, wrap from 0xFFFFFFFF to 0, and are masked
 *   on use: entry = index & (ISCSI_HBA_RING_ENTRIES - 1). Entries in use = producer - consumer (mod 2^32), always
 *   <= ISCSI_HBA_RING_ENTRIES; empty when equal, full when the difference is ISCSI_HBA_RING_ENTRIES. Any other
 *   difference read from the peer is a protocol error (the reader stops using the ring and reports it).
 * - Memory ordering, the whole protocol:
 *     producer: write the descriptor at entry (producer & mask); then STORE-RELEASE producer + 1 into the producer
 *               index. It reads the consumer index with LOAD-ACQUIRE to know the free space.
 *     consumer: LOAD-ACQUIRE the producer index; read the descriptors up to it; then STORE-RELEASE the new consumer
 *               index (after which the producer may overwrite those entries).
 *   Each index has one writer. Use iscsi_hba_load_acquire / iscsi_hba_store_release below (C11 and C++ alike), or
 *   std::atomic_ref<uint32_t> with memory_order_acquire / memory_order_release; Node's Atomics on an Int32Array
 *   are sequentially consistent, which is stronger and also correct.
 * - A doorbell only says "look at the ring"; the ring's indices are the truth. The daemon rings
 *   ISCSI_HBA_SEL_COMPLETION_DOORBELL after publishing completions; the driver sends an iscsi_hba_notice to the
 *   daemon's armed ISCSI_HBA_SEL_ARM_NOTICES call after publishing commands, aborts or resets.
 *
 * The indices are reset to 0 by the driver at each successful handshake, before it answers: the daemon must not
 * touch the rings before its handshake has succeeded.
 */
#ifndef ISCSI_HBA_ABI_H
#define ISCSI_HBA_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define ISCSI_HBA_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
extern "C" {
#else
#define ISCSI_HBA_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/* ---- Identity and version ---------------------------------------------------------------------------------- */

/** "ISHB" read as a little-endian uint32_t: the first field of the control region and of the handshake. */
#define ISCSI_HBA_MAGIC 0x42485349u
/** The ABI version: major << 16 | minor. A peer with another major is refused (ISCSI_HBA_E_VERSION_MISMATCH); a
 *  newer minor only gives meanings to reserved fields and feature bits, so it is accepted. */
#define ISCSI_HBA_ABI_MAJOR 1u
#define ISCSI_HBA_ABI_MINOR 0u
#define ISCSI_HBA_ABI_VERSION ((ISCSI_HBA_ABI_MAJOR << 16) | ISCSI_HBA_ABI_MINOR)

/** Feature bits (header.features, handshake): none defined in 1.0; a peer ignores the bits it does not know. */
#define ISCSI_HBA_FEATURE_NONE 0u

/* ---- Sizes ------------------------------------------------------------------------------------------------- */

#define ISCSI_HBA_CACHE_LINE 64u
#define ISCSI_HBA_RING_ENTRIES 1024u /* a power of two: indices are masked */
#define ISCSI_HBA_RING_MASK (ISCSI_HBA_RING_ENTRIES - 1u)
#define ISCSI_HBA_DESC_SIZE 64u
/** Task tags are 0 .. ISCSI_HBA_MAX_TASKS-1: the queue depth the HBA advertises to the SCSI stack. Half the ring, so
 *  every task's command and its abort fit in the command ring at once. */
#define ISCSI_HBA_MAX_TASKS 512u
#define ISCSI_HBA_MAX_TARGETS 64u
#define ISCSI_HBA_MAX_LUNS 256u /* per target; LUN numbers 0..255 */
#define ISCSI_HBA_POOL_SIZE (64u * 1024u * 1024u)
#define ISCSI_HBA_POOL_SLOT_SIZE (64u * 1024u)
#define ISCSI_HBA_POOL_SLOTS (ISCSI_HBA_POOL_SIZE / ISCSI_HBA_POOL_SLOT_SIZE)
/** The largest transfer of one task, advertised to the SCSI stack (kIOMaximumByteCountRead/Write): never split. */
#define ISCSI_HBA_MAX_TRANSFER (1024u * 1024u)
#define ISCSI_HBA_CDB_INLINE 16u
#define ISCSI_HBA_CDB_MAX 32u
#define ISCSI_HBA_SENSE_MAX 252u /* SPC-5 4.4.2: the largest sense data a SCSI status can carry */
#define ISCSI_HBA_TARGET_KEY_SIZE 224u
#define ISCSI_HBA_TARGET_ID_ALL 0xFFFFu /* a reset of every target (an HBA reset) */

/* ---- Enumerations ------------------------------------------------------------------------------------------ */

/** Regions the daemon maps (the memoryType of IOConnectMapMemory64). */
enum iscsi_hba_region {
  ISCSI_HBA_REGION_CONTROL = 0,
  ISCSI_HBA_REGION_POOL = 1
};

/** The user-client calls (IOConnectCallMethod selectors; the simulator's socket carries the same numbers). */
enum iscsi_hba_selector {
  /** in iscsi_hba_handshake_in, out iscsi_hba_handshake_out. First call; every other call but MAP_REGION and
   *  HBA_INFO is refused with ISCSI_HBA_E_NOT_ATTACHED before it succeeds. Attaches the daemon (one at a time). */
  ISCSI_HBA_SEL_HANDSHAKE = 0,
  /** in iscsi_hba_map_region_in, out iscsi_hba_map_region_out: the size of a region (the mapping itself is the
   *  platform's: IOConnectMapMemory64, or the memfd the simulator sends with the answer). */
  ISCSI_HBA_SEL_MAP_REGION = 1,
  /** out iscsi_hba_info: limits advertised to the SCSI stack, for the daemon to honour. */
  ISCSI_HBA_SEL_HBA_INFO = 2,
  /** in iscsi_hba_create_target_in, out iscsi_hba_create_target_out: a target for a session's stable key. The
   *  same key gets the same target ID back, across daemon restarts, for as long as the driver runs. Commands for a
   *  target reach a daemon only after that daemon has created (or re-created) it. */
  ISCSI_HBA_SEL_CREATE_TARGET = 3,
  /** in iscsi_hba_destroy_target_in: the target's tasks are failed (ISCSI_HBA_HOST_NO_CONNECT) and it goes away. */
  ISCSI_HBA_SEL_DESTROY_TARGET = 4,
  /** no arguments: completions were published; the driver consumes the completion ring. */
  ISCSI_HBA_SEL_COMPLETION_DOORBELL = 5,
  /** async, out iscsi_hba_notice: the driver's way to reach the daemon. The answer carries the notice bits: commands
   *  published, an abort notice, a reset notice (the aborts and resets themselves travel in the command ring, in
   *  order behind the commands they concern); the daemon re-arms after each answer. */
  ISCSI_HBA_SEL_ARM_NOTICES = 6,
  ISCSI_HBA_SEL_COUNT = 7
};

/** The answer of every call (the kern_return_t payload on macOS is kIOReturnSuccess, the code is in the out struct
 *  or the scalar output 0; the simulator sends it as the reply's status). Also the code of every log line the core
 *  writes about a bad descriptor. Stable numbers: never reuse one. */
enum iscsi_hba_error {
  ISCSI_HBA_OK = 0,
  ISCSI_HBA_E_VERSION_MISMATCH = 1, /* the peer's ABI major differs: refused; the driver's version is in the answer */
  ISCSI_HBA_E_BAD_MAGIC = 2,        /* the handshake did not start with ISCSI_HBA_MAGIC */
  ISCSI_HBA_E_BAD_ARGUMENT = 3,     /* a struct too short, a reserved field set, an unknown region */
  ISCSI_HBA_E_NOT_ATTACHED = 4,     /* a call that needs a handshake first */
  ISCSI_HBA_E_ALREADY_ATTACHED = 5, /* another daemon holds the HBA */
  ISCSI_HBA_E_NO_TARGET_SLOTS = 6,  /* ISCSI_HBA_MAX_TARGETS live targets */
  ISCSI_HBA_E_UNKNOWN_TARGET = 7,
  ISCSI_HBA_E_UNKNOWN_TAG = 8,          /* a completion's tag is out of range or names no task in flight */
  ISCSI_HBA_E_STALE_GENERATION = 9,     /* a completion for an earlier use of the tag */
  ISCSI_HBA_E_DUPLICATE_COMPLETION = 10,/* the task this completion names was already completed */
  ISCSI_HBA_E_BAD_LENGTH = 11,          /* sense, data or residual lengths impossible for the task */
  ISCSI_HBA_E_BAD_DESCRIPTOR = 12,      /* an unknown op or flag combination */
  ISCSI_HBA_E_RING_CORRUPT = 13,        /* the peer's index moved backwards or past the ring: the ring is abandoned */
  ISCSI_HBA_E_UNKNOWN_SELECTOR = 14,
  ISCSI_HBA_E_BUSY = 15                 /* a reset is under way; call again */
};

/** Command descriptor ops (iscsi_hba_cmd_desc.op). */
enum iscsi_hba_cmd_op {
  ISCSI_HBA_CMD_SCSI = 1,  /* a SCSI task: send a SCSI Command PDU; answer with one ISCSI_HBA_CPL_TASK */
  ISCSI_HBA_CMD_ABORT = 2, /* abort the task (tag, generation): ABORT TASK (RFC 7143 11.5); no completion of its own,
                              the aborted task's own completion answers it (status TASK ABORTED if it was aborted) */
  ISCSI_HBA_CMD_RESET = 3  /* the driver reset target_id (or every target: ISCSI_HBA_TARGET_ID_ALL) and already failed
                              its tasks: drop them (LOGICAL UNIT RESET / TARGET WARM RESET as you see fit), stop
                              touching their pool space, then answer ISCSI_HBA_CPL_RESET_DONE with the reset_seq */
};

/** Completion descriptor ops (iscsi_hba_cpl_desc.op). */
enum iscsi_hba_cpl_op {
  ISCSI_HBA_CPL_TASK = 1,      /* a task ended */
  ISCSI_HBA_CPL_RESET_DONE = 2 /* every task of the reset (reset_seq) is dropped: its pool space is free again */
};

/** Data direction of a task, as the initiator sees it. */
enum iscsi_hba_direction {
  ISCSI_HBA_DIR_NONE = 0,
  ISCSI_HBA_DIR_READ = 1, /* data-in: target to pool */
  ISCSI_HBA_DIR_WRITE = 2 /* data-out: pool to target */
};

/** SAM task attribute (RFC 7143 11.3.1: ATTR). */
enum iscsi_hba_task_attribute {
  ISCSI_HBA_ATTR_UNTAGGED = 0,
  ISCSI_HBA_ATTR_SIMPLE = 1,
  ISCSI_HBA_ATTR_ORDERED = 2,
  ISCSI_HBA_ATTR_HEAD_OF_QUEUE = 3,
  ISCSI_HBA_ATTR_ACA = 4
};

/** Service response of a completion (SAM-5 5.1; iSCSI's Response field, RFC 7143 11.4.3). */
enum iscsi_hba_service_response {
  ISCSI_HBA_RESPONSE_COMPLETE = 0,      /* the target answered: scsi_status is meaningful */
  ISCSI_HBA_RESPONSE_TARGET_FAILURE = 1 /* service delivery or target failure: no status */
};

/** Completion flags (iscsi_hba_cpl_desc.flags): RFC 7143 11.4.5 (o)/(u) bits, and whether sense was written. */
#define ISCSI_HBA_CPL_OVERFLOW 0x01u
#define ISCSI_HBA_CPL_UNDERFLOW 0x02u
#define ISCSI_HBA_CPL_SENSE 0x04u
#define ISCSI_HBA_CPL_FLAGS_KNOWN 0x07u

/** Notice bits (iscsi_hba_notice.kinds). */
#define ISCSI_HBA_NOTICE_COMMANDS 0x01u /* the command ring has new entries */
#define ISCSI_HBA_NOTICE_ABORT 0x02u    /* among them, an abort: serve it first */
#define ISCSI_HBA_NOTICE_RESET 0x04u    /* among them, a reset */

/* ---- Shared memory: the control region ---------------------------------------------------------------------- */

/** At offset 0 of the control region; written by the driver before the handshake answers, read-only to the daemon. */
struct iscsi_hba_region_header {
  uint32_t magic;          /* ISCSI_HBA_MAGIC */
  uint32_t abi_version;    /* ISCSI_HBA_ABI_VERSION */
  uint32_t header_size;    /* sizeof(struct iscsi_hba_region_header) */
  uint32_t features;       /* ISCSI_HBA_FEATURE_* */
  uint32_t control_size;   /* sizeof(struct iscsi_hba_control) */
  uint32_t ring_entries;   /* ISCSI_HBA_RING_ENTRIES */
  uint32_t desc_size;      /* ISCSI_HBA_DESC_SIZE, both rings */
  uint32_t max_tasks;      /* ISCSI_HBA_MAX_TASKS */
  uint32_t cmd_ring_offset;
  uint32_t cpl_ring_offset;
  uint32_t task_aux_offset;
  uint32_t task_aux_size;  /* sizeof(struct iscsi_hba_task_aux) */
  uint32_t pool_size;      /* ISCSI_HBA_POOL_SIZE */
  uint32_t pool_slot_size; /* ISCSI_HBA_POOL_SLOT_SIZE */
  uint32_t max_transfer;   /* ISCSI_HBA_MAX_TRANSFER */
  uint32_t attach_epoch;   /* +1 at each handshake: tells a daemon's log which attachment it saw */
  uint8_t reserved[64];
};

/** A ring index alone on its cache line. */
struct iscsi_hba_ring_index {
  uint32_t value; /* free-running; see the ordering rules at the top */
  uint8_t pad[ISCSI_HBA_CACHE_LINE - 4u];
};

/** The driver's command to the daemon. 64 bytes. */
struct iscsi_hba_cmd_desc {
  uint32_t tag;             /* 0 .. ISCSI_HBA_MAX_TASKS-1: the task's slot; also names its iscsi_hba_task_aux */
  uint32_t generation;      /* +1 each time the tag is reused: echo it; a stale completion is refused */
  uint8_t op;               /* enum iscsi_hba_cmd_op */
  uint8_t direction;        /* enum iscsi_hba_direction */
  uint8_t cdb_length;       /* 1..32; above 16 the whole CDB is in the task's aux record (cdb[] holds the first 16) */
  uint8_t task_attribute;   /* enum iscsi_hba_task_attribute */
  uint16_t target_id;       /* from ISCSI_HBA_SEL_CREATE_TARGET; ISCSI_HBA_TARGET_ID_ALL in an HBA reset */
  uint16_t reserved0;
  uint64_t lun;             /* the LUN number the SCSI stack uses (0..ISCSI_HBA_MAX_LUNS-1); the daemon encodes it
                               as SAM's 8-byte LUN (RFC 7143 11.3.5) */
  uint32_t transfer_length; /* expected data transfer length in bytes (RFC 7143 11.3.4) */
  uint32_t pool_offset;     /* the task's data: a multiple of ISCSI_HBA_POOL_SLOT_SIZE; 0 when pool_length is 0 */
  uint8_t cdb[ISCSI_HBA_CDB_INLINE];
  uint32_t pool_length;     /* bytes of pool the task owns (>= transfer_length, whole slots) */
  uint32_t timeout_ms;      /* the SCSI stack's timeout for the task (0 = none): the driver aborts it after this */
  uint32_t reset_seq;       /* ISCSI_HBA_CMD_RESET: echo it in ISCSI_HBA_CPL_RESET_DONE; else 0 */
  uint32_t reserved1;
};

/** The daemon's answer. 64 bytes. Sense data does not fit here: it goes in the task's aux record (see below). */
struct iscsi_hba_cpl_desc {
  uint32_t tag;              /* the command's tag (ISCSI_HBA_CPL_TASK) */
  uint32_t generation;       /* the command's generation */
  uint8_t op;                /* enum iscsi_hba_cpl_op */
  uint8_t service_response;  /* enum iscsi_hba_service_response */
  uint8_t scsi_status;       /* SAM status (GOOD 0x00, CHECK CONDITION 0x02, BUSY 0x08, TASK SET FULL 0x28,
                                TASK ABORTED 0x40, ...) when service_response is COMPLETE */
  uint8_t flags;             /* ISCSI_HBA_CPL_OVERFLOW | UNDERFLOW | SENSE */
  uint16_t sense_length;     /* 0..ISCSI_HBA_SENSE_MAX bytes written in the task's aux sense[] (flag SENSE) */
  uint16_t reserved0;
  uint32_t residual;         /* RFC 7143 11.4.5: the residual count, with OVERFLOW or UNDERFLOW set */
  uint32_t data_length;      /* bytes of data the target moved (a read: valid bytes at pool_offset) */
  uint32_t reset_seq;        /* ISCSI_HBA_CPL_RESET_DONE: the command's reset_seq; else 0 */
  uint32_t reserved1;
  uint8_t reserved2[32];
};

/**
 * One per task tag, at task_aux_offset + tag * sizeof(iscsi_hba_task_aux). Why here and not in the completion or the
 * pool: a completion with 252 bytes of sense cannot be 64 bytes, and sense is rare, so the ring stays small and
 * fixed; a record per tag needs no allocator and cannot run out (the tag owns it from submit to completion), and it
 * stays valid when the task has no data (no pool space) — the common case for TEST UNIT READY's CHECK CONDITION.
 * The driver writes cdb[] (all of a CDB longer than 16 bytes) before publishing; the daemon writes sense[] before
 * publishing the completion, and the driver copies it out before the tag is reused.
 */
struct iscsi_hba_task_aux {
  uint8_t cdb[ISCSI_HBA_CDB_MAX];
  uint8_t reserved[32];
  uint8_t sense[ISCSI_HBA_SENSE_MAX];
  uint8_t reserved_tail[4];
};

struct iscsi_hba_cmd_ring {
  struct iscsi_hba_ring_index producer; /* written by the driver */
  struct iscsi_hba_ring_index consumer; /* written by the daemon */
  struct iscsi_hba_cmd_desc entries[ISCSI_HBA_RING_ENTRIES];
};

struct iscsi_hba_cpl_ring {
  struct iscsi_hba_ring_index producer; /* written by the daemon */
  struct iscsi_hba_ring_index consumer; /* written by the driver */
  struct iscsi_hba_cpl_desc entries[ISCSI_HBA_RING_ENTRIES];
};

#define ISCSI_HBA_PAGE 4096u
#define ISCSI_HBA_CMD_RING_OFFSET ISCSI_HBA_PAGE
#define ISCSI_HBA_RING_SIZE (2u * ISCSI_HBA_CACHE_LINE + ISCSI_HBA_RING_ENTRIES * ISCSI_HBA_DESC_SIZE)
#define ISCSI_HBA_RING_SPAN (ISCSI_HBA_RING_SIZE + ISCSI_HBA_PAGE - (ISCSI_HBA_RING_SIZE % ISCSI_HBA_PAGE))
#define ISCSI_HBA_CPL_RING_OFFSET (ISCSI_HBA_CMD_RING_OFFSET + ISCSI_HBA_RING_SPAN)
#define ISCSI_HBA_TASK_AUX_SIZE 320u
#define ISCSI_HBA_TASK_AUX_OFFSET (ISCSI_HBA_CPL_RING_OFFSET + ISCSI_HBA_RING_SPAN)
#define ISCSI_HBA_CONTROL_SIZE (ISCSI_HBA_TASK_AUX_OFFSET + ISCSI_HBA_MAX_TASKS * ISCSI_HBA_TASK_AUX_SIZE)

/** The control region: each part starts on a page. */
struct iscsi_hba_control {
  struct iscsi_hba_region_header header;
  uint8_t pad0[ISCSI_HBA_CMD_RING_OFFSET - sizeof(struct iscsi_hba_region_header)];
  struct iscsi_hba_cmd_ring cmd;
  uint8_t pad1[ISCSI_HBA_RING_SPAN - ISCSI_HBA_RING_SIZE];
  struct iscsi_hba_cpl_ring cpl;
  uint8_t pad2[ISCSI_HBA_RING_SPAN - ISCSI_HBA_RING_SIZE];
  struct iscsi_hba_task_aux aux[ISCSI_HBA_MAX_TASKS];
};

/* ---- User-client call arguments ----------------------------------------------------------------------------- */

struct iscsi_hba_handshake_in {
  uint32_t magic;        /* ISCSI_HBA_MAGIC */
  uint32_t abi_version;  /* the daemon's ISCSI_HBA_ABI_VERSION */
  uint32_t features;     /* the daemon's ISCSI_HBA_FEATURE_* */
  uint32_t reserved;
};

struct iscsi_hba_handshake_out {
  uint32_t error;        /* enum iscsi_hba_error: OK, VERSION_MISMATCH, BAD_MAGIC, ALREADY_ATTACHED */
  uint32_t abi_version;  /* the driver's, always filled: a refused peer can say what it met */
  uint32_t features;     /* the features both sides have */
  uint32_t attach_epoch;
  uint32_t held_tasks;   /* tasks held from a previous daemon: each is re-issued into the command ring when this
                            daemon re-creates its target (ISCSI_HBA_SEL_CREATE_TARGET with the same key) */
  uint32_t reserved;
};

struct iscsi_hba_map_region_in {
  uint32_t region;       /* enum iscsi_hba_region */
  uint32_t reserved;
};

struct iscsi_hba_map_region_out {
  uint32_t error;
  uint32_t reserved;
  uint64_t size;         /* bytes to map */
};

struct iscsi_hba_info {
  uint32_t error;
  uint32_t abi_version;
  uint32_t max_transfer;    /* bytes per task, never split */
  uint32_t max_targets;
  uint32_t max_luns;        /* per target */
  uint32_t queue_depth;     /* tasks in flight across the HBA (ISCSI_HBA_MAX_TASKS) */
  uint32_t ring_entries;
  uint32_t pool_slot_size;
  uint64_t pool_size;
  uint32_t hold_ms;         /* how long tasks wait for a daemon that went away before they fail */
  uint32_t reserved;
};

struct iscsi_hba_create_target_in {
  /** A stable name for the session (e.g. "iqn.…,portal-group-tag"): NUL-padded UTF-8, at least one byte. The same
   *  key gets the same target ID, so the SCSI stack sees the same disk after the daemon reconnects or restarts. */
  uint8_t key[ISCSI_HBA_TARGET_KEY_SIZE];
  uint32_t reserved[2];
};

struct iscsi_hba_create_target_out {
  uint32_t error;        /* OK, NO_TARGET_SLOTS, BAD_ARGUMENT, NOT_ATTACHED */
  uint32_t target_id;
  uint32_t existed;      /* 1: the key was known (live or from an earlier attachment) and got its ID back */
  uint32_t reserved;
};

struct iscsi_hba_destroy_target_in {
  uint32_t target_id;
  uint32_t reserved;
};

/** The answer of ISCSI_HBA_SEL_ARM_NOTICES (on macOS the async arguments, as 64-bit words in this order). */
struct iscsi_hba_notice {
  uint32_t kinds;        /* ISCSI_HBA_NOTICE_* bits gathered since the last answer */
  uint32_t cmd_producer; /* the command ring's producer index when sent (a hint; the ring is the truth) */
};

/* ---- Ordering helpers (GCC and Clang builtins: the same code in C11 and C++) -------------------------------- */

static inline uint32_t iscsi_hba_load_acquire(const uint32_t *index) {
  return __atomic_load_n(index, __ATOMIC_ACQUIRE);
}

static inline void iscsi_hba_store_release(uint32_t *index, uint32_t value) {
  __atomic_store_n(index, value, __ATOMIC_RELEASE);
}

/* ---- Layout checks ----------------------------------------------------------------------------------------- */

#define ISCSI_HBA_CHECK_SIZE(type, size) ISCSI_HBA_STATIC_ASSERT(sizeof(struct type) == (size), #type " size")
#define ISCSI_HBA_CHECK_OFFSET(type, field, off) \
  ISCSI_HBA_STATIC_ASSERT(offsetof(struct type, field) == (off), #type "." #field " offset")

ISCSI_HBA_STATIC_ASSERT((ISCSI_HBA_RING_ENTRIES & ISCSI_HBA_RING_MASK) == 0, "ring entries: a power of two");
ISCSI_HBA_STATIC_ASSERT(ISCSI_HBA_MAX_TASKS * 2u <= ISCSI_HBA_RING_ENTRIES, "a command and an abort per task fit");
ISCSI_HBA_STATIC_ASSERT(ISCSI_HBA_MAX_TRANSFER % ISCSI_HBA_POOL_SLOT_SIZE == 0, "max transfer: whole slots");
ISCSI_HBA_STATIC_ASSERT(ISCSI_HBA_POOL_SIZE % ISCSI_HBA_POOL_SLOT_SIZE == 0, "pool: whole slots");
ISCSI_HBA_STATIC_ASSERT(ISCSI_HBA_POOL_SLOTS == 1024u, "pool slots");

ISCSI_HBA_CHECK_SIZE(iscsi_hba_region_header, 128);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_region_header, magic, 0);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_region_header, abi_version, 4);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_region_header, header_size, 8);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_region_header, features, 12);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_region_header, control_size, 16);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_region_header, ring_entries, 20);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_region_header, desc_size, 24);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_region_header, max_tasks, 28);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_region_header, cmd_ring_offset, 32);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_region_header, cpl_ring_offset, 36);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_region_header, task_aux_offset, 40);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_region_header, task_aux_size, 44);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_region_header, pool_size, 48);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_region_header, pool_slot_size, 52);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_region_header, max_transfer, 56);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_region_header, attach_epoch, 60);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_region_header, reserved, 64);

ISCSI_HBA_CHECK_SIZE(iscsi_hba_ring_index, ISCSI_HBA_CACHE_LINE);

ISCSI_HBA_CHECK_SIZE(iscsi_hba_cmd_desc, ISCSI_HBA_DESC_SIZE);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cmd_desc, tag, 0);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cmd_desc, generation, 4);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cmd_desc, op, 8);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cmd_desc, direction, 9);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cmd_desc, cdb_length, 10);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cmd_desc, task_attribute, 11);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cmd_desc, target_id, 12);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cmd_desc, reserved0, 14);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cmd_desc, lun, 16);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cmd_desc, transfer_length, 24);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cmd_desc, pool_offset, 28);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cmd_desc, cdb, 32);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cmd_desc, pool_length, 48);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cmd_desc, timeout_ms, 52);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cmd_desc, reset_seq, 56);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cmd_desc, reserved1, 60);

ISCSI_HBA_CHECK_SIZE(iscsi_hba_cpl_desc, ISCSI_HBA_DESC_SIZE);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cpl_desc, tag, 0);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cpl_desc, generation, 4);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cpl_desc, op, 8);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cpl_desc, service_response, 9);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cpl_desc, scsi_status, 10);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cpl_desc, flags, 11);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cpl_desc, sense_length, 12);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cpl_desc, reserved0, 14);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cpl_desc, residual, 16);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cpl_desc, data_length, 20);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cpl_desc, reset_seq, 24);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cpl_desc, reserved1, 28);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cpl_desc, reserved2, 32);

ISCSI_HBA_CHECK_SIZE(iscsi_hba_task_aux, ISCSI_HBA_TASK_AUX_SIZE);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_task_aux, cdb, 0);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_task_aux, reserved, 32);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_task_aux, sense, 64);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_task_aux, reserved_tail, 316);

ISCSI_HBA_CHECK_SIZE(iscsi_hba_cmd_ring, ISCSI_HBA_RING_SIZE);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cmd_ring, producer, 0);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cmd_ring, consumer, 64);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cmd_ring, entries, 128);
ISCSI_HBA_CHECK_SIZE(iscsi_hba_cpl_ring, ISCSI_HBA_RING_SIZE);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cpl_ring, producer, 0);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cpl_ring, consumer, 64);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_cpl_ring, entries, 128);

ISCSI_HBA_CHECK_SIZE(iscsi_hba_control, ISCSI_HBA_CONTROL_SIZE);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_control, header, 0);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_control, cmd, ISCSI_HBA_CMD_RING_OFFSET);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_control, cpl, ISCSI_HBA_CPL_RING_OFFSET);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_control, aux, ISCSI_HBA_TASK_AUX_OFFSET);
ISCSI_HBA_STATIC_ASSERT(ISCSI_HBA_CONTROL_SIZE == 307200u, "control region size");
ISCSI_HBA_STATIC_ASSERT(ISCSI_HBA_CONTROL_SIZE % ISCSI_HBA_PAGE == 0, "control region: whole pages");

ISCSI_HBA_CHECK_SIZE(iscsi_hba_handshake_in, 16);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_handshake_in, magic, 0);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_handshake_in, abi_version, 4);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_handshake_in, features, 8);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_handshake_in, reserved, 12);
ISCSI_HBA_CHECK_SIZE(iscsi_hba_handshake_out, 24);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_handshake_out, error, 0);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_handshake_out, abi_version, 4);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_handshake_out, features, 8);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_handshake_out, attach_epoch, 12);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_handshake_out, held_tasks, 16);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_handshake_out, reserved, 20);
ISCSI_HBA_CHECK_SIZE(iscsi_hba_map_region_in, 8);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_map_region_in, region, 0);
ISCSI_HBA_CHECK_SIZE(iscsi_hba_map_region_out, 16);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_map_region_out, error, 0);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_map_region_out, size, 8);
ISCSI_HBA_CHECK_SIZE(iscsi_hba_info, 48);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_info, error, 0);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_info, abi_version, 4);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_info, max_transfer, 8);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_info, max_targets, 12);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_info, max_luns, 16);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_info, queue_depth, 20);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_info, ring_entries, 24);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_info, pool_slot_size, 28);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_info, pool_size, 32);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_info, hold_ms, 40);
ISCSI_HBA_CHECK_SIZE(iscsi_hba_create_target_in, 232);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_create_target_in, key, 0);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_create_target_in, reserved, 224);
ISCSI_HBA_CHECK_SIZE(iscsi_hba_create_target_out, 16);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_create_target_out, error, 0);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_create_target_out, target_id, 4);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_create_target_out, existed, 8);
ISCSI_HBA_CHECK_SIZE(iscsi_hba_destroy_target_in, 8);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_destroy_target_in, target_id, 0);
ISCSI_HBA_CHECK_SIZE(iscsi_hba_notice, 8);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_notice, kinds, 0);
ISCSI_HBA_CHECK_OFFSET(iscsi_hba_notice, cmd_producer, 4);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ISCSI_HBA_ABI_H */
