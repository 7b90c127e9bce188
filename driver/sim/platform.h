// The few calls that differ between Linux and macOS: anonymous shared memory, and socket flags macOS lacks.
// (Notices travel on the control socket, as the answer of ISCSI_HBA_SEL_ARM_NOTICES, so no eventfd is needed.)
#pragma once
#include <sys/socket.h>

#include <cstddef>

// Linux flags that macOS lacks: SIGPIPE is ignored process-wide (main), and neither program execs, so CLOEXEC is moot.
#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif
#ifndef MSG_CMSG_CLOEXEC
#define MSG_CMSG_CLOEXEC 0
#endif
#ifndef SOCK_CLOEXEC
#define SOCK_CLOEXEC 0
#endif

namespace sim {
// An anonymous shared-memory descriptor of `size` bytes (memfd_create on Linux, an unlinked POSIX shm object
// elsewhere); -1 and errno on failure.
int shm_create(size_t size);

}  // namespace sim
