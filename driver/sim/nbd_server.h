// One LUN served as an NBD export (fixed newstyle handshake, simple replies) on a Unix socket: every read, write,
// flush and trim becomes a READ (16), WRITE (16), SYNCHRONIZE CACHE (16) or UNMAP task through the HBA's rings.
// Protocol: the NBD protocol document (NetworkBlockDevice/nbd doc/proto.md), section numbers cited as "proto.md".
#pragma once
#include <atomic>
#include <list>
#include <mutex>
#include <string>
#include <thread>

#include "hba.h"
#include "probe.h"

namespace sim {

class NbdExport {
 public:
  NbdExport(Hba& hba, uint16_t target, LunInfo lun, std::string socket_path);
  ~NbdExport();
  bool start(std::string& error);
  const std::string& path() const { return path_; }
  uint64_t size() const { return lun_.blocks * lun_.block_size; }

 private:
  // One thread per client connection. The export's end (its target destroyed) shuts every connection down and joins
  // its thread: a client must not outlive the export and reach the target's next incarnation (same ID, same key).
  struct Worker {
    std::thread thread;
    int fd;
    bool finished = false;
  };
  void accept_loop();
  void serve(int fd);
  Hba& hba_;
  uint16_t target_;
  LunInfo lun_;
  std::string path_;
  int listen_fd_ = -1;
  std::thread acceptor_;
  std::atomic<bool> stopping_{false};
  std::mutex workers_mu_;
  std::list<Worker> workers_;
};

}  // namespace sim
