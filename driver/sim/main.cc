// iscsi-hba-sim: the HBA simulator. Plays the kernel's side of the user client (the two regions as memfds over a Unix
// socket, the calls of driver/include/iscsi_hba_abi.h as messages on it; see sim_wire.h) and the SCSI stack's side
// (at target creation the probe, then one NBD export per LUN).
//   iscsi-hba-sim --socket <control.sock> --nbd-dir <dir> [--hold-ms N]
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <map>
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

// SIGTERM/SIGINT: remove the control socket and leave at once (unlink and _exit are async-signal-safe); the NBD
// sockets live in --nbd-dir, which belongs to whoever started the simulator.
char g_control_path[sizeof(sockaddr_un::sun_path)];
void on_stop(int) {
  unlink(g_control_path);
  _exit(0);
}

// The exports of each target the probe has served (the core's registry owns the IDs and keys).
struct Targets {
  std::mutex mu;
  std::map<uint16_t, std::vector<std::unique_ptr<NbdExport>>> exports;  // present while the target lives
};

std::string selector_name(uint16_t s) {
  switch (s) {
    case ISCSI_HBA_SEL_HANDSHAKE: return "HANDSHAKE";
    case ISCSI_HBA_SEL_MAP_REGION: return "MAP_REGION";
    case ISCSI_HBA_SEL_HBA_INFO: return "HBA_INFO";
    case ISCSI_HBA_SEL_CREATE_TARGET: return "CREATE_TARGET";
    case ISCSI_HBA_SEL_DESTROY_TARGET: return "DESTROY_TARGET";
    case ISCSI_HBA_SEL_COMPLETION_DOORBELL: return "COMPLETION_DOORBELL";
    case ISCSI_HBA_SEL_ARM_NOTICES: return "ARM_NOTICES";
    default: return "selector " + std::to_string(s);
  }
}

void probe_and_export(Hba& hba, Targets& targets, const std::string& nbd_dir, uint16_t target) {
  auto luns = probe_target(hba, target);
  std::vector<std::unique_ptr<NbdExport>> made;
  for (auto& lun : luns) {
    std::string path = nbd_dir + "/t" + std::to_string(target) + "-lun" + std::to_string(lun.lun) + ".sock";
    auto e = std::make_unique<NbdExport>(hba, target, lun, path);
    std::string error;
    if (!e->start(error)) {
      log_line("nbd: " + error);
      continue;
    }
    log_line("nbd: target " + std::to_string(target) + " lun " + std::to_string(lun.lun) + " size " +
             std::to_string(e->size()) + " at " + path);
    made.push_back(std::move(e));
  }
  size_t n = made.size();
  {
    std::lock_guard lock(targets.mu);
    targets.exports[target] = std::move(made);
  }
  log_line("target " + std::to_string(target) + " ready with " + std::to_string(n) + " lun(s)");
}

void serve_daemon(int sock, const int shm[2], Hba& hba, Targets& targets, const std::string& nbd_dir) {
  auto ch = std::make_shared<Channel>(sock);
  Message m;
  std::string err;
  bool attached = false;  // this connection's handshake succeeded
  uint8_t out[kMsgMaxPayload];
  while (recv_message(sock, m, err)) {
    if (m.fd >= 0) {  // the daemon has no descriptor to give the HBA
      close(m.fd);
      m.fd = -1;
    }
    uint16_t sel = m.header.selector;
    auto reply = [&](uint32_t status, size_t len, int fd = -1) {
      ch->send(sel, kReply, int32_t(status), out, uint32_t(len), fd);
    };
    if (m.header.flags != 0) {
      log_line("refused " + selector_name(sel) + " (" + error_name(ISCSI_HBA_E_BAD_ARGUMENT) + "): flags on a call");
      reply(ISCSI_HBA_E_BAD_ARGUMENT, 0);
      continue;
    }
    iscsi_hba::CallResult r = hba.call(sel, m.payload, m.header.length, out, sizeof out, ch);
    if (r.error != ISCSI_HBA_OK) {
      std::string detail;
      if (sel == ISCSI_HBA_SEL_HANDSHAKE && m.header.length >= 8) {
        uint32_t v;
        memcpy(&v, m.payload + 4, 4);
        char b[64];
        snprintf(b, sizeof b, ": daemon ABI %u.%u, this HBA %u.%u", v >> 16, v & 0xffff, ISCSI_HBA_ABI_MAJOR, ISCSI_HBA_ABI_MINOR);
        detail = b;
      }
      log_line("refused " + selector_name(sel) + " (" + error_name(r.error) + ")" + detail);
    }
    if (r.arm_notices) continue;                           // answered when the core has news
    if (sel == ISCSI_HBA_SEL_COMPLETION_DOORBELL) continue;  // no answer, as on macOS
    if (r.error != ISCSI_HBA_OK) {
      reply(r.error, r.out_length);
      continue;
    }
    if (sel == ISCSI_HBA_SEL_HANDSHAKE) {
      attached = true;
      iscsi_hba_handshake_out o;
      memcpy(&o, out, sizeof o);
      log_line("daemon attached (epoch " + std::to_string(o.attach_epoch) + ")" +
               (o.held_tasks ? ", " + std::to_string(o.held_tasks) + " held task(s) re-issued" : ""));
      reply(ISCSI_HBA_OK, r.out_length);
    } else if (sel == ISCSI_HBA_SEL_MAP_REGION) {
      uint32_t region;
      memcpy(&region, m.payload, 4);
      reply(ISCSI_HBA_OK, r.out_length, shm[region == ISCSI_HBA_REGION_CONTROL ? 0 : 1]);
    } else if (sel == ISCSI_HBA_SEL_CREATE_TARGET) {
      iscsi_hba_create_target_out o;
      memcpy(&o, out, sizeof o);
      reply(ISCSI_HBA_OK, r.out_length);
      bool live;
      {
        std::lock_guard lock(targets.mu);
        live = targets.exports.count(uint16_t(o.target_id)) != 0;
        if (!live) targets.exports[uint16_t(o.target_id)];  // reserved while the probe runs
      }
      if (live) {
        // A daemon that comes back keeps its target: the SCSI stack keeps its disk, only the rings' peer changed.
        log_line("target " + std::to_string(o.target_id) + " reattached");
        continue;
      }
      // The probe waits for the daemon's answers, which arrive on this thread: it runs on its own (as the dext must
      // call UserCreateTargetForID on its own queue).
      std::thread(probe_and_export, std::ref(hba), std::ref(targets), nbd_dir, uint16_t(o.target_id)).detach();
    } else if (sel == ISCSI_HBA_SEL_DESTROY_TARGET) {
      uint32_t id;
      memcpy(&id, m.payload, 4);
      std::vector<std::unique_ptr<NbdExport>> gone;
      {
        std::lock_guard lock(targets.mu);
        auto it = targets.exports.find(uint16_t(id));
        if (it != targets.exports.end()) {
          gone = std::move(it->second);
          targets.exports.erase(it);
        }
      }
      gone.clear();
      log_line("target " + std::to_string(id) + " destroyed");
      reply(ISCSI_HBA_OK, r.out_length);
    } else {
      reply(ISCSI_HBA_OK, r.out_length);
    }
  }
  if (!err.empty()) log_line("daemon connection: " + err + "; closing");
  if (attached) hba.detach();
  log_line("daemon disconnected");
}

}  // namespace

int main(int argc, char** argv) {
  std::string control, nbd_dir;
  iscsi_hba::Config config;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--socket") control = argv[i + 1];
    else if (a == "--nbd-dir") nbd_dir = argv[i + 1];
    else if (a == "--hold-ms") config.hold_ms = uint32_t(std::stoul(argv[i + 1]));
  }
  if (control.empty() || nbd_dir.empty()) {
    fprintf(stderr, "usage: iscsi-hba-sim --socket <control.sock> --nbd-dir <dir> [--hold-ms N]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  int shm[2] = {shm_create(ISCSI_HBA_CONTROL_SIZE), shm_create(ISCSI_HBA_POOL_SIZE)};
  if (shm[0] < 0 || shm[1] < 0) {
    log_line(std::string("shared memory: ") + strerror(errno));
    return 1;
  }
  void* ctl = mmap(nullptr, ISCSI_HBA_CONTROL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, shm[0], 0);
  void* pool = mmap(nullptr, ISCSI_HBA_POOL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, shm[1], 0);
  if (ctl == MAP_FAILED || pool == MAP_FAILED) {
    log_line(std::string("mmap: ") + strerror(errno));
    return 1;
  }
  Hba hba(static_cast<iscsi_hba_control*>(ctl), static_cast<uint8_t*>(pool), config);
  Targets targets;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (control.size() >= sizeof addr.sun_path) {
    log_line("socket path too long");
    return 2;
  }
  memcpy(addr.sun_path, control.c_str(), control.size() + 1);
  memcpy(g_control_path, control.c_str(), control.size() + 1);
  unlink(control.c_str());
  signal(SIGTERM, on_stop);
  signal(SIGINT, on_stop);
  int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (lfd < 0 || bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(lfd, 4) != 0) {
    log_line(control + ": " + strerror(errno));
    return 1;
  }
  log_line("listening on " + control + " (ABI " + std::to_string(ISCSI_HBA_ABI_MAJOR) + "." +
           std::to_string(ISCSI_HBA_ABI_MINOR) + ")");
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
