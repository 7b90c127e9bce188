// The ring protocol of iscsi_hba_abi.h: free-running 32-bit indices masked on use, full at ISCSI_HBA_RING_ENTRIES,
// wrap-around at 2^32, a peer's impossible index detected; and a property test over random interleavings.
#include <cstdlib>
#include <memory>
#include <random>
#include <vector>

#include "ring.h"
#include "test.h"

using namespace iscsi_hba;

namespace {

struct Shared {
  iscsi_hba_cmd_ring ring{};
  RingView<iscsi_hba_cmd_desc> view() { return {&ring.producer, &ring.consumer, ring.entries}; }
};

iscsi_hba_cmd_desc numbered(uint32_t n) {
  iscsi_hba_cmd_desc d{};
  d.tag = n;
  d.generation = ~n;
  return d;
}

}  // namespace

TEST("ring: wrap-around of the 32-bit indices keeps order (ABI: free-running, masked on use)") {
  auto s = std::make_unique<Shared>();
  RingProducer<iscsi_hba_cmd_desc> p(s->view());
  RingConsumer<iscsi_hba_cmd_desc> c(s->view());
  const uint32_t start = 0xFFFFFFFFu - 700;  // crosses 2^32 in the middle of the run
  p.reset(start);
  c.reset(start);
  uint32_t next_in = 0;
  uint32_t next_out = 0;
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 600; ++i) CHECK(p.push(numbered(next_in++)) == RingStatus::Ok);
    iscsi_hba_cmd_desc d;
    while (c.pop(d) == RingStatus::Ok) {
      CHECK_EQ(d.tag, next_out);
      CHECK_EQ(d.generation, ~next_out);
      ++next_out;
    }
  }
  CHECK_EQ(next_out, 3000u);
  CHECK(p.head() < start);  // it wrapped
}

TEST("ring: full at ISCSI_HBA_RING_ENTRIES, space again after one consume") {
  auto s = std::make_unique<Shared>();
  RingProducer<iscsi_hba_cmd_desc> p(s->view());
  RingConsumer<iscsi_hba_cmd_desc> c(s->view());
  p.reset(0xFFFFFF00u);
  c.reset(0xFFFFFF00u);
  for (uint32_t i = 0; i < ISCSI_HBA_RING_ENTRIES; ++i) CHECK(p.push(numbered(i)) == RingStatus::Ok);
  CHECK(p.push(numbered(9999)) == RingStatus::Full);
  CHECK_EQ(p.space(), 0u);
  iscsi_hba_cmd_desc d;
  CHECK(c.pop(d) == RingStatus::Ok);
  CHECK_EQ(d.tag, 0u);
  CHECK(p.push(numbered(1024)) == RingStatus::Ok);
  CHECK(p.push(numbered(1025)) == RingStatus::Full);
}

TEST("ring: an impossible peer index is Corrupt, never a read outside the ring") {
  auto s = std::make_unique<Shared>();
  RingProducer<iscsi_hba_cmd_desc> p(s->view());
  RingConsumer<iscsi_hba_cmd_desc> c(s->view());
  p.reset(10);
  c.reset(10);
  CHECK(p.push(numbered(1)) == RingStatus::Ok);
  s->ring.consumer.value = 5000;  // the consumer claims to be ahead of the producer
  CHECK(p.push(numbered(2)) == RingStatus::Corrupt);
  s->ring.consumer.value = 10;
  s->ring.producer.value = 10 + ISCSI_HBA_RING_ENTRIES + 1;  // more entries than the ring has
  iscsi_hba_cmd_desc d;
  CHECK(c.pop(d) == RingStatus::Corrupt);
  s->ring.producer.value = 9;  // moved backwards
  CHECK(c.pop(d) == RingStatus::Corrupt);
}

TEST("ring property: random interleavings of produce/consume never lose or duplicate a descriptor") {
  // Issue 11 Tests: "a property test of the ring protocol". 200 seeds, random start index (near 2^32 for some),
  // random burst sizes on each side; the consumer must see exactly 0, 1, 2, ... in order.
  for (uint32_t seed = 1; seed <= 200; ++seed) {
    std::mt19937 rng(seed);
    auto s = std::make_unique<Shared>();
    RingProducer<iscsi_hba_cmd_desc> p(s->view());
    RingConsumer<iscsi_hba_cmd_desc> c(s->view());
    const uint32_t start = seed % 3 == 0 ? 0xFFFFFFFFu - (rng() % 5000) : rng();
    p.reset(start);
    c.reset(start);
    uint32_t produced = 0;
    uint32_t consumed = 0;
    const uint32_t total = 5000 + rng() % 5000;
    while (consumed < total) {
      if (rng() % 2 == 0) {
        const uint32_t burst = 1 + rng() % 1500;
        for (uint32_t i = 0; i < burst && produced < total; ++i) {
          const RingStatus st = p.push(numbered(produced));
          if (st == RingStatus::Full) {
            CHECK_EQ(produced - consumed, ISCSI_HBA_RING_ENTRIES);
            break;
          }
          CHECK(st == RingStatus::Ok);
          ++produced;
        }
      } else {
        const uint32_t burst = 1 + rng() % 1500;
        for (uint32_t i = 0; i < burst; ++i) {
          iscsi_hba_cmd_desc d;
          const RingStatus st = c.pop(d);
          if (st == RingStatus::Empty) {
            CHECK_EQ(produced, consumed);
            break;
          }
          CHECK(st == RingStatus::Ok);
          CHECK_EQ(d.tag, consumed);  // nothing lost, nothing repeated, in order
          CHECK_EQ(d.generation, ~consumed);
          ++consumed;
        }
      }
      CHECK(produced - consumed <= ISCSI_HBA_RING_ENTRIES);
    }
    CHECK_EQ(consumed, total);
  }
}
