// The few calls that differ between Linux and macOS: anonymous shared memory and a wake-up descriptor.
#pragma once
#include <sys/socket.h>

#include <cstddef>

// Linux flags that macOS lacks: there SIGPIPE is ignored process-wide and descriptors are closed by exec anyway here.
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

// A descriptor that polls readable after wake(): eventfd on Linux, a pipe elsewhere.
class WakeFd {
 public:
  WakeFd();
  ~WakeFd();
  WakeFd(const WakeFd&) = delete;
  WakeFd& operator=(const WakeFd&) = delete;
  int fd() const { return read_fd_; }
  void wake();
  void drain();
 private:
  int read_fd_ = -1;
  int write_fd_ = -1;
};
}  // namespace sim
