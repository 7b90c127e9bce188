// HbaCore against a fake daemon on the real shared memory: issue 11 item 2 and its Tests section (wrap-around, full
// rings, pool exhaustion as back-pressure, timeouts and aborts, daemon gone and back, reset with tasks in flight, bad
// input from the daemon side refused with an error and a log line) and the invariant "no task is ever left
// uncompleted" (each submitted task completed exactly once).
#include <random>

#include "rig.h"

using namespace rig;

namespace {
constexpr uint32_t kMiB = 1024 * 1024;
}

TEST("handshake: a wrong ABI major is refused with ISCSI_HBA_E_VERSION_MISMATCH and a log line") {
  Rig r;
  iscsi_hba_handshake_in in{ISCSI_HBA_MAGIC, (ISCSI_HBA_ABI_MAJOR + 1) << 16, 0, 0};
  iscsi_hba_handshake_out out{};
  r.core->handshake(in, out);
  CHECK_EQ(out.error, (uint32_t)ISCSI_HBA_E_VERSION_MISMATCH);
  CHECK_EQ(out.abi_version, ISCSI_HBA_ABI_VERSION);  // the refused peer learns what it met
  CHECK(r.platform.logged(ISCSI_HBA_E_VERSION_MISMATCH));
  CHECK(!r.core->daemon_attached());
  in.abi_version = ISCSI_HBA_ABI_VERSION;
  in.magic = 0x12345678;
  r.core->handshake(in, out);
  CHECK_EQ(out.error, (uint32_t)ISCSI_HBA_E_BAD_MAGIC);
  iscsi_hba_create_target_in ct{};
  ct.key[0] = 'k';
  iscsi_hba_create_target_out cto{};
  r.core->create_target(ct, cto);
  CHECK_EQ(cto.error, (uint32_t)ISCSI_HBA_E_NOT_ATTACHED);
  // A newer minor is accepted; a second daemon is refused.
  CHECK_EQ(r.handshake(ISCSI_HBA_ABI_VERSION + 1), (uint32_t)ISCSI_HBA_OK);
  CHECK_EQ(r.handshake(), (uint32_t)ISCSI_HBA_E_ALREADY_ATTACHED);
  CHECK_EQ(r.regions->control->header.magic, ISCSI_HBA_MAGIC);
  CHECK_EQ(r.regions->control->header.attach_epoch, 1u);
}

TEST("map region and HBA info: sizes and limits of the ABI (max transfer >= 1 MiB, advertised)") {
  Rig r;
  iscsi_hba_map_region_out out{};
  r.core->map_region({ISCSI_HBA_REGION_CONTROL, 0}, out);
  CHECK_EQ(out.size, (uint64_t)ISCSI_HBA_CONTROL_SIZE);
  r.core->map_region({ISCSI_HBA_REGION_POOL, 0}, out);
  CHECK_EQ(out.size, (uint64_t)ISCSI_HBA_POOL_SIZE);
  r.core->map_region({7, 0}, out);
  CHECK_EQ(out.error, (uint32_t)ISCSI_HBA_E_BAD_ARGUMENT);
  iscsi_hba_info info{};
  r.core->hba_info(info);
  CHECK(info.max_transfer >= kMiB);
  CHECK_EQ(info.queue_depth, ISCSI_HBA_MAX_TASKS);
}

TEST("a read and a write cross the rings: data in the pool, GOOD, 32-byte CDB in the aux record, sense delivered") {
  Rig r;
  r.attach();
  const uint64_t rd = r.submit(ISCSI_HBA_DIR_READ, 4096);
  const uint64_t wr = r.submit(ISCSI_HBA_DIR_WRITE, 8192, 0, 32);
  CHECK(!r.platform.notices.empty());
  CHECK(r.platform.notices.back() & ISCSI_HBA_NOTICE_COMMANDS);
  auto cmds = r.daemon->take();
  CHECK_EQ(cmds.size(), 2u);
  CHECK_EQ(cmds[0].op, (uint8_t)ISCSI_HBA_CMD_SCSI);
  CHECK_EQ(cmds[0].pool_offset % ISCSI_HBA_POOL_SLOT_SIZE, 0u);
  CHECK(cmds[1].pool_length >= 8192u);
  CHECK_EQ(r.regions->pool[cmds[1].pool_offset + 100], (uint8_t)wr);  // the write's data is in the pool
  CHECK_EQ(cmds[1].cdb_length, 32u);
  CHECK_EQ(r.regions->control->aux[cmds[1].tag].cdb[31], 31u);  // bytes past 16 in the aux record
  CHECK(r.daemon->post(r.daemon->good(cmds[0], 0xAB)) == RingStatus::Ok);
  iscsi_hba_cpl_desc c = r.daemon->good(cmds[1]);
  c.scsi_status = 0x02;  // CHECK CONDITION with sense
  c.flags = ISCSI_HBA_CPL_SENSE;
  c.sense_length = 18;
  std::memset(r.regions->control->aux[cmds[1].tag].sense, 0x70, 18);
  CHECK(r.daemon->post(c) == RingStatus::Ok);
  r.doorbell();
  const auto& read = r.platform.only(rd);
  CHECK(read.result.host == HostStatus::Ok);
  CHECK_EQ(read.result.data_length, 4096u);
  CHECK_EQ(r.platform.buffers[rd][4095], 0xABu);
  const auto& write = r.platform.only(wr);
  CHECK_EQ(write.result.scsi_status, 0x02u);
  CHECK_EQ(write.sense.size(), 18u);
  CHECK_EQ(write.sense[17], 0x70u);
  r.check_every_task_completed_once();
}

TEST("pool exhaustion is back-pressure: 70 x 1 MiB reads, 64 go, 6 wait, none fails, all complete in order") {
  Rig r;
  r.attach();
  for (int i = 0; i < 70; ++i) r.submit(ISCSI_HBA_DIR_READ, kMiB);
  auto first = r.daemon->take();
  CHECK_EQ(first.size(), 64u);  // 64 MiB pool / 1 MiB
  CHECK_EQ(r.core->stats().queued_for_space, 6u);
  CHECK_EQ(r.core->stats().completed, 0u);
  for (const auto& c : first) CHECK_EQ(c.pool_length, kMiB);  // one contiguous run each: never split
  for (int i = 0; i < 6; ++i) CHECK(r.daemon->post(r.daemon->good(first[i])) == RingStatus::Ok);
  r.doorbell();
  auto rest = r.daemon->take();
  CHECK_EQ(rest.size(), 6u);
  for (size_t i = 6; i < first.size(); ++i) CHECK(r.daemon->post(r.daemon->good(first[i])) == RingStatus::Ok);
  for (const auto& c : rest) CHECK(r.daemon->post(r.daemon->good(c)) == RingStatus::Ok);
  r.doorbell();
  r.check_every_task_completed_once();
  for (uint64_t h : r.submitted) CHECK(r.platform.only(h).result.host == HostStatus::Ok);
}

TEST("full command ring and a full task table: TASK SET FULL past the queue depth; a reset waits for ring space") {
  Rig r;
  r.attach();
  for (uint32_t i = 0; i < ISCSI_HBA_MAX_TASKS; ++i) r.submit(ISCSI_HBA_DIR_NONE, 0);
  const uint64_t extra = r.submit(ISCSI_HBA_DIR_NONE, 0);
  CHECK_EQ(r.platform.only(extra).result.scsi_status, 0x28u);  // TASK SET FULL: retried by the stack
  CHECK(r.platform.only(extra).result.host == HostStatus::Busy);
  for (uint32_t i = 0; i < ISCSI_HBA_MAX_TASKS; ++i) CHECK(r.core->abort(r.submitted[i]));
  // 512 commands + 512 aborts: the ring is exactly full; the reset cannot go yet.
  r.core->reset();
  for (uint32_t i = 0; i < ISCSI_HBA_MAX_TASKS; ++i) CHECK(r.platform.only(r.submitted[i]).result.host == HostStatus::Reset);
  auto all = r.daemon->take();
  CHECK_EQ(all.size(), (size_t)ISCSI_HBA_RING_ENTRIES);
  CHECK_EQ(all.back().op, (uint8_t)ISCSI_HBA_CMD_ABORT);
  r.advance(1);  // the core retries what waits for space
  auto reset = r.daemon->take();
  CHECK_EQ(reset.size(), 1u);
  CHECK_EQ(reset[0].op, (uint8_t)ISCSI_HBA_CMD_RESET);
  CHECK_EQ(reset[0].target_id, (uint16_t)ISCSI_HBA_TARGET_ID_ALL);
  CHECK_EQ(r.core->tasks_outstanding(), 0u);
  // The tags stay reserved until the daemon says it dropped them: the next task is refused as busy.
  const uint64_t busy = r.submit(ISCSI_HBA_DIR_NONE, 0);
  CHECK(r.platform.only(busy).result.host == HostStatus::Busy);
  iscsi_hba_cpl_desc done{};
  done.op = ISCSI_HBA_CPL_RESET_DONE;
  done.reset_seq = reset[0].reset_seq;
  CHECK(r.daemon->post(done) == RingStatus::Ok);
  r.doorbell();
  const uint64_t after = r.submit(ISCSI_HBA_DIR_NONE, 0);
  auto again = r.daemon->take();
  CHECK_EQ(again.size(), 1u);
  CHECK(r.daemon->post(r.daemon->good(again[0])) == RingStatus::Ok);
  r.doorbell();
  CHECK(r.platform.only(after).result.host == HostStatus::Ok);
  r.check_every_task_completed_once();
}

TEST("timeout: the task is aborted (ABORT descriptor + abort notice), the daemon's TASK ABORTED completes it") {
  Rig r;
  r.attach();
  const uint64_t h = r.submit(ISCSI_HBA_DIR_READ, 512, 100);
  auto cmds = r.daemon->take();
  r.advance(99);
  CHECK(r.daemon->take().empty());
  r.advance(1);
  auto abort = r.daemon->take();
  CHECK_EQ(abort.size(), 1u);
  CHECK_EQ(abort[0].op, (uint8_t)ISCSI_HBA_CMD_ABORT);
  CHECK_EQ(abort[0].tag, cmds[0].tag);
  CHECK_EQ(abort[0].generation, cmds[0].generation);
  CHECK(r.platform.notices.back() & ISCSI_HBA_NOTICE_ABORT);
  CHECK_EQ(r.core->stats().timeouts, 1u);
  iscsi_hba_cpl_desc c = r.daemon->good(cmds[0]);
  c.scsi_status = 0x40;  // TASK ABORTED (SAM-5 5.3.1)
  c.data_length = 0;
  CHECK(r.daemon->post(c) == RingStatus::Ok);
  r.doorbell();
  CHECK_EQ(r.platform.only(h).result.scsi_status, 0x40u);
  r.check_every_task_completed_once();
}

TEST("watchdog: an abort never answered fails the task; a silent target is reset; a late answer is harmless") {
  Config cfg;
  cfg.abort_timeout_ms = 50;
  Rig r(cfg);
  r.attach();
  const uint64_t h = r.submit(ISCSI_HBA_DIR_READ, 64 * 1024, 100);
  const uint64_t h2 = r.submit(ISCSI_HBA_DIR_READ, 64 * 1024, 1000);
  auto cmds = r.daemon->take();
  const uint32_t free_before = 1024 - 2;
  (void)free_before;
  r.advance(100);  // timeout → abort
  r.advance(50);   // abort unanswered → failed to the stack, tag kept (the daemon may still write its data)
  CHECK(r.platform.only(h).result.host == HostStatus::TimedOut);
  CHECK(r.platform.completions.count(h2) == 0);
  r.advance(50);   // still nothing: the target is reset (its other task fails too), the daemon told
  CHECK(r.platform.only(h2).result.host == HostStatus::Reset);
  auto rest = r.daemon->take();
  CHECK_EQ(rest.size(), 2u);  // the abort, then the reset
  CHECK_EQ(rest[1].op, (uint8_t)ISCSI_HBA_CMD_RESET);
  CHECK_EQ(rest[1].target_id, r.target);
  // The daemon's late answers free the tags without a second completion to the stack.
  CHECK(r.daemon->post(r.daemon->good(cmds[0])) == RingStatus::Ok);
  iscsi_hba_cpl_desc done{};
  done.op = ISCSI_HBA_CPL_RESET_DONE;
  done.reset_seq = rest[1].reset_seq;
  CHECK(r.daemon->post(done) == RingStatus::Ok);
  r.doorbell();
  r.check_every_task_completed_once();
}

TEST("the SCSI stack's abort: a waiting task ends at once, a published one after the daemon's answer") {
  Rig r;
  r.attach();
  for (int i = 0; i < 64; ++i) r.submit(ISCSI_HBA_DIR_WRITE, kMiB);
  const uint64_t waiting = r.submit(ISCSI_HBA_DIR_WRITE, kMiB);  // no pool space: waits
  auto cmds = r.daemon->take();
  CHECK_EQ(cmds.size(), 64u);
  CHECK(r.core->abort(waiting));
  CHECK(r.platform.only(waiting).result.host == HostStatus::Aborted);
  CHECK(r.core->abort(r.submitted[3]));
  CHECK(r.core->abort(r.submitted[3]));  // twice: one abort descriptor
  auto aborts = r.daemon->take();
  CHECK_EQ(aborts.size(), 1u);
  CHECK_EQ(aborts[0].tag, cmds[3].tag);
  CHECK(!r.core->abort(999999));
  for (const auto& c : cmds) CHECK(r.daemon->post(r.daemon->good(c)) == RingStatus::Ok);
  r.doorbell();
  r.check_every_task_completed_once();
}

TEST("daemon gone and back: tasks held, re-issued after the handshake with their data; the same key, the same target") {
  Rig r;
  r.attach();
  const uint16_t target = r.target;
  for (int i = 0; i < 3; ++i) r.submit(ISCSI_HBA_DIR_WRITE, 4096 * (i + 1));
  auto before = r.daemon->take();
  CHECK_EQ(before.size(), 3u);
  r.core->daemon_detached();
  r.advance(40'000);  // longer than the tasks' 30 s timeout, shorter than the 120 s hold: timeouts stand still
  const uint64_t during = r.submit(ISCSI_HBA_DIR_READ, 512);  // accepted and held too
  CHECK_EQ(r.core->stats().completed, 0u);
  std::memset(r.regions->control, 0xEE, 64);  // nothing the old daemon scribbled matters... except the header
  r.regions->control->header.magic = ISCSI_HBA_MAGIC;
  CHECK_EQ(r.handshake(), (uint32_t)ISCSI_HBA_OK);
  r.advance(1);
  CHECK_EQ(r.core->stats().completed, 0u);
  CHECK(r.daemon->take().empty());  // nothing for a target this daemon has not re-created yet
  const uint16_t other = r.create_target("iqn.2003-01.org.example:other,1");
  CHECK(other != target);
  CHECK(r.daemon->take().empty());
  bool existed = false;
  CHECK_EQ(r.create_target("iqn.2003-01.org.example:disk,1", &existed), target);
  CHECK(existed);
  auto after = r.daemon->take();
  CHECK_EQ(after.size(), 4u);
  for (size_t i = 0; i < 3; ++i) {
    CHECK_EQ(after[i].tag, before[i].tag);
    CHECK_EQ(after[i].generation, before[i].generation);
    CHECK_EQ(r.regions->pool[after[i].pool_offset + after[i].transfer_length - 1], (uint8_t)r.submitted[i]);
  }
  for (const auto& c : after) CHECK(r.daemon->post(r.daemon->good(c)) == RingStatus::Ok);
  r.doorbell();
  CHECK(r.platform.only(during).result.host == HostStatus::Ok);
  r.check_every_task_completed_once();
}

TEST("daemon gone past the hold time: held tasks fail with NoConnect (give up), new ones fail at once") {
  Config cfg;
  cfg.hold_ms = 5000;
  Rig r(cfg);
  r.attach();
  const uint64_t a = r.submit(ISCSI_HBA_DIR_READ, 512);
  const uint64_t b = r.submit(ISCSI_HBA_DIR_READ, 512);
  r.daemon->take();
  CHECK(r.core->abort(b));
  r.core->daemon_detached();
  CHECK(r.platform.only(b).result.host == HostStatus::Aborted);  // no daemon to run the abort: granted
  CHECK_EQ(r.core->next_deadline_ms(), r.platform.clock + 5000);
  r.advance(4999);
  CHECK(r.platform.completions.count(a) == 0);
  r.advance(1);
  const auto& failed = r.platform.only(a);
  CHECK(failed.result.host == HostStatus::NoConnect);
  CHECK_EQ(failed.result.service_response, (uint8_t)ISCSI_HBA_RESPONSE_TARGET_FAILURE);
  const uint64_t c = r.submit(ISCSI_HBA_DIR_READ, 512);
  CHECK(r.platform.only(c).result.host == HostStatus::NoConnect);
  r.check_every_task_completed_once();
}

TEST("reset with tasks in flight: all failed at once, the tags reused only after RESET_DONE; stale answers refused") {
  Rig r;
  r.attach();
  for (int i = 0; i < 10; ++i) r.submit(ISCSI_HBA_DIR_READ, 4096);
  auto cmds = r.daemon->take();
  r.core->reset(r.target);
  for (uint64_t h : r.submitted) CHECK(r.platform.only(h).result.host == HostStatus::Reset);
  auto reset = r.daemon->take();
  CHECK_EQ(reset.size(), 1u);
  CHECK(r.platform.notices.back() & ISCSI_HBA_NOTICE_RESET);
  // One late answer before the reset is done (frees its tag silently), then RESET_DONE, then a duplicate.
  CHECK(r.daemon->post(r.daemon->good(cmds[0])) == RingStatus::Ok);
  iscsi_hba_cpl_desc done{};
  done.op = ISCSI_HBA_CPL_RESET_DONE;
  done.reset_seq = reset[0].reset_seq;
  CHECK(r.daemon->post(done) == RingStatus::Ok);
  CHECK(r.daemon->post(r.daemon->good(cmds[1])) == RingStatus::Ok);
  r.doorbell();
  CHECK(r.platform.logged(ISCSI_HBA_E_DUPLICATE_COMPLETION));
  done.reset_seq = reset[0].reset_seq + 5;  // a reset never sent
  CHECK(r.daemon->post(done) == RingStatus::Ok);
  r.doorbell();
  CHECK(r.platform.logged(ISCSI_HBA_E_BAD_DESCRIPTOR));
  r.check_every_task_completed_once();
}

TEST("bad completions are refused with an error code and a log line, and never complete the wrong task") {
  Rig r;
  r.attach();
  const uint64_t h = r.submit(ISCSI_HBA_DIR_READ, 4096);
  const auto cmd = r.daemon->take().at(0);
  struct Case {
    const char* what;
    uint32_t code;
    void (*mutate)(iscsi_hba_cpl_desc&);
  };
  const Case cases[] = {
      {"unknown tag", ISCSI_HBA_E_UNKNOWN_TAG, [](iscsi_hba_cpl_desc& c) { c.tag = 100000; }},
      {"unpublished tag", ISCSI_HBA_E_STALE_GENERATION, [](iscsi_hba_cpl_desc& c) { c.tag += 1; }},
      {"stale generation", ISCSI_HBA_E_STALE_GENERATION, [](iscsi_hba_cpl_desc& c) { c.generation -= 1; }},
      {"sense too long", ISCSI_HBA_E_BAD_LENGTH, [](iscsi_hba_cpl_desc& c) { c.flags = ISCSI_HBA_CPL_SENSE; c.sense_length = 253; }},
      {"sense without flag", ISCSI_HBA_E_BAD_LENGTH, [](iscsi_hba_cpl_desc& c) { c.sense_length = 18; }},
      {"data past the transfer", ISCSI_HBA_E_BAD_LENGTH, [](iscsi_hba_cpl_desc& c) { c.data_length = 4097; }},
      {"underflow past the transfer", ISCSI_HBA_E_BAD_LENGTH, [](iscsi_hba_cpl_desc& c) { c.flags = ISCSI_HBA_CPL_UNDERFLOW; c.residual = 70000; }},
      {"over and under", ISCSI_HBA_E_BAD_DESCRIPTOR, [](iscsi_hba_cpl_desc& c) { c.flags = ISCSI_HBA_CPL_UNDERFLOW | ISCSI_HBA_CPL_OVERFLOW; }},
      {"unknown flag", ISCSI_HBA_E_BAD_DESCRIPTOR, [](iscsi_hba_cpl_desc& c) { c.flags = 0x80; }},
      {"unknown response", ISCSI_HBA_E_BAD_DESCRIPTOR, [](iscsi_hba_cpl_desc& c) { c.service_response = 9; }},
      {"unknown op", ISCSI_HBA_E_BAD_DESCRIPTOR, [](iscsi_hba_cpl_desc& c) { c.op = 77; }},
  };
  uint64_t bad = 0;
  for (const Case& k : cases) {
    iscsi_hba_cpl_desc c = r.daemon->good(cmd, 0x11);
    k.mutate(c);
    r.platform.logs.clear();
    CHECK(r.daemon->post(c) == RingStatus::Ok);
    r.doorbell();
    if (!r.platform.logged(k.code)) throw t::Failure{std::string("not refused with its code: ") + k.what};
    CHECK(r.platform.completions.empty());
    CHECK_EQ(r.core->stats().bad_completions, ++bad);
  }
  CHECK(r.daemon->post(r.daemon->good(cmd, 0x22)) == RingStatus::Ok);
  CHECK(r.daemon->post(r.daemon->good(cmd, 0x33)) == RingStatus::Ok);  // twice
  r.doorbell();
  CHECK(r.platform.logged(ISCSI_HBA_E_DUPLICATE_COMPLETION));
  CHECK_EQ(r.platform.only(h).result.data_length, 4096u);
  r.check_every_task_completed_once();
}

TEST("a corrupt completion ring index abandons the ring; tasks still end (watchdog); a new handshake recovers") {
  Config cfg;
  cfg.abort_timeout_ms = 10;
  Rig r(cfg);
  r.attach();
  const uint64_t h = r.submit(ISCSI_HBA_DIR_READ, 512, 20);
  r.daemon->take();
  r.regions->control->cpl.producer.value = 5000;  // far past the ring
  r.doorbell();
  CHECK(r.platform.logged(ISCSI_HBA_E_RING_CORRUPT));
  r.advance(20);
  r.advance(10);
  CHECK(r.platform.only(h).result.host == HostStatus::TimedOut);
  r.core->daemon_detached();
  CHECK_EQ(r.handshake(), (uint32_t)ISCSI_HBA_OK);
  r.target = r.create_target("iqn.2003-01.org.example:disk,1");
  const uint64_t h2 = r.submit(ISCSI_HBA_DIR_NONE, 0);
  auto cmds = r.daemon->take();
  CHECK_EQ(cmds.size(), 1u);
  CHECK(r.daemon->post(r.daemon->good(cmds[0])) == RingStatus::Ok);
  r.doorbell();
  CHECK(r.platform.only(h2).result.host == HostStatus::Ok);
  r.check_every_task_completed_once();
}

TEST("refused submits complete at once: bad lengths (BadRequest), unknown or destroyed target (NoConnect)") {
  Rig r;
  r.attach();
  const uint64_t zero_cdb = r.submit(ISCSI_HBA_DIR_NONE, 0, 0, 0);
  const uint64_t too_big = r.submit(ISCSI_HBA_DIR_READ, ISCSI_HBA_MAX_TRANSFER + 1);
  const uint64_t none_with_data = r.submit(ISCSI_HBA_DIR_NONE, 512);
  CHECK(r.platform.only(zero_cdb).result.host == HostStatus::BadRequest);
  CHECK(r.platform.only(too_big).result.host == HostStatus::BadRequest);
  CHECK(r.platform.only(none_with_data).result.host == HostStatus::BadRequest);
  const uint64_t in_flight = r.submit(ISCSI_HBA_DIR_READ, 512);
  r.daemon->take();
  CHECK_EQ(r.core->destroy_target({r.target, 0}), (uint32_t)ISCSI_HBA_OK);
  CHECK(r.platform.only(in_flight).result.host == HostStatus::NoConnect);
  const uint64_t after = r.submit(ISCSI_HBA_DIR_READ, 512);
  CHECK(r.platform.only(after).result.host == HostStatus::NoConnect);
  CHECK_EQ(r.core->destroy_target({r.target, 0}), (uint32_t)ISCSI_HBA_E_UNKNOWN_TARGET);
  r.platform.fail_copies = true;
  r.target = r.create_target("other");
  const uint64_t unreadable = r.submit(ISCSI_HBA_DIR_WRITE, 512);
  CHECK(r.platform.only(unreadable).result.host == HostStatus::BadRequest);
  r.check_every_task_completed_once();
}

TEST("invariant under random operations: every task completed exactly once, whatever happens") {
  // Issue 11: "No task is ever left uncompleted". Random submits, answers, bad answers, aborts, resets, timeouts,
  // daemon departures and returns; then a drain. 30 seeds x 3000 steps.
  for (uint32_t seed = 1; seed <= 30; ++seed) {
    Config cfg;
    cfg.default_timeout_ms = 500;
    cfg.abort_timeout_ms = 100;
    cfg.hold_ms = 2000;
    Rig r(cfg);
    r.attach();
    std::mt19937 rng(seed);
    std::vector<iscsi_hba_cmd_desc> seen;  // commands the daemon took and has not answered
    auto answer = [&](size_t i) {
      iscsi_hba_cpl_desc c{};
      const auto& cmd = seen[i];
      if (cmd.op == ISCSI_HBA_CMD_RESET) {
        c.op = ISCSI_HBA_CPL_RESET_DONE;
        c.reset_seq = cmd.reset_seq;
      } else if (cmd.op == ISCSI_HBA_CMD_SCSI) {
        c = r.daemon->good(cmd, 0x5A);
      } else {
        seen.erase(seen.begin() + static_cast<long>(i));
        return;
      }
      if (r.daemon->post(c) == RingStatus::Ok) seen.erase(seen.begin() + static_cast<long>(i));
    };
    for (int step = 0; step < 3000; ++step) {
      const uint32_t op = rng() % 100;
      if (op < 35) {
        const uint32_t dir = rng() % 3;
        r.submit(static_cast<uint8_t>(dir), dir == 0 ? 0 : 512u * (1 + rng() % 2048));
      } else if (op < 60) {
        if (r.core->daemon_attached()) for (auto& d : r.daemon->take()) seen.push_back(d);
        const uint32_t n = rng() % 8;
        for (uint32_t i = 0; i < n && !seen.empty(); ++i) answer(rng() % seen.size());
        r.doorbell();
      } else if (op < 68) {
        if (!r.submitted.empty()) r.core->abort(r.submitted[rng() % r.submitted.size()]);
      } else if (op < 70) {
        r.core->reset(rng() % 2 ? r.target : ISCSI_HBA_TARGET_ID_ALL);
      } else if (op < 72) {
        // Garbage from the daemon side.
        iscsi_hba_cpl_desc c{};
        c.op = static_cast<uint8_t>(rng() % 4);
        c.tag = rng() % 600;
        c.generation = rng() % 4;
        c.data_length = rng() % 70000;
        c.sense_length = static_cast<uint16_t>(rng() % 300);
        c.flags = static_cast<uint8_t>(rng() % 8);
        c.reset_seq = rng() % 4;
        if (r.core->daemon_attached()) r.daemon->post(c);
        r.doorbell();
      } else if (op < 74) {
        if (r.core->daemon_attached()) {
          r.core->daemon_detached();
          seen.clear();
        } else if (r.handshake() == ISCSI_HBA_OK) {
          r.target = r.create_target("iqn.2003-01.org.example:disk,1");
        }
      } else {
        r.advance(rng() % 200);
      }
      for (const auto& [h, list] : r.platform.completions) CHECK(list.size() <= 1);  // never twice
    }
    // Drain: a daemon that answers everything, time moving on.
    if (!r.core->daemon_attached()) {
      CHECK_EQ(r.handshake(), (uint32_t)ISCSI_HBA_OK);
      seen.clear();
    }
    for (int round = 0; round < 200 && r.core->tasks_outstanding() > 0; ++round) {
      for (auto& d : r.daemon->take()) seen.push_back(d);
      while (!seen.empty()) answer(0);
      r.doorbell();
      r.advance(1000);
    }
    r.check_every_task_completed_once();
  }
}
