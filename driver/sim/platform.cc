#include "platform.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>


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

}  // namespace sim
