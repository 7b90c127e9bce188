// A test rig for HbaCore: a fake platform (clock, the SCSI stack's buffers, the completions it receives, the log)
// and a fake daemon working the other side of the real shared memory (consumes commands, produces completions).
// Tests may allocate; the core under test does not.
#pragma once

#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hba_core.h"
#include "test.h"

namespace rig {

using namespace iscsi_hba;

struct Completion {
  TaskResult result;
  std::vector<uint8_t> sense;
};

struct FakePlatform : HbaPlatform {
  uint64_t clock = 1'000;
  std::map<uint64_t, std::vector<uint8_t>> buffers;  // the stack's data buffer per task handle
  std::map<uint64_t, std::vector<Completion>> completions;
  std::vector<uint32_t> notices;
  std::vector<std::pair<uint32_t, std::string>> logs;
  bool fail_copies = false;

  uint64_t now_ms() override { return clock; }
  void notify_daemon(uint32_t kinds) override { notices.push_back(kinds); }
  bool copy_to_pool(uint64_t handle, uint8_t* dst, uint32_t length) override {
    if (fail_copies) return false;
    auto& b = buffers[handle];
    if (b.size() < length) return false;
    std::memcpy(dst, b.data(), length);
    return true;
  }
  bool copy_from_pool(uint64_t handle, const uint8_t* src, uint32_t length) override {
    if (fail_copies) return false;
    auto& b = buffers[handle];
    b.assign(src, src + length);
    return true;
  }
  void complete(uint64_t handle, const TaskResult& r) override {
    Completion c{r, {}};
    if (r.sense != nullptr) c.sense.assign(r.sense, r.sense + r.sense_length);
    c.result.sense = nullptr;
    completions[handle].push_back(c);
  }
  void log(LogLevel, uint32_t code, const char* message) override { logs.emplace_back(code, message); }

  bool logged(uint32_t code) const {
    for (const auto& l : logs) if (l.first == code) return true;
    return false;
  }
  /// The handle's single completion (fails the test if there are none or several).
  const Completion& only(uint64_t handle) const {
    auto it = completions.find(handle);
    CHECK(it != completions.end());
    CHECK_EQ(it->second.size(), 1u);
    return it->second.front();
  }
};

struct Regions {
  iscsi_hba_control* control;
  uint8_t* pool;
  Regions()
      : control(static_cast<iscsi_hba_control*>(std::aligned_alloc(ISCSI_HBA_PAGE, sizeof(iscsi_hba_control)))),
        pool(static_cast<uint8_t*>(std::aligned_alloc(ISCSI_HBA_PAGE, ISCSI_HBA_POOL_SIZE))) {}
  ~Regions() {
    std::free(control);
    std::free(pool);
  }
};

/// The daemon's side of the rings, as iscsid will work them.
struct FakeDaemon {
  iscsi_hba_control* control;
  uint8_t* pool;
  RingConsumer<iscsi_hba_cmd_desc> commands;
  RingProducer<iscsi_hba_cpl_desc> completions;
  FakeDaemon(iscsi_hba_control* c, uint8_t* p)
      : control(c), pool(p), commands(command_ring(c)), completions(completion_ring(c)) {}
  /// After a successful handshake: the driver reset the indices to 0.
  void attach() {
    commands.reset(0);
    // the producer's own copy only: the driver already zeroed the shared indices
    completions = RingProducer<iscsi_hba_cpl_desc>(completion_ring(control));
  }
  std::vector<iscsi_hba_cmd_desc> take() {
    std::vector<iscsi_hba_cmd_desc> out;
    iscsi_hba_cmd_desc d;
    while (commands.pop(d) == RingStatus::Ok) out.push_back(d);
    return out;
  }
  RingStatus post(const iscsi_hba_cpl_desc& d) { return completions.push(d); }
  /// A completion for `cmd`: GOOD, all data moved (a read: fills the pool with `fill`).
  iscsi_hba_cpl_desc good(const iscsi_hba_cmd_desc& cmd, uint8_t fill = 0) {
    iscsi_hba_cpl_desc c{};
    c.op = ISCSI_HBA_CPL_TASK;
    c.tag = cmd.tag;
    c.generation = cmd.generation;
    c.data_length = cmd.transfer_length;
    if (cmd.direction == ISCSI_HBA_DIR_READ) std::memset(pool + cmd.pool_offset, fill, cmd.transfer_length);
    return c;
  }
};

struct Rig {
  FakePlatform platform;
  std::unique_ptr<Regions> regions = std::make_unique<Regions>();
  std::unique_ptr<HbaCore> core;
  std::unique_ptr<FakeDaemon> daemon;
  uint16_t target = 0;
  uint64_t next_handle = 1;

  explicit Rig(Config config = Config{}) {
    core = std::make_unique<HbaCore>(platform, regions->control, regions->pool, config);
    daemon = std::make_unique<FakeDaemon>(regions->control, regions->pool);
  }
  uint32_t handshake(uint32_t version = ISCSI_HBA_ABI_VERSION) {
    iscsi_hba_handshake_in in{ISCSI_HBA_MAGIC, version, 0, 0};
    iscsi_hba_handshake_out out{};
    core->handshake(in, out);
    if (out.error == ISCSI_HBA_OK) daemon->attach();
    return out.error;
  }
  uint16_t create_target(const char* key, bool* existed = nullptr) {
    iscsi_hba_create_target_in in{};
    std::memcpy(in.key, key, std::strlen(key));
    iscsi_hba_create_target_out out{};
    core->create_target(in, out);
    CHECK_EQ(out.error, (uint32_t)ISCSI_HBA_OK);
    if (existed) *existed = out.existed != 0;
    return static_cast<uint16_t>(out.target_id);
  }
  void attach() {
    CHECK_EQ(handshake(), (uint32_t)ISCSI_HBA_OK);
    target = create_target("iqn.2003-01.org.example:disk,1");
  }
  /// A READ(16)/WRITE(16)/TEST UNIT READY-like task. Returns its handle.
  uint64_t submit(uint8_t direction, uint32_t length, uint32_t timeout_ms = 0, uint8_t cdb_length = 16) {
    ScsiTask t;
    t.handle = next_handle++;
    t.target_id = target;
    t.lun = 0;
    t.cdb_length = cdb_length;
    t.cdb[0] = direction == ISCSI_HBA_DIR_READ ? 0x88 : direction == ISCSI_HBA_DIR_WRITE ? 0x8A : 0x00;
    for (uint8_t i = 1; i < cdb_length; ++i) t.cdb[i] = i;
    t.direction = direction;
    t.transfer_length = length;
    t.timeout_ms = timeout_ms;
    if (direction == ISCSI_HBA_DIR_WRITE) platform.buffers[t.handle].assign(length, static_cast<uint8_t>(t.handle));
    core->submit(t);
    submitted.push_back(t.handle);
    return t.handle;
  }
  void doorbell() { core->on_doorbell(); }
  void advance(uint64_t ms) {
    platform.clock += ms;
    core->tick(platform.clock);
  }
  /// The invariant of issue 11: every submitted task completed exactly once (call when all should be done).
  void check_every_task_completed_once() const {
    for (uint64_t h : submitted) {
      auto it = platform.completions.find(h);
      CHECK(it != platform.completions.end());
      CHECK_EQ(it->second.size(), 1u);
    }
    CHECK_EQ(core->tasks_outstanding(), 0u);
    CHECK_EQ(core->stats().completed, core->stats().submitted);
  }
  std::vector<uint64_t> submitted;
};

}  // namespace rig
