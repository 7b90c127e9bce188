// hba-test-daemon: the daemon's side of the simulator for tests. It does what iscsid will do (handshake, map the
// region, create a target, answer tasks) but answers from RAM disks instead of an iSCSI target, and on request sends
// the bad input the HBA must refuse.
//   hba-test-daemon --socket <path> [--luns N] [--mib M] [--abi-version V] [--bad unknown-tag,bad-length,twice]
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "sim_abi.h"
#include "wire.h"

using namespace sim;

namespace {

struct Disk {
  std::vector<uint8_t> bytes;
};
constexpr uint32_t kBlock = 512;

void say(const std::string& s) {
  printf("daemon: %s\n", s.c_str());
  fflush(stdout);
}

uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
uint64_t be64(const uint8_t* p) { return uint64_t(be32(p)) << 32 | be32(p + 4); }
void put32(uint8_t* p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = uint8_t(v >> (24 - 8 * i)); }
void put64(uint8_t* p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = uint8_t(v >> (56 - 8 * i)); }

struct Answer {
  uint8_t status = 0;
  std::vector<uint8_t> data;  // kDirIn: what the device returns (may be shorter than the allocation length)
  uint8_t sense[18]{};
  uint8_t sense_len = 0;
  bool in_pool = false;  // READ: the data went straight into the pool slot
};

// SPC-4 4.5.3 fixed-format sense.
Answer check_condition(uint8_t key, uint8_t asc, uint8_t ascq = 0) {
  Answer a;
  a.status = 0x02;
  a.sense[0] = 0x70;
  a.sense[2] = key;
  a.sense[7] = 10;
  a.sense[12] = asc;
  a.sense[13] = ascq;
  a.sense_len = 18;
  return a;
}

class Daemon {
 public:
  Daemon(uint8_t* region, std::vector<Disk>& disks) : region_(region), disks_(disks) {}

  Answer execute(const CmdDesc& d) {
    uint16_t lun = uint16_t(d.lun >> 48 & 0xff);
    const uint8_t* c = d.cdb;
    uint8_t* pool = region_ + kPoolOff + d.pool_offset;
    if (d.xfer_len > kSlotSize || uint64_t(d.pool_offset) + d.xfer_len > kPoolSize) return check_condition(0x05, 0x24);
    std::string what = hex(c[0]);
    if (c[0] == 0x12 && (c[1] & 1)) what += "/" + hex(c[2]);
    if (c[0] != 0x88 && c[0] != 0x8a) say("cdb " + what + " lun " + std::to_string(lun));
    if (c[0] == 0xa0) {  // SPC-4 6.33 REPORT LUNS
      Answer a;
      a.data.assign(8 + 8 * disks_.size(), 0);
      put32(a.data.data(), uint32_t(8 * disks_.size()));
      for (size_t i = 0; i < disks_.size(); i++) a.data[8 + 8 * i + 1] = uint8_t(i);
      return a;
    }
    if (lun >= disks_.size()) return check_condition(0x05, 0x25);  // LOGICAL UNIT NOT SUPPORTED
    Disk& disk = disks_[lun];
    uint64_t blocks = disk.bytes.size() / kBlock;
    switch (c[0]) {
      case 0x00: return Answer{};  // TEST UNIT READY
      case 0x12: return inquiry(c, lun);
      case 0x9e: {  // SBC-3 5.16 READ CAPACITY (16)
        if ((c[1] & 0x1f) != 0x10) return check_condition(0x05, 0x24);
        Answer a;
        a.data.assign(32, 0);
        put64(a.data.data(), blocks - 1);
        put32(a.data.data() + 8, kBlock);
        a.data[14] = 0x80;  // LBPME: unmap is honoured
        return a;
      }
      case 0x1a: {  // SPC-4 6.11 MODE SENSE (6): header only, not write-protected
        Answer a;
        a.data = {3, 0, 0, 0};
        return a;
      }
      case 0x88:
      case 0x8a: {  // SBC-3 READ (16) / WRITE (16)
        uint64_t lba = be64(c + 2);
        uint32_t n = be32(c + 10);
        if (lba > blocks || n > blocks - lba) return check_condition(0x05, 0x21);  // LBA OUT OF RANGE
        if (uint64_t(n) * kBlock != d.xfer_len) return check_condition(0x05, 0x24);
        Answer a;
        if (c[0] == 0x88) memcpy(pool, &disk.bytes[lba * kBlock], d.xfer_len);
        else memcpy(&disk.bytes[lba * kBlock], pool, d.xfer_len);
        a.in_pool = true;
        return a;
      }
      case 0x91: return Answer{};  // SYNCHRONIZE CACHE (16): RAM has no cache to flush
      case 0x42: {  // SBC-3 5.28 UNMAP
        if (d.xfer_len < 8) return check_condition(0x05, 0x24);
        for (uint32_t off = 8; off + 16 <= d.xfer_len && off + 16 <= 8u + (uint32_t(pool[2]) << 8 | pool[3]); off += 16) {
          uint64_t lba = be64(pool + off);
          uint32_t n = be32(pool + off + 8);
          if (lba > blocks || n > blocks - lba) return check_condition(0x05, 0x21);
          memset(&disk.bytes[lba * kBlock], 0, uint64_t(n) * kBlock);
        }
        return Answer{};
      }
      default: return check_condition(0x05, 0x20);  // INVALID COMMAND OPERATION CODE
    }
  }

 private:
  static std::string hex(uint8_t v) {
    char b[4];
    snprintf(b, sizeof b, "%02x", v);
    return b;
  }
  Answer inquiry(const uint8_t* c, uint16_t lun) {
    Answer a;
    std::string serial = "SIM000" + std::to_string(lun);
    if (!(c[1] & 1)) {  // SPC-4 6.6.2 standard INQUIRY data
      a.data.assign(36, 0);
      a.data[2] = 6;
      a.data[3] = 2;
      a.data[4] = 31;
      memcpy(&a.data[8], "ISCSISIMRAMDISK         0001", 28);
      return a;
    }
    switch (c[2]) {
      case 0x00: a.data = {0, 0, 0, 6, 0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2}; break;
      case 0x80:
        a.data = {0, 0x80, 0, uint8_t(serial.size())};
        a.data.insert(a.data.end(), serial.begin(), serial.end());
        break;
      case 0x83: {  // SPC-4 7.8.6: one T10 vendor ID designator
        std::string id = "ISCSISIM" + serial;
        a.data = {0, 0x83, 0, uint8_t(4 + id.size()), 0x02, 0x01, 0, uint8_t(id.size())};
        a.data.insert(a.data.end(), id.begin(), id.end());
        break;
      }
      case 0xb0:  // SBC-3 6.6.4 Block Limits: maximum transfer 1 MiB, unmap allowed
        a.data.assign(64, 0);
        a.data[1] = 0xb0;
        a.data[3] = 0x3c;
        put32(&a.data[8], kSlotSize / kBlock);
        put32(&a.data[20], 0xffffffff);
        put32(&a.data[24], 1);
        break;
      case 0xb1:  // SBC-3 6.6.2 Block Device Characteristics: non-rotating
        a.data.assign(64, 0);
        a.data[1] = 0xb1;
        a.data[3] = 0x3c;
        a.data[5] = 1;
        break;
      case 0xb2:  // SBC-3 6.6.6 Logical Block Provisioning: LBPU
        a.data = {0, 0xb2, 0, 4, 0, 0x80, 0, 0};
        break;
      default: return check_condition(0x05, 0x24);
    }
    return a;
  }
  uint8_t* region_;
  std::vector<Disk>& disks_;
};

bool call(Channel& ch, uint16_t sel, const void* p, uint32_t len, Message& reply) {
  std::string err;
  if (!ch.send(sel, 0, kOk, p, len)) return false;
  // Notices may come before the reply; none are expected during setup, so anything else is a protocol error.
  if (!recv_message(ch.fd(), reply, err)) {
    say("connection lost: " + (err.empty() ? std::string("EOF") : err));
    return false;
  }
  return reply.header.selector == sel && (reply.header.flags & kReply);
}

}  // namespace

int main(int argc, char** argv) {
  std::string path, bad;
  uint32_t luns = 1, mib = 64, version = kAbiVersion;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--socket") path = argv[i + 1];
    else if (a == "--luns") luns = uint32_t(std::stoul(argv[i + 1]));
    else if (a == "--mib") mib = uint32_t(std::stoul(argv[i + 1]));
    else if (a == "--abi-version") version = uint32_t(std::stoul(argv[i + 1]));
    else if (a == "--bad") bad = argv[i + 1];
  }
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  if (connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    say("connect " + path + ": " + strerror(errno));
    return 1;
  }
  Channel ch(s);
  Message m;
  uint32_t hello[2] = {version, 0};
  if (!call(ch, kHello, hello, sizeof hello, m)) return 1;
  if (m.header.status != kOk) {
    say("HELLO refused with status " + std::to_string(m.header.status));
    return 3;
  }
  if (!call(ch, kMapRegions, nullptr, 0, m) || m.header.status != kOk || m.fd < 0 || m.header.length < 8) {
    say("MAP_REGIONS failed");
    return 1;
  }
  uint64_t size;
  memcpy(&size, m.payload, 8);
  auto* region = static_cast<uint8_t*>(mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, m.fd, 0));
  auto* hdr = reinterpret_cast<RegionHeader*>(region);
  if (region == MAP_FAILED || size < kRegionSize || hdr->magic != kRegionMagic || hdr->version != kAbiVersion) {
    say("region unusable");
    return 1;
  }
  if (!call(ch, kHbaInfo, nullptr, 0, m) || m.header.status != kOk) return 1;
  HbaInfo info;
  memcpy(&info, m.payload, sizeof info);
  say("hba max transfer " + std::to_string(info.max_transfer));
  std::vector<Disk> disks(luns);
  for (auto& d : disks) d.bytes.assign(uint64_t(mib) << 20, 0);
  Daemon daemon(region, disks);
  uint32_t target = 0;
  if (!call(ch, kCreateTarget, &target, 4, m) || m.header.status != kOk) {
    say("CREATE_TARGET failed");
    return 1;
  }
  auto* cmd_idx = reinterpret_cast<RingIndices*>(region + kCmdIdxOff);
  auto* cpl_idx = reinterpret_cast<RingIndices*>(region + kCplIdxOff);
  auto* cmd_ring = reinterpret_cast<CmdDesc*>(region + kCmdRingOff);
  auto* cpl_ring = reinterpret_cast<CplDesc*>(region + kCplRingOff);
  int injections = bad.empty() ? 0 : 3;
  auto post = [&](const CplDesc& c) {
    uint32_t p = cpl_idx->producer;
    // The HBA drains on every doorbell; ring it and wait for room if this batch filled the ring.
    while (p - __atomic_load_n(&cpl_idx->consumer, __ATOMIC_ACQUIRE) >= kRingEntries) {
      ch.send(kDoorbell, 0, kOk, nullptr, 0);
      usleep(100);
    }
    cpl_ring[p & (kRingEntries - 1)] = c;
    __atomic_store_n(&cpl_idx->producer, p + 1, __ATOMIC_RELEASE);
  };
  std::string err;
  while (recv_message(s, m, err)) {
    if (m.header.selector == kNoticeTargetReady) {
      uint32_t r[2];
      memcpy(r, m.payload, sizeof r);
      say("target " + std::to_string(r[0]) + " ready, " + std::to_string(r[1]) + " lun(s)");
      continue;
    }
    if (m.header.selector != kNoticeCommands) continue;
    uint32_t c = cmd_idx->consumer;
    uint32_t p = __atomic_load_n(&cmd_idx->producer, __ATOMIC_ACQUIRE);
    bool posted = false;
    for (; c != p; c++) {
      CmdDesc d = cmd_ring[c & (kRingEntries - 1)];
      __atomic_store_n(&cmd_idx->consumer, c + 1, __ATOMIC_RELEASE);
      Answer a = daemon.execute(d);
      CplDesc cpl{};
      cpl.tag = d.tag;
      cpl.status = a.status;
      if (d.dir == kDirIn && a.status == 0 && !a.in_pool) {
        uint32_t n = uint32_t(std::min<size_t>(a.data.size(), d.xfer_len));
        memcpy(region + kPoolOff + d.pool_offset, a.data.data(), n);
        if (n < d.xfer_len) {
          cpl.resid_flags = kResidUnderflow;
          cpl.residual = d.xfer_len - n;
        }
      }
      if (a.sense_len) {
        memcpy(region + kSenseOff + (d.tag & (kRingEntries - 1)) * kSenseStride, a.sense, a.sense_len);
        cpl.sense_len = a.sense_len;
      }
      bool io = d.cdb[0] == 0x88 || d.cdb[0] == 0x8a;
      if (io && injections > 0) {
        injections--;
        if (bad.find("unknown-tag") != std::string::npos) {
          CplDesc x = cpl;
          x.tag ^= 1u << 20;  // same index, another generation: a stale or forged tag
          x.status = 0x02;
          post(x);
          x.tag = 0xffffffff;
          post(x);
          say("injected completions for unknown tags");
        }
        if (bad.find("bad-length") != std::string::npos) {
          CplDesc x = cpl;
          x.resid_flags = kResidUnderflow;
          x.residual = d.xfer_len + 1;
          post(x);
          x = cpl;
          x.sense_len = 253;
          post(x);
          x = cpl;
          x.resid_flags = 3;
          post(x);
          say("injected completions with impossible lengths");
        }
        post(cpl);
        if (bad.find("twice") != std::string::npos) {
          CplDesc x = cpl;
          x.status = 0x02;  // had the HBA taken it, some task would now fail
          post(x);
          say("injected a second completion");
        }
      } else {
        post(cpl);
      }
      posted = true;
    }
    if (posted) ch.send(kDoorbell, 0, kOk, nullptr, 0);
  }
  say("HBA closed the connection" + (err.empty() ? std::string() : ": " + err));
  return 0;
}
