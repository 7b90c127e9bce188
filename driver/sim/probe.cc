#include "probe.h"

#include <condition_variable>
#include <cstring>
#include <algorithm>
#include <mutex>

namespace sim {

static uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
static uint64_t be64(const uint8_t* p) { return uint64_t(be32(p)) << 32 | be32(p + 4); }

SyncResult run_sync(Hba& hba, uint16_t target, uint64_t lun, const uint8_t* cdb, uint8_t cdb_len, uint8_t dir,
                    uint32_t xfer_len, const void* out) {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  SyncResult res;
  Task t;
  t.target = target;
  t.lun = lun;
  memcpy(t.cdb, cdb, cdb_len);
  t.cdb_len = cdb_len;
  t.dir = dir;
  t.xfer_len = xfer_len;
  if (out != nullptr) t.out.assign(static_cast<const uint8_t*>(out), static_cast<const uint8_t*>(out) + xfer_len);
  t.done = [&](const TaskResult& r) {
    std::lock_guard lock(mu);
    res.result = r;
    res.result.data = nullptr;
    if (r.data != nullptr) res.data.assign(r.data, r.data + r.data_len);
    done = true;
    cv.notify_one();
  };
  hba.submit(std::move(t));
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return done; });
  return res;
}

static bool good(const SyncResult& r) { return !r.result.failed && r.result.response == ISCSI_HBA_RESPONSE_COMPLETE && r.result.status == 0; }

static std::string trimmed(const uint8_t* p, size_t n) {
  std::string s(reinterpret_cast<const char*>(p), n);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

static SyncResult inquiry(Hba& hba, uint16_t target, uint64_t lun, bool evpd, uint8_t page, uint16_t len) {
  // SPC-4 6.6 INQUIRY: EVPD bit, page code, allocation length.
  uint8_t cdb[6] = {0x12, uint8_t(evpd ? 1 : 0), page, uint8_t(len >> 8), uint8_t(len), 0};
  return run_sync(hba, target, lun, cdb, 6, ISCSI_HBA_DIR_READ, len);
}


std::vector<LunInfo> probe_target(Hba& hba, uint16_t target) {
  std::vector<LunInfo> out;
  // SPC-4 6.33 REPORT LUNS, sent to LUN 0; allocation length at bytes 6..9.
  const uint32_t alloc = 8 + 8 * 256;
  uint8_t rl[12] = {0xa0, 0, 0, 0, 0, 0, uint8_t(alloc >> 24), uint8_t(alloc >> 16), uint8_t(alloc >> 8), uint8_t(alloc), 0, 0};
  auto luns = run_sync(hba, target, 0, rl, 12, ISCSI_HBA_DIR_READ, alloc);
  std::vector<uint64_t> list;
  if (good(luns) && luns.data.size() >= 8) {
    uint32_t n = be32(luns.data.data()) / 8;
    for (uint32_t i = 0; i < n && 8 + 8 * (i + 1) <= luns.data.size(); i++) {
      // SAM-5 4.7.3: peripheral (00b) or flat (01b) addressing in the first two bytes; the descriptor carries the
      // number. Other forms cannot be among the HBA's ISCSI_HBA_MAX_LUNS.
      uint64_t sam = be64(luns.data.data() + 8 + 8 * i);
      uint64_t number = (sam >> 48) & 0x3fff;
      if ((sam >> 62) > 1 || (sam & 0xffffffffffffull) != 0 || number >= ISCSI_HBA_MAX_LUNS) {
        log_line("target " + std::to_string(target) + ": REPORT LUNS entry beyond this HBA's LUNs; skipped");
        continue;
      }
      list.push_back(number);
    }
  } else {
    log_line("target " + std::to_string(target) + ": REPORT LUNS failed; probing LUN 0 only");
    list.push_back(0);
  }
  for (uint64_t lun : list) {
    std::string where = "target " + std::to_string(target) + " lun " + std::to_string(lun);
    auto std_inq = inquiry(hba, target, lun, false, 0, 96);
    if (!good(std_inq) || std_inq.data.size() < 36) {
      log_line(where + ": INQUIRY failed; skipped");
      continue;
    }
    // SPC-4 6.6.2: peripheral qualifier 0 and device type 0 (direct access block device) only.
    if (std_inq.data[0] != 0) {
      log_line(where + ": not a connected direct-access device (byte 0 = " + std::to_string(std_inq.data[0]) + "); skipped");
      continue;
    }
    LunInfo info;
    info.lun = lun;
    info.vendor = trimmed(&std_inq.data[8], 8);
    info.product = trimmed(&std_inq.data[16], 16);
    // SPC-4 7.8.13: page 0x00 lists the pages supported; ask only for those, as the SCSI family does.
    auto pages = inquiry(hba, target, lun, true, 0x00, 255);
    std::vector<uint8_t> supported;
    if (good(pages) && pages.data.size() >= 4)
      for (size_t i = 4; i < pages.data.size() && i < 4u + pages.data[3]; i++) supported.push_back(pages.data[i]);
    auto has = [&](uint8_t p) { for (auto s : supported) if (s == p) return true; return false; };
    for (uint8_t page : {uint8_t(0x80), uint8_t(0x83), uint8_t(0xb0), uint8_t(0xb1), uint8_t(0xb2)}) {
      if (!has(page)) continue;
      auto r = inquiry(hba, target, lun, true, page, 255);
      if (!good(r) || r.data.size() < 4) continue;
      const uint8_t* d = r.data.data();
      size_t len = r.data.size();
      if (page == 0x80) info.serial = trimmed(d + 4, std::min<size_t>(d[3], len - 4));  // SPC-4 7.8.15
      if (page == 0xb0 && len >= 12) info.max_transfer = be32(d + 8);               // SBC-3 6.6.4, in blocks
      if (page == 0xb2 && len >= 6) info.unmap = (d[5] & 0x80) != 0;                 // SBC-3 6.6.6 LBPU
    }
    // SBC-3 5.16 READ CAPACITY (16): SERVICE ACTION IN (16), service action 0x10, allocation length 32.
    uint8_t rc[16] = {0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0};
    auto cap = run_sync(hba, target, lun, rc, 16, ISCSI_HBA_DIR_READ, 32);
    if (!good(cap) || cap.data.size() < 12) {
      log_line(where + ": READ CAPACITY (16) failed; skipped");
      continue;
    }
    info.blocks = be64(cap.data.data()) + 1;
    info.block_size = be32(cap.data.data() + 8);
    if (info.block_size == 0 || info.block_size > ISCSI_HBA_MAX_TRANSFER || (info.block_size & (info.block_size - 1)) != 0) {
      log_line(where + ": block length " + std::to_string(info.block_size) + " unusable; skipped");
      continue;
    }
    info.max_transfer = info.max_transfer == 0 ? ISCSI_HBA_MAX_TRANSFER : std::min<uint64_t>(ISCSI_HBA_MAX_TRANSFER, uint64_t(info.max_transfer) * info.block_size);
    // SPC-4 6.11 MODE SENSE (6), all pages: the device-specific parameter's WP bit (SBC-3 6.5.1).
    uint8_t ms[6] = {0x1a, 0x08, 0x3f, 0, 255, 0};
    auto mode = run_sync(hba, target, lun, ms, 6, ISCSI_HBA_DIR_READ, 255);
    if (good(mode) && mode.data.size() >= 4) info.write_protected = (mode.data[2] & 0x80) != 0;
    // SPC-4 6.37 TEST UNIT READY: last, as the disk is published only when it is ready.
    uint8_t tur[6] = {0, 0, 0, 0, 0, 0};
    auto ready = run_sync(hba, target, lun, tur, 6, ISCSI_HBA_DIR_NONE, 0);
    if (!good(ready)) {
      log_line(where + ": TEST UNIT READY did not succeed; skipped");
      continue;
    }
    log_line(where + ": " + info.vendor + " " + info.product + " serial '" + info.serial + "', " +
             std::to_string(info.blocks) + " x " + std::to_string(info.block_size) + " bytes" +
             (info.unmap ? ", unmap" : "") + (info.write_protected ? ", write-protected" : ""));
    out.push_back(info);
  }
  return out;
}

}  // namespace sim
