// The user-client calls through dispatch_call (issue 11 item 1: "the calls: version handshake (a mismatched peer is
// refused with a clear error), map regions, HBA info, create and destroy a target, completion doorbell, abort and
// reset notices"): selectors decoded, struct sizes checked, errors as enum iscsi_hba_error.
#include "dispatch.h"
#include "rig.h"

using namespace rig;

TEST("dispatch: handshake by selector; a mismatched peer gets ISCSI_HBA_E_VERSION_MISMATCH and our version") {
  Rig r;
  iscsi_hba_handshake_in in{ISCSI_HBA_MAGIC, 2u << 16, 0, 0};
  uint8_t out[64] = {};
  CallResult c = dispatch_call(*r.core, ISCSI_HBA_SEL_HANDSHAKE, &in, sizeof in, out, sizeof out);
  CHECK_EQ(c.error, (uint32_t)ISCSI_HBA_E_VERSION_MISMATCH);
  CHECK_EQ(c.out_length, sizeof(iscsi_hba_handshake_out));
  iscsi_hba_handshake_out o;
  std::memcpy(&o, out, sizeof o);
  CHECK_EQ(o.abi_version, ISCSI_HBA_ABI_VERSION);
  // Unaligned input works; a short struct is refused before anything runs.
  uint8_t raw[sizeof in + 1];
  in.abi_version = ISCSI_HBA_ABI_VERSION;
  std::memcpy(raw + 1, &in, sizeof in);
  CHECK_EQ(dispatch_call(*r.core, ISCSI_HBA_SEL_HANDSHAKE, raw + 1, sizeof in - 1, out, sizeof out).error,
           (uint32_t)ISCSI_HBA_E_BAD_ARGUMENT);
  CHECK(!r.core->daemon_attached());
  CHECK_EQ(dispatch_call(*r.core, ISCSI_HBA_SEL_HANDSHAKE, raw + 1, sizeof in, out, sizeof out).error,
           (uint32_t)ISCSI_HBA_OK);
  CHECK(r.core->daemon_attached());
}

TEST("dispatch: map region, HBA info, create/destroy target, doorbell, arm notices, unknown selector") {
  Rig r;
  uint8_t out[256] = {};
  CHECK_EQ(dispatch_call(*r.core, ISCSI_HBA_SEL_COMPLETION_DOORBELL, nullptr, 0, nullptr, 0).error,
           (uint32_t)ISCSI_HBA_E_NOT_ATTACHED);
  CHECK_EQ(dispatch_call(*r.core, ISCSI_HBA_SEL_ARM_NOTICES, nullptr, 0, nullptr, 0).error,
           (uint32_t)ISCSI_HBA_E_NOT_ATTACHED);
  iscsi_hba_map_region_in mr{ISCSI_HBA_REGION_POOL, 0};
  CallResult c = dispatch_call(*r.core, ISCSI_HBA_SEL_MAP_REGION, &mr, sizeof mr, out, sizeof out);
  CHECK_EQ(c.error, (uint32_t)ISCSI_HBA_OK);
  iscsi_hba_map_region_out mo;
  std::memcpy(&mo, out, sizeof mo);
  CHECK_EQ(mo.size, (uint64_t)ISCSI_HBA_POOL_SIZE);
  c = dispatch_call(*r.core, ISCSI_HBA_SEL_HBA_INFO, nullptr, 0, out, sizeof out);
  CHECK_EQ(c.out_length, sizeof(iscsi_hba_info));
  CHECK_EQ(dispatch_call(*r.core, ISCSI_HBA_SEL_HBA_INFO, nullptr, 0, out, 8).error, (uint32_t)ISCSI_HBA_E_BAD_ARGUMENT);
  CHECK_EQ(r.handshake(), (uint32_t)ISCSI_HBA_OK);
  iscsi_hba_create_target_in ct{};
  std::memcpy(ct.key, "iqn.x,1", 7);
  c = dispatch_call(*r.core, ISCSI_HBA_SEL_CREATE_TARGET, &ct, sizeof ct, out, sizeof out);
  CHECK_EQ(c.error, (uint32_t)ISCSI_HBA_OK);
  iscsi_hba_create_target_out co;
  std::memcpy(&co, out, sizeof co);
  iscsi_hba_destroy_target_in dt{co.target_id, 0};
  CHECK_EQ(dispatch_call(*r.core, ISCSI_HBA_SEL_DESTROY_TARGET, &dt, sizeof dt, nullptr, 0).error, (uint32_t)ISCSI_HBA_OK);
  CHECK_EQ(dispatch_call(*r.core, ISCSI_HBA_SEL_DESTROY_TARGET, &dt, sizeof dt, nullptr, 0).error,
           (uint32_t)ISCSI_HBA_E_UNKNOWN_TARGET);
  CHECK_EQ(dispatch_call(*r.core, ISCSI_HBA_SEL_COMPLETION_DOORBELL, nullptr, 0, nullptr, 0).error, (uint32_t)ISCSI_HBA_OK);
  c = dispatch_call(*r.core, ISCSI_HBA_SEL_ARM_NOTICES, nullptr, 0, nullptr, 0);
  CHECK(c.arm_notices);
  CHECK_EQ(dispatch_call(*r.core, ISCSI_HBA_SEL_COUNT, nullptr, 0, out, sizeof out).error,
           (uint32_t)ISCSI_HBA_E_UNKNOWN_SELECTOR);
  CHECK_EQ(dispatch_call(*r.core, 0xFFFFFFFFu, nullptr, 0, out, sizeof out).error, (uint32_t)ISCSI_HBA_E_UNKNOWN_SELECTOR);
}
