// hba-test-daemon: the daemon's side of the simulator for tests. It does what iscsid will do (handshake, map the
// region, create a target, answer tasks) but answers from RAM disks instead of an iSCSI target, and on request sends
// the bad input the HBA must refuse.
//   hba-test-daemon --socket <path> [--luns N] [--mib M] [--abi-major V] [--key K] [--bad unknown-tag,bad-length,twice]
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "platform.h"
#include "sim_wire.h"
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
  std::vector<uint8_t> data;  // a read: what the device returns (may be shorter than the allocation length)
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
  Daemon(uint8_t* pool, std::vector<Disk>& disks) : pool_(pool), disks_(disks) {}

  Answer execute(const iscsi_hba_cmd_desc& d) {
    uint64_t lun = d.lun;
    const uint8_t* c = d.cdb;
    uint8_t* pool = pool_ + d.pool_offset;
    // Validate what the HBA sent before touching the pool (STYLE.md: every descriptor from the other side).
    if (d.transfer_length > d.pool_length || uint64_t(d.pool_offset) + d.pool_length > ISCSI_HBA_POOL_SIZE)
      return check_condition(0x05, 0x24);
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
        if (uint64_t(n) * kBlock != d.transfer_length) return check_condition(0x05, 0x24);
        Answer a;
        if (c[0] == 0x88) memcpy(pool, &disk.bytes[lba * kBlock], d.transfer_length);
        else memcpy(&disk.bytes[lba * kBlock], pool, d.transfer_length);
        a.in_pool = true;
        return a;
      }
      case 0x91: return Answer{};  // SYNCHRONIZE CACHE (16): RAM has no cache to flush
      case 0x42: {  // SBC-3 5.28 UNMAP
        if (d.transfer_length < 8) return check_condition(0x05, 0x24);
        for (uint32_t off = 8; off + 16 <= d.transfer_length && off + 16 <= 8u + (uint32_t(pool[2]) << 8 | pool[3]); off += 16) {
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
  Answer inquiry(const uint8_t* c, uint64_t lun) {
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
        put32(&a.data[8], ISCSI_HBA_MAX_TRANSFER / kBlock);
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
  uint8_t* pool_;
  std::vector<Disk>& disks_;
};

bool call(Channel& ch, uint16_t sel, const void* p, uint32_t len, Message& reply) {
  std::string err;
  if (!ch.send(sel, 0, 0, p, len)) return false;
  // Notices may come before the reply; none are expected during setup, so anything else is a protocol error.
  if (!recv_message(ch.fd(), reply, err)) {
    say("connection lost: " + (err.empty() ? std::string("EOF") : err));
    return false;
  }
  return reply.header.selector == sel && (reply.header.flags & kReply);
}

}  // namespace

void* map_region(Channel& ch, uint32_t region, uint64_t want) {
  iscsi_hba_map_region_in in{region, 0};
  Message m;
  if (!call(ch, ISCSI_HBA_SEL_MAP_REGION, &in, sizeof in, m) || m.header.status != ISCSI_HBA_OK || m.fd < 0) return nullptr;
  iscsi_hba_map_region_out out;
  memcpy(&out, m.payload, sizeof out);
  if (out.size != want) return nullptr;
  void* p = mmap(nullptr, out.size, PROT_READ | PROT_WRITE, MAP_SHARED, m.fd, 0);
  close(m.fd);
  return p == MAP_FAILED ? nullptr : p;
}

int main(int argc, char** argv) {
  std::string path, bad, key = "iqn.2026-12.test:ramdisk,1";
  uint32_t luns = 1, mib = 64, major = ISCSI_HBA_ABI_MAJOR;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--socket") path = argv[i + 1];
    else if (a == "--luns") luns = uint32_t(std::stoul(argv[i + 1]));
    else if (a == "--mib") mib = uint32_t(std::stoul(argv[i + 1]));
    else if (a == "--abi-major") major = uint32_t(std::stoul(argv[i + 1]));
    else if (a == "--key") key = argv[i + 1];
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
  iscsi_hba_handshake_in hello{ISCSI_HBA_MAGIC, major << 16 | ISCSI_HBA_ABI_MINOR, 0, 0};
  if (!call(ch, ISCSI_HBA_SEL_HANDSHAKE, &hello, sizeof hello, m)) return 1;
  iscsi_hba_handshake_out shook{};
  memcpy(&shook, m.payload, std::min<size_t>(sizeof shook, m.header.length));
  if (shook.error != ISCSI_HBA_OK) {
    say("HANDSHAKE refused: error " + std::to_string(shook.error) + ", HBA ABI " + std::to_string(shook.abi_version >> 16) +
        "." + std::to_string(shook.abi_version & 0xffff));
    return 3;
  }
  auto* control = static_cast<iscsi_hba_control*>(map_region(ch, ISCSI_HBA_REGION_CONTROL, ISCSI_HBA_CONTROL_SIZE));
  auto* pool = static_cast<uint8_t*>(map_region(ch, ISCSI_HBA_REGION_POOL, ISCSI_HBA_POOL_SIZE));
  if (control == nullptr || pool == nullptr || control->header.magic != ISCSI_HBA_MAGIC ||
      control->header.abi_version >> 16 != ISCSI_HBA_ABI_MAJOR) {
    say("MAP_REGION failed or the region is not this ABI's");
    return 1;
  }
  if (!call(ch, ISCSI_HBA_SEL_HBA_INFO, nullptr, 0, m) || m.header.status != ISCSI_HBA_OK) return 1;
  iscsi_hba_info info;
  memcpy(&info, m.payload, sizeof info);
  say("hba max transfer " + std::to_string(info.max_transfer) + ", queue depth " + std::to_string(info.queue_depth));
  std::vector<Disk> disks(luns);
  for (auto& d : disks) d.bytes.assign(uint64_t(mib) << 20, 0);
  Daemon daemon(pool, disks);
  iscsi_hba_create_target_in create{};
  snprintf(reinterpret_cast<char*>(create.key), sizeof create.key, "%s", key.c_str());
  if (!call(ch, ISCSI_HBA_SEL_CREATE_TARGET, &create, sizeof create, m) || m.header.status != ISCSI_HBA_OK) {
    say("CREATE_TARGET failed");
    return 1;
  }
  iscsi_hba_create_target_out created;
  memcpy(&created, m.payload, sizeof created);
  say("target " + std::to_string(created.target_id) + (created.existed ? " (existed)" : " (new)"));
  auto& cmd = control->cmd;
  auto& cpl = control->cpl;
  int injections = bad.empty() ? 0 : 3;
  auto post = [&](const iscsi_hba_cpl_desc& c) {
    uint32_t p = cpl.producer.value;
    // The HBA drains on every doorbell; ring it and wait for room if this batch filled the ring.
    while (p - iscsi_hba_load_acquire(&cpl.consumer.value) >= ISCSI_HBA_RING_ENTRIES) {
      ch.send(ISCSI_HBA_SEL_COMPLETION_DOORBELL, 0, 0, nullptr, 0);
      usleep(100);
    }
    cpl.entries[p & ISCSI_HBA_RING_MASK] = c;
    iscsi_hba_store_release(&cpl.producer.value, p + 1);
  };
  ch.send(ISCSI_HBA_SEL_ARM_NOTICES, 0, 0, nullptr, 0);
  std::string err;
  while (recv_message(s, m, err)) {
    if (m.header.selector != ISCSI_HBA_SEL_ARM_NOTICES || !(m.header.flags & kReply)) continue;
    uint32_t c = cmd.consumer.value;
    uint32_t p = iscsi_hba_load_acquire(&cmd.producer.value);
    bool posted = false;
    for (; c != p; c++) {
      iscsi_hba_cmd_desc d = cmd.entries[c & ISCSI_HBA_RING_MASK];
      iscsi_hba_store_release(&cmd.consumer.value, c + 1);
      if (d.op != ISCSI_HBA_CMD_SCSI) continue;  // this RAM disk has nothing to abort or reset
      Answer a = daemon.execute(d);
      iscsi_hba_cpl_desc r{};
      r.tag = d.tag;
      r.generation = d.generation;
      r.op = ISCSI_HBA_CPL_TASK;
      r.service_response = ISCSI_HBA_RESPONSE_COMPLETE;
      r.scsi_status = a.status;
      if (d.direction == ISCSI_HBA_DIR_READ && a.status == 0) {
        uint32_t n = d.transfer_length;
        if (!a.in_pool) {
          n = uint32_t(std::min<size_t>(a.data.size(), d.transfer_length));
          memcpy(pool + d.pool_offset, a.data.data(), n);
        }
        r.data_length = n;
        if (n < d.transfer_length) {
          r.flags |= ISCSI_HBA_CPL_UNDERFLOW;
          r.residual = d.transfer_length - n;
        }
      } else if (d.direction == ISCSI_HBA_DIR_WRITE && a.status == 0) {
        r.data_length = d.transfer_length;
      }
      if (a.sense_len) {
        memcpy(control->aux[d.tag].sense, a.sense, a.sense_len);
        r.sense_length = a.sense_len;
        r.flags |= ISCSI_HBA_CPL_SENSE;
      }
      bool io = d.cdb[0] == 0x88 || d.cdb[0] == 0x8a;
      if (io && injections > 0) {
        injections--;
        if (bad.find("unknown-tag") != std::string::npos) {
          iscsi_hba_cpl_desc x = r;
          x.scsi_status = 0x02;
          x.tag = 0xffff;  // beyond every tag
          post(x);
          x = r;
          x.scsi_status = 0x02;
          x.generation += 7;  // the right tag, a generation not in flight: forged or stale
          post(x);
          say("injected completions for unknown tags");
        }
        if (bad.find("bad-length") != std::string::npos) {
          iscsi_hba_cpl_desc x = r;
          x.flags |= ISCSI_HBA_CPL_UNDERFLOW;
          x.residual = d.transfer_length + 1;
          post(x);
          x = r;
          x.flags |= ISCSI_HBA_CPL_SENSE;
          x.sense_length = 253;
          post(x);
          x = r;
          x.data_length = d.transfer_length + 512;
          post(x);
          x = r;
          x.flags |= ISCSI_HBA_CPL_UNDERFLOW | ISCSI_HBA_CPL_OVERFLOW;
          post(x);
          say("injected completions with impossible lengths");
        }
        post(r);
        if (bad.find("twice") != std::string::npos) {
          iscsi_hba_cpl_desc x = r;
          x.scsi_status = 0x02;  // had the HBA taken it, some task would now fail
          post(x);
          say("injected a second completion");
        }
      } else {
        post(r);
      }
      posted = true;
    }
    if (posted) ch.send(ISCSI_HBA_SEL_COMPLETION_DOORBELL, 0, 0, nullptr, 0);
    ch.send(ISCSI_HBA_SEL_ARM_NOTICES, 0, 0, nullptr, 0);
  }
  say("HBA closed the connection" + (err.empty() ? std::string() : ": " + err));
  return 0;
}
