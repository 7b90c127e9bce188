// The TypeScript mirror of driver/include/iscsi_hba_abi.h: the constants, enumerations, selectors, error codes and
// the size and field offsets of every shared struct, for iscsid's side of the rings (the next issue's core/src/hba
// bridge). Never edit one side alone: core/test/hba/abi-mirror.test.ts compiles the header (C11 and C++) and fails on
// any difference. Names are the header's without the ISCSI_HBA_ prefix (and the group prefix: SEL_, E_, REGION_, …).
// Byte order: the host's, little-endian (DataView reads with littleEndian = true).

/** Sizes, limits and layout constants (the header's #defines). */
export const HBA_CONSTANTS = Object.freeze({
  MAGIC: 0x42485349, // "ISHB" as a little-endian uint32
  ABI_MAJOR: 1,
  ABI_MINOR: 0,
  ABI_VERSION: 0x10000, // major << 16 | minor; a peer with another major is refused
  FEATURE_NONE: 0x0,
  CACHE_LINE: 64,
  RING_ENTRIES: 1024, // descriptors per ring; indices are free-running uint32, masked with RING_MASK
  RING_MASK: 1023,
  DESC_SIZE: 64,
  MAX_TASKS: 512, // task tags 0..MAX_TASKS-1: the queue depth advertised to the SCSI stack
  MAX_TARGETS: 64,
  MAX_LUNS: 256,
  POOL_SIZE: 67108864,
  POOL_SLOT_SIZE: 65536, // a task gets a contiguous run of slots: MAX_TRANSFER is never split
  POOL_SLOTS: 1024,
  MAX_TRANSFER: 1048576, // bytes per task, advertised to the SCSI stack (kIOMaximumByteCountRead/Write)
  CDB_INLINE: 16,
  CDB_MAX: 32,
  SENSE_MAX: 252, // SPC-5 4.4.2; sense goes in the task's aux record, not the completion
  TARGET_KEY_SIZE: 224,
  TARGET_ID_ALL: 0xffff, // target_id of an HBA-wide reset
  PAGE: 4096,
  CMD_RING_OFFSET: 4096,
  RING_SIZE: 65664,
  RING_SPAN: 69632,
  CPL_RING_OFFSET: 73728,
  TASK_AUX_SIZE: 320,
  TASK_AUX_OFFSET: 143360,
  CONTROL_SIZE: 307200,
});

/** Regions the daemon maps (enum iscsi_hba_region). */
export const HbaRegion = Object.freeze({
  CONTROL: 0,
  POOL: 1,
});

/** The user-client calls (enum iscsi_hba_selector). */
export const HbaSelector = Object.freeze({
  HANDSHAKE: 0,
  MAP_REGION: 1,
  HBA_INFO: 2,
  CREATE_TARGET: 3,
  DESTROY_TARGET: 4,
  COMPLETION_DOORBELL: 5,
  ARM_NOTICES: 6,
  COUNT: 7,
});

/** The answer of every call and the code of the core's log lines (enum iscsi_hba_error). */
export const HbaAbiError = Object.freeze({
  OK: 0,
  VERSION_MISMATCH: 1,
  BAD_MAGIC: 2,
  BAD_ARGUMENT: 3,
  NOT_ATTACHED: 4,
  ALREADY_ATTACHED: 5,
  NO_TARGET_SLOTS: 6,
  UNKNOWN_TARGET: 7,
  UNKNOWN_TAG: 8,
  STALE_GENERATION: 9,
  DUPLICATE_COMPLETION: 10,
  BAD_LENGTH: 11,
  BAD_DESCRIPTOR: 12,
  RING_CORRUPT: 13,
  UNKNOWN_SELECTOR: 14,
  BUSY: 15,
});

/** Command descriptor ops (enum iscsi_hba_cmd_op). */
export const HbaCmdOp = Object.freeze({
  SCSI: 1,
  ABORT: 2,
  RESET: 3,
});

/** Completion descriptor ops (enum iscsi_hba_cpl_op). */
export const HbaCplOp = Object.freeze({
  TASK: 1,
  RESET_DONE: 2,
});

/** Data direction, as the initiator sees it (enum iscsi_hba_direction). */
export const HbaDirection = Object.freeze({
  NONE: 0,
  READ: 1,
  WRITE: 2,
});

/** SAM task attribute, RFC 7143 11.3.1 ATTR (enum iscsi_hba_task_attribute). */
export const HbaTaskAttribute = Object.freeze({
  UNTAGGED: 0,
  SIMPLE: 1,
  ORDERED: 2,
  HEAD_OF_QUEUE: 3,
  ACA: 4,
});

/** Service response, SAM-5 5.1 / RFC 7143 11.4.3 (enum iscsi_hba_service_response). */
export const HbaServiceResponse = Object.freeze({
  COMPLETE: 0,
  TARGET_FAILURE: 1,
});

/** Completion flags: RFC 7143 11.4.5 (o)/(u), and sense written (ISCSI_HBA_CPL_*). */
export const HbaCplFlag = Object.freeze({
  OVERFLOW: 0x1,
  UNDERFLOW: 0x2,
  SENSE: 0x4,
  FLAGS_KNOWN: 0x7,
});

/** Notice bits of the ARM_NOTICES answer (ISCSI_HBA_NOTICE_*). */
export const HbaNotice = Object.freeze({
  COMMANDS: 0x1,
  ABORT: 0x2,
  RESET: 0x4,
});

/** A field: [byte offset, byte size]. */
export type HbaField = readonly [offset: number, size: number];
export interface HbaStruct {
  readonly size: number;
  readonly fields: Readonly<Record<string, HbaField>>;
}

/** Every shared struct (names without the iscsi_hba_ prefix): its size and its fields' offsets and sizes. */
export const HBA_STRUCTS = Object.freeze({
  region_header: {
    size: 128,
    fields: {
      magic: [0, 4],
      abi_version: [4, 4],
      header_size: [8, 4],
      features: [12, 4],
      control_size: [16, 4],
      ring_entries: [20, 4],
      desc_size: [24, 4],
      max_tasks: [28, 4],
      cmd_ring_offset: [32, 4],
      cpl_ring_offset: [36, 4],
      task_aux_offset: [40, 4],
      task_aux_size: [44, 4],
      pool_size: [48, 4],
      pool_slot_size: [52, 4],
      max_transfer: [56, 4],
      attach_epoch: [60, 4],
      reserved: [64, 64],
    },
  },
  ring_index: {
    size: 64,
    fields: {
      value: [0, 4],
      pad: [4, 60],
    },
  },
  cmd_desc: {
    size: 64,
    fields: {
      tag: [0, 4],
      generation: [4, 4],
      op: [8, 1],
      direction: [9, 1],
      cdb_length: [10, 1],
      task_attribute: [11, 1],
      target_id: [12, 2],
      reserved0: [14, 2],
      lun: [16, 8],
      transfer_length: [24, 4],
      pool_offset: [28, 4],
      cdb: [32, 16],
      pool_length: [48, 4],
      timeout_ms: [52, 4],
      reset_seq: [56, 4],
      reserved1: [60, 4],
    },
  },
  cpl_desc: {
    size: 64,
    fields: {
      tag: [0, 4],
      generation: [4, 4],
      op: [8, 1],
      service_response: [9, 1],
      scsi_status: [10, 1],
      flags: [11, 1],
      sense_length: [12, 2],
      reserved0: [14, 2],
      residual: [16, 4],
      data_length: [20, 4],
      reset_seq: [24, 4],
      reserved1: [28, 4],
      reserved2: [32, 32],
    },
  },
  task_aux: {
    size: 320,
    fields: {
      cdb: [0, 32],
      reserved: [32, 32],
      sense: [64, 252],
      reserved_tail: [316, 4],
    },
  },
  cmd_ring: {
    size: 65664,
    fields: {
      producer: [0, 64],
      consumer: [64, 64],
      entries: [128, 65536],
    },
  },
  cpl_ring: {
    size: 65664,
    fields: {
      producer: [0, 64],
      consumer: [64, 64],
      entries: [128, 65536],
    },
  },
  control: {
    size: 307200,
    fields: {
      header: [0, 128],
      pad0: [128, 3968],
      cmd: [4096, 65664],
      pad1: [69760, 3968],
      cpl: [73728, 65664],
      pad2: [139392, 3968],
      aux: [143360, 163840],
    },
  },
  handshake_in: {
    size: 16,
    fields: {
      magic: [0, 4],
      abi_version: [4, 4],
      features: [8, 4],
      reserved: [12, 4],
    },
  },
  handshake_out: {
    size: 24,
    fields: {
      error: [0, 4],
      abi_version: [4, 4],
      features: [8, 4],
      attach_epoch: [12, 4],
      held_tasks: [16, 4],
      reserved: [20, 4],
    },
  },
  map_region_in: {
    size: 8,
    fields: {
      region: [0, 4],
      reserved: [4, 4],
    },
  },
  map_region_out: {
    size: 16,
    fields: {
      error: [0, 4],
      reserved: [4, 4],
      size: [8, 8],
    },
  },
  info: {
    size: 48,
    fields: {
      error: [0, 4],
      abi_version: [4, 4],
      max_transfer: [8, 4],
      max_targets: [12, 4],
      max_luns: [16, 4],
      queue_depth: [20, 4],
      ring_entries: [24, 4],
      pool_slot_size: [28, 4],
      pool_size: [32, 8],
      hold_ms: [40, 4],
      reserved: [44, 4],
    },
  },
  create_target_in: {
    size: 232,
    fields: {
      key: [0, 224],
      reserved: [224, 8],
    },
  },
  create_target_out: {
    size: 16,
    fields: {
      error: [0, 4],
      target_id: [4, 4],
      existed: [8, 4],
      reserved: [12, 4],
    },
  },
  destroy_target_in: {
    size: 8,
    fields: {
      target_id: [0, 4],
      reserved: [4, 4],
    },
  },
  notice: {
    size: 8,
    fields: {
      kinds: [0, 4],
      cmd_producer: [4, 4],
    },
  },
} satisfies Record<string, HbaStruct>);

/** The name of an iscsi_hba_error number (for logs and typed errors), or undefined for a number the ABI lacks. */
export function hbaErrorName(code: number): keyof typeof HbaAbiError | undefined {
  return (Object.keys(HbaAbiError) as Array<keyof typeof HbaAbiError>).find((k) => HbaAbiError[k] === code);
}
