// STYLE.md, Driver C++: "no allocation on the I/O path; fixed-size tables sized at start". Counts every operator new
// in the process while 20000 tasks go through submit → command ring → completion ring → complete(), with timeouts,
// aborts, a reset and a log line on the way, against a platform and a daemon side that allocate nothing themselves.
#include <atomic>
#include <cstdlib>
#include <new>

#include "hba_core.h"
#include "test.h"

// A replacement operator new built on malloc is the standard way to count; GCC's mismatch check cannot see that.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {
std::atomic<uint64_t> allocations{0};
}

void* operator new(std::size_t n) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

using namespace iscsi_hba;

namespace {

struct QuietPlatform : HbaPlatform {
  uint64_t clock = 0;
  uint64_t completed = 0;
  uint64_t ok = 0;
  uint64_t logs = 0;
  uint8_t buffer[ISCSI_HBA_MAX_TRANSFER];
  uint64_t now_ms() override { return clock; }
  void notify_daemon(uint32_t) override {}
  bool copy_to_pool(uint64_t, uint8_t* dst, uint32_t length) override {
    std::memcpy(dst, buffer, length);
    return true;
  }
  bool copy_from_pool(uint64_t, const uint8_t* src, uint32_t length) override {
    std::memcpy(buffer, src, length);
    return true;
  }
  void complete(uint64_t, const TaskResult& r) override {
    ++completed;
    ok += r.host == HostStatus::Ok ? 1 : 0;
  }
  void log(LogLevel, uint32_t, const char*) override { ++logs; }
};

}  // namespace

TEST("no allocation on the I/O path: 20000 tasks, timeouts, aborts, a reset, bad answers; 0 operator new") {
  // Set-up may allocate (the adapter creates the core once); the I/O after it may not.
  auto* platform = new QuietPlatform();
  auto* control = static_cast<iscsi_hba_control*>(std::aligned_alloc(ISCSI_HBA_PAGE, sizeof(iscsi_hba_control)));
  auto* pool = static_cast<uint8_t*>(std::aligned_alloc(ISCSI_HBA_PAGE, ISCSI_HBA_POOL_SIZE));
  Config cfg;
  cfg.abort_timeout_ms = 5;
  auto* core = new HbaCore(*platform, control, pool, cfg);
  RingConsumer<iscsi_hba_cmd_desc> commands(command_ring(control));
  RingProducer<iscsi_hba_cpl_desc> answers(completion_ring(control));
  iscsi_hba_handshake_in hin{ISCSI_HBA_MAGIC, ISCSI_HBA_ABI_VERSION, 0, 0};
  iscsi_hba_handshake_out hout{};
  core->handshake(hin, hout);
  CHECK_EQ(hout.error, (uint32_t)ISCSI_HBA_OK);
  iscsi_hba_create_target_in tin{};
  tin.key[0] = 'k';
  iscsi_hba_create_target_out tout{};
  core->create_target(tin, tout);
  CHECK_EQ(tout.error, (uint32_t)ISCSI_HBA_OK);

  const uint64_t before = allocations.load();
  CHECK(before >= 2);  // the counting operator new is the one in use (the set-up above allocated through it)
  uint64_t handle = 1;
  for (uint32_t round = 0; round < 400; ++round) {
    for (uint32_t i = 0; i < 50; ++i) {
      ScsiTask t;
      t.handle = handle++;
      t.target_id = static_cast<uint16_t>(tout.target_id);
      t.cdb_length = i % 7 == 0 ? 32 : 16;
      t.direction = static_cast<uint8_t>(i % 3);
      t.transfer_length = t.direction == ISCSI_HBA_DIR_NONE ? 0 : 512u << (i % 12);
      t.timeout_ms = 10;
      core->submit(t);
    }
    if (round % 50 == 7) core->abort(handle - 3);
    if (round == 200) core->reset(ISCSI_HBA_TARGET_ID_ALL);
    iscsi_hba_cmd_desc d;
    uint32_t n = 0;
    while (commands.pop(d) == RingStatus::Ok) {
      iscsi_hba_cpl_desc c{};
      if (d.op == ISCSI_HBA_CMD_RESET) {
        c.op = ISCSI_HBA_CPL_RESET_DONE;
        c.reset_seq = d.reset_seq;
      } else if (d.op == ISCSI_HBA_CMD_SCSI) {
        if (++n % 10 == 0) continue;  // left unanswered: the timeout and the watchdog end it
        c.op = ISCSI_HBA_CPL_TASK;
        c.tag = d.tag;
        c.generation = d.generation;
        c.data_length = d.transfer_length;
      } else {
        continue;
      }
      while (answers.push(c) != RingStatus::Ok) core->on_doorbell();
      if (n % 17 == 0) {
        c.tag = 9999;  // a bad answer: refused and logged, without allocating
        while (answers.push(c) != RingStatus::Ok) core->on_doorbell();
      }
    }
    core->on_doorbell();
    platform->clock += 4;
    core->tick(platform->clock);
  }
  for (int i = 0; i < 100 && core->tasks_outstanding() > 0; ++i) {
    iscsi_hba_cmd_desc d;
    while (commands.pop(d) == RingStatus::Ok) {
      iscsi_hba_cpl_desc c{};
      if (d.op == ISCSI_HBA_CMD_RESET) {
        c.op = ISCSI_HBA_CPL_RESET_DONE;
        c.reset_seq = d.reset_seq;
        while (answers.push(c) != RingStatus::Ok) core->on_doorbell();
      }
    }
    core->on_doorbell();
    platform->clock += 50;
    core->tick(platform->clock);
  }
  const uint64_t during = allocations.load() - before;

  CHECK_EQ(during, 0u);
  CHECK_EQ(core->tasks_outstanding(), 0u);
  CHECK_EQ(platform->completed, handle - 1);  // every task ended
  CHECK(platform->ok > 15000);
  CHECK(platform->logs > 0);
  CHECK(core->stats().timeouts > 0);
  delete core;
  std::free(pool);
  std::free(control);
  delete platform;
}
