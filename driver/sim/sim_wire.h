// How the simulator's Unix socket carries the user-client calls of driver/include/iscsi_hba_abi.h: a 16-byte header,
// then the call's in struct (or, in a reply, its out struct). Replies carry the call's selector with kReply set and
// the iscsi_hba_error in `status`; ISCSI_HBA_SEL_MAP_REGION's reply carries the region's memfd as SCM_RIGHTS
// (IOConnectMapMemory64's stand-in); ISCSI_HBA_SEL_ARM_NOTICES is answered only when there is something to say
// (IOConnectCallAsyncMethod's stand-in), with an iscsi_hba_notice.
#pragma once
#include <cstdint>

#include "../include/iscsi_hba_abi.h"

namespace sim {

inline constexpr uint32_t kMsgMagic = 0x43414248;  // "HBAC" read little-endian: framing, not the ABI's magic
inline constexpr uint16_t kReply = 1;
inline constexpr uint32_t kMsgMaxPayload = 4096;

struct MsgHeader {
  uint32_t magic;
  uint16_t selector;  // enum iscsi_hba_selector
  uint16_t flags;     // kReply
  int32_t status;     // enum iscsi_hba_error, in replies
  uint32_t length;    // payload bytes that follow
};
static_assert(sizeof(MsgHeader) == 16);

}  // namespace sim
