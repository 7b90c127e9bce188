#include "platform.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>

#if defined(__linux__)
#include <sys/eventfd.h>
#endif

namespace sim {

int shm_create(size_t size) {
#if defined(__linux__)
  int fd = memfd_create("iscsi-hba-sim", MFD_CLOEXEC);
#else
  // POSIX shm: create under a unique name, then unlink at once so only the descriptor keeps it alive.
  char name[64];
  snprintf(name, sizeof name, "/iscsi-hba-sim.%d", static_cast<int>(getpid()));
  int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd >= 0) shm_unlink(name);
#endif
  if (fd < 0) return -1;
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

WakeFd::WakeFd() {
#if defined(__linux__)
  read_fd_ = write_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
#else
  int p[2];
  if (pipe(p) == 0) {
    read_fd_ = p[0];
    write_fd_ = p[1];
    fcntl(read_fd_, F_SETFL, O_NONBLOCK);
    fcntl(write_fd_, F_SETFL, O_NONBLOCK);
  }
#endif
}

WakeFd::~WakeFd() {
  if (read_fd_ >= 0) close(read_fd_);
  if (write_fd_ >= 0 && write_fd_ != read_fd_) close(write_fd_);
}

void WakeFd::wake() {
#if defined(__linux__)
  uint64_t one = 1;
  (void)!write(write_fd_, &one, sizeof one);
#else
  char one = 1;
  (void)!write(write_fd_, &one, 1);  // a full pipe already means "awake"
#endif
}

void WakeFd::drain() {
  char buf[64];
  while (read(read_fd_, buf, sizeof buf) > 0) {
  }
}

}  // namespace sim
