#include "nbd_server.h"
#include "platform.h"
#include "wire.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace sim {

namespace {

// proto.md "Handshake": magics and flags.
constexpr uint64_t kNbdMagic = 0x4e42444d41474943ull;  // "NBDMAGIC"
constexpr uint64_t kIHaveOpt = 0x49484156454f5054ull;  // "IHAVEOPT"
constexpr uint64_t kOptReplyMagic = 0x0003e889045565a9ull;
constexpr uint16_t kFlagFixedNewstyle = 1 << 0, kFlagNoZeroes = 1 << 1;
constexpr uint32_t kOptExportName = 1, kOptAbort = 2, kOptList = 3, kOptInfo = 6, kOptGo = 7;
constexpr uint32_t kRepAck = 1, kRepServer = 2, kRepInfo = 3;
constexpr uint32_t kRepErrUnsup = 0x80000001u, kRepErrInvalid = 0x80000003u;
constexpr uint16_t kInfoExport = 0, kInfoBlockSize = 3;
// proto.md "Transmission flags".
constexpr uint16_t kHasFlags = 1 << 0, kReadOnly = 1 << 1, kSendFlush = 1 << 2, kSendTrim = 1 << 5;
// proto.md "Request message" / "Simple reply message".
constexpr uint32_t kRequestMagic = 0x25609513u, kSimpleReplyMagic = 0x67446698u;
constexpr uint16_t kCmdRead = 0, kCmdWrite = 1, kCmdDisc = 2, kCmdFlush = 3, kCmdTrim = 4;
constexpr uint32_t kEperm = 1, kEio = 5, kEinval = 22, kEnospc = 28;
constexpr uint32_t kMaxOptionLength = 4096;

void put16(uint8_t* p, uint16_t v) { p[0] = uint8_t(v >> 8); p[1] = uint8_t(v); }
void put32(uint8_t* p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = uint8_t(v >> (24 - 8 * i)); }
void put64(uint8_t* p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = uint8_t(v >> (56 - 8 * i)); }
uint16_t get16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
uint32_t get32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
uint64_t get64(const uint8_t* p) { return uint64_t(get32(p)) << 32 | get32(p + 4); }

bool read_all(int fd, void* buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = read(fd, static_cast<char*>(buf) + got, len - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got += size_t(n);
  }
  return true;
}

// The transmission phase's input. libnbd pipelines a whole queue depth of requests: one read() takes as many as the
// socket holds, rather than one read per 28-byte header. A payload larger than the buffer is read straight into place.
class RequestReader {
 public:
  explicit RequestReader(int fd) : fd_(fd), buf_(64 * 1024) {}
  bool take(void* dst, size_t len) {
    auto* out = static_cast<uint8_t*>(dst);
    while (len > 0) {
      if (start_ == end_) {
        if (len >= buf_.size()) return read_all(fd_, out, len);
        ssize_t n;
        do n = read(fd_, buf_.data(), buf_.size());
        while (n < 0 && errno == EINTR);
        if (n <= 0) return false;
        start_ = 0;
        end_ = size_t(n);
      }
      size_t k = std::min(len, end_ - start_);
      memcpy(out, buf_.data() + start_, k);
      start_ += k;
      out += k;
      len -= k;
    }
    return true;
  }

 private:
  int fd_;
  std::vector<uint8_t> buf_;
  size_t start_ = 0, end_ = 0;
};

// Header and data in one sendmsg (one system call per reply where the socket has room), then whatever is left.
bool write_iov(int fd, iovec* iov, int count) {
  while (count > 0) {
    msghdr m{};
    m.msg_iov = iov;
    m.msg_iovlen = size_t(count);
    ssize_t n = sendmsg(fd, &m, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    size_t done = size_t(n);
    while (count > 0 && done >= iov->iov_len) {
      done -= iov->iov_len;
      iov++;
      count--;
    }
    if (count > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + done;
      iov->iov_len -= done;
    }
  }
  return true;
}

// One connection's replies. A reply goes out at once, without waiting, when nothing is queued before it and the
// socket has room. What would wait (a 1 MiB read is larger than a Unix socket's buffer; a client slow to read) goes
// to the connection's writer thread, so the thread that answers the HBA's completions (it also serves the daemon's
// doorbells and re-arms) never waits on the client.
// Lifetime: the fd is its worker's (NbdExport::accept_loop closes it after serve() returns); serve() starts the writer
// and stops (joins) it before returning, on its own thread, once nothing counted is in flight — so no reply touches
// the fd after serve(), whichever thread drops the last reference to the Conn.
struct Conn {
  struct Out {
    uint8_t header[16];
    size_t header_at = 0;       // bytes of the header already sent
    std::vector<uint8_t> data;  // the payload, owned
    size_t data_at = 0;
    bool counted = false;       // an HBA task's answer: in_flight ends once it is sent
  };
  int fd;
  std::mutex mu;  // everything below
  std::condition_variable idle, wake;
  unsigned in_flight = 0;
  std::deque<Out> queue;  // the front is being sent by the writer: the rest wait behind it, in order
  bool broken = false;    // a send failed: the client is gone, replies are dropped
  bool stopping = false;
  std::thread writer;
  explicit Conn(int f) : fd(f) {}
  // Throws std::system_error when no thread can be had.
  void start() { writer = std::thread([this] { write_loop(); }); }
  // The writer sends what is queued (or finds the socket shut down) and ends.
  void stop() {
    {
      std::lock_guard lock(mu);
      stopping = true;
    }
    wake.notify_all();
    if (writer.joinable()) writer.join();
  }
  // `owner`, when given, holds `data`: a queued reply takes the vector instead of copying the payload.
  void reply(uint64_t cookie, uint32_t error, const uint8_t* data = nullptr, uint32_t len = 0,
             std::vector<uint8_t>* owner = nullptr, bool counted = false) {
    uint8_t h[16];
    put32(h, kSimpleReplyMagic);
    put32(h + 4, error);
    put64(h + 8, cookie);
    if (error != 0 || data == nullptr) len = 0;
    std::lock_guard lock(mu);
    size_t sent = 0;
    if (broken) return end_locked(counted);
    if (queue.empty()) {
      iovec iov[2] = {{h, sizeof h}, {const_cast<uint8_t*>(data), len}};
      msghdr m{};
      m.msg_iov = iov;
      m.msg_iovlen = len > 0 ? 2 : 1;
      ssize_t n;
      do n = sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
      while (n < 0 && errno == EINTR);
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        broken = true;
        return end_locked(counted);
      }
      sent = n < 0 ? 0 : size_t(n);
      if (sent == sizeof h + len) return end_locked(counted);
    }
    Out& o = queue.emplace_back();
    memcpy(o.header, h, sizeof h);
    o.header_at = std::min(sent, sizeof h);
    o.data_at = sent > sizeof h ? sent - sizeof h : 0;
    if (len > 0 && owner != nullptr && owner->data() == data && owner->size() >= len) {
      o.data.swap(*owner);
      o.data.resize(len);
    } else if (len > 0) {
      o.data.assign(data, data + len);
    }
    o.counted = counted;
    wake.notify_one();
  }
  void write_loop() {
    std::unique_lock lock(mu);
    for (;;) {
      wake.wait(lock, [&] { return stopping || !queue.empty(); });
      if (queue.empty()) return;  // stopping, and everything sent
      Out& o = queue.front();     // a deque's elements stay put while others are added behind
      lock.unlock();
      iovec iov[2] = {{o.header + o.header_at, sizeof o.header - o.header_at},
                      {o.data.data() + o.data_at, o.data.size() - o.data_at}};
      bool ok = write_iov(fd, iov, o.data.size() > o.data_at ? 2 : 1);
      lock.lock();
      bool counted = o.counted;
      queue.pop_front();
      end_locked(counted);
      if (!ok) {
        broken = true;
        for (auto& rest : queue) end_locked(rest.counted);
        queue.clear();
      }
    }
  }
  void begin() { std::lock_guard lock(mu); in_flight++; }
  void end_locked(bool counted) {
    if (counted && --in_flight == 0) idle.notify_all();
  }
  void wait_idle() { std::unique_lock lock(mu); idle.wait(lock, [&] { return in_flight == 0; }); }
};

bool option_reply(int fd, uint32_t option, uint32_t type, const uint8_t* data = nullptr, uint32_t len = 0) {
  uint8_t h[20];
  put64(h, kOptReplyMagic);
  put32(h + 8, option);
  put32(h + 12, type);
  put32(h + 16, len);
  return send_all(fd, h, sizeof h) && (len == 0 || send_all(fd, data, len));
}

// The sense key of a CHECK CONDITION, or -1 when there is none.
int sense_key(const TaskResult& r) {
  if (r.failed || r.response != ISCSI_HBA_RESPONSE_COMPLETE || r.status != 0x02 || r.sense_len < 3) return -1;
  return (r.sense[0] & 0x7f) >= 0x72 ? r.sense[1] & 0x0f : r.sense[2] & 0x0f;  // SPC-4 4.5.2 / 4.5.3
}

// SCSI status -> NBD error (proto.md "Error values"): DATA PROTECT -> EPERM, ILLEGAL REQUEST -> EINVAL.
uint32_t nbd_error(const TaskResult& r) {
  if (r.failed || r.response != ISCSI_HBA_RESPONSE_COMPLETE) return kEio;
  if (r.status == 0) return 0;
  int key = sense_key(r);
  if (key == 0x07) return kEperm;
  if (key == 0x05) return kEinval;
  if (key == 0x0d) return kEnospc;
  return kEio;
}

// SAM-5 5.14: a UNIT ATTENTION reports a condition once (a reset, an I_T nexus loss — every session reinstatement is
// one, RFC 7143 6.3.5 — a changed parameter) and the command was not run. A SCSI stack re-issues the command (the
// bridge leaves that to it), a few times since conditions queue; this stand-in for one does the same.
constexpr int kUnitAttentionRetries = 4;

// `reply` answers the task, after up to `left` re-issues on UNIT ATTENTION. The HBA calls done() after releasing its
// lock (Hba::answer), so the re-issue is submitted from here, on the thread that answered.
std::function<void(const TaskResult&)> retrying(Hba& hba, int left, std::function<void(const TaskResult&)> reply) {
  return [&hba, left, reply = std::move(reply)](const TaskResult& r) {
    if (left > 0 && sense_key(r) == 0x06 && r.task != nullptr) {
      Task again = std::move(*r.task);
      again.done = retrying(hba, left - 1, reply);
      hba.submit(std::move(again));
      return;
    }
    reply(r);
  };
}

}  // namespace

NbdExport::NbdExport(Hba& hba, uint16_t target, LunInfo lun, std::string socket_path)
    : hba_(hba), target_(target), lun_(std::move(lun)), path_(std::move(socket_path)) {}

NbdExport::~NbdExport() {
  stopping_ = true;
  if (listen_fd_ >= 0) shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
  unlink(path_.c_str());
  // Every client is cut off: its reads end, its thread waits for its tasks (the destroyed target fails them) and ends.
  std::list<Worker> workers;
  {
    std::lock_guard lock(workers_mu_);
    for (auto& w : workers_)
      if (!w.finished) shutdown(w.fd, SHUT_RDWR);
    workers.swap(workers_);
  }
  for (auto& w : workers)
    if (w.thread.joinable()) w.thread.join();
}

bool NbdExport::start(std::string& error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof addr.sun_path) {
    error = "socket path too long: " + path_;
    return false;
  }
  memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  unlink(path_.c_str());
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(listen_fd_, 16) != 0) {
    error = path_ + ": " + strerror(errno);
    return false;
  }
  acceptor_ = std::thread([this] { accept_loop(); });
  return true;
}

void NbdExport::accept_loop() {
  for (;;) {
    int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    std::lock_guard lock(workers_mu_);
    // Threads of connections that ended are joined here (they have returned or are about to), not left to pile up.
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (!it->finished) {
        ++it;
        continue;
      }
      it->thread.join();
      it = workers_.erase(it);
    }
    if (stopping_) {
      close(fd);
      return;
    }
    auto& worker = workers_.emplace_back(Worker{{}, fd});
    try {
      worker.thread = std::thread([this, fd, &worker] {
        serve(fd);  // returns once nothing is in flight: no reply is written after it
        {
          std::lock_guard done(workers_mu_);
          worker.finished = true;  // before the close: the destructor never shuts down an fd number reused meanwhile
        }
        close(fd);
      });
    } catch (const std::system_error&) {
      // Uncaught here it would end the simulator and every disk with it: this one client is turned away instead.
      log_line("nbd: no thread for a client; connection closed");
      workers_.pop_back();
      close(fd);
    }
  }
}

void NbdExport::serve(int fd) {
  const uint32_t bs = lun_.block_size;
  const uint64_t size = lun_.blocks * bs;
  const uint16_t tflags = kHasFlags | kSendFlush | (lun_.unmap ? kSendTrim : 0) | (lun_.write_protected ? kReadOnly : 0);
  // proto.md "Fixed newstyle negotiation".
  uint8_t hello[18];
  put64(hello, kNbdMagic);
  put64(hello + 8, kIHaveOpt);
  put16(hello + 16, kFlagFixedNewstyle | kFlagNoZeroes);
  uint8_t cflags[4];
  if (!send_all(fd, hello, sizeof hello) || !read_all(fd, cflags, 4)) return;
  if ((get32(cflags) & ~uint32_t(kFlagFixedNewstyle | kFlagNoZeroes)) != 0) {
    log_line("nbd: client flags " + std::to_string(get32(cflags)) + " unknown; closing");
    return;
  }
  bool no_zeroes = (get32(cflags) & kFlagNoZeroes) != 0;
  bool transmission = false;
  while (!transmission) {
    uint8_t oh[16];
    if (!read_all(fd, oh, sizeof oh)) return;
    uint32_t opt = get32(oh + 8), len = get32(oh + 12);
    if (get64(oh) != kIHaveOpt || len > kMaxOptionLength) {
      log_line("nbd: bad option header; closing");
      return;
    }
    std::vector<uint8_t> data(len);
    if (len && !read_all(fd, data.data(), len)) return;
    if (opt == kOptExportName) {
      uint8_t r[10 + 124]{};
      put64(r, size);
      put16(r + 8, tflags);
      if (!send_all(fd, r, no_zeroes ? 10 : sizeof r)) return;
      transmission = true;
    } else if (opt == kOptAbort) {
      option_reply(fd, opt, kRepAck);
      return;
    } else if (opt == kOptList) {
      uint8_t r[4]{};  // one export, the empty (default) name
      if (!option_reply(fd, opt, kRepServer, r, 4) || !option_reply(fd, opt, kRepAck)) return;
    } else if (opt == kOptInfo || opt == kOptGo) {
      // proto.md NBD_OPT_INFO/GO: u32 name length, name, u16 count, u16 requests. Any name selects this LUN.
      if (len < 6 || get32(data.data()) > len - 6 || 4 + get32(data.data()) + 2 + 2u * get16(data.data() + 4 + get32(data.data())) != len) {
        if (!option_reply(fd, opt, kRepErrInvalid)) return;
        continue;
      }
      uint8_t info[12];
      put16(info, kInfoExport);
      put64(info + 2, size);
      put16(info + 10, tflags);
      uint8_t blk[14];
      put16(blk, kInfoBlockSize);
      put32(blk + 2, bs);                // minimum: the logical block
      put32(blk + 6, bs < 4096 ? 4096 : bs);  // preferred
      put32(blk + 10, lun_.max_transfer);     // maximum payload: one pool slot, never split
      if (!option_reply(fd, opt, kRepInfo, info, sizeof info) || !option_reply(fd, opt, kRepInfo, blk, sizeof blk) ||
          !option_reply(fd, opt, kRepAck))
        return;
      transmission = opt == kOptGo;
    } else {
      // Structured replies, meta contexts, TLS: not offered (proto.md lets the client go on without them).
      if (!option_reply(fd, opt, kRepErrUnsup)) return;
    }
  }
  auto conn = std::make_shared<Conn>(fd);
  try {
    conn->start();
  } catch (const std::system_error&) {
    log_line("nbd: no thread for the connection's writer; closing");
    return;
  }
  RequestReader in(fd);  // after the handshake: its reads above took exactly what they needed
  for (;;) {
    uint8_t rq[28];
    if (!in.take(rq, sizeof rq)) break;
    if (get32(rq) != kRequestMagic) {
      log_line("nbd: bad request magic; closing");
      break;
    }
    uint16_t type = get16(rq + 6);
    uint64_t cookie = get64(rq + 8), offset = get64(rq + 16);
    uint32_t length = get32(rq + 24);
    std::vector<uint8_t> payload;
    if (type == kCmdWrite) {
      if (length > 32u << 20) {
        log_line("nbd: write of " + std::to_string(length) + " bytes is beyond any sane payload; closing");
        break;
      }
      payload.resize(length);
      if (!in.take(payload.data(), length)) break;
    }
    if (type == kCmdDisc) break;
    bool in_range = offset <= size && length <= size - offset;
    bool aligned = offset % bs == 0 && length % bs == 0;
    uint64_t lba = offset / bs;
    uint32_t blocks = length / bs;
    Task t;
    t.target = target_;
    t.lun = lun_.lun;
    if (type == kCmdRead || type == kCmdWrite) {
      if (!in_range || !aligned || length == 0 || length > lun_.max_transfer) {
        conn->reply(cookie, kEinval);
        continue;
      }
      if (type == kCmdWrite && lun_.write_protected) {
        conn->reply(cookie, kEperm);
        continue;
      }
      // SBC-3 5.8 READ (16) / 5.40 WRITE (16): LBA at bytes 2..9, transfer length (blocks) at 10..13.
      t.cdb[0] = type == kCmdRead ? 0x88 : 0x8a;
      put64(t.cdb + 2, lba);
      put32(t.cdb + 10, blocks);
      t.cdb_len = 16;
      t.dir = type == kCmdRead ? ISCSI_HBA_DIR_READ : ISCSI_HBA_DIR_WRITE;
      t.xfer_len = length;
      t.out = std::move(payload);
    } else if (type == kCmdFlush) {
      t.cdb[0] = 0x91;  // SBC-3 5.27 SYNCHRONIZE CACHE (16); LBA 0, 0 blocks = the whole medium
      t.cdb_len = 16;
    } else if (type == kCmdTrim) {
      if (!in_range) {
        conn->reply(cookie, kEinval);
        continue;
      }
      // A trim is advisory: unmap only the whole blocks inside the range.
      uint64_t first = (offset + bs - 1) / bs, end = (offset + length) / bs;
      if (end <= first) {
        conn->reply(cookie, 0);
        continue;
      }
      // SBC-3 5.28 UNMAP: parameter list = 8-byte header + one 16-byte block descriptor.
      payload.assign(24, 0);
      put16(payload.data(), 22);
      put16(payload.data() + 2, 16);
      put64(payload.data() + 8, first);
      put32(payload.data() + 16, uint32_t(std::min<uint64_t>(end - first, 0xffffffffu)));
      t.cdb[0] = 0x42;
      put16(t.cdb + 7, 24);
      t.cdb_len = 10;
      t.dir = ISCSI_HBA_DIR_WRITE;
      t.xfer_len = 24;
      t.out = std::move(payload);
    } else {
      conn->reply(cookie, kEinval);
      continue;
    }
    conn->begin();
    bool is_read = type == kCmdRead;
    t.done = retrying(hba_, kUnitAttentionRetries, [conn, cookie, is_read, length](const TaskResult& r) {
      uint32_t err = nbd_error(r);
      // A short read cannot be told to an NBD client with simple replies: it is an I/O error.
      if (err == 0 && is_read && r.data_len != length) err = kEio;
      conn->reply(cookie, err, r.data, r.data_len, r.owner, true);
    });
    hba_.submit(std::move(t));
  }
  // proto.md NBD_CMD_DISC: finish what is in flight, then close (the worker closes the fd once the writer has ended).
  conn->wait_idle();
  conn->stop();
}

}  // namespace sim
