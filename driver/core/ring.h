// One side of a shared ring (driver/include/iscsi_hba_abi.h: free-running 32-bit indices masked on use, release on
// publish, acquire on consume). Each side keeps its own copy of the index it writes and only reads the peer's, so a
// peer that scribbles on the shared indices is detected (Corrupt) and never makes us read outside the ring.
#pragma once

#include <cstdint>
#include <cstring>

#include "../include/iscsi_hba_abi.h"

namespace iscsi_hba {

enum class RingStatus : uint8_t { Ok, Full, Empty, Corrupt };

template <typename Desc>
struct RingView {
  iscsi_hba_ring_index* producer;
  iscsi_hba_ring_index* consumer;
  Desc* entries;
};

inline RingView<iscsi_hba_cmd_desc> command_ring(iscsi_hba_control* c) {
  return {&c->cmd.producer, &c->cmd.consumer, c->cmd.entries};
}
inline RingView<iscsi_hba_cpl_desc> completion_ring(iscsi_hba_control* c) {
  return {&c->cpl.producer, &c->cpl.consumer, c->cpl.entries};
}

/// The writing side: owns the producer index.
template <typename Desc>
class RingProducer {
 public:
  explicit RingProducer(RingView<Desc> view) : view_(view) {}
  /// Sets both shared indices to `start` (done by the driver at a handshake, before the peer may touch the ring).
  void reset(uint32_t start = 0) {
    head_ = start;
    iscsi_hba_store_release(&view_.consumer->value, start);
    iscsi_hba_store_release(&view_.producer->value, start);
  }
  /// Free entries, or UINT32_MAX when the peer's consumer index is impossible.
  uint32_t space() const {
    const uint32_t used = head_ - iscsi_hba_load_acquire(&view_.consumer->value);
    return used > ISCSI_HBA_RING_ENTRIES ? UINT32_MAX : ISCSI_HBA_RING_ENTRIES - used;
  }
  RingStatus push(const Desc& d) {
    const uint32_t free = space();
    if (free == UINT32_MAX) return RingStatus::Corrupt;
    if (free == 0) return RingStatus::Full;
    std::memcpy(&view_.entries[head_ & ISCSI_HBA_RING_MASK], &d, sizeof d);
    head_ += 1;
    iscsi_hba_store_release(&view_.producer->value, head_);  // publishes the descriptor written above
    return RingStatus::Ok;
  }
  uint32_t head() const { return head_; }

 private:
  RingView<Desc> view_;
  uint32_t head_ = 0;
};

/// The reading side: owns the consumer index.
template <typename Desc>
class RingConsumer {
 public:
  explicit RingConsumer(RingView<Desc> view) : view_(view) {}
  /// Follows the indices the producer side set (no write: the producer side resets the ring).
  void reset(uint32_t start = 0) { tail_ = start; }
  RingStatus pop(Desc& out) {
    const uint32_t head = iscsi_hba_load_acquire(&view_.producer->value);  // the descriptors before it are visible
    const uint32_t available = head - tail_;
    if (available > ISCSI_HBA_RING_ENTRIES) return RingStatus::Corrupt;
    if (available == 0) return RingStatus::Empty;
    std::memcpy(&out, &view_.entries[tail_ & ISCSI_HBA_RING_MASK], sizeof out);
    tail_ += 1;
    iscsi_hba_store_release(&view_.consumer->value, tail_);  // the entry may be overwritten from now on
    return RingStatus::Ok;
  }
  uint32_t tail() const { return tail_; }

 private:
  RingView<Desc> view_;
  uint32_t tail_ = 0;
};

}  // namespace iscsi_hba
