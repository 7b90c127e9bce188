// The HBA connection behind the addon's one JS API (hba.cc): the simulator's Unix socket (hba-socket.cc, POSIX) or
// the dext's user client (hba-iokit.cc, macOS only). Every call here but Doorbell and Close may block: hba.cc runs them
// in AsyncWorkers, never on the JS thread. Notices arrive on the backend's own thread (socket reader, CFRunLoop).
#pragma once
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "../../driver/include/iscsi_hba_abi.h"

namespace hba {

// A failure: `code` is the header's iscsi_hba_error name (ISCSI_HBA_E_…) when the HBA answered with one, else an
// errno name (ENOENT, ECONNREFUSED, ECONNRESET, ETIMEDOUT, …) or ERR_HBA_PROTOCOL / ERR_HBA_CLOSED.
struct Error {
  std::string code;
  std::string message;
  int32_t status = 0;        // the iscsi_hba_error number, when the HBA answered with one
  uint32_t peer_version = 0; // the driver's ABI version (a refused handshake says what it met)
};

const char* ErrorName(uint32_t status);  // "ISCSI_HBA_E_…", or nullptr for a number the ABI lacks
const char* ErrnoName(int error);        // "ENOENT", … ("EIO" for the rest)

// One mapped region. JS's external ArrayBuffers share ownership (their finalizers drop it), so the pages stay mapped
// while JS can reach them; Detach (at close) puts private zero pages in their place, so a buffer kept past close can
// no longer touch the HBA's memory (the next daemon's rings), and never faults.
class Region {
 public:
  Region(void* address, size_t size, std::function<void()> unmap_from_hba)
      : address_(address), size_(size), unmap_from_hba_(std::move(unmap_from_hba)) {}
  ~Region() {
    if (address_ != nullptr) munmap(address_, size_);
  }
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;
  void* address() const { return address_; }
  size_t size() const { return size_; }
  void Detach() {
    if (detached_) return;
    detached_ = true;
    if (unmap_from_hba_) unmap_from_hba_();
    // MAP_FIXED over the shared pages replaces them in one step (Linux); after an IOKit unmap it refills the hole.
    void* p = mmap(address_, size_, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANON, -1, 0);
    if (p == MAP_FAILED) abort();  // a hole under a live ArrayBuffer would be a crash later; fail here, loudly
  }

 private:
  void* address_;
  size_t size_;
  std::function<void()> unmap_from_hba_;
  bool detached_ = false;
};

struct Options {
  std::string socket_path;             // the simulator; empty: the dext (macOS)
  uint32_t abi_version = ISCSI_HBA_ABI_VERSION;  // what the handshake claims (tests claim another major)
  uint32_t call_timeout_ms = 0;        // a call unanswered this long: the HBA is wedged, the connection is dropped
};

struct Opened {
  iscsi_hba_handshake_out handshake{};
  iscsi_hba_info info{};
  std::shared_ptr<Region> control;
  std::shared_ptr<Region> pool;
};

// What the notice thread reports: a batch of notice bits, or the end of the connection (error.code set).
using NoticeSink = std::function<void(uint32_t kinds, uint32_t cmd_producer)>;
using LostSink = std::function<void(const Error& error)>;

class Backend {
 public:
  virtual ~Backend() = default;
  // Blocking: connect, HANDSHAKE, MAP_REGION of both regions, HBA_INFO; then the notice thread starts and arms.
  virtual bool Open(Opened& opened, Error& error) = 0;
  // Blocking, one call at a time.
  virtual bool CreateTarget(const iscsi_hba_create_target_in& in, iscsi_hba_create_target_out& out, Error& error) = 0;
  virtual bool DestroyTarget(uint32_t target_id, Error& error) = 0;
  // Never blocks the caller: completions were published; coalesced with any doorbell not yet rung.
  virtual void Doorbell() = 0;
  // Stops the notice thread and joins it, fails a call in progress, detaches the regions, closes the connection.
  virtual void Close() = 0;
};

std::unique_ptr<Backend> NewSocketBackend(const Options& options, NoticeSink notice, LostSink lost);
#ifdef __APPLE__
std::unique_ptr<Backend> NewIoKitBackend(const Options& options, NoticeSink notice, LostSink lost);
#endif

}  // namespace hba
