// The rings under two threads (built with -fsanitize=thread by `make tsan`): a producer thread and a consumer thread
// on one ring, with the acquire/release protocol of iscsi_hba_abi.h. The consumer must see every descriptor, in order,
// with the contents the producer wrote (TSan reports any descriptor read racing with its write).
#include <cstdio>
#include <memory>
#include <thread>

#include "ring.h"

using namespace iscsi_hba;

int main() {
  constexpr uint32_t kCount = 2'000'000;
  auto ring = std::make_unique<iscsi_hba_cpl_ring>();
  RingView<iscsi_hba_cpl_desc> view{&ring->producer, &ring->consumer, ring->entries};
  RingProducer<iscsi_hba_cpl_desc> producer(view);
  RingConsumer<iscsi_hba_cpl_desc> consumer(view);
  const uint32_t start = 0xFFFFFFFFu - 100'000;  // wraps during the run
  producer.reset(start);
  consumer.reset(start);
  int failures = 0;
  std::thread t_producer([&] {
    for (uint32_t n = 0; n < kCount;) {
      iscsi_hba_cpl_desc d{};
      d.tag = n;
      d.residual = n * 7u;
      d.reserved2[31] = static_cast<uint8_t>(n);
      const RingStatus s = producer.push(d);
      if (s == RingStatus::Ok) ++n;
      else if (s == RingStatus::Corrupt) { ++failures; return; }
      else std::this_thread::yield();
    }
  });
  std::thread t_consumer([&] {
    for (uint32_t n = 0; n < kCount;) {
      iscsi_hba_cpl_desc d;
      const RingStatus s = consumer.pop(d);
      if (s == RingStatus::Ok) {
        if (d.tag != n || d.residual != n * 7u || d.reserved2[31] != static_cast<uint8_t>(n)) { ++failures; return; }
        ++n;
      } else if (s == RingStatus::Corrupt) {
        ++failures;
        return;
      } else {
        std::this_thread::yield();
      }
    }
  });
  t_producer.join();
  t_consumer.join();
  const int passed = failures == 0 ? 1 : 0;
  std::printf("%s ring under two threads: %u descriptors in order\n", passed ? "ok  " : "FAIL", kCount);
  std::printf("%d passed, %d failed\n", passed, 1 - passed);
  return passed ? 0 : 1;
}
