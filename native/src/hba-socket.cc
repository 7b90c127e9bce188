// The simulator's side of the HBA connection (driver/README.md, "Simulator"): the calls of iscsi_hba_abi.h framed by
// driver/sim/wire.cc on a Unix stream socket, the regions' descriptors by SCM_RIGHTS and mapped MAP_SHARED, notices
// as answers of ARM_NOTICES. POSIX only, so it also serves the simulator on macOS. One reader thread owns the
// socket's receive side: it answers the call in progress, hands notices on and re-arms, and rings the doorbells the
// JS thread could not send itself without waiting.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <algorithm>
#include <mutex>
#include <optional>
#include <thread>

#include "../../driver/sim/wire.h"
#include "hba-backend.h"

namespace hba {
namespace {

Error Errno(const std::string& what, int e) { return Error{ErrnoName(e), what + ": " + strerror(e)}; }
Error Protocol(const std::string& what) { return Error{"ERR_HBA_PROTOCOL", what}; }
Error Refused(const char* call, uint32_t status) {
  const char* name = ErrorName(status);
  Error e{name != nullptr ? name : "ERR_HBA_PROTOCOL", std::string(call) + " refused by the HBA: " + (name != nullptr ? name : "unknown error " + std::to_string(status))};
  e.status = int32_t(status);
  return e;
}

class SocketBackend final : public Backend {
 public:
  SocketBackend(const Options& options, NoticeSink notice, LostSink lost)
      : options_(options), notice_(std::move(notice)), lost_(std::move(lost)) {}
  ~SocketBackend() override { Close(); }

  bool Open(Opened& opened, Error& error) override {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (options_.socket_path.size() >= sizeof address.sun_path) {
      error = Error{"ENAMETOOLONG", "HBA socket path too long: " + options_.socket_path};
      return false;
    }
    memcpy(address.sun_path, options_.socket_path.c_str(), options_.socket_path.size() + 1);
    sock_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock_ < 0) return (error = Errno("socket", errno), false);
    if (connect(sock_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
      return (error = Errno("connect " + options_.socket_path, errno), false);
    if (pipe(wake_) != 0) return (error = Errno("pipe", errno), false);
    for (int fd : wake_) fcntl(fd, F_SETFL, O_NONBLOCK), fcntl(fd, F_SETFD, FD_CLOEXEC);

    iscsi_hba_handshake_in hello{ISCSI_HBA_MAGIC, options_.abi_version, ISCSI_HBA_FEATURE_NONE, 0};
    if (!CallDirect(ISCSI_HBA_SEL_HANDSHAKE, &hello, sizeof hello, &opened.handshake, sizeof opened.handshake, error)) {
      error.peer_version = opened.handshake.abi_version;
      if (error.status == ISCSI_HBA_E_VERSION_MISMATCH) {
        error.message += ": this daemon speaks ABI " + Version(options_.abi_version) + ", the HBA " + Version(opened.handshake.abi_version);
      }
      return false;
    }
    if (!Map(ISCSI_HBA_REGION_CONTROL, ISCSI_HBA_CONTROL_SIZE, opened.control, error)) return false;
    if (!Map(ISCSI_HBA_REGION_POOL, ISCSI_HBA_POOL_SIZE, opened.pool, error)) return false;
    const auto* header = static_cast<const iscsi_hba_region_header*>(opened.control->address());
    if (header->magic != ISCSI_HBA_MAGIC || header->abi_version >> 16 != ISCSI_HBA_ABI_MAJOR)
      return (error = Protocol("the control region does not start with this ABI's header"), false);
    if (!CallDirect(ISCSI_HBA_SEL_HBA_INFO, nullptr, 0, &opened.info, sizeof opened.info, error)) return false;
    control_ = opened.control;
    pool_ = opened.pool;
    if (!Send(ISCSI_HBA_SEL_ARM_NOTICES, nullptr, 0)) return (error = Errno("ARM_NOTICES", errno), false);
    reader_ = std::thread([this] { ReadLoop(); });
    return true;
  }

  bool CreateTarget(const iscsi_hba_create_target_in& in, iscsi_hba_create_target_out& out, Error& error) override {
    return Call(ISCSI_HBA_SEL_CREATE_TARGET, &in, sizeof in, &out, sizeof out, error);
  }

  bool DestroyTarget(uint32_t target_id, Error& error) override {
    iscsi_hba_destroy_target_in in{target_id, 0};
    return Call(ISCSI_HBA_SEL_DESTROY_TARGET, &in, sizeof in, nullptr, 0, error);
  }

  void Doorbell() override {
    if (doorbell_.load()) return;  // one already waits to be rung by the reader: this batch rides on it
    // Rung here when nobody else is sending and the socket has room: one system call, no thread hop on the completion
    // path. Otherwise the reader rings it, so the JS thread never waits.
    {
      std::unique_lock lock(send_mu_, std::try_to_lock);
      if (lock.owns_lock() && sock_ >= 0) {
        sim::MsgHeader h{sim::kMsgMagic, ISCSI_HBA_SEL_COMPLETION_DOORBELL, 0, 0, 0};
        ssize_t n;
        do n = send(sock_, &h, sizeof h, MSG_DONTWAIT | MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n == ssize_t(sizeof h)) return;
        // A partly sent header must be finished before anything else goes on the stream (a few bytes: no real wait).
        if (n > 0) {
          (void)sim::send_all(sock_, reinterpret_cast<const char*>(&h) + n, sizeof h - size_t(n));
          return;
        }
        // EAGAIN (the socket is full) or a lost connection: the reader rings it, or sees the loss.
      }
    }
    if (doorbell_.exchange(true)) return;
    char b = 'd';
    (void)!write(wake_[1], &b, 1);  // non-blocking; a full pipe already wakes the reader
  }

  void Close() override {
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      closed_ = true;
      if (!lost_error_) lost_error_ = Error{"ERR_HBA_CLOSED", "the HBA connection was closed"};
    }
    cv_.notify_all();
    if (wake_[1] >= 0) (void)!write(wake_[1], "x", 1);
    if (sock_ >= 0) shutdown(sock_, SHUT_RDWR);  // also ends a read the reader is inside of
    if (reader_.joinable()) reader_.join();
    if (control_) control_->Detach();
    if (pool_) pool_->Detach();
    for (int* fd : {&sock_, &wake_[0], &wake_[1]}) {
      if (*fd >= 0) close(*fd);
      *fd = -1;
    }
  }

 private:
  static std::string Version(uint32_t v) { return std::to_string(v >> 16) + "." + std::to_string(v & 0xffff); }

  bool Send(uint16_t selector, const void* in, uint32_t length) {
    std::lock_guard lock(send_mu_);
    return sim::send_message(sock_, selector, 0, 0, in, length);
  }

  // Before the reader thread exists (Open): send, then read the reply here, bounded by the call timeout.
  bool CallDirect(uint16_t selector, const void* in, uint32_t in_length, void* out, uint32_t out_length, Error& error) {
    if (!Send(selector, in, in_length)) return (error = Errno("send", errno), false);
    pollfd p{sock_, POLLIN, 0};
    int n;
    do n = poll(&p, 1, options_.call_timeout_ms > 0 ? int(options_.call_timeout_ms) : -1);
    while (n < 0 && errno == EINTR);
    if (n == 0) return (error = Error{"ETIMEDOUT", "the HBA did not answer within " + std::to_string(options_.call_timeout_ms) + " ms"}, false);
    sim::Message m;
    std::string why;
    if (!sim::recv_message(sock_, m, why)) return (error = Error{"ECONNRESET", "the HBA closed the connection" + (why.empty() ? "" : ": " + why)}, false);
    return Answer(selector, m, out, out_length, error);
  }

  // A reply to `selector`: its status, then its out struct (copied up to out_length). Keeps a passed descriptor.
  bool Answer(uint16_t selector, sim::Message& m, void* out, uint32_t out_length, Error& error) {
    if (m.header.selector != selector || (m.header.flags & sim::kReply) == 0) {
      if (m.fd >= 0) close(m.fd);
      return (error = Protocol("expected the reply to selector " + std::to_string(selector) + ", got " + std::to_string(m.header.selector)), false);
    }
    if (out != nullptr) memcpy(out, m.payload, std::min(out_length, m.header.length));
    if (m.header.status != ISCSI_HBA_OK) {
      if (m.fd >= 0) close(m.fd);
      return (error = Refused(SelectorName(selector), uint32_t(m.header.status)), false);
    }
    return true;
  }

  bool Map(uint32_t region, uint64_t expected, std::shared_ptr<Region>& mapped, Error& error) {
    iscsi_hba_map_region_in in{region, 0};
    iscsi_hba_map_region_out out{};
    if (!Send(ISCSI_HBA_SEL_MAP_REGION, &in, sizeof in)) return (error = Errno("send", errno), false);
    pollfd p{sock_, POLLIN, 0};
    int n;
    do n = poll(&p, 1, options_.call_timeout_ms > 0 ? int(options_.call_timeout_ms) : -1);
    while (n < 0 && errno == EINTR);
    if (n == 0) return (error = Error{"ETIMEDOUT", "MAP_REGION unanswered"}, false);
    sim::Message m;
    std::string why;
    if (!sim::recv_message(sock_, m, why)) return (error = Error{"ECONNRESET", "the HBA closed the connection" + (why.empty() ? "" : ": " + why)}, false);
    if (!Answer(ISCSI_HBA_SEL_MAP_REGION, m, &out, sizeof out, error)) return false;
    if (m.fd < 0) return (error = Protocol("MAP_REGION answered without a descriptor"), false);
    if (out.size != expected) {
      close(m.fd);
      return (error = Protocol("region " + std::to_string(region) + " is " + std::to_string(out.size) + " bytes, the ABI says " + std::to_string(expected)), false);
    }
    void* p2 = mmap(nullptr, size_t(out.size), PROT_READ | PROT_WRITE, MAP_SHARED, m.fd, 0);
    const int e = errno;
    close(m.fd);  // the mapping keeps the memory; the descriptor is not needed past mmap
    if (p2 == MAP_FAILED) return (error = Errno("mmap", e), false);
    mapped = std::make_shared<Region>(p2, size_t(out.size), nullptr);
    return true;
  }

  // After Open: one call at a time; the reader thread hands its reply over.
  bool Call(uint16_t selector, const void* in, uint32_t in_length, void* out, uint32_t out_length, Error& error) {
    std::lock_guard serial(call_mu_);
    std::unique_lock lock(mu_);
    if (lost_error_) return (error = *lost_error_, false);
    waiting_for_ = selector;
    reply_ready_ = false;
    lock.unlock();
    if (!Send(selector, in, in_length)) {
      lock.lock();
      waiting_for_ = -1;
      return (error = Errno("send", errno), false);
    }
    lock.lock();
    auto done = [&] { return reply_ready_ || lost_error_.has_value(); };
    if (options_.call_timeout_ms > 0) {
      if (!cv_.wait_for(lock, std::chrono::milliseconds(options_.call_timeout_ms), done)) {
        waiting_for_ = -1;
        lock.unlock();
        // A wedged HBA: a late reply could answer the next call, so the connection is given up.
        shutdown(sock_, SHUT_RDWR);
        return (error = Error{"ETIMEDOUT", std::string(SelectorName(selector)) + " unanswered within " + std::to_string(options_.call_timeout_ms) + " ms"}, false);
      }
    } else {
      cv_.wait(lock, done);
    }
    waiting_for_ = -1;
    if (!reply_ready_) return (error = *lost_error_, false);
    return Answer(selector, reply_, out, out_length, error);
  }

  void ReadLoop() {
    pollfd fds[2] = {{sock_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    std::string why = "";
    for (;;) {
      {
        std::lock_guard lock(mu_);
        if (closed_) return;
      }
      int n = poll(fds, 2, -1);
      if (n < 0 && errno == EINTR) continue;
      if (fds[1].revents != 0) {
        char drain[64];
        while (read(wake_[0], drain, sizeof drain) > 0) {
        }
        if (doorbell_.exchange(false) && !Send(ISCSI_HBA_SEL_COMPLETION_DOORBELL, nullptr, 0)) break;
      }
      if (fds[0].revents == 0) continue;
      sim::Message m;
      if (!sim::recv_message(sock_, m, why)) break;
      if (m.header.selector == ISCSI_HBA_SEL_ARM_NOTICES && (m.header.flags & sim::kReply) != 0) {
        iscsi_hba_notice notice{};
        memcpy(&notice, m.payload, std::min<size_t>(sizeof notice, m.header.length));
        if (m.header.status != ISCSI_HBA_OK) {
          why = std::string("ARM_NOTICES refused: ") + (ErrorName(uint32_t(m.header.status)) ?: "?");
          break;
        }
        // Re-arm first: bits that arrive while JS works gather in the HBA and come back as one more notice.
        if (!Send(ISCSI_HBA_SEL_ARM_NOTICES, nullptr, 0)) break;
        notice_(notice.kinds, notice.cmd_producer);
        continue;
      }
      std::lock_guard lock(mu_);
      if (m.fd >= 0) close(m.fd);
      if (waiting_for_ == int(m.header.selector) && !reply_ready_) {
        reply_ = m;
        reply_.fd = -1;
        reply_ready_ = true;
        cv_.notify_all();
      }
      // Anything else is a reply nobody waits for (a call that timed out): dropped.
    }
    Error error{"ECONNRESET", "the HBA closed the connection" + (why.empty() ? std::string() : ": " + why)};
    bool report;
    {
      std::lock_guard lock(mu_);
      report = !closed_;
      if (!lost_error_) lost_error_ = error;
    }
    cv_.notify_all();
    if (report) lost_(error);
  }

  static const char* SelectorName(uint16_t s) {
    switch (s) {
      case ISCSI_HBA_SEL_HANDSHAKE: return "HANDSHAKE";
      case ISCSI_HBA_SEL_MAP_REGION: return "MAP_REGION";
      case ISCSI_HBA_SEL_HBA_INFO: return "HBA_INFO";
      case ISCSI_HBA_SEL_CREATE_TARGET: return "CREATE_TARGET";
      case ISCSI_HBA_SEL_DESTROY_TARGET: return "DESTROY_TARGET";
      default: return "call";
    }
  }

  Options options_;
  NoticeSink notice_;
  LostSink lost_;
  int sock_ = -1;
  int wake_[2] = {-1, -1};
  std::thread reader_;
  std::atomic<bool> doorbell_{false};
  std::mutex send_mu_;  // the reader (doorbells, re-arms) and the caller's worker both send
  std::mutex call_mu_;  // one call in flight: replies carry no call id
  std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ = false;
  std::optional<Error> lost_error_;
  int waiting_for_ = -1;
  bool reply_ready_ = false;
  sim::Message reply_;
  std::shared_ptr<Region> control_, pool_;
};

}  // namespace

std::unique_ptr<Backend> NewSocketBackend(const Options& options, NoticeSink notice, LostSink lost) {
  return std::make_unique<SocketBackend>(options, std::move(notice), std::move(lost));
}

}  // namespace hba
