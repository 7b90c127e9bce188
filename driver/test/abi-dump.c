/* Prints every constant, size and field offset of iscsi_hba_abi.h as JSON. Compiled as C11 and as C++ by
 * core/test/hba/abi-mirror.test.ts, which compares the output with the TypeScript mirror (core/src/hba/abi.ts).
 * Each field is printed with its size too, so the test can prove the fields tile each struct: a field added to the
 * header but not listed here leaves a gap and fails the test. */
#include <stdio.h>

#include "../include/iscsi_hba_abi.h"

static int first;
static void begin(const char *name) { printf("%s\"%s\":{", first ? "" : ",", name); first = 0; }
static void num(const char *name, unsigned long long v, int *f) { printf("%s\"%s\":%llu", *f ? "" : ",", name, v); *f = 0; }

#define K(name) num(#name, (unsigned long long)(name), &f)
#define STRUCT(type, body)                                                                  \
  do {                                                                                      \
    printf("%s\"%s\":{\"size\":%llu,\"fields\":{", sf ? "" : ",", #type, (unsigned long long)sizeof(struct type)); \
    sf = 0;                                                                                 \
    int ff = 1;                                                                             \
    body printf("}}");                                                                      \
  } while (0)
#define F(type, field)                                                                      \
  printf("%s\"%s\":[%llu,%llu]", ff ? "" : ",", #field, (unsigned long long)offsetof(struct type, field), \
         (unsigned long long)sizeof(((struct type *)0)->field));                            \
  ff = 0;

int main(void) {
  int f = 1;
  int sf = 1;
  printf("{\"language\":\"%s\",", LANGUAGE);
  first = 1;
  begin("constants");
  K(ISCSI_HBA_MAGIC); K(ISCSI_HBA_ABI_MAJOR); K(ISCSI_HBA_ABI_MINOR); K(ISCSI_HBA_ABI_VERSION);
  K(ISCSI_HBA_FEATURE_NONE); K(ISCSI_HBA_CACHE_LINE); K(ISCSI_HBA_RING_ENTRIES); K(ISCSI_HBA_RING_MASK);
  K(ISCSI_HBA_DESC_SIZE); K(ISCSI_HBA_MAX_TASKS); K(ISCSI_HBA_MAX_TARGETS); K(ISCSI_HBA_MAX_LUNS);
  K(ISCSI_HBA_POOL_SIZE); K(ISCSI_HBA_POOL_SLOT_SIZE); K(ISCSI_HBA_POOL_SLOTS); K(ISCSI_HBA_MAX_TRANSFER);
  K(ISCSI_HBA_CDB_INLINE); K(ISCSI_HBA_CDB_MAX); K(ISCSI_HBA_SENSE_MAX); K(ISCSI_HBA_TARGET_KEY_SIZE);
  K(ISCSI_HBA_TARGET_ID_ALL); K(ISCSI_HBA_PAGE); K(ISCSI_HBA_CMD_RING_OFFSET); K(ISCSI_HBA_RING_SIZE);
  K(ISCSI_HBA_RING_SPAN); K(ISCSI_HBA_CPL_RING_OFFSET); K(ISCSI_HBA_TASK_AUX_SIZE); K(ISCSI_HBA_TASK_AUX_OFFSET);
  K(ISCSI_HBA_CONTROL_SIZE);
  K(ISCSI_HBA_CPL_OVERFLOW); K(ISCSI_HBA_CPL_UNDERFLOW); K(ISCSI_HBA_CPL_SENSE); K(ISCSI_HBA_CPL_FLAGS_KNOWN);
  K(ISCSI_HBA_NOTICE_COMMANDS); K(ISCSI_HBA_NOTICE_ABORT); K(ISCSI_HBA_NOTICE_RESET);
  printf("},");
  f = 1;
  printf("\"regions\":{"); K(ISCSI_HBA_REGION_CONTROL); K(ISCSI_HBA_REGION_POOL); printf("},");
  f = 1;
  printf("\"selectors\":{");
  K(ISCSI_HBA_SEL_HANDSHAKE); K(ISCSI_HBA_SEL_MAP_REGION); K(ISCSI_HBA_SEL_HBA_INFO); K(ISCSI_HBA_SEL_CREATE_TARGET);
  K(ISCSI_HBA_SEL_DESTROY_TARGET); K(ISCSI_HBA_SEL_COMPLETION_DOORBELL); K(ISCSI_HBA_SEL_ARM_NOTICES);
  K(ISCSI_HBA_SEL_COUNT);
  printf("},");
  f = 1;
  printf("\"errors\":{");
  K(ISCSI_HBA_OK); K(ISCSI_HBA_E_VERSION_MISMATCH); K(ISCSI_HBA_E_BAD_MAGIC); K(ISCSI_HBA_E_BAD_ARGUMENT);
  K(ISCSI_HBA_E_NOT_ATTACHED); K(ISCSI_HBA_E_ALREADY_ATTACHED); K(ISCSI_HBA_E_NO_TARGET_SLOTS);
  K(ISCSI_HBA_E_UNKNOWN_TARGET); K(ISCSI_HBA_E_UNKNOWN_TAG); K(ISCSI_HBA_E_STALE_GENERATION);
  K(ISCSI_HBA_E_DUPLICATE_COMPLETION); K(ISCSI_HBA_E_BAD_LENGTH); K(ISCSI_HBA_E_BAD_DESCRIPTOR);
  K(ISCSI_HBA_E_RING_CORRUPT); K(ISCSI_HBA_E_UNKNOWN_SELECTOR); K(ISCSI_HBA_E_BUSY);
  printf("},");
  f = 1;
  printf("\"enums\":{");
  K(ISCSI_HBA_CMD_SCSI); K(ISCSI_HBA_CMD_ABORT); K(ISCSI_HBA_CMD_RESET); K(ISCSI_HBA_CPL_TASK);
  K(ISCSI_HBA_CPL_RESET_DONE); K(ISCSI_HBA_DIR_NONE); K(ISCSI_HBA_DIR_READ); K(ISCSI_HBA_DIR_WRITE);
  K(ISCSI_HBA_ATTR_UNTAGGED); K(ISCSI_HBA_ATTR_SIMPLE); K(ISCSI_HBA_ATTR_ORDERED); K(ISCSI_HBA_ATTR_HEAD_OF_QUEUE);
  K(ISCSI_HBA_ATTR_ACA); K(ISCSI_HBA_RESPONSE_COMPLETE); K(ISCSI_HBA_RESPONSE_TARGET_FAILURE);
  printf("},");
  printf("\"structs\":{");
  STRUCT(iscsi_hba_region_header,
         F(iscsi_hba_region_header, magic) F(iscsi_hba_region_header, abi_version)
         F(iscsi_hba_region_header, header_size) F(iscsi_hba_region_header, features)
         F(iscsi_hba_region_header, control_size) F(iscsi_hba_region_header, ring_entries)
         F(iscsi_hba_region_header, desc_size) F(iscsi_hba_region_header, max_tasks)
         F(iscsi_hba_region_header, cmd_ring_offset) F(iscsi_hba_region_header, cpl_ring_offset)
         F(iscsi_hba_region_header, task_aux_offset) F(iscsi_hba_region_header, task_aux_size)
         F(iscsi_hba_region_header, pool_size) F(iscsi_hba_region_header, pool_slot_size)
         F(iscsi_hba_region_header, max_transfer) F(iscsi_hba_region_header, attach_epoch)
         F(iscsi_hba_region_header, reserved));
  STRUCT(iscsi_hba_ring_index, F(iscsi_hba_ring_index, value) F(iscsi_hba_ring_index, pad));
  STRUCT(iscsi_hba_cmd_desc,
         F(iscsi_hba_cmd_desc, tag) F(iscsi_hba_cmd_desc, generation) F(iscsi_hba_cmd_desc, op)
         F(iscsi_hba_cmd_desc, direction) F(iscsi_hba_cmd_desc, cdb_length) F(iscsi_hba_cmd_desc, task_attribute)
         F(iscsi_hba_cmd_desc, target_id) F(iscsi_hba_cmd_desc, reserved0) F(iscsi_hba_cmd_desc, lun)
         F(iscsi_hba_cmd_desc, transfer_length) F(iscsi_hba_cmd_desc, pool_offset) F(iscsi_hba_cmd_desc, cdb)
         F(iscsi_hba_cmd_desc, pool_length) F(iscsi_hba_cmd_desc, timeout_ms) F(iscsi_hba_cmd_desc, reset_seq)
         F(iscsi_hba_cmd_desc, reserved1));
  STRUCT(iscsi_hba_cpl_desc,
         F(iscsi_hba_cpl_desc, tag) F(iscsi_hba_cpl_desc, generation) F(iscsi_hba_cpl_desc, op)
         F(iscsi_hba_cpl_desc, service_response) F(iscsi_hba_cpl_desc, scsi_status) F(iscsi_hba_cpl_desc, flags)
         F(iscsi_hba_cpl_desc, sense_length) F(iscsi_hba_cpl_desc, reserved0) F(iscsi_hba_cpl_desc, residual)
         F(iscsi_hba_cpl_desc, data_length) F(iscsi_hba_cpl_desc, reset_seq) F(iscsi_hba_cpl_desc, reserved1)
         F(iscsi_hba_cpl_desc, reserved2));
  STRUCT(iscsi_hba_task_aux,
         F(iscsi_hba_task_aux, cdb) F(iscsi_hba_task_aux, reserved) F(iscsi_hba_task_aux, sense)
         F(iscsi_hba_task_aux, reserved_tail));
  STRUCT(iscsi_hba_cmd_ring,
         F(iscsi_hba_cmd_ring, producer) F(iscsi_hba_cmd_ring, consumer) F(iscsi_hba_cmd_ring, entries));
  STRUCT(iscsi_hba_cpl_ring,
         F(iscsi_hba_cpl_ring, producer) F(iscsi_hba_cpl_ring, consumer) F(iscsi_hba_cpl_ring, entries));
  STRUCT(iscsi_hba_control,
         F(iscsi_hba_control, header) F(iscsi_hba_control, pad0) F(iscsi_hba_control, cmd) F(iscsi_hba_control, pad1)
         F(iscsi_hba_control, cpl) F(iscsi_hba_control, pad2) F(iscsi_hba_control, aux));
  STRUCT(iscsi_hba_handshake_in,
         F(iscsi_hba_handshake_in, magic) F(iscsi_hba_handshake_in, abi_version) F(iscsi_hba_handshake_in, features)
         F(iscsi_hba_handshake_in, reserved));
  STRUCT(iscsi_hba_handshake_out,
         F(iscsi_hba_handshake_out, error) F(iscsi_hba_handshake_out, abi_version)
         F(iscsi_hba_handshake_out, features) F(iscsi_hba_handshake_out, attach_epoch)
         F(iscsi_hba_handshake_out, held_tasks) F(iscsi_hba_handshake_out, reserved));
  STRUCT(iscsi_hba_map_region_in, F(iscsi_hba_map_region_in, region) F(iscsi_hba_map_region_in, reserved));
  STRUCT(iscsi_hba_map_region_out,
         F(iscsi_hba_map_region_out, error) F(iscsi_hba_map_region_out, reserved) F(iscsi_hba_map_region_out, size));
  STRUCT(iscsi_hba_info,
         F(iscsi_hba_info, error) F(iscsi_hba_info, abi_version) F(iscsi_hba_info, max_transfer)
         F(iscsi_hba_info, max_targets) F(iscsi_hba_info, max_luns) F(iscsi_hba_info, queue_depth)
         F(iscsi_hba_info, ring_entries) F(iscsi_hba_info, pool_slot_size) F(iscsi_hba_info, pool_size)
         F(iscsi_hba_info, hold_ms) F(iscsi_hba_info, reserved));
  STRUCT(iscsi_hba_create_target_in, F(iscsi_hba_create_target_in, key) F(iscsi_hba_create_target_in, reserved));
  STRUCT(iscsi_hba_create_target_out,
         F(iscsi_hba_create_target_out, error) F(iscsi_hba_create_target_out, target_id)
         F(iscsi_hba_create_target_out, existed) F(iscsi_hba_create_target_out, reserved));
  STRUCT(iscsi_hba_destroy_target_in,
         F(iscsi_hba_destroy_target_in, target_id) F(iscsi_hba_destroy_target_in, reserved));
  STRUCT(iscsi_hba_notice, F(iscsi_hba_notice, kinds) F(iscsi_hba_notice, cmd_producer));
  printf("}}\n");
  return 0;
}
