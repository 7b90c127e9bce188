// iscsi-hba-sim: the HBA simulator. Plays the kernel's side of the user client (the region as a memfd over a Unix
// socket, the calls as messages on it) and the SCSI stack's side (probe, then one NBD export per LUN).
//   iscsi-hba-sim --socket <control.sock> --nbd-dir <dir>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "hba.h"
#include "nbd_server.h"
#include "platform.h"
#include "probe.h"
#include "wire.h"

using namespace sim;

namespace {

struct Targets {
  std::mutex mu;
  std::map<uint16_t, std::vector<std::unique_ptr<NbdExport>>> exports;
};

std::string selector_name(uint16_t s) {
  switch (s) {
    case kHello: return "HELLO";
    case kMapRegions: return "MAP_REGIONS";
    case kHbaInfo: return "HBA_INFO";
    case kCreateTarget: return "CREATE_TARGET";
    case kDestroyTarget: return "DESTROY_TARGET";
    case kDoorbell: return "DOORBELL";
    default: return "selector " + std::to_string(s);
  }
}

void serve_daemon(int sock, int shm_fd, Hba& hba, Targets& targets, const std::string& nbd_dir) {
  auto ch = std::make_shared<Channel>(sock);
  Message m;
  std::string err;
  bool hello = false, mapped = false;
  std::set<uint16_t> mine;  // targets this daemon created or reattached
  auto reply = [&](int32_t status, const void* p = nullptr, uint32_t len = 0, int fd = -1) {
    ch->send(m.header.selector, kReply, status, p, len, fd);
  };
  auto refuse = [&](int32_t status, const std::string& why) {
    log_line("refused " + selector_name(m.header.selector) + ": " + why);
    reply(status);
  };
  while (recv_message(sock, m, err)) {
    if (m.fd >= 0) {  // the daemon has no descriptor to give the HBA
      close(m.fd);
      m.fd = -1;
    }
    if (m.header.flags != 0) {
      refuse(kErrInvalid, "flags " + std::to_string(m.header.flags) + " on a call");
      continue;
    }
    uint16_t sel = m.header.selector;
    if (sel == kHello) {
      uint32_t version = 0;
      if (m.header.length >= 4) memcpy(&version, m.payload, 4);
      if (m.header.length < 8 || version != kAbiVersion) {
        refuse(kErrVersion, "daemon speaks ABI version " + std::to_string(version) + ", this HBA speaks " +
                                std::to_string(kAbiVersion) + "; closing");
        break;
      }
      uint32_t r[2] = {kAbiVersion, 0};
      hello = true;
      reply(kOk, r, sizeof r);
    } else if (!hello) {
      refuse(kErrState, "before HELLO");
    } else if (sel == kMapRegions) {
      uint64_t size = kRegionSize;
      hba.attach(ch);
      mapped = true;
      reply(kOk, &size, sizeof size, shm_fd);
    } else if (sel == kHbaInfo) {
      HbaInfo info{kSlotSize, kRingEntries, kSlotSize, kMaxTargets};
      reply(kOk, &info, sizeof info);
    } else if (sel == kDoorbell) {
      if (mapped) hba.drain();
    } else if (sel == kCreateTarget || sel == kDestroyTarget) {
      uint32_t target = UINT32_MAX;
      if (m.header.length >= 4) memcpy(&target, m.payload, 4);
      if (!mapped) {
        refuse(kErrState, "before MAP_REGIONS");
        continue;
      }
      if (target >= kMaxTargets) {
        refuse(kErrInvalid, "target " + std::to_string(target) + " out of range");
        continue;
      }
      std::unique_lock lock(targets.mu);
      bool exists = targets.exports.count(uint16_t(target)) != 0;
      if (sel == kDestroyTarget) {
        if (!exists) {
          lock.unlock();
          refuse(kErrInvalid, "target " + std::to_string(target) + " does not exist");
          continue;
        }
        auto gone = std::move(targets.exports[uint16_t(target)]);
        targets.exports.erase(uint16_t(target));
        mine.erase(uint16_t(target));
        lock.unlock();
        gone.clear();
        log_line("target " + std::to_string(target) + " destroyed");
        reply(kOk);
        continue;
      }
      if (exists && mine.count(uint16_t(target))) {
        lock.unlock();
        refuse(kErrBusy, "target " + std::to_string(target) + " exists");
        continue;
      }
      mine.insert(uint16_t(target));
      if (exists) {
        // A daemon that comes back keeps its target IDs: the exports stay, only the rings' peer changed.
        uint32_t ready[2] = {target, uint32_t(targets.exports[uint16_t(target)].size())};
        lock.unlock();
        reply(kOk);
        log_line("target " + std::to_string(target) + " reattached");
        ch->send(kNoticeTargetReady, 0, kOk, ready, sizeof ready);
        continue;
      }
      targets.exports[uint16_t(target)];  // reserved while the probe runs
      lock.unlock();
      reply(kOk);
      // The probe waits for the daemon's answers, which arrive on this thread: run it on its own (as the dext must
      // call UserCreateTargetForID on its own queue).
      std::thread([&hba, &targets, ch, nbd_dir, target] {
        auto luns = probe_target(hba, uint16_t(target));
        std::vector<std::unique_ptr<NbdExport>> made;
        for (auto& lun : luns) {
          uint16_t index = uint16_t((lun.lun >> 48 & 0xff) | (lun.lun >> 56 & 0x3f) << 8);
          std::string path = nbd_dir + "/t" + std::to_string(target) + "-lun" + std::to_string(index) + ".sock";
          auto e = std::make_unique<NbdExport>(hba, uint16_t(target), lun, path);
          std::string error;
          if (!e->start(error)) {
            log_line("nbd: " + error);
            continue;
          }
          log_line("nbd: target " + std::to_string(target) + " lun " + std::to_string(index) + " size " +
                   std::to_string(e->size()) + " at " + path);
          made.push_back(std::move(e));
        }
        uint32_t ready[2] = {target, uint32_t(made.size())};
        {
          std::lock_guard lock(targets.mu);
          targets.exports[uint16_t(target)] = std::move(made);
        }
        log_line("target " + std::to_string(target) + " ready with " + std::to_string(ready[1]) + " lun(s)");
        ch->send(kNoticeTargetReady, 0, kOk, ready, sizeof ready);
      }).detach();
    } else {
      refuse(kErrInvalid, "unknown call");
    }
  }
  if (!err.empty()) log_line("daemon connection: " + err + "; closing");
  if (mapped) hba.detach();
  log_line("daemon disconnected");
}

}  // namespace

int main(int argc, char** argv) {
  std::string control, nbd_dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--socket") control = argv[i + 1];
    else if (a == "--nbd-dir") nbd_dir = argv[i + 1];
  }
  if (control.empty() || nbd_dir.empty()) {
    fprintf(stderr, "usage: iscsi-hba-sim --socket <control.sock> --nbd-dir <dir>\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  int shm = shm_create(kRegionSize);
  if (shm < 0) {
    log_line(std::string("shared memory: ") + strerror(errno));
    return 1;
  }
  void* region = mmap(nullptr, kRegionSize, PROT_READ | PROT_WRITE, MAP_SHARED, shm, 0);
  if (region == MAP_FAILED) {
    log_line(std::string("mmap: ") + strerror(errno));
    return 1;
  }
  Hba hba(static_cast<uint8_t*>(region));
  Targets targets;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (control.size() >= sizeof addr.sun_path) {
    log_line("socket path too long");
    return 2;
  }
  memcpy(addr.sun_path, control.c_str(), control.size() + 1);
  unlink(control.c_str());
  int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lfd < 0 || bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(lfd, 4) != 0) {
    log_line(control + ": " + strerror(errno));
    return 1;
  }
  log_line("listening on " + control + " (ABI version " + std::to_string(kAbiVersion) + ")");
  // One daemon at a time, as the dext has one user client; a refused or departed daemon makes room for the next.
  for (;;) {
    int s = accept(lfd, nullptr, nullptr);
    if (s < 0) {
      if (errno == EINTR) continue;
      log_line(std::string("accept: ") + strerror(errno));
      return 1;
    }
    serve_daemon(s, shm, hba, targets, nbd_dir);  // the socket closes with its last Channel reference
  }
}
